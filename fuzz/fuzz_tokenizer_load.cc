// Fuzzes loading a tokenizer from a model folder: the first input byte picks which file the rest
// of the input becomes (vocab.txt, tokenizer.json, tokenizer_config.json, vocab.json or
// merges.txt; the other files are small valid ones). tokenizer.json, when present, is the whole
// tokenizer (normalizers, pre-tokenizers, models, post-processors). A tokenizer that loads must
// tokenize text, its own vocabulary included, into ids inside its vocabulary.
#include "fuzz/fuzz_util.h"
#include "runtime/error.h"
#include "runtime/tokenizer.h"
#include "runtime/tokenizer_wordpiece.h"

using namespace fwsvd;

namespace {
const char kVocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n!\n";
const char kVocabJson[] =
    R"({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "h": 4, "e": 5, "l": 6, "o": 7, "he": 8,)"
    R"( "ll": 9, "hell": 10, "\u0120": 11, "\u0120h": 12})";
const char kMerges[] = "#version: 0.2\nh e\nl l\nhe ll\n\u0120 h\n";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const auto dir = fuzz::scratch_dir() / "model";
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir);
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 5) {
        case 0:
            fuzz::write_bytes(dir / "vocab.txt", rest);
            break;
        case 1:
            fuzz::write_bytes(dir / "vocab.txt", kVocab);
            fuzz::write_bytes(dir / "tokenizer.json", rest);
            break;
        case 2:
            fuzz::write_bytes(dir / "vocab.txt", kVocab);
            fuzz::write_bytes(dir / "tokenizer_config.json", rest);
            break;
        case 3:
            fuzz::write_bytes(dir / "vocab.json", rest);
            fuzz::write_bytes(dir / "merges.txt", kMerges);
            break;
        default:
            fuzz::write_bytes(dir / "vocab.json", kVocabJson);
            fuzz::write_bytes(dir / "merges.txt", rest);
            break;
    }
    std::unique_ptr<Tokenizer> tok;
    try {
        tok = load_tokenizer(dir);
    } catch (const Error&) {
        return 0;
    }
    const int64_t n = tok->vocab_size();
    FWSVD_FUZZ_ASSERT(n >= 1);
    FWSVD_FUZZ_ASSERT(tok->cls_id() >= 0 && tok->cls_id() < n);
    FWSVD_FUZZ_ASSERT(tok->sep_id() >= 0 && tok->sep_id() < n);
    FWSVD_FUZZ_ASSERT(tok->unk_id() >= -1 && tok->unk_id() < n);  // -1: a BPE without one
    for (std::string_view text : {std::string_view("hello worlds! [CLS] x"),
                                  std::string_view("caf\xc3\xa9 \xe4\xb8\x80 [MASK]"), rest}) {
        try {
            Encoding e = tok->encode_pair(text, text, 32);
            FWSVD_FUZZ_ASSERT(e.ids.size() <= 32 && e.ids.size() == e.type_ids.size());
            for (int32_t id : e.ids) FWSVD_FUZZ_ASSERT(id >= 0 && id < n);
        } catch (const Error&) {
            // invalid UTF-8 in `rest`
        }
    }
    // The first 300 tokens of the vocabulary tokenize into valid ids.
    const int64_t m = std::min<int64_t>(n, 300);
    for (int64_t i = 0; i < m; ++i) {
        std::string t;
        try {
            t = tok->id_to_token(int32_t(i));
        } catch (const Error&) {
            continue;  // an id between the vocabulary and an added token
        }
        for (int32_t id : tok->tokenize(t)) FWSVD_FUZZ_ASSERT(id >= 0 && id < n);
    }
    return 0;
}
