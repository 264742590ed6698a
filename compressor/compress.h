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
#include "models/encoded_data.h"
#include "models/model.h"
#include "runtime/progress.h"

namespace fwsvd {

// How ranks are chosen: --rank R (the same R everywhere), --rank-ratio F (per layer
// r = round(F · min(in, out))), --param-ratio F (a parameter fraction, as defined above, <= F),
// --latency-ratio F (the encoder's linear-layer time, compressor/latency.h, measured on this CPU,
// after over before <= F).
enum class RankRule { rank, rank_ratio, param_ratio, latency_ratio };

struct RankSpec {
    RankRule rule = RankRule::rank;
    int64_t rank = 0;  // RankRule::rank
    double ratio = 0;  // RankRule::rank_ratio / param_ratio / latency_ratio, in (0, 1]
    // "--rank 64", "--rank-ratio 0.25", "--param-ratio 0.5", "--latency-ratio 0.5"
    std::string str() const;
    bool is_budget() const {
        return rule == RankRule::param_ratio || rule == RankRule::latency_ratio;
    }
};

// How a budget (--param-ratio, --latency-ratio) is spent (--allocate):
//   uniform: the largest rank r, the same for every selected layer, whose total fits (for
//            --param-ratio any integer r, for --latency-ratio a multiple of the rank multiple);
//   greedy:  per layer, a multiple of the rank multiple or dense, chosen by allocate_greedy
//            (compressor/allocate.h) to minimise the summed sensitivity within the budget. A
//            layer's sensitivity at rank r is its Fisher-weighted truncation error
//            Σ F ⊙ (W − Ŵ_r)², the diagonal-Fisher estimate of twice the loss increase that
//            truncating it alone causes (Hsu et al. 2022, eq. 3), read from one factorization
//            per layer (nested methods, method.h) at no extra pass over data. It needs the
//            Fisher whatever the method.
enum class Allocation { uniform, greedy };
const char* allocation_name(Allocation a);

// The sensitivity greedy allocation minimises (--sensitivity):
//   fisher: Σ F ⊙ (W − Ŵ_r)², the diagonal-Fisher estimate (needs the Fisher);
//   kfac:   Σ_o f_o ((W − Ŵ_r) C (W − Ŵ_r)ᵀ)_oo / tr(C), f_o = Σ_in F[o, in], C = E[x xᵀ]: the
//           Kronecker-factored estimate (compressor/whitening.h), which also sees how the
//           inputs are correlated (needs the Fisher and E[x xᵀ]).
// Both estimate twice the loss increase of truncating one layer alone, in the same units for
// every layer.
enum class Sensitivity { fisher, kfac };
const char* sensitivity_name(Sensitivity s);

// The multiple greedy and --latency-ratio ranks are rounded to (--rank-multiple): the packed
// GEMMs of this CPU run a rank that is a multiple of it no slower than the ranks just below
// (bench/RESULTS.md, "Rank multiples").
constexpr int64_t kDefaultRankMultiple = 16;

struct LayerPlan {
    std::string prefix;  // e.g. bert.encoder.layer.0.attention.self.query
    int64_t in = 0, out = 0;
    int64_t uses = 1;       // layers that share this matrix
    bool selected = false;  // matched the layer filter
    int64_t rank = 0;       // the rank the rule gives this layer (selected layers)
    bool factored = false;
    std::string dense_reason;  // why a layer stays dense ("" when factored)
    std::string why;           // how its rank (or dense) was chosen
    double sensitivity = -1;  // greedy: Σ F ⊙ (W − Ŵ)² at the chosen rank (-1: not computed)
    double micros_before = -1, micros_after = -1;  // --latency-ratio: per use, dense / as chosen
    // Counted weights after compression: rank·(in + out) if factored, else in·out.
    int64_t params() const { return linear_weight_count(in, out, factored ? rank : 0); }
};

struct RankPlan {
    std::vector<LayerPlan> layers;  // every encoder linear layer, in forward order
    int64_t params_before = 0;      // Σ in·out over the encoder's linear layers
    int64_t params_after = 0;       // Σ LayerPlan::params()
    int64_t uniform_rank = 0;       // the rank of --rank / uniform budgets (0 otherwise)
    Allocation allocation = Allocation::uniform;
    int64_t rank_multiple = 0;  // greedy and --latency-ratio ranks are multiples of this
    Sensitivity sensitivity = Sensitivity::fisher;  // greedy
    // --latency-ratio: Σ over layers (and uses) of the measured linear-layer time.
    double micros_before = 0, micros_after = 0;
    double threshold = 0;  // greedy: the smallest sensitivity removed per unit of cost by a step
    double fraction() const {
        return params_before > 0 ? double(params_after) / double(params_before) : 1.0;
    }
    double latency_fraction() const {
        return micros_before > 0 ? micros_after / micros_before : 1.0;
    }
    int64_t num_factored() const;
};

class GemmTimer;

// Chooses ranks for the encoder linear layers of `config` (one per layer group). layers_regex
// (ECMAScript, matched with std::regex_search against the layer prefix; empty: every layer) selects
// which layers may be factored. A selected layer whose rank would not shrink it (r·(in + out) >=
// in·out) stays dense with a reason, unless force_factor, which factors it anyway at min(r, min(in,
// out)) (for tests: full rank reproduces the dense layer). Throws Error(usage) for an invalid spec
// or regex, a regex that matches no layer, or a --param-ratio that even rank 1 cannot reach.
// --latency-ratio (uniform) needs a timer (compressor/latency.h) and ranks multiples of
// rank_multiple; greedy allocation happens in compress_model (it needs the factorizations).
RankPlan plan_ranks(const ModelConfig& config, const RankSpec& spec,
                    const std::string& layers_regex = "", bool force_factor = false,
                    GemmTimer* timer = nullptr, int64_t rank_multiple = kDefaultRankMultiple);

// What --method auto minimises on the held-out examples (--auto-criterion): the error rate
// (1 - accuracy; the squared error for regression), the task loss (cross-entropy; squared error)
// with their labels, or the divergence from the dense model's predictions on them.
enum class AutoCriterion { error, loss, divergence };
const char* auto_criterion_name(AutoCriterion c);

struct CompressOptions {
    std::string method = "svd";  // a name of methods(), or "auto"
    MethodOptions method_options;
    RankSpec ranks;
    Allocation allocate = Allocation::uniform;
    Sensitivity sensitivity = Sensitivity::fisher;
    int64_t rank_multiple = kDefaultRankMultiple;
    // --latency-ratio: the timer to use (null: GEMMs measured at latency_rows rows on
    // latency_threads threads, 0 = the current count).
    GemmTimer* timer = nullptr;
    int64_t latency_rows = 128;
    int latency_threads = 0;
    std::string layers_regex;   // empty: every encoder linear layer
    bool force_factor = false;  // see plan_ranks
    // --method auto: held-out labelled examples (not among the statistics' examples) and the
    // candidate methods (empty: every closed-form method whose statistics are present).
    const EncodedData* holdout = nullptr;
    std::vector<std::string> auto_methods;
    AutoCriterion auto_criterion = AutoCriterion::error;
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

// One candidate of --method auto: the compressed model it gives and its held-out loss.
struct AutoCandidate {
    std::string method;
    bool refit = false;
    double holdout_loss = 0;        // task loss (compressor/holdout.h)
    double holdout_accuracy = -1;   // classification only
    double holdout_divergence = 0;  // KL from the dense model's predictions (or squared error)
    int64_t params_after = 0;       // encoder linear weights
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
    // Written only when they differ from what svd/fwsvd with a uniform rule always did:
    bool refit = false;             // --refit
    std::string allocation;         // "greedy" ("" for uniform)
    std::string selected_by;        // "auto" when --method auto chose the method
    nlohmann::json method_options;  // the options the method used (null: none)
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
    std::vector<AutoCandidate> candidates;  // --method auto: every method tried, in order
    AutoCriterion auto_criterion = AutoCriterion::error;
};

// The statistics compress_model needs for these options: the method's (or for auto, none beyond
// the candidates'), E[x xᵀ] for --refit, the Fisher for greedy allocation.
unsigned needed_stats(const CompressOptions& options);

// Compresses the encoder linear layers of a dense `model` with options.method. stats (may be null
// when the method needs none) must hold what needed_stats asks for every factored
// layer; a Fisher given to a method that does not need it is used for the Fisher-weighted errors.
// --method auto compresses with every candidate (and, where E[x xᵀ] is present, each also with
// --refit), keeps the one whose model scores lowest on options.auto_criterion over
// options.holdout (ties: the
// earlier) and lists them all in candidates.
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
