// Empirical Fisher information (Hsu et al. 2022, eq. 4): for each parameter, the mean over the
// task's examples of the squared gradient of that example's loss, with the dataset's labels.
// Per-example weight gradients come from one batched backward pass: for a linear layer,
// G_e = Σ_{t∈e} dY_tᵀ X_t from saved activations X and output gradients dY.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "models/bert_model.h"
#include "models/task.h"
#include "runtime/progress.h"
#include "runtime/tensor.h"

namespace fwsvd {

struct FisherOptions {
    int64_t examples = 0;     // 0: every example; else a seeded random sample of this many
    uint64_t seed = 0;        // sampling seed
    bool all_params = false;  // false: encoder linear weights (and their biases) only
    int64_t batch_size = 16;  // examples per batched backward
};

struct FisherResult {
    // Parameter name (Hugging Face name) -> Fisher of that parameter, same shape, float32.
    std::map<std::string, Tensor> tensors;
    int64_t examples = 0;
    uint64_t seed = 0;
    std::string model_checksum;  // SHA-256 of the model's model.safetensors
    double seconds = 0;
};

// The examples compute_fisher uses, in order: 0..n-1 when examples <= 0, else the first
// min(examples, n) of a seeded Fisher-Yates shuffle of 0..n-1 (the same on every platform).
std::vector<size_t> fisher_sample(size_t n, int64_t examples, uint64_t seed);

// Computes the empirical Fisher of `model` on labelled `data` (eval mode: no dropout).
FisherResult compute_fisher(const BertModel& model, const EncodedData& data,
                            const FisherOptions& options, Progress* progress);

// Writes one tensor per parameter under its own name, and metadata "examples", "seed",
// "model_checksum", "format" = "fwsvd-fisher-1" plus `extra`, atomically.
void save_fisher(const std::filesystem::path& path, const FisherResult& fisher,
                 const std::map<std::string, std::string>& extra = {});
// Reads a file written by save_fisher (Error naming the file if it is not one).
FisherResult load_fisher(const std::filesystem::path& path);

}  // namespace fwsvd
