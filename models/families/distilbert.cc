// DistilBERT (transformers' DistilBertForSequenceClassification): BERT's layer under other names,
// no token types, no dropout on the attention output, and a pre_classifier + ReLU head.
#include "models/family.h"
#include "models/model_config.h"

namespace fwsvd {

namespace {

// DistilBertConfig's keys and defaults.
void read_config(const ConfigReader& r, ModelConfig& c) {
    c.vocab_size = 30522;
    c.max_position_embeddings = 512;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 12;
    c.hidden_size = 768;
    c.intermediate_size = 3072;
    c.hidden_dropout_prob = 0.1;
    c.attention_probs_dropout_prob = 0.1;
    c.hidden_act = "gelu";
    c.initializer_range = 0.02;
    c.classifier_dropout = 0.2;
    c.pad_token_id = 0;
    c.layer_norm_eps = 1e-12;  // fixed in transformers' DistilBERT
    c.type_vocab_size = 0;
    r.get("vocab_size", &c.vocab_size);
    r.get("max_position_embeddings", &c.max_position_embeddings);
    r.get("n_layers", &c.num_hidden_layers);
    r.get("n_heads", &c.num_attention_heads);
    r.get("dim", &c.hidden_size);
    r.get("hidden_dim", &c.intermediate_size);
    r.get("dropout", &c.hidden_dropout_prob);
    r.get("attention_dropout", &c.attention_probs_dropout_prob);
    r.get("activation", &c.hidden_act);
    r.get("initializer_range", &c.initializer_range);
    r.get("seq_classif_dropout", &c.classifier_dropout);
    r.get("pad_token_id", &c.pad_token_id);
}

void write_config(const ModelConfig& c, nlohmann::json& j) {
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["n_layers"] = c.num_hidden_layers;
    j["n_heads"] = c.num_attention_heads;
    j["dim"] = c.hidden_size;
    j["hidden_dim"] = c.intermediate_size;
    j["dropout"] = c.hidden_dropout_prob;
    j["attention_dropout"] = c.attention_probs_dropout_prob;
    j["activation"] = c.hidden_act;
    j["initializer_range"] = c.initializer_range;
    j["seq_classif_dropout"] = c.classifier_dropout.value_or(c.hidden_dropout_prob);
    j["pad_token_id"] = c.pad_token_id;
}

// DistilBertConfig's defaults: no token types, classifier dropout 0.2.
void init_config(ModelConfig& c) {
    c.type_vocab_size = 0;
    c.classifier_dropout = 0.2;
    c.raw["sinusoidal_pos_embds"] = false;
    c.raw["qa_dropout"] = 0.1;
    c.raw["tie_word_embeddings"] = true;
    c.raw["dtype"] = "float32";
}

}  // namespace

extern const Family kDistilBertFamily;
const Family kDistilBertFamily = {
    .model_type = "distilbert",
    .name = "DistilBERT",
    .architectures = {"DistilBertForSequenceClassification", "DistilBertModel",
                      "DistilBertForMaskedLM"},
    .base_prefix = "distilbert.",
    .tensors =
        {
            {Role::word_emb, "distilbert.embeddings.word_embeddings.weight"},
            {Role::pos_emb, "distilbert.embeddings.position_embeddings.weight"},
            {Role::emb_ln, "distilbert.embeddings.LayerNorm"},
            {Role::query, "distilbert.transformer.layer.{i}.attention.q_lin"},
            {Role::key, "distilbert.transformer.layer.{i}.attention.k_lin"},
            {Role::value, "distilbert.transformer.layer.{i}.attention.v_lin"},
            {Role::attn_out, "distilbert.transformer.layer.{i}.attention.out_lin"},
            {Role::attn_ln, "distilbert.transformer.layer.{i}.sa_layer_norm"},
            {Role::inter, "distilbert.transformer.layer.{i}.ffn.lin1"},
            {Role::out, "distilbert.transformer.layer.{i}.ffn.lin2"},
            {Role::out_ln, "distilbert.transformer.layer.{i}.output_layer_norm"},
            {Role::head_dense, "pre_classifier"},
            {Role::classifier, "classifier"},
        },
    .ignorable_names = {"distilbert.embeddings.position_ids", "embeddings.position_ids"},
    .ignorable_prefixes = {"vocab_transform.", "vocab_layer_norm.", "vocab_projector."},
    .head = {kernels::Activation::relu, false},
    .positions = PositionIds::from_zero,
    .always_project_embeddings = false,
    .attention_output_dropout = false,
    .read_config = read_config,
    .write_config = write_config,
    .validate_config = nullptr,
    .init_config = init_config,
};

}  // namespace fwsvd
