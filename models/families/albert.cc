// ALBERT (transformers' AlbertForSequenceClassification): factorized embeddings (E wide, then an
// E -> H projection that is always there), one layer group shared by the layers
// (num_hidden_groups; inner_group_num 1), a tanh pooler and classifier as BERT.
#include <algorithm>

#include "models/family.h"
#include "models/model_config.h"
#include "runtime/error.h"

namespace fwsvd {

namespace {

void read_config(const ConfigReader& r, ModelConfig& c) {
    // AlbertConfig's defaults where they differ from BERT's.
    c.vocab_size = 30000;
    c.embedding_size = 128;
    c.hidden_size = 4096;
    c.num_attention_heads = 64;
    c.intermediate_size = 16384;
    c.hidden_act = "gelu_new";
    c.hidden_dropout_prob = 0;
    c.attention_probs_dropout_prob = 0;
    read_bert_style_config(r, c);
    // ALBERT's head reads classifier_dropout_prob (default 0.1), not classifier_dropout.
    c.classifier_dropout = 0.1;
    r.get("classifier_dropout_prob", &c.classifier_dropout);
    r.get("embedding_size", &c.embedding_size);
    c.layer_groups = 1;
    r.get("num_hidden_groups", &c.layer_groups);
    int64_t inner = 1;
    r.get("inner_group_num", &inner);
    FWSVD_CHECK(inner == 1, r.source(), ": inner_group_num ", inner,
                " is not supported (fwsvd runs ALBERT with inner_group_num 1)");
}

void write_config(const ModelConfig& c, nlohmann::json& j) {
    write_bert_style_config(c, j);
    j.erase("classifier_dropout");
    j["classifier_dropout_prob"] = c.classifier_dropout.value_or(c.hidden_dropout_prob);
    j["embedding_size"] = c.embedding_dim();
    j["num_hidden_groups"] = c.num_layer_groups();
    j["inner_group_num"] = 1;
}

// AlbertConfig's conventions: 128-wide embeddings (at most the hidden size), one shared layer
// group, gelu_new, no dropout in the encoder.
void init_config(ModelConfig& c) {
    c.embedding_size = std::min<int64_t>(128, c.hidden_size);
    c.layer_groups = 1;
    c.hidden_act = "gelu_new";
    c.hidden_dropout_prob = 0;
    c.attention_probs_dropout_prob = 0;
    c.classifier_dropout = 0.1;
    c.raw["bos_token_id"] = 2;
    c.raw["eos_token_id"] = 3;
    c.raw["tie_word_embeddings"] = true;
    c.raw["dtype"] = "float32";
}

}  // namespace

extern const Family kAlbertFamily;
const Family kAlbertFamily = {
    .model_type = "albert",
    .name = "ALBERT",
    .architectures = {"AlbertForSequenceClassification", "AlbertModel", "AlbertForMaskedLM",
                      "AlbertForPreTraining"},
    .base_prefix = "albert.",
    .tensors =
        {
            {Role::word_emb, "albert.embeddings.word_embeddings.weight"},
            {Role::pos_emb, "albert.embeddings.position_embeddings.weight"},
            {Role::type_emb, "albert.embeddings.token_type_embeddings.weight"},
            {Role::emb_ln, "albert.embeddings.LayerNorm"},
            {Role::emb_proj, "albert.encoder.embedding_hidden_mapping_in"},
            {Role::query, "albert.encoder.albert_layer_groups.{i}.albert_layers.0.attention.query"},
            {Role::key, "albert.encoder.albert_layer_groups.{i}.albert_layers.0.attention.key"},
            {Role::value, "albert.encoder.albert_layer_groups.{i}.albert_layers.0.attention.value"},
            {Role::attn_out,
             "albert.encoder.albert_layer_groups.{i}.albert_layers.0.attention.dense"},
            {Role::attn_ln,
             "albert.encoder.albert_layer_groups.{i}.albert_layers.0.attention.LayerNorm"},
            {Role::inter, "albert.encoder.albert_layer_groups.{i}.albert_layers.0.ffn"},
            {Role::out, "albert.encoder.albert_layer_groups.{i}.albert_layers.0.ffn_output"},
            {Role::out_ln,
             "albert.encoder.albert_layer_groups.{i}.albert_layers.0.full_layer_layer_norm"},
            {Role::head_dense, "albert.pooler"},
            {Role::classifier, "classifier"},
        },
    .ignorable_names = {"albert.embeddings.position_ids", "embeddings.position_ids"},
    .ignorable_prefixes = {"predictions.", "sop_classifier."},
    .head = {kernels::Activation::tanh, false},
    .positions = PositionIds::from_zero,
    .always_project_embeddings = true,
    .attention_output_dropout = true,
    .read_config = read_config,
    .write_config = write_config,
    .validate_config = nullptr,
    .init_config = init_config,
};

}  // namespace fwsvd
