// Tokenizers: text -> ids with the same results as Hugging Face transformers.
//   WordPieceTokenizer      (runtime/tokenizer_wordpiece.h): BertTokenizer, vocab.txt
//   SentencePieceTokenizer  (runtime/tokenizer_sentencepiece.h): spiece.model (ALBERT style)
// load_tokenizer picks one from a model folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fwsvd {

struct Encoding {
    std::vector<int32_t> ids;       // [T] including [CLS]/[SEP]
    std::vector<int32_t> type_ids;  // [T] 0 for the first segment (with [CLS] and its [SEP]),
                                    //     1 for the second (with its [SEP])
};

// Implementations are immutable after construction: tokenize/encode may be called from several
// threads at once.
class Tokenizer {
  public:
    virtual ~Tokenizer() = default;

    // Ids of one text, without special tokens. Throws Error on invalid UTF-8.
    virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;

    // A prefix of tokenize(text) holding at least min(max_tokens, all) ids (it may hold more).
    // Tokenizers that can stop early do (WordPiece: a 10 MB text costs what its first words
    // cost); the default tokenizes everything. Throws Error on invalid UTF-8 anywhere in text.
    virtual std::vector<int32_t> tokenize_prefix(std::string_view text, size_t max_tokens) const {
        (void)max_tokens;
        return tokenize(text);
    }

    // [CLS] a [SEP], with a truncated at the end so that the total is <= max_len (>= 2, else
    // Error). *truncated (when given) tells whether tokens were cut.
    Encoding encode(std::string_view a, int64_t max_len, bool* truncated = nullptr) const;

    // [CLS] a [SEP] b [SEP], truncated as HF's truncation="longest_first" (see
    // longest_first_lengths) so that the total is <= max_len (>= 3, else Error).
    Encoding encode_pair(std::string_view a, std::string_view b, int64_t max_len,
                         bool* truncated = nullptr) const;

    // Number of ids (the largest id + 1): the embedding rows a model needs.
    virtual int64_t vocab_size() const = 0;

    // The token (piece) of an id; Error when out of range.
    virtual std::string id_to_token(int32_t id) const = 0;

    int32_t cls_id() const { return cls_id_; }
    int32_t sep_id() const { return sep_id_; }
    int32_t pad_id() const { return pad_id_; }
    int32_t unk_id() const { return unk_id_; }

  protected:
    int32_t cls_id_ = -1;
    int32_t sep_id_ = -1;
    int32_t pad_id_ = 0;
    int32_t unk_id_ = -1;
};

// The lengths (n1, n2) that HF's "longest_first" truncation keeps of two sequences of n1 and n2
// tokens when at most `budget` tokens fit (budget = max_len - 3 for BERT pairs). This is the
// rule of the Rust tokenizers library (tokenizers/src/utils/truncation.rs), which
// transformers' BertTokenizer uses: if they do not fit, the shorter one is kept whole when the
// longer one can give up enough (the longer one keeping at least as much as the shorter), else
// both get budget / 2 and the originally longer one (the second on ties) gets the odd token.
// (transformers' old pure-Python tokenizers removed one token at a time from the longer one,
// which gives the odd token to the first sequence on ties.)
std::pair<size_t, size_t> longest_first_lengths(size_t n1, size_t n2, size_t budget);

// Loads the tokenizer of a model folder: spiece.model (SentencePiece) if present, else vocab.txt
// (WordPiece), reading tokenizer_config.json / tokenizer.json when present for do_lower_case,
// strip_accents, tokenize_chinese_chars and the special token strings. Error naming the folder
// if it holds neither.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

}  // namespace fwsvd
