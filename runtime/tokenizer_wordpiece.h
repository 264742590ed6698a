// WordPieceTokenizer: Hugging Face's BertTokenizer (transformers 5, i.e. the tokenizers library's
// BertNormalizer + BertPreTokenizer + WordPiece + added special tokens), id for id.
#pragma once
#include <climits>
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
    // The post-processor's template (tokenizer.json); unset: [CLS] A [SEP] / [CLS] A [SEP] B [SEP].
    std::optional<PostTemplate> post_template;
};

// The options of a model folder: defaults, then tokenizer.json (normalizer, WordPiece model,
// added_tokens), then tokenizer_config.json (do_lower_case, strip_accents,
// tokenize_chinese_chars, *_token, added_tokens_decoder) on top, as transformers' BertTokenizer
// applies its keyword arguments over tokenizer.json. Absent files are skipped; malformed ones
// give an Error naming the file.
WordPieceOptions read_wordpiece_options(const std::filesystem::path& model_dir);

namespace detail {

// Byte trie of a vocabulary for WordPiece's longest-match-first search: one step per byte instead
// of one hash lookup per candidate length (O(L) rather than O(L²) bytes hashed for a piece).
class ByteTrie {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;
    ByteTrie();
    // Maps key to id (a later insert of the same key wins). Only before finish().
    void insert(std::string_view key, int32_t id);
    // Packs the children into sorted arrays; no insert after it.
    void finish();
    uint32_t child(uint32_t node, unsigned char byte) const;
    int32_t id(uint32_t node) const { return ids_[node]; }  // -1: no token ends here

  private:
    std::vector<int32_t> ids_;              // node -> token id (the root is node 0)
    std::vector<uint32_t> first_;           // node -> its first edge; [nodes + 1]
    std::vector<unsigned char> edge_byte_;  // edges, sorted by byte within a node
    std::vector<uint32_t> edge_child_;
    std::vector<std::vector<std::pair<unsigned char, uint32_t>>> building_;
};

}  // namespace detail

class WordPieceTokenizer final : public Tokenizer {
  public:
    // Reads vocab_file (one token per line, UTF-8; the id is the line number). Error naming the
    // file when it is missing, empty, not UTF-8, or lacks the unk/cls/sep tokens. As HF, a token
    // listed twice maps to its last line. The pad id is pad_token's, else 0.
    explicit WordPieceTokenizer(const std::filesystem::path& vocab_file,
                                WordPieceOptions options = {});
    // The same from a vocabulary in memory (id -> token; tokenizer.json's WordPiece model);
    // `source` names the file in errors.
    WordPieceTokenizer(std::vector<std::string> tokens, const std::filesystem::path& source,
                       WordPieceOptions options);

    std::vector<int32_t> tokenize(std::string_view text) const override;
    std::vector<int32_t> tokenize_prefix(std::string_view text, size_t max_tokens) const override;
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

    void init(std::vector<std::string> tokens);

    void tokenize_segment(std::string_view segment, std::vector<int32_t>& ids, Scratch& scratch,
                          size_t max_tokens) const;
    void tokenize_chunk(std::string_view chunk, std::vector<int32_t>& ids, Scratch& scratch,
                        size_t max_tokens) const;
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
    detail::ByteTrie start_trie_;                            // the same, for word_piece
    detail::ByteTrie continuation_trie_;  // token without the "##" prefix -> id, for tokens with it
    int64_t vocab_size_ = 0;

    std::vector<Pattern> raw_added_;         // longest first
    std::vector<Pattern> normalized_added_;  // longest first
    bool raw_first_byte_[256] = {};
    // A normalised added token holds whitespace: segments are then normalised whole, since a
    // match could span the ASCII whitespace where long segments are otherwise cut in chunks.
    bool normalized_added_spans_space_ = false;
};

}  // namespace fwsvd
