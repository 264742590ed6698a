// SentencePieceTokenizer: a SentencePiece model through libsentencepiece; ids are
// SentencePieceProcessor::Encode(text) with the model's own normalisation:
//   spiece.model (ALBERT style): the model's ids, [CLS] A [SEP] / [CLS] A [SEP] B [SEP];
//   sentencepiece.bpe.model (XLM-RoBERTa, fairseq_ids): transformers' XLMRobertaTokenizer ids,
//     <s>=0 <pad>=1 </s>=2 <unk>=3, every other piece its SentencePiece id + 1, <mask> last;
//     the special tokens are recognised in the raw text; <s> A </s> / <s> A </s></s> B </s>.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace fwsvd {

struct SentencePieceOptions {
    bool do_lower_case = false;  // lower-case the text before encoding (ALBERT's do_lower_case)
    std::string cls_token = "[CLS]";    // else the model's bos piece
    std::string sep_token = "[SEP]";    // else the model's eos piece
    std::string pad_token = "<pad>";    // else the model's pad id, else 0
    std::string unk_token = "<unk>";    // else the model's unk id
    bool fairseq_ids = false;           // XLM-RoBERTa's ids and template (see above)
    std::string mask_token = "<mask>";  // with fairseq_ids: the id after the last piece
};

// Options from tokenizer_config.json of a model folder (do_lower_case, *_token); defaults when
// the file is absent, Error naming it when malformed.
SentencePieceOptions read_sentencepiece_options(const std::filesystem::path& model_dir);

class SentencePieceTokenizer final : public Tokenizer {
  public:
    // Loads model_file; Error naming it when it cannot be loaded or lacks the cls/sep pieces.
    explicit SentencePieceTokenizer(const std::filesystem::path& model_file,
                                    SentencePieceOptions options = {});
    ~SentencePieceTokenizer() override;
    SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
    SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

    std::vector<int32_t> tokenize(std::string_view text) const override;
    int64_t vocab_size() const override;
    std::string id_to_token(int32_t id) const override;

    // The id of a piece, or -1 when the model has no such piece.
    int32_t piece_to_id(std::string_view piece) const;

  private:
    std::vector<int32_t> encode_segment(std::string_view text) const;

    std::filesystem::path model_file_;
    SentencePieceOptions options_;
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
    // fairseq_ids: the five special tokens, matched in the raw text (longest first).
    std::vector<std::pair<std::string, int32_t>> fairseq_specials_;
};

}  // namespace fwsvd
