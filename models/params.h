// A model's parameters: the table of its tensors (ParamLayout, built from the family's name
// table, models/family.h) and llm.c-style pointer structs bound into one flat buffer
// (parameters, gradients, Fisher and Adam moments share the layout).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/family.h"
#include "models/model_config.h"
#include "runtime/tensor.h"

namespace fwsvd {

// Weights a linear layer [out, in] stores: in·out dense, rank·(in + out) factored (rank > 0);
// biases not counted. The one definition of a layer's size (compression budgets, packing, FLOPs
// and inspect all use it).
inline int64_t linear_weight_count(int64_t in, int64_t out, int64_t rank) {
    return rank > 0 ? rank * (in + out) : in * out;
}

// A linear layer y = x Wᵀ + b, dense (W [out, in]) or factored (y = (x Aᵀ) Bᵀ + b with
// A [rank, in] applied first and B [out, rank]).
struct LinearParams {
    int64_t in = 0;
    int64_t out = 0;
    int64_t rank = 0;         // 0: dense
    float* weight = nullptr;  // [out, in]   dense only
    float* a = nullptr;       // [rank, in]  factored only
    float* b = nullptr;       // [out, rank] factored only
    float* bias = nullptr;    // [out]
    bool factored() const { return rank > 0; }
    bool present() const { return bias != nullptr; }
    int64_t weight_count() const { return linear_weight_count(in, out, rank); }
};

struct LayerParams {
    LinearParams query;     // [H, H]
    LinearParams key;       // [H, H]
    LinearParams value;     // [H, H]
    LinearParams attn_out;  // [H, H]
    float* attn_ln_gamma;   // [H]
    float* attn_ln_beta;    // [H]
    LinearParams inter;     // [I, H]
    LinearParams out;       // [H, I]
    float* out_ln_gamma;    // [H]
    float* out_ln_beta;     // [H]
    // The linear layers in forward order (layer_linear_roles()).
    std::vector<const LinearParams*> linears() const {
        return {&query, &key, &value, &attn_out, &inter, &out};
    }
};

struct ModelParams {
    float* word_emb = nullptr;  // [V, E]; null when the word embeddings are factored
    // Factored word embeddings (`fwsvd compress --embeddings R`): token v's embedding is
    // word_emb_a[v] · word_emb_bᵀ, a gathered code times a linear layer.
    float* word_emb_a = nullptr;      // [V, r]
    float* word_emb_b = nullptr;      // [E, r]
    int64_t word_emb_rank = 0;        // r; 0: dense
    float* pos_emb = nullptr;         // [P, E]
    float* type_emb = nullptr;        // [TT, E]; null for families without token types
    float* emb_ln_gamma = nullptr;    // [E]
    float* emb_ln_beta = nullptr;     // [E]
    LinearParams emb_proj;            // [H, E]; absent unless the embeddings are projected
    std::vector<LayerParams> layers;  // [L]; layers of one group point at the same tensors
    LinearParams head_dense;          // [H, H] (BERT's pooler); absent when the model has no head
    LinearParams classifier;          // [C, H]; absent when the model has no head
};

// What a parameter is, for weight decay (none on biases and LayerNorm, as HF) and Fisher.
enum class ParamKind { embedding, layernorm, linear_weight, linear_factor, bias };

struct ParamEntry {
    std::string name;  // Hugging Face name, e.g. bert.encoder.layer.0.attention.self.query.weight
    Shape shape;
    int64_t numel;
    int64_t offset;  // in floats from the start of the flat buffer (64-byte aligned)
    ParamKind kind;
    std::string linear;  // for linear weights, factors and biases: the layer prefix; else ""
    Role role;
    int64_t group = -1;  // layer roles: the layer group (the layer, unless layers share)
    int64_t uses = 1;    // layers that use it (> 1 for a shared layer group)
};

// A linear layer of a model: its Hugging Face prefix, role, shape and how many layers use it.
struct LinearSpec {
    std::string prefix;
    Role role;
    int64_t group = -1;  // layer roles only
    int64_t in = 0, out = 0;
    int64_t uses = 1;
};

// The word embeddings' name without ".weight" (e.g. bert.embeddings.word_embeddings): the key of
// their rank in LayoutOptions::ranks and a low_rank block, and the prefix of .weight_a / .weight_b
// when they are factored.
std::string word_embeddings_prefix(const ModelConfig& config);

// Whether the family puts an E -> H projection after the embeddings of this config.
bool has_embedding_projection(const ModelConfig& config);
// The encoder's linear layers, one per layer group and role, in forward order: what compression
// factors (a shared layer group's matrix once).
std::vector<LinearSpec> encoder_linears(const ModelConfig& config);
// Their prefixes (e.g. bert.encoder.layer.0.attention.self.query).
std::vector<std::string> encoder_linear_prefixes(const ModelConfig& config);
// {in, out} of a linear layer of the config (encoder, embedding projection or head) by prefix;
// Error when the config has no such layer.
std::pair<int64_t, int64_t> linear_shape(const ModelConfig& config, const std::string& prefix);

struct LayoutOptions {
    std::map<std::string, int64_t> ranks;  // linear prefix -> rank (absent: dense)
    bool head_dense = true;
    bool classifier = true;
};

class ParamLayout {
  public:
    ParamLayout() = default;
    ParamLayout(const ModelConfig& config, const LayoutOptions& options);

    const std::vector<ParamEntry>& entries() const { return entries_; }
    const ParamEntry* find(const std::string& name) const;
    int64_t total_floats() const { return total_; }
    const ModelConfig& config() const { return config_; }
    const LayoutOptions& options() const { return options_; }
    int64_t rank(const std::string& prefix) const;
    // Whether some parameter is used by more than one layer (a shared layer group).
    bool has_shared() const { return shared_; }
    // Pointers into a buffer of total_floats() floats laid out by this table.
    ModelParams bind(float* base) const;
    // Pointers given entry by entry (entry index in entries() -> its data).
    ModelParams bind(const std::function<float*(size_t)>& data_of) const;

  private:
    void add(const std::string& name, Shape shape, ParamKind kind, Role role, int64_t group,
             const std::string& linear = "");
    void add_linear(Role role, int64_t group, int64_t in, int64_t out);
    void add_layernorm(Role role, int64_t group, int64_t width);
    ModelConfig config_;
    LayoutOptions options_;
    std::vector<ParamEntry> entries_;
    std::map<std::string, size_t> index_;
    int64_t total_ = 0;
    bool shared_ = false;
};

}  // namespace fwsvd
