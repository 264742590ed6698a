// A task as the commands and the C API meet it (the application layer): a data file, tokenized
// for a model, with labels resolved against the model's config, and scored with the task's
// metric. The models layer below runs the encoded examples (models/encoded_data.h) and never
// sees a tokenizer or a data file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/encoded_data.h"
#include "models/model_config.h"
#include "runtime/dataset.h"
#include "runtime/tokenizer.h"

namespace fwsvd {

// The tokenizer of a model folder, or null when the folder holds no tokenizer files (as many
// exported checkpoints: only config.json and model.safetensors); Error when the files it has
// are malformed or do not fit the model's vocabulary.
std::unique_ptr<Tokenizer> load_model_tokenizer(const std::filesystem::path& dir,
                                                const ModelConfig& config);

// Tokenizes every example (or checks its input_ids) and resolves labels: for classification an
// integer class id or a name from label2id, for regression a number. need_labels makes a
// missing label an Error. Errors name file:line. tokenizer may be null (a model folder without
// tokenizer files): then only pre-tokenized examples (input_ids) are accepted, and a text is an
// Error saying that `model_dir` has no tokenizer.
EncodedData encode_dataset(const Dataset& data, const Tokenizer* tokenizer,
                           const ModelConfig& config, int64_t max_len, bool need_labels,
                           const std::string& model_dir = "the model folder");

struct EvalResult {
    std::string metric;  // the primary metric's name
    double value = 0;
    int64_t examples = 0;
    std::map<std::string, double> metrics;  // every metric computed
};

// Chooses the primary metric: `requested` when non-empty, else pearson for regression, f1 for
// binary text-pair classification (MRPC, QQP), mcc when the data file's name mentions CoLA,
// accuracy otherwise.
std::string primary_metric(const ModelConfig& config, const EncodedData& data,
                           const std::string& requested);
EvalResult evaluate(const ModelConfig& config, const EncodedData& data, const float* logits,
                    const std::string& metric);

}  // namespace fwsvd
