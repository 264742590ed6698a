// Statistics of a model on calibration data, collected in one pass of the training forward (and
// backward, where a source needs gradients) by pluggable sources (compressor/stats_sources.h):
//   - the empirical Fisher (Hsu et al. 2022, eq. 4): for each parameter, the mean over the
//     examples of the squared gradient of that example's loss with the dataset's labels. Per-
//     example weight gradients come from one batched backward pass (G_e = Σ_{t∈e} dY_tᵀ X_t);
//     a parameter shared by several layers gets its gradient summed over its uses first (the
//     examples then run one at a time);
//   - the inputs of each linear layer: mean |x| and E[x xᵀ] over the input rows (tokens) of
//     the calibration examples, one set per distinct input (query, key and value share theirs).
// Compression methods read them per layer (LayerStats) and never run the model themselves.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "models/encoded_data.h"
#include "models/model.h"
#include "runtime/dist.h"
#include "runtime/progress.h"
#include "runtime/tensor.h"

namespace fwsvd {

// What a source collects (bit flags).
enum StatKind : unsigned {
    kStatFisher = 1,        // per-parameter empirical Fisher
    kStatInputAbsMean = 2,  // mean |x| of each linear layer's input
    kStatInputCov = 4,      // E[x xᵀ] of each linear layer's input
};
// "fisher", "input mean |x|", ... joined, for messages.
std::string stat_kinds_str(unsigned kinds);

struct StatsOptions {
    unsigned kinds = kStatFisher;
    int64_t examples = 0;     // 0: every example; else a seeded random sample of this many
    uint64_t seed = 0;        // sampling seed
    bool all_params = false;  // Fisher of every parameter (default: encoder linear weights only)
    int64_t batch_size = 16;  // examples per batched pass
    // Fisher sums: false, float32 running sums (one process, the file fwsvd has always written);
    // true, each batch's float32 sums added into float64 sums, which do not depend on how the
    // batches are split between ranks (a distributed pass needs it).
    bool fisher_f64 = false;
};

// One linear layer's statistics (pointers into a Stats; null where not collected).
struct LayerStats {
    const float* fisher = nullptr;           // [out, in] Fisher of the dense weight
    const double* input_abs_mean = nullptr;  // [in] mean |x| over the input rows
    const double* input_cov = nullptr;       // [in, in] E[x xᵀ] over the input rows
    int64_t in = 0, out = 0;
};

struct Stats {
    // Parameter name (Hugging Face name) -> Fisher of that parameter, same shape, float32.
    std::map<std::string, Tensor> fisher;
    // Input name (input_name()) -> [in] mean |x| (float64) and [in, in] E[x xᵀ] (float64).
    std::map<std::string, Tensor> input_abs_mean;
    std::map<std::string, Tensor> input_cov;
    int64_t examples = 0;
    int64_t input_rows = 0;  // rows (tokens) behind the input statistics of one use
    uint64_t seed = 0;
    std::string model_checksum;  // SHA-256 of the model's model.safetensors
    double seconds = 0;

    unsigned kinds() const;
    // The statistics of an encoder linear layer of `config` (prefix as in encoder_linears).
    // Error naming the layer when a kind in `needed` is missing or has the wrong shape.
    LayerStats layer(const ModelConfig& config, const std::string& prefix, unsigned needed) const;
};

// The name under which a linear layer's input statistics are kept: one per distinct input
// ("encoder.{group}.layer_input" for query, key and value; ".context" for the attention output;
// ".attention_output" for the intermediate; ".intermediate" for the output projection).
std::string input_name(const ModelConfig& config, const std::string& prefix);

// The examples compute_stats uses, in order: 0..n-1 when examples <= 0, else the first
// min(examples, n) of a seeded Fisher-Yates shuffle of 0..n-1 (the same on every platform).
std::vector<size_t> stats_sample(size_t n, int64_t examples, uint64_t seed);

// The batch size compute_stats uses: options.batch_size, or 1 for the Fisher of a model with
// shared parameters.
int64_t stats_batch_size(const Model& model, const StatsOptions& options);

// Collects the statistics of `options.kinds` of `model` on `data` (eval mode: no dropout). The
// Fisher needs labels. With a distributed comm, `data` is this rank's part of the examples, in
// whole batches of stats_batch_size (block_shard), possibly none: the sums are reduced over the
// ranks in rank order and every rank gets the statistics of all the examples.
Stats compute_stats(const Model& model, const EncodedData& data, const StatsOptions& options,
                    Progress* progress, Comm* comm = nullptr);

// Writes one tensor per statistic, atomically: Fisher tensors under their parameter's name, input
// statistics under "input_abs_mean.NAME" / "input_cov.NAME"; metadata "examples", "seed",
// "model_checksum", "format" ("fwsvd-fisher-1" when the file holds Fisher tensors only, as
// `fwsvd fisher` has always written, else "fwsvd-stats-1" with "input_rows") plus `extra`.
void save_stats(const std::filesystem::path& path, const Stats& stats,
                const std::map<std::string, std::string>& extra = {});
// Reads a file written by save_stats (Error naming the file if it is not one).
Stats load_stats(const std::filesystem::path& path);

}  // namespace fwsvd
