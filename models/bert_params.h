// BERT parameters: the one table of Hugging Face tensor names, and llm.c-style pointer structs
// bound into one flat buffer (parameters, gradients, Fisher and Adam moments share the layout).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/config.h"
#include "runtime/tensor.h"

namespace fwsvd {

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
};

struct BertParams {
    float* word_emb = nullptr;      // [V, H]
    float* pos_emb = nullptr;       // [P, H]
    float* type_emb = nullptr;      // [TT, H]
    float* emb_ln_gamma = nullptr;  // [H]
    float* emb_ln_beta = nullptr;   // [H]
    std::vector<LayerParams> layers;
    LinearParams pooler;      // [H, H]; weight null when the model has no pooler
    LinearParams classifier;  // [C, H]; null when the model has no head
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
};

// The names of the encoder's linear layers of layer i, in forward order:
// query, key, value, attention output, intermediate, output.
std::vector<std::string> encoder_linear_prefixes(int64_t layer);
// All encoder linear prefixes of a config, layer by layer.
std::vector<std::string> encoder_linear_prefixes(const BertConfig& config);
// {in, out} of a linear layer prefix (encoder, pooler or classifier).
std::pair<int64_t, int64_t> linear_shape(const BertConfig& config, const std::string& prefix);

struct LayoutOptions {
    std::map<std::string, int64_t> ranks;  // linear prefix -> rank (absent: dense)
    bool pooler = true;
    bool classifier = true;
};

class ParamLayout {
  public:
    ParamLayout() = default;
    ParamLayout(const BertConfig& config, const LayoutOptions& options);

    const std::vector<ParamEntry>& entries() const { return entries_; }
    const ParamEntry* find(const std::string& name) const;
    int64_t total_floats() const { return total_; }
    const BertConfig& config() const { return config_; }
    const LayoutOptions& options() const { return options_; }
    int64_t rank(const std::string& prefix) const;
    // Pointers into a buffer of total_floats() floats laid out by this table.
    BertParams bind(float* base) const;
    // Pointers given entry by entry (entry index in entries() -> its data).
    BertParams bind(const std::function<float*(size_t)>& data_of) const;

  private:
    void add(const std::string& name, Shape shape, ParamKind kind, const std::string& linear = "");
    void add_linear(const std::string& prefix, int64_t in, int64_t out);
    BertConfig config_;
    LayoutOptions options_;
    std::vector<ParamEntry> entries_;
    std::map<std::string, size_t> index_;
    int64_t total_ = 0;
};

}  // namespace fwsvd
