// The model-family seam: what one family of transformers checkpoints (BERT, DistilBERT, ...)
// declares so that loading, packing, the forward and backward passes, Fisher, compression,
// fine-tuning, init and inspect work on it without spelling its names. A family is one file in
// models/families/ holding a `Family` and one line in family.cc's table (docs/ARCHITECTURE.md).
//
// Every family computes the same post-LayerNorm encoder layer; they differ in their tensor
// names, config keys, embeddings (token types or not, an E -> H projection or not, where
// positions start), the classification head and which layers share parameters.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/activation.h"

namespace fwsvd {

struct ModelConfig;
class ConfigReader;

// What a tensor (or, for LayerNorms and linear layers, a tensor group) is in the model.
enum class Role : uint8_t {
    word_emb,    // [V, E]
    pos_emb,     // [P, E]
    type_emb,    // [TT, E] (families with token types)
    emb_ln,      // LayerNorm [E]: .weight, .bias
    emb_proj,    // linear E -> H (factorized embeddings)
    query,       // linear H -> H, one per layer (group)
    key,         // linear H -> H
    value,       // linear H -> H
    attn_out,    // linear H -> H
    attn_ln,     // LayerNorm [H]
    inter,       // linear H -> I
    out,         // linear I -> H
    out_ln,      // LayerNorm [H]
    head_dense,  // linear H -> H: BERT's pooler, DistilBERT's pre_classifier, RoBERTa's dense
    classifier,  // linear H -> C
};

enum class RoleKind { table, layernorm, linear };
RoleKind role_kind(Role role);
// The roles repeated in every encoder layer (query .. out_ln).
bool is_layer_role(Role role);
// The encoder layer's linear roles in forward order: query, key, value, attn_out, inter, out.
const std::vector<Role>& layer_linear_roles();
const char* role_name(Role role);

// One tensor (table) or tensor group (LayerNorm: NAME.weight / NAME.bias; linear: NAME.weight or
// NAME.weight_a + NAME.weight_b, and NAME.bias) under its Hugging Face name. In names of layer
// roles "{i}" stands for the layer's index (its group's index where layers share parameters).
struct TensorName {
    Role role;
    std::string name;
};

// How position ids are numbered: 0, 1, ... (BERT), or from pad_token_id + 1 with padding tokens
// at pad_token_id (RoBERTa's create_position_ids_from_input_ids).
enum class PositionIds { from_zero, after_padding };

// The classification head on the first token's final hidden state h:
// logits = classifier(dropout(act(head_dense(dropout_before ? dropout(h) : h)))).
struct HeadSpec {
    kernels::Activation activation = kernels::Activation::tanh;
    bool dropout_before_dense = false;  // RoBERTa, ELECTRA: dropout on h too
};

struct Family {
    std::string model_type;  // config.json's model_type, e.g. "bert"
    std::string name;        // for messages, e.g. "BERT"
    // The checkpoint classes fwsvd accepts (config.json's architectures); those with the
    // classification head first.
    std::vector<std::string> architectures;
    // The base model's prefix: checkpoints of the bare base model (BertModel) name their tensors
    // without it ("embeddings.word_embeddings.weight" for "bert.embeddings....").
    std::string base_prefix;
    std::vector<TensorName> tensors;
    // Tensors a checkpoint may carry that fwsvd does not use: exact names and name prefixes
    // (masked-LM heads, position_ids buffers).
    std::vector<std::string> ignorable_names;
    std::vector<std::string> ignorable_prefixes;
    HeadSpec head;
    PositionIds positions = PositionIds::from_zero;
    // The E -> H projection after the embeddings (Role::emb_proj) exists whenever the family
    // names one and E != H; with this set, also when E == H (ALBERT always has one).
    bool always_project_embeddings = false;
    // Dropout on the attention output projection before its residual (DistilBERT has none).
    bool attention_output_dropout = true;
    // The family's own config.json keys, read over and written back from a ModelConfig (labels,
    // problem_type, model_type and architectures are common and handled by ModelConfig).
    void (*read_config)(const ConfigReader& reader, ModelConfig& config) = nullptr;
    void (*write_config)(const ModelConfig& config, nlohmann::json& j) = nullptr;
    // Checks of values only this family constrains (Error naming `source`); may be null.
    void (*validate_config)(const ModelConfig& config, const std::string& source) = nullptr;
    // `fwsvd init`: the family's conventions on a config whose sizes, labels and pad_token_id are
    // set (token types, embedding width, position offset, dropouts), and the fields transformers
    // writes for the family's config class (into config.raw).
    void (*init_config)(ModelConfig& config) = nullptr;

    // The Hugging Face name of a role's tensor (group) for layer group `index` (ignored for
    // roles outside the layers); "" when the family has no such role.
    std::string tensor_name(Role role, int64_t index = 0) const;
    bool has(Role role) const;
    // The class written by fine-tuning and init (architectures[0]).
    const std::string& classifier_architecture() const { return architectures.front(); }
};

// Every supported family, in the order messages list them.
const std::vector<const Family*>& families();
// The family of a model_type; Error naming `source` and the supported model types otherwise.
const Family& family_of(const std::string& model_type, const std::string& source);
// "bert, distilbert, ..." for messages.
std::string supported_model_types();

}  // namespace fwsvd
