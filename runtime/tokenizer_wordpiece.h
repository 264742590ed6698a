// WordPieceTokenizer: Hugging Face's BertTokenizer (transformers 5, i.e. the tokenizers library's
// BertNormalizer + BertPreTokenizer + WordPiece + added special tokens), id for id.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizer.h"

namespace fwsvd {

// A token recognised as a whole before WordPiece runs (HF "added token"; the special tokens).
struct AddedToken {
    std::string content;
    int32_t id = -1;          // < 0: looked up in the vocabulary (skipped when absent there)
    bool normalized = false;  // false: matched in the raw text; true: in the normalised text
};

struct WordPieceOptions {
    bool do_lower_case = true;
    std::optional<bool> strip_accents;  // unset: follows do_lower_case (HF's strip_accents=None)
    bool tokenize_chinese_chars = true;
    bool clean_text = true;  // drop U+0000, U+FFFD and controls; whitespace -> ' '
    std::string unk_token = "[UNK]";
    std::string cls_token = "[CLS]";
    std::string sep_token = "[SEP]";
    std::string pad_token = "[PAD]";
    std::string mask_token = "[MASK]";
    std::string continuing_subword_prefix = "##";
    int64_t max_input_chars_per_word = 100;  // longer words (in code points) become unk_token
    // The added tokens. Empty: the five special tokens above (those in the vocabulary), matched
    // in the raw text, as transformers does for a bare vocab.txt.
    std::vector<AddedToken> added_tokens;
};

// The options of a model folder: defaults, then tokenizer.json (normalizer, WordPiece model,
// added_tokens), then tokenizer_config.json (do_lower_case, strip_accents,
// tokenize_chinese_chars, *_token, added_tokens_decoder) on top, as transformers' BertTokenizer
// applies its keyword arguments over tokenizer.json. Absent files are skipped; malformed ones
// give an Error naming the file.
WordPieceOptions read_wordpiece_options(const std::filesystem::path& model_dir);

class WordPieceTokenizer final : public Tokenizer {
  public:
    // Reads vocab_file (one token per line, UTF-8; the id is the line number). Error naming the
    // file when it is missing, empty, not UTF-8, or lacks the unk/cls/sep tokens. As HF, a token
    // listed twice maps to its last line. The pad id is pad_token's, else 0.
    explicit WordPieceTokenizer(const std::filesystem::path& vocab_file,
                                WordPieceOptions options = {});

    std::vector<int32_t> tokenize(std::string_view text) const override;
    int64_t vocab_size() const override;
    std::string id_to_token(int32_t id) const override;

    // The id of a whole token (no "##" handling), or -1.
    int32_t token_to_id(std::string_view token) const;
    const WordPieceOptions& options() const { return options_; }

  private:
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

    struct Pattern {
        std::string utf8;    // raw patterns
        std::u32string cps;  // normalised patterns
        int32_t id;
    };
    struct Scratch;

    void tokenize_segment(std::string_view segment, std::vector<int32_t>& ids,
                          Scratch& scratch) const;
    void normalize(std::string_view segment, Scratch& scratch) const;
    void word_piece(std::string_view word, size_t num_chars, std::vector<int32_t>& ids) const;
    // Leftmost-longest raw added token at or after pos: (position, pattern index) or npos.
    std::pair<size_t, size_t> find_raw_added(std::string_view text, size_t pos) const;
    // Longest normalised added token starting at cps[pos], pattern index or npos.
    size_t match_normalized_added(std::u32string_view cps, size_t pos) const;

    std::filesystem::path vocab_file_;
    WordPieceOptions options_;
    bool lower_ = true;
    bool strip_accents_ = true;
    std::vector<std::string> tokens_;                        // [vocab lines] id -> token
    std::unordered_map<int32_t, std::string> extra_tokens_;  // added tokens beyond the vocab
    TokenMap word_start_;                                    // token -> id
    TokenMap continuation_;  // token without the "##" prefix -> id, for tokens with it
    size_t max_start_bytes_ = 0;
    size_t max_continuation_bytes_ = 0;
    int64_t vocab_size_ = 0;

    std::vector<Pattern> raw_added_;         // longest first
    std::vector<Pattern> normalized_added_;  // longest first
    bool raw_first_byte_[256] = {};
};

}  // namespace fwsvd
