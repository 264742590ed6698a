// Tokenizers: text -> ids with the same results as Hugging Face transformers.
//   WordPieceTokenizer      (runtime/tokenizer_wordpiece.h): BertTokenizer, vocab.txt or a
//                           tokenizer.json of the BERT shape
//   PipelineTokenizer       (runtime/tokenizer_pipeline.h): any other tokenizer.json (byte-level
//                           BPE, Unigram, ...), and vocab.json + merges.txt
//   SentencePieceTokenizer  (runtime/tokenizer_sentencepiece.h): spiece.model (ALBERT style),
//                           sentencepiece.bpe.model (XLM-RoBERTa, fairseq ids)
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
    std::vector<int32_t> ids;       // [T] including the special tokens ([CLS]/[SEP], <s>/</s>)
    std::vector<int32_t> type_ids;  // [T] the template's type ids: BERT 0 for the first segment
                                    //     (with [CLS] and its [SEP]), 1 for the second (with its
                                    //     [SEP]); RoBERTa all 0
};

// One item of a post-processor template (tokenizers' TemplateProcessing): a text (A or B) or
// special token ids, each with the type id its tokens get.
struct TemplateItem {
    int segment = -1;          // 0: text A, 1: text B, -1: the special ids below
    std::vector<int32_t> ids;  // special token ids
    int32_t type_id = 0;
};

// How special tokens surround one text (single) and two (pair).
struct PostTemplate {
    std::vector<TemplateItem> single;
    std::vector<TemplateItem> pair;

    // [CLS] A [SEP] / [CLS] A [SEP] B [SEP], type ids 0 then 1 (BERT, ALBERT, ELECTRA, ...).
    static PostTemplate bert(int32_t cls, int32_t sep);
    // <s> A </s> / <s> A </s> </s> B </s>, all type ids 0 (RoBERTa, XLM-RoBERTa).
    static PostTemplate roberta(int32_t cls, int32_t sep);
    // The number of special ids the template adds.
    size_t num_special(bool is_pair) const;
};

// The special token ids of a tokenizer (-1 where it has none).
struct SpecialIds {
    int32_t cls = -1, sep = -1, pad = 0, unk = -1, bos = -1, eos = -1, mask = -1;
};

// Implementations are immutable after construction: tokenize/encode may be called from several
// threads at once.
class Tokenizer {
  public:
    virtual ~Tokenizer() = default;

    // Ids of one text, without special tokens. Throws Error on invalid UTF-8.
    virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;

    // The ids of text's pre-tokenized words (and added tokens) up to the word that brings them
    // to max_tokens or more: the prefix the tokenizers library (0.23 on) tokenizes when it
    // truncates to max_tokens (tokenize_with_limit; an added token does not end it, the word
    // after it is still taken). Pair truncation compares these lengths (encode_pair), so they
    // must be exact; a 10 MB text costs what its first words cost. Throws Error on invalid UTF-8
    // anywhere in text.
    virtual std::vector<int32_t> tokenize_prefix(std::string_view text, size_t max_tokens) const {
        (void)max_tokens;
        return tokenize(text);
    }

    // The single template ([CLS] a [SEP], <s> a </s>), with a truncated at the end so that the
    // total is <= max_len (>= the template's special tokens, else Error). *truncated (when given)
    // tells whether tokens were cut.
    Encoding encode(std::string_view a, int64_t max_len, bool* truncated = nullptr) const;

    // The pair template ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>), truncated as HF's
    // truncation="longest_first" (see longest_first_lengths) so that the total is <= max_len
    // (>= the template's special tokens, else Error).
    Encoding encode_pair(std::string_view a, std::string_view b, int64_t max_len,
                         bool* truncated = nullptr) const;

    // The number of special tokens encode (pair = false) or encode_pair (pair = true) adds:
    // transformers' num_special_tokens_to_add (2 / 3 for BERT, 2 / 4 for RoBERTa).
    size_t num_special_tokens(bool pair) const { return template_.num_special(pair); }
    const PostTemplate& post_template() const { return template_; }

    // Number of ids (the largest id + 1): the embedding rows a model needs.
    virtual int64_t vocab_size() const = 0;

    // The token (piece) of an id; Error when out of range.
    virtual std::string id_to_token(int32_t id) const = 0;

    int32_t cls_id() const { return cls_id_; }
    int32_t sep_id() const { return sep_id_; }
    int32_t pad_id() const { return pad_id_; }
    int32_t unk_id() const { return unk_id_; }
    // Beginning / end of sequence and mask ids (-1 when the tokenizer has none); BERT-style
    // tokenizers report [CLS] / [SEP] as bos / eos, as transformers' AlbertTokenizer does.
    int32_t bos_id() const { return bos_id_; }
    int32_t eos_id() const { return eos_id_; }
    int32_t mask_id() const { return mask_id_; }

  protected:
    void set_special_ids(const SpecialIds& s);

    int32_t cls_id_ = -1;
    int32_t sep_id_ = -1;
    int32_t pad_id_ = 0;
    int32_t unk_id_ = -1;
    int32_t bos_id_ = -1;
    int32_t eos_id_ = -1;
    int32_t mask_id_ = -1;
    PostTemplate template_;  // set by every implementation's constructor
};

// The lengths (n1, n2) that HF's "longest_first" truncation keeps of two sequences of n1 and n2
// tokens when at most `budget` tokens fit (budget = max_len - 3 for BERT pairs, - 4 for
// RoBERTa). This is the rule of the Rust tokenizers library (tokenizers/src/utils/truncation.rs)
// that transformers' tokenizers use: if they do not fit, the shorter one is kept whole when the
// longer one can give up enough (the longer one keeping at least as much as the shorter), else
// both get budget / 2 and the originally longer one (the second on ties) gets the odd token.
// n1 and n2 are the lengths of tokenize_prefix(text, max_len), not of the whole texts.
// (transformers' old pure-Python tokenizers removed one token at a time from the longer one,
// which gives the odd token to the first sequence on ties.)
std::pair<size_t, size_t> longest_first_lengths(size_t n1, size_t n2, size_t budget);

// Loads the tokenizer of a model folder, the way transformers' AutoTokenizer would:
//   1. tokenizer.json (the fast-tokenizer file) when present: a BERT-shaped one (BertNormalizer,
//      BertPreTokenizer, WordPiece) becomes a WordPieceTokenizer, anything else a
//      PipelineTokenizer; components fwsvd does not implement are refused with an Error naming
//      the file and the component;
//   2. else the files of the slow tokenizers, converted as transformers 5 converts them:
//      spiece.model of ALBERT and sentencepiece.bpe.model (XLM-RoBERTa, fairseq's ids) are read
//      with libsentencepiece into the Unigram pipeline (a spiece.model of no known family is
//      run by libsentencepiece itself: SentencePieceTokenizer); vocab.json + merges.txt
//      (byte-level BPE, RoBERTa); vocab.txt (WordPiece, BERT).
// tokenizer_config.json gives do_lower_case, keep_accents, add_prefix_space, the special tokens
// etc. on top, as transformers' tokenizer classes apply their keyword arguments. The family
// (model_type_hint, e.g. "roberta"; else tokenizer_config.json's tokenizer_class; else
// config.json's model_type) picks the conventions where the files leave them open (special
// tokens, templates). Error naming the folder when it holds no tokenizer.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir,
                                          std::string_view model_type_hint);

// load_tokenizer with a choice of files, for tests and comparisons.
struct TokenizerLoadOptions {
    std::string model_type_hint;  // as above
    enum class Files { kAuto, kTokenizerJson, kLegacy } files = Files::kAuto;
    // tokenizer.json of the BERT shape as a PipelineTokenizer too (not the WordPieceTokenizer).
    bool generic_pipeline = false;
};
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir,
                                          const TokenizerLoadOptions& options);

}  // namespace fwsvd
