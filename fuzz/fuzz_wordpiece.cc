// Fuzzes WordPiece tokenization of arbitrary bytes: invalid UTF-8 must give an Error, valid text
// never; ids must lie in the vocabulary; encode / encode_pair must respect max_len.
// The vocabulary is $FWSVD_FUZZ_VOCAB (scripts/fuzz.sh points it at bert-mini's vocab.txt) or a
// small built-in one. The first input byte picks the normaliser options and max_len.
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "fuzz/fuzz_util.h"
#include "runtime/error.h"
#include "runtime/tokenizer_wordpiece.h"
#include "runtime/unicode.h"

using namespace fwsvd;

namespace {

const char kBuiltinVocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n<special>\n!\n\"\n#\n,\n.\n?\na\nb\nc\nthe\nun\n##aff\n"
    "##able\n##s\n##ing\nrun\nhello\nworld\n##o\n##l\n\xe4\xb8\x80\n\xc3\xa9\ncafe\n##\xc3\xa9\n"
    "naive\n\xce\xb1\n##\xce\xb2\nx\n##x\n";

std::unique_ptr<WordPieceTokenizer> make(int variant) {
    const char* env = std::getenv("FWSVD_FUZZ_VOCAB");
    std::filesystem::path vocab;
    if (env && *env) {
        vocab = env;
    } else {
        vocab = fuzz::scratch_dir() / "vocab.txt";
        if (!std::filesystem::exists(vocab)) fuzz::write_bytes(vocab, kBuiltinVocab);
    }
    WordPieceOptions o;
    o.do_lower_case = variant & 1;
    if (variant & 2) o.strip_accents = !(variant & 1);
    o.tokenize_chinese_chars = !(variant & 4);
    o.clean_text = !(variant & 8);
    if (variant & 16) {
        o.added_tokens = {{"[UNK]", -1, false},       {"[CLS]", -1, false},
                          {"[SEP]", -1, false},       {"<Special>", 5, true},
                          {"new token", 40000, true}, {"\xc3\xa9t\xc3\xa9", 40001, false}};
    }
    o.max_input_chars_per_word = (variant & 32) ? 5 : 100;
    return std::make_unique<WordPieceTokenizer>(vocab, o);
}

const WordPieceTokenizer& tokenizer(int variant) {
    static std::unique_ptr<WordPieceTokenizer> cache[64];
    if (!cache[variant]) cache[variant] = make(variant);
    return *cache[variant];
}

void check_ids(const WordPieceTokenizer& tok, const std::vector<int32_t>& ids) {
    for (int32_t id : ids) FWSVD_FUZZ_ASSERT(id >= 0 && id < tok.vocab_size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const int variant = data[0] & 63;
    const int64_t max_len = 2 + (data[0] >> 6) * 7;  // 2, 9, 16, 23
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const WordPieceTokenizer& tok = tokenizer(variant);
    const bool valid = unicode::find_invalid_utf8(text) == std::string_view::npos;
    std::vector<int32_t> ids;
    try {
        ids = tok.tokenize(text);
    } catch (const Error&) {
        FWSVD_FUZZ_ASSERT(!valid);
        return 0;
    }
    FWSVD_FUZZ_ASSERT(valid);
    check_ids(tok, ids);
    for (int32_t id : ids) (void)tok.id_to_token(id);

    bool truncated = false;
    Encoding e = tok.encode(text, max_len, &truncated);
    FWSVD_FUZZ_ASSERT(int64_t(e.ids.size()) <= max_len && e.ids.size() == e.type_ids.size());
    FWSVD_FUZZ_ASSERT(truncated == (ids.size() + 2 > size_t(max_len)));
    FWSVD_FUZZ_ASSERT(e.ids.front() == tok.cls_id() && e.ids.back() == tok.sep_id());
    check_ids(tok, e.ids);

    // tokenize_prefix stops early but gives a prefix of the full ids.
    for (size_t k : {size_t(0), size_t(1), size_t(7), ids.size()}) {
        std::vector<int32_t> p = tok.tokenize_prefix(text, k);
        FWSVD_FUZZ_ASSERT(p.size() >= std::min(k, ids.size()) && p.size() <= ids.size());
        FWSVD_FUZZ_ASSERT(std::equal(p.begin(), p.end(), ids.begin()));
    }
    // Long texts are tokenized in chunks cut at ASCII whitespace: copies of the text joined by
    // spaces must give the copies' ids (no added token holds a space unless variant & 16).
    if (!(variant & 16) && text.size() >= 64) {
        std::string joined(text);
        size_t copies = 1;
        while (joined.size() < 4300) {  // beyond the 4096-byte chunks
            joined.append(" ").append(text);
            ++copies;
        }
        std::vector<int32_t> all = tok.tokenize(joined);
        FWSVD_FUZZ_ASSERT(all.size() == copies * ids.size());
        for (size_t c = 0; c < copies; ++c) {
            FWSVD_FUZZ_ASSERT(std::equal(ids.begin(), ids.end(), all.begin() + c * ids.size()));
        }
        std::vector<int32_t> p = tok.tokenize_prefix(joined, 3);
        FWSVD_FUZZ_ASSERT(p.size() >= std::min<size_t>(3, all.size()));
        FWSVD_FUZZ_ASSERT(std::equal(p.begin(), p.end(), all.begin()));
    }

    // A pair: split at the first newline (or in the middle, on a character boundary).
    size_t cut = text.find('\n'), skip = 1;
    if (cut == std::string_view::npos) {
        cut = text.size() / 2;
        skip = 0;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    }
    std::string_view a = text.substr(0, cut);
    std::string_view b = text.substr(cut + skip);
    if (max_len >= 3) {
        Encoding p = tok.encode_pair(a, b, max_len, &truncated);
        FWSVD_FUZZ_ASSERT(int64_t(p.ids.size()) <= max_len && p.ids.size() == p.type_ids.size());
        check_ids(tok, p.ids);
        const auto [n1, n2] = longest_first_lengths(tok.tokenize(a).size(), tok.tokenize(b).size(),
                                                    size_t(max_len - 3));
        FWSVD_FUZZ_ASSERT(p.ids.size() == n1 + n2 + 3);
    }
    return 0;
}
