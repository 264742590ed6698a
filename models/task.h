// A task as the tools meet it: a data file, tokenized for a model, with labels resolved against
// the model's config, run through a Session in batches, and scored with the task's metric.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/batch.h"
#include "models/bert_forward.h"
#include "models/session.h"
#include "runtime/dataset.h"
#include "runtime/progress.h"
#include "runtime/tokenizer.h"

namespace fwsvd {

struct EncodedData {
    std::string source;               // file name for messages
    std::vector<Encoding> encodings;  // [N] in file order
    std::vector<int64_t> lines;       // [N] line of each example in the file
    bool has_labels = false;
    Targets targets;        // classes or values, when labelled
    bool pairs = false;     // the examples are text pairs
    int64_t truncated = 0;  // examples cut to max_len
};

// Tokenizes every example (or checks its input_ids) and resolves labels: for classification an
// integer class id or a name from label2id, for regression a number. need_labels makes a
// missing label an Error. Errors name file:line.
EncodedData encode_dataset(const Dataset& data, const Tokenizer& tokenizer,
                           const BertConfig& config, int64_t max_len, bool need_labels);

// Appends examples [begin, end) of data to batch (cleared first).
void fill_batch(Batch& batch, const EncodedData& data, const std::vector<size_t>& order,
                size_t begin, size_t end);

// Logits [N, C] in the order of data.encodings, computed in batches of at most batch_size
// sequences. progress may be null.
std::vector<float> predict_logits(Session& session, const EncodedData& data, int64_t batch_size,
                                  Progress* progress);

struct EvalResult {
    std::string metric;  // the primary metric's name
    double value = 0;
    int64_t examples = 0;
    std::map<std::string, double> metrics;  // every metric computed
};

// Chooses the primary metric: `requested` when non-empty, else pearson for regression, f1 for
// binary text-pair classification (MRPC, QQP), mcc when the data file's name mentions CoLA,
// accuracy otherwise.
std::string primary_metric(const BertConfig& config, const EncodedData& data,
                           const std::string& requested);
EvalResult evaluate(const BertConfig& config, const EncodedData& data, const float* logits,
                    const std::string& metric);

}  // namespace fwsvd
