// ELECTRA discriminators (transformers' ElectraForSequenceClassification): BERT's encoder with an
// E -> H projection where embedding_size != hidden_size, and a dense + GELU + out_proj head on
// the first token.
#include "models/family.h"
#include "models/model_config.h"

namespace fwsvd {

namespace {

void read_config(const ConfigReader& r, ModelConfig& c) {
    // ElectraConfig's defaults where they differ from BERT's.
    c.embedding_size = 128;
    c.hidden_size = 256;
    c.num_attention_heads = 4;
    c.intermediate_size = 1024;
    read_bert_style_config(r, c);
    r.get("embedding_size", &c.embedding_size);
}

void write_config(const ModelConfig& c, nlohmann::json& j) {
    write_bert_style_config(c, j);
    j["embedding_size"] = c.embedding_dim();
}

// Embeddings as wide as the encoder (ELECTRA-base's shape: no projection).
void init_config(ModelConfig& c) {
    c.embedding_size = c.hidden_size;
    c.raw["summary_type"] = "first";
    c.raw["summary_use_proj"] = true;
    c.raw["summary_activation"] = "gelu";
    c.raw["summary_last_dropout"] = 0.1;
    c.raw["tie_word_embeddings"] = true;
    c.raw["dtype"] = "float32";
}

}  // namespace

extern const Family kElectraFamily;
const Family kElectraFamily = {
    .model_type = "electra",
    .name = "ELECTRA",
    .architectures = {"ElectraForSequenceClassification", "ElectraModel", "ElectraForPreTraining"},
    .base_prefix = "electra.",
    .tensors =
        {
            {Role::word_emb, "electra.embeddings.word_embeddings.weight"},
            {Role::pos_emb, "electra.embeddings.position_embeddings.weight"},
            {Role::type_emb, "electra.embeddings.token_type_embeddings.weight"},
            {Role::emb_ln, "electra.embeddings.LayerNorm"},
            {Role::emb_proj, "electra.embeddings_project"},
            {Role::query, "electra.encoder.layer.{i}.attention.self.query"},
            {Role::key, "electra.encoder.layer.{i}.attention.self.key"},
            {Role::value, "electra.encoder.layer.{i}.attention.self.value"},
            {Role::attn_out, "electra.encoder.layer.{i}.attention.output.dense"},
            {Role::attn_ln, "electra.encoder.layer.{i}.attention.output.LayerNorm"},
            {Role::inter, "electra.encoder.layer.{i}.intermediate.dense"},
            {Role::out, "electra.encoder.layer.{i}.output.dense"},
            {Role::out_ln, "electra.encoder.layer.{i}.output.LayerNorm"},
            {Role::head_dense, "classifier.dense"},
            {Role::classifier, "classifier.out_proj"},
        },
    .ignorable_names = {"electra.embeddings.position_ids", "embeddings.position_ids"},
    .ignorable_prefixes = {"discriminator_predictions."},
    .head = {kernels::Activation::gelu, true},
    .positions = PositionIds::from_zero,
    .always_project_embeddings = false,
    .attention_output_dropout = true,
    .read_config = read_config,
    .write_config = write_config,
    .validate_config = nullptr,
    .init_config = init_config,
};

}  // namespace fwsvd
