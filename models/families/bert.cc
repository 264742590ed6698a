// BERT (transformers' BertForSequenceClassification): the reference family.
#include "models/family.h"
#include "models/model_config.h"

namespace fwsvd {

namespace {

// The fields transformers writes for a BertConfig besides fwsvd's (as in ../shared/models).
void init_config(ModelConfig& c) {
    c.raw["add_cross_attention"] = false;
    c.raw["bos_token_id"] = nullptr;
    c.raw["eos_token_id"] = nullptr;
    c.raw["is_decoder"] = false;
    c.raw["tie_word_embeddings"] = true;
    c.raw["use_cache"] = true;
    c.raw["dtype"] = "float32";
}

}  // namespace

extern const Family kBertFamily;
const Family kBertFamily = {
    .model_type = "bert",
    .name = "BERT",
    .architectures = {"BertForSequenceClassification", "BertModel", "BertForMaskedLM",
                      "BertForPreTraining"},
    .base_prefix = "bert.",
    .tensors =
        {
            {Role::word_emb, "bert.embeddings.word_embeddings.weight"},
            {Role::pos_emb, "bert.embeddings.position_embeddings.weight"},
            {Role::type_emb, "bert.embeddings.token_type_embeddings.weight"},
            {Role::emb_ln, "bert.embeddings.LayerNorm"},
            {Role::query, "bert.encoder.layer.{i}.attention.self.query"},
            {Role::key, "bert.encoder.layer.{i}.attention.self.key"},
            {Role::value, "bert.encoder.layer.{i}.attention.self.value"},
            {Role::attn_out, "bert.encoder.layer.{i}.attention.output.dense"},
            {Role::attn_ln, "bert.encoder.layer.{i}.attention.output.LayerNorm"},
            {Role::inter, "bert.encoder.layer.{i}.intermediate.dense"},
            {Role::out, "bert.encoder.layer.{i}.output.dense"},
            {Role::out_ln, "bert.encoder.layer.{i}.output.LayerNorm"},
            {Role::head_dense, "bert.pooler.dense"},
            {Role::classifier, "classifier"},
        },
    .ignorable_names = {"bert.embeddings.position_ids", "embeddings.position_ids"},
    .ignorable_prefixes = {"cls."},
    .head = {kernels::Activation::tanh, false},
    .positions = PositionIds::from_zero,
    .attention_output_dropout = true,
    .read_config = read_bert_style_config,
    .write_config = write_bert_style_config,
    .validate_config = nullptr,
    .init_config = init_config,
};

}  // namespace fwsvd
