// Compressing a whole BERT: choosing ranks for the encoder's linear layers, factorizing them with
// SVD or FWSVD (compressor/low_rank.h) in parallel, and assembling the factored model.
//
// Parameter counting (the --param-ratio definition): over the encoder's linear layers (query,
// key, value, attention output, intermediate, output of every layer; embeddings, pooler and
// classifier are not counted), weights only (biases excluded), a dense layer counts in·out and a
// factored one r·(in + out). The fraction is that total after compression over the total before.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compressor/fisher.h"
#include "compressor/low_rank.h"
#include "models/bert_model.h"
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
    bool selected = false;  // matched the layer filter
    int64_t rank = 0;       // the rank the rule gives this layer (selected layers)
    bool factored = false;
    std::string dense_reason;  // why a layer stays dense ("" when factored)
    // Counted weights after compression: rank·(in + out) if factored, else in·out.
    int64_t params() const { return factored ? rank * (in + out) : in * out; }
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

// Chooses ranks for the encoder linear layers of `config`. layers_regex (ECMAScript, matched
// with std::regex_search against the layer prefix; empty: every layer) selects which layers may
// be factored. A selected layer whose rank would not shrink it (r·(in + out) >= in·out) stays
// dense with a reason, unless force_factor, which factors it anyway at min(r, min(in, out)) (for
// tests: full rank reproduces the dense layer). Throws Error(usage) for an invalid spec or regex,
// a regex that matches no layer, or a --param-ratio that even rank 1 cannot reach.
RankPlan plan_ranks(const BertConfig& config, const RankSpec& spec,
                    const std::string& layers_regex = "", bool force_factor = false);

struct CompressOptions {
    LowRankMethod method = LowRankMethod::svd;
    RankSpec ranks;
    std::string layers_regex;   // empty: every encoder linear layer
    bool force_factor = false;  // see plan_ranks
};

struct LayerReport {
    LayerPlan plan;
    ReconstructionError error;     // of factored layers (plain 0, fisher -1 when dense)
    bool fisher_all_zero = false;  // FWSVD met an all-zero Fisher and fell back to SVD
    double seconds = 0;            // factorization and error measurement
};

struct CompressResult {
    RankPlan plan;
    std::vector<LayerReport> layers;  // as plan.layers
    BertConfig config;   // the source config with a low_rank block {format, method, ranks, ...}
    ParamLayout layout;  // with the factored layers' ranks
    Tensor flat;         // the compressed model's parameters, laid out by layout
    int64_t model_params_before = 0;  // every parameter of the model (float32 values)
    int64_t model_params_after = 0;
    double seconds = 0;
};

// The format tag of compressed checkpoints (config.json low_rank.format).
constexpr const char* kLowRankFormat = "fwsvd-low-rank-1";

// Compresses the encoder linear layers of a dense `model`. fisher (may be null for SVD; FWSVD
// needs it) must hold "{prefix}.weight" [out, in] for every factored layer; when given with SVD it
// is used only for the Fisher-weighted errors. Layers are factorized in parallel over OpenMP
// threads (set_num_threads), each factorization single-threaded. progress (may be null) counts
// layers. Throws Error if the model already has factored layers (compress the dense model it came
// from: factoring factors would compound the errors, and its Fisher is over the factors).
CompressResult compress_model(const BertModel& model, const FisherResult* fisher,
                              const CompressOptions& options, Progress* progress = nullptr);

// The report as JSON: rule, method, parameters before/after (encoder linear layers and whole
// model), achieved fraction, per layer rank, factored or dense (why), errors and seconds.
nlohmann::ordered_json compress_report_json(const CompressResult& result);

}  // namespace fwsvd
