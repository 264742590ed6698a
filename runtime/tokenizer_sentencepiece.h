// SentencePieceTokenizer: a SentencePiece model (spiece.model of no known family) through
// libsentencepiece; ids are SentencePieceProcessor::Encode(text) with the model's own
// normalisation, [CLS] A [SEP] / [CLS] A [SEP] B [SEP]. (ALBERT's and XLM-RoBERTa's models
// are read into the tokenizer.json pipeline instead, as transformers converts them: see
// load_tokenizer.)
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
    std::string cls_token = "[CLS]";  // else the model's bos piece
    std::string sep_token = "[SEP]";  // else the model's eos piece
    std::string pad_token = "<pad>";  // else the model's pad id, else 0
    std::string unk_token = "<unk>";  // else the model's unk id
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
    // The pieces of the words (a piece starting with "▁" starts one) up to the word that brings
    // them to max_tokens.
    std::vector<int32_t> tokenize_prefix(std::string_view text, size_t max_tokens) const override;
    int64_t vocab_size() const override;
    std::string id_to_token(int32_t id) const override;

    // The id of a piece, or -1 when the model has no such piece.
    int32_t piece_to_id(std::string_view piece) const;

  private:
    std::filesystem::path model_file_;
    SentencePieceOptions options_;
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace fwsvd
