// PipelineTokenizer: the tokenizers library's pipeline as tokenizer.json describes it, for ids
// only (no offsets): added tokens matched in the raw text, then per remaining segment a
// normalizer, a pre-tokenizer, a model (BPE, Unigram, WordPiece), and a post-processor template
// (runtime/tokenizer.h). Each stage is an immutable object built once by the loader
// (runtime/tokenizer_json.cc); the semantics follow tokenizers/src/{normalizers,pre_tokenizers,
// models,tokenizer/added_vocabulary.rs}.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizer.h"

namespace fwsvd::pipeline {

// A piece of text between the stages, as code points. at_start: the piece begins at offset 0 of
// the original text (Metaspace's prepend_scheme "first" needs it).
struct Piece {
    std::u32string text;
    bool at_start = false;
};

// ---- Normalizers ----------------------------------------------------------------------------

class Normalizer {
  public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::u32string& s) const = 0;
    // Whether normalising the parts of a text cut before a space (U+0020 between two
    // non-whitespace characters) gives the normalised text: true for code-point-wise and
    // grapheme-wise normalizers, false for Strip, Prepend and patterns holding a space.
    virtual bool chunk_safe() const { return true; }
};

struct BertNormalizerOptions {
    bool clean_text = true;
    bool handle_chinese_chars = true;
    bool strip_accents = true;
    bool lowercase = true;
};
std::unique_ptr<Normalizer> make_bert_normalizer(BertNormalizerOptions o);
std::unique_ptr<Normalizer> make_lowercase();
enum class NormalForm { kNFD, kNFKD, kNFC, kNFKC };
std::unique_ptr<Normalizer> make_unicode_normalizer(NormalForm form);
std::unique_ptr<Normalizer> make_strip_accents();  // drops every mark (M*)
std::unique_ptr<Normalizer> make_strip(bool left, bool right);
std::unique_ptr<Normalizer> make_prepend(std::u32string prefix);
std::unique_ptr<Normalizer> make_nmt();

// Replace: every non-overlapping occurrence of a literal, or of a run of at least min_repeat
// copies of one code point (the regexes " {2,}" and "x+" that the SentencePiece converters
// write), becomes content.
struct ReplacePattern {
    std::u32string literal;  // used when min_repeat == 0
    char32_t repeated = 0;   // with min_repeat >= 1
    size_t min_repeat = 0;
};
std::unique_ptr<Normalizer> make_replace(ReplacePattern pattern, std::u32string content);

// SentencePiece's precompiled charsmap (a darts double-array trie over UTF-8 plus the replacement
// strings), applied as tokenizers' Precompiled does: per extended grapheme cluster shorter than
// 6 bytes the first (shortest) matching prefix replaces the whole cluster, else code point by
// code point. Error naming `where` when the blob is malformed.
std::unique_ptr<Normalizer> make_precompiled(std::string charsmap, const std::string& where);

std::unique_ptr<Normalizer> make_normalizer_sequence(std::vector<std::unique_ptr<Normalizer>> s);

// ---- Pre-tokenizers ---------------------------------------------------------------------------

class PreTokenizer {
  public:
    virtual ~PreTokenizer() = default;
    // Replaces the pieces by their splits (empty pieces are dropped).
    virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
    // Whether a text cut before a space (as for Normalizer::chunk_safe) splits into the pieces
    // of its parts: true for the pre-tokenizers that start a piece at such a space.
    virtual bool chunk_safe() const { return false; }
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_whitespace();        // \w+|[^\w\s]+
std::unique_ptr<PreTokenizer> make_whitespace_split();  // on White_Space, removed
std::unique_ptr<PreTokenizer> make_punctuation(SplitBehavior behavior);
std::unique_ptr<PreTokenizer> make_digits(bool individual_digits);
// ByteLevel: optional prefix space, the GPT-2 split regex (when use_regex), then every UTF-8
// byte becomes its printable stand-in code point.
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex);
enum class PrependScheme { kAlways, kNever, kFirst };
std::unique_ptr<PreTokenizer> make_metaspace(char32_t replacement, PrependScheme scheme,
                                             bool split);
// Split on a literal (or, with gpt2_regex, on the byte-level regex of GPT-2).
std::unique_ptr<PreTokenizer> make_split(std::u32string literal, bool gpt2_regex,
                                         SplitBehavior behavior, bool invert);
std::unique_ptr<PreTokenizer> make_pre_tokenizer_sequence(
    std::vector<std::unique_ptr<PreTokenizer>> s);

// The byte -> code point table of the byte-level alphabet (GPT-2's bytes_to_unicode).
const char32_t* byte_level_alphabet();

// The GPT-2 pre-tokenization regex, as tokenizers writes it in tokenizer.json.
inline constexpr std::string_view kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// ---- Models -----------------------------------------------------------------------------------

class Model {
  public:
    virtual ~Model() = default;
    // Appends the ids of one pre-tokenized piece (UTF-8) to ids.
    virtual void tokenize(std::string_view piece, std::vector<int32_t>& ids) const = 0;
    // The id of a vocabulary token, or -1.
    virtual int32_t token_to_id(std::string_view token) const = 0;
    // The token of an id, or nullptr.
    virtual const std::string* id_to_token(int32_t id) const = 0;
    virtual int64_t vocab_size() const = 0;  // the largest id + 1
};

// Vocabulary shared by the models: token -> id, id -> token.
struct Vocab {
    std::unordered_map<std::string, int32_t> ids;
    std::vector<std::string> tokens;  // [largest id + 1]; "" for ids no token has
    std::vector<bool> present;        // [largest id + 1]
};

struct BpeOptions {
    std::string unk_token;  // "" when the model has none (unknown characters are then dropped)
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
};
// merges: pairs of tokens in rank order. Error naming `where` when a merge names a token that
// is not in the vocabulary (as tokenizers).
std::unique_ptr<Model> make_bpe(Vocab vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                BpeOptions options, const std::string& where);

// pieces: (token, score) in id order; unk_id < 0 when none.
std::unique_ptr<Model> make_unigram(std::vector<std::pair<std::string, double>> pieces,
                                    int64_t unk_id, bool byte_fallback, const std::string& where);

struct WordPieceModelOptions {
    std::string unk_token = "[UNK]";
    std::string continuing_subword_prefix = "##";
    int64_t max_input_chars_per_word = 100;
};
std::unique_ptr<Model> make_word_piece(Vocab vocab, WordPieceModelOptions options,
                                       const std::string& where);

// ---- Added tokens -----------------------------------------------------------------------------

struct AddedTokenSpec {
    std::string content;
    int32_t id = -1;
    bool normalized = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
};

// ---- The tokenizer ----------------------------------------------------------------------------

struct PipelineParts {
    std::string source;  // the file the pipeline came from, for errors
    std::vector<AddedTokenSpec> added_tokens;
    std::unique_ptr<Normalizer> normalizer;       // may be null
    std::unique_ptr<PreTokenizer> pre_tokenizer;  // may be null
    std::unique_ptr<Model> model;                 // required
};

}  // namespace fwsvd::pipeline

namespace fwsvd {

class PipelineTokenizer final : public Tokenizer {
  public:
    // ids: the special token ids and the post-processor's templates.
    PipelineTokenizer(pipeline::PipelineParts parts, SpecialIds ids, PostTemplate templ);
    ~PipelineTokenizer() override;

    std::vector<int32_t> tokenize(std::string_view text) const override;
    // Long segments are processed in chunks of a few KB cut before a space, when every stage is
    // chunk_safe, so that a prefix costs what its first words cost.
    std::vector<int32_t> tokenize_prefix(std::string_view text, size_t max_tokens) const override;
    // tokenize without the chunking (tests compare the two).
    std::vector<int32_t> tokenize_unchunked(std::string_view text) const;
    int64_t vocab_size() const override;
    std::string id_to_token(int32_t id) const override;

    // The id of a token (added tokens first, then the model's vocabulary), or -1.
    int32_t token_to_id(std::string_view token) const;

  private:
    struct Pattern {
        std::u32string text;
        const pipeline::AddedTokenSpec* spec;
    };
    struct Match {
        size_t start, end;  // the span replaced by the token (lstrip / rstrip included)
        int32_t id;
    };
    bool next_added(std::u32string_view s, size_t& i, const std::vector<Pattern>& patterns,
                    const std::vector<char32_t>& first_chars, size_t covered, Match& out) const;
    void tokenize_chunk(std::u32string chunk, bool at_start, std::vector<int32_t>& ids,
                        size_t max_tokens, bool& done) const;
    std::vector<int32_t> run(std::string_view text, size_t max_tokens, bool chunked) const;

    pipeline::PipelineParts parts_;
    std::vector<Pattern> raw_patterns_;
    std::vector<Pattern> normalized_patterns_;
    std::vector<char32_t> raw_first_, normalized_first_;  // the patterns' first code points, sorted
    std::unordered_map<int32_t, std::string> added_by_id_;
    std::unordered_map<std::string, int32_t> added_by_content_;
    int64_t vocab_size_ = 0;
    bool chunkable_ = false;  // every stage is chunk_safe (see tokenize_prefix)
};

}  // namespace fwsvd
