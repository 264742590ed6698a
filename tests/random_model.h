// Random-weight models for tests and benchmarks (one helper for both): every parameter normal(0,
// stddev), LayerNorm gammas 1 (+ optional noise, so that a gamma ignored by some path shows),
// dense or factored layers as given.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "models/model.h"

namespace fwsvd::testing {

struct RandomWeights {
    float stddev = 0.02f;
    float gamma_noise = 0.0f;  // LayerNorm gamma = 1 + gamma_noise · normal(0, stddev)
};

// A flat buffer laid out by `layout`, filled as RandomWeights says, from one seeded stream.
inline Tensor random_flat(const ParamLayout& layout, uint64_t seed, const RandomWeights& w = {}) {
    Tensor flat = Tensor::zeros({layout.total_floats()});
    std::mt19937_64 gen(seed);
    std::normal_distribution<float> normal(0.0f, w.stddev);
    for (const ParamEntry& e : layout.entries()) {
        float* p = flat.data<float>() + e.offset;
        const bool gamma =
            e.kind == ParamKind::layernorm && e.name.compare(e.name.size() - 7, 7, ".weight") == 0;
        for (int64_t i = 0; i < e.numel; ++i) {
            p[i] = gamma ? 1.0f + w.gamma_noise * normal(gen) : normal(gen);
        }
    }
    return flat;
}

// A model of `config` with the given ranks (prefix -> rank; empty: dense) and random weights.
inline std::shared_ptr<const Model> random_model(const ModelConfig& config,
                                                 const std::map<std::string, int64_t>& ranks,
                                                 uint64_t seed, const RandomWeights& w = {}) {
    LayoutOptions options;
    options.ranks = ranks;
    const ParamLayout layout(config, options);
    return Model::from_flat(config, layout, random_flat(layout, seed, w));
}

// Every encoder linear layer of `config` at `rank` (0: none).
inline std::map<std::string, int64_t> uniform_ranks(const ModelConfig& config, int64_t rank) {
    std::map<std::string, int64_t> ranks;
    if (rank > 0) {
        for (const auto& prefix : encoder_linear_prefixes(config)) ranks[prefix] = rank;
    }
    return ranks;
}

}  // namespace fwsvd::testing
