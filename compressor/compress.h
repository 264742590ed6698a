// Compressing a whole model: choosing ranks for the encoder's linear layers, factorizing them with
// a compression method (compressor/method.h) in parallel, and assembling the factored model.
//
// Parameter counting (the --param-ratio definition): over the encoder's linear layers (query,
// key, value, attention output, intermediate, output of every layer group: a matrix shared by
// several layers counts once; embeddings and the head are not counted), weights only (biases
// excluded), as linear_weight_count (models/params.h): a dense layer counts in·out and a
// factored one r·(in + out). The fraction is that total after compression over the total before.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compressor/low_rank.h"
#include "compressor/method.h"
#include "compressor/stats.h"
#include "models/model.h"
#include "runtime/progress.h"

namespace fwsvd {

// How ranks are chosen: --rank R (the same R everywhere), --rank-ratio F (per layer
// r = round(F · min(in, out))), --param-ratio F (the largest uniform r whose parameter fraction,
// as defined above, is <= F).
enum class RankRule { rank, rank_ratio, param_ratio };

struct RankSpec {
    RankRule rule = RankRule::rank;
    int64_t rank = 0;  // RankRule::rank
    double ratio = 0;  // RankRule::rank_ratio / param_ratio, in (0, 1]
    // "--rank 64", "--rank-ratio 0.25", "--param-ratio 0.5"
    std::string str() const;
};

struct LayerPlan {
    std::string prefix;  // e.g. bert.encoder.layer.0.attention.self.query
    int64_t in = 0, out = 0;
    int64_t uses = 1;       // layers that share this matrix
    bool selected = false;  // matched the layer filter
    int64_t rank = 0;       // the rank the rule gives this layer (selected layers)
    bool factored = false;
    std::string dense_reason;  // why a layer stays dense ("" when factored)
    // Counted weights after compression: rank·(in + out) if factored, else in·out.
    int64_t params() const { return linear_weight_count(in, out, factored ? rank : 0); }
};

struct RankPlan {
    std::vector<LayerPlan> layers;  // every encoder linear layer, in forward order
    int64_t params_before = 0;      // Σ in·out over the encoder's linear layers
    int64_t params_after = 0;       // Σ LayerPlan::params()
    int64_t uniform_rank = 0;       // the rank of --rank / --param-ratio (0 for --rank-ratio)
    double fraction() const {
        return params_before > 0 ? double(params_after) / double(params_before) : 1.0;
    }
    int64_t num_factored() const;
};

// Chooses ranks for the encoder linear layers of `config` (one per layer group). layers_regex
// (ECMAScript, matched with std::regex_search against the layer prefix; empty: every layer) selects
// which layers may be factored. A selected layer whose rank would not shrink it (r·(in + out) >=
// in·out) stays dense with a reason, unless force_factor, which factors it anyway at min(r, min(in,
// out)) (for tests: full rank reproduces the dense layer). Throws Error(usage) for an invalid spec
// or regex, a regex that matches no layer, or a --param-ratio that even rank 1 cannot reach.
RankPlan plan_ranks(const ModelConfig& config, const RankSpec& spec,
                    const std::string& layers_regex = "", bool force_factor = false);

struct CompressOptions {
    std::string method = "svd";  // a name of methods()
    MethodOptions method_options;
    RankSpec ranks;
    std::string layers_regex;   // empty: every encoder linear layer
    bool force_factor = false;  // see plan_ranks
    // > 0: also factor the word embeddings [V, E] at this rank by truncated SVD, stored as codes
    // [V, r] and a second factor [E, r] (models/params.h); it must shrink them (r (V + E) < V E).
    int64_t embedding_rank = 0;
};

// The word embeddings' factorization (CompressOptions::embedding_rank).
struct EmbeddingReport {
    int64_t rank = 0;  // 0: kept dense
    int64_t params_before = 0, params_after = 0;
    double rel_error = 0;  // ‖W − A Bᵀ‖_F / ‖W‖_F
};

struct LayerReport {
    LayerPlan plan;
    ReconstructionError error;       // of factored layers (plain 0, fisher -1 when dense)
    std::vector<std::string> notes;  // the method's remarks (MethodOutput::notes)
    double seconds = 0;              // factorization and error measurement
};

// The format tag of compressed checkpoints (config.json low_rank.format).
constexpr const char* kLowRankFormat = "fwsvd-low-rank-1";

// The low_rank block of a compressed checkpoint's config.json: how it was made. Loading needs
// only its ranks (models/model.h, low_rank_ranks); the rest is the record.
struct LowRankBlock {
    std::string method;
    std::string rank_rule;                 // RankSpec::str()
    std::string layers_regex;              // "" when every layer was selected
    std::map<std::string, int64_t> ranks;  // factored layer prefix -> rank
    std::string source_model;              // set by the caller ("" leaves it out)
    std::string source_checksum;
    // Where the statistics came from (written as "fisher"), when the caller records it.
    std::optional<nlohmann::json> statistics;
    nlohmann::json to_json() const;
};

struct CompressResult {
    RankPlan plan;
    std::vector<LayerReport> layers;  // as plan.layers
    EmbeddingReport embeddings;
    LowRankBlock block;
    ModelConfig config;               // the source config with block's JSON as raw["low_rank"]
    ParamLayout layout;               // with the factored layers' ranks
    Tensor flat;                      // the compressed model's parameters, laid out by layout
    int64_t model_params_before = 0;  // every parameter of the model (float32 values)
    int64_t model_params_after = 0;
    double seconds = 0;
};

// Compresses the encoder linear layers of a dense `model` with options.method. stats (may be null
// when the method needs none) must hold what the method needs (Method::needs) for every factored
// layer; a Fisher given to a method that does not need it is used for the Fisher-weighted errors.
// Layers are factorized in parallel over OpenMP threads (set_num_threads), each factorization
// single-threaded. progress (may be null) counts layers. Throws Error if the model already has
// factored layers (compress the dense model it came from: factoring factors would compound the
// errors, and its statistics are over the factors).
CompressResult compress_model(const Model& model, const Stats* stats,
                              const CompressOptions& options, Progress* progress = nullptr);
// Writes result.block into result.config (after the caller filled in its source fields).
void apply_block(CompressResult& result);

// The report as JSON: rule, method, parameters before/after (encoder linear layers and whole
// model), achieved fraction, per layer rank, factored or dense (why), errors and seconds.
nlohmann::ordered_json compress_report_json(const CompressResult& result);

}  // namespace fwsvd
