// RoBERTa and XLM-RoBERTa (transformers' RobertaForSequenceClassification,
// XLMRobertaForSequenceClassification): BERT's network with position ids counted from
// pad_token_id + 1 and a dense + tanh + out_proj head on <s>; they differ in their tokenizers
// (byte-level BPE; SentencePiece with fairseq's ids), which runtime/tokenizer.h loads.
#include "models/family.h"
#include "models/model_config.h"

namespace fwsvd {

namespace {

void read_config(const ConfigReader& r, ModelConfig& c) {
    c.vocab_size = 50265;
    c.pad_token_id = 1;
    read_bert_style_config(r, c);
}

// One token type; positions start after pad_token_id, so the table grows by pad_token_id + 1
// (RoBERTa-base: 514 positions for 512 tokens).
void init_config(ModelConfig& c) {
    c.type_vocab_size = 1;
    c.max_position_embeddings += c.pad_token_id + 1;
    c.raw["bos_token_id"] = 0;
    c.raw["eos_token_id"] = 2;
    c.raw["tie_word_embeddings"] = true;
    c.raw["dtype"] = "float32";
}

const std::vector<TensorName> kTensors = {
    {Role::word_emb, "roberta.embeddings.word_embeddings.weight"},
    {Role::pos_emb, "roberta.embeddings.position_embeddings.weight"},
    {Role::type_emb, "roberta.embeddings.token_type_embeddings.weight"},
    {Role::emb_ln, "roberta.embeddings.LayerNorm"},
    {Role::query, "roberta.encoder.layer.{i}.attention.self.query"},
    {Role::key, "roberta.encoder.layer.{i}.attention.self.key"},
    {Role::value, "roberta.encoder.layer.{i}.attention.self.value"},
    {Role::attn_out, "roberta.encoder.layer.{i}.attention.output.dense"},
    {Role::attn_ln, "roberta.encoder.layer.{i}.attention.output.LayerNorm"},
    {Role::inter, "roberta.encoder.layer.{i}.intermediate.dense"},
    {Role::out, "roberta.encoder.layer.{i}.output.dense"},
    {Role::out_ln, "roberta.encoder.layer.{i}.output.LayerNorm"},
    {Role::head_dense, "classifier.dense"},
    {Role::classifier, "classifier.out_proj"},
};

// The bare model's pooler and the masked-LM head are not used.
const std::vector<std::string> kIgnorableNames = {"roberta.embeddings.position_ids",
                                                  "embeddings.position_ids"};
const std::vector<std::string> kIgnorablePrefixes = {"lm_head.", "roberta.pooler.", "pooler."};

}  // namespace

extern const Family kRobertaFamily;
const Family kRobertaFamily = {
    .model_type = "roberta",
    .name = "RoBERTa",
    .architectures = {"RobertaForSequenceClassification", "RobertaModel", "RobertaForMaskedLM"},
    .base_prefix = "roberta.",
    .tensors = kTensors,
    .ignorable_names = kIgnorableNames,
    .ignorable_prefixes = kIgnorablePrefixes,
    .head = {kernels::Activation::tanh, true},
    .positions = PositionIds::after_padding,
    .always_project_embeddings = false,
    .attention_output_dropout = true,
    .read_config = read_config,
    .write_config = write_bert_style_config,
    .validate_config = nullptr,
    .init_config = init_config,
};

namespace {

// XLM-RoBERTa: RoBERTa's network under its own model_type and classes.
Family xlm_roberta() {
    Family f = kRobertaFamily;
    f.model_type = "xlm-roberta";
    f.name = "XLM-RoBERTa";
    f.architectures = {"XLMRobertaForSequenceClassification", "XLMRobertaModel",
                       "XLMRobertaForMaskedLM"};
    return f;
}

}  // namespace

extern const Family kXlmRobertaFamily;
const Family kXlmRobertaFamily = xlm_roberta();

}  // namespace fwsvd
