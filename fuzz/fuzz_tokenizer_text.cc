// Fuzzes tokenization of arbitrary bytes through the tokenizer.json pipeline: invalid UTF-8 must
// give an Error, valid text never; ids must lie in the vocabulary; tokenize_prefix must be a
// prefix of tokenize holding at least min(k, all) ids; encode / encode_pair must respect max_len
// and the template; chunked long texts must give the unchunked ids. The first input byte picks the
// tokenizer and max_len: built-in small
// tokenizer.json files covering the components (byte-level BPE, Unigram with Metaspace, WordPiece
// with Unicode normalizers and splitting pre-tokenizers, BPE with byte fallback), or the model
// folders listed in $FWSVD_FUZZ_TOKENIZER_DIRS (colon-separated; scripts point it at
// tests/golden/<family>).
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "fuzz/fuzz_util.h"
#include "runtime/error.h"
#include "runtime/tokenizer.h"
#include "runtime/tokenizer_pipeline.h"
#include "runtime/unicode.h"

using namespace fwsvd;

namespace {

const char* const kBuiltin[] = {
    // Byte-level BPE (RoBERTa style), special tokens in the text, one lstrip token.
    R"({"added_tokens": [{"id": 0, "content": "<s>"}, {"id": 1, "content": "</s>"},
        {"id": 2, "content": "<mask>", "lstrip": true, "rstrip": true}],
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true},
      "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]},
      "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "<mask>": 2, "a": 3, "b": 4,
        "\u0120": 5, "\u0120a": 6, "ab": 7, "\u0120ab": 8, "c": 9},
        "merges": ["\u0120 a", "a b", "\u0120a b"]}})",
    // Unigram with SentencePiece-style normalizers and Metaspace.
    R"({"added_tokens": [{"id": 1, "content": "[CLS]"}, {"id": 2, "content": "[SEP]"},
        {"id": 6, "content": "new", "normalized": true, "single_word": true}],
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        {"type": "Strip", "strip_left": false, "strip_right": true}, {"type": "Nmt"}]},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first"}]},
      "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}},
      "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["[CLS]", 0.0],
        ["[SEP]", 0.0], ["\u2581", -2.0], ["a", -3.0], ["\u2581a", -2.5], ["new", -1.0],
        ["ab", -4.0], ["b", -3.5]]}})",
    // WordPiece behind Unicode normalizers and splitting pre-tokenizers.
    R"({"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
        {"type": "Lowercase"}, {"type": "Prepend", "prepend": "x"}]},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"},
        {"type": "Punctuation", "behavior": "MergedWithPrevious"},
        {"type": "Digits", "individual_digits": true}]},
      "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "max_input_chars_per_word": 8,
        "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "x": 3, "##a": 4, "a": 5, "1": 6, "##b": 7}}})",
    // BPE with byte fallback and a literal Split; no post-processor (family defaults).
    R"({"pre_tokenizer": {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext",
        "invert": false},
      "model": {"type": "BPE", "unk_token": "[UNK]", "fuse_unk": true, "byte_fallback": true,
        "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>",
        "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "##b": 4, "ab": 5, "<0x41>": 6,
          "b</w>": 7, "##b</w>": 8, "ab</w>": 9},
        "merges": ["a ##b", "a ##b</w>"]}})",
};

std::vector<std::unique_ptr<Tokenizer>> load_all() {
    std::vector<std::unique_ptr<Tokenizer>> out;
    int k = 0;
    for (const char* json : kBuiltin) {
        const auto dir = fuzz::scratch_dir() / ("builtin" + std::to_string(k++));
        std::filesystem::create_directories(dir);
        fuzz::write_bytes(dir / "tokenizer.json", json);
        out.push_back(load_tokenizer(dir));  // a built-in that fails to load is a bug
    }
    if (const char* env = std::getenv("FWSVD_FUZZ_TOKENIZER_DIRS"); env && *env) {
        std::stringstream ss(env);
        std::string dir;
        while (std::getline(ss, dir, ':')) {
            if (!dir.empty()) out.push_back(load_tokenizer(dir));
        }
    }
    return out;
}

void check_ids(const Tokenizer& tok, const std::vector<int32_t>& ids) {
    for (int32_t id : ids) FWSVD_FUZZ_ASSERT(id >= 0 && id < tok.vocab_size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::vector<std::unique_ptr<Tokenizer>> toks = load_all();
    if (size == 0) return 0;
    const Tokenizer& tok = *toks[data[0] % toks.size()];
    const int64_t max_len = 4 + (data[0] >> 5) * 5;  // 4 .. 39
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
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
    for (size_t k : {size_t(0), size_t(1), size_t(5), ids.size()}) {
        const std::vector<int32_t> p = tok.tokenize_prefix(text, k);
        FWSVD_FUZZ_ASSERT(p.size() >= std::min(k, ids.size()) && p.size() <= ids.size());
        FWSVD_FUZZ_ASSERT(std::equal(p.begin(), p.end(), ids.begin()));
    }
    bool truncated = false;
    const Encoding e = tok.encode(text, max_len, &truncated);
    FWSVD_FUZZ_ASSERT(int64_t(e.ids.size()) <= max_len && e.ids.size() == e.type_ids.size());
    FWSVD_FUZZ_ASSERT(truncated == (ids.size() + tok.num_special_tokens(false) > size_t(max_len)));
    check_ids(tok, e.ids);
    size_t cut = text.size() / 2;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    const std::string_view a = text.substr(0, cut), b = text.substr(cut);
    const Encoding p = tok.encode_pair(a, b, max_len, &truncated);
    FWSVD_FUZZ_ASSERT(int64_t(p.ids.size()) <= max_len && p.ids.size() == p.type_ids.size());
    const size_t all = tok.tokenize(a).size() + tok.tokenize(b).size();
    const size_t budget = size_t(max_len) - tok.num_special_tokens(true);
    FWSVD_FUZZ_ASSERT(p.ids.size() == std::min(all, budget) + tok.num_special_tokens(true));
    check_ids(tok, p.ids);
    // Long texts are tokenized in chunks cut before spaces: copies of the text joined by spaces
    // must give the ids of the unchunked text.
    if (const auto* pipe = dynamic_cast<const PipelineTokenizer*>(&tok); pipe && size >= 16) {
        std::string joined(text);
        while (joined.size() < 4500) joined.append(data[0] & 1 ? " " : " x ").append(text);
        const std::vector<int32_t> whole = pipe->tokenize_unchunked(joined);
        FWSVD_FUZZ_ASSERT(pipe->tokenize(joined) == whole);
        const std::vector<int32_t> pre = pipe->tokenize_prefix(joined, 3);
        FWSVD_FUZZ_ASSERT(pre.size() >= std::min<size_t>(3, whole.size()));
        FWSVD_FUZZ_ASSERT(std::equal(pre.begin(), pre.end(), whole.begin()));
    }
    return 0;
}
