// Labelled or unlabelled examples as token ids (what the application layer's encode_dataset makes
// of a data file, app/task.h), batched for the training passes and run through a Session.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/batch.h"
#include "models/session.h"
#include "runtime/progress.h"

namespace fwsvd {

// One example's ids as a tokenizer's Encoding holds them.
struct EncodedExample {
    std::vector<int32_t> ids;       // [T] including the special tokens
    std::vector<int32_t> type_ids;  // [T]
};

struct EncodedData {
    std::string source;                     // file name for messages
    std::vector<EncodedExample> encodings;  // [N] in file order
    std::vector<int64_t> lines;             // [N] line of each example in the file
    bool has_labels = false;
    Targets targets;        // classes or values, when labelled
    bool pairs = false;     // the examples are text pairs
    int64_t truncated = 0;  // examples cut to max_len
};

// Appends examples order[begin, end) of data to batch (cleared first).
void fill_batch(Batch& batch, const EncodedData& data, const std::vector<size_t>& order,
                size_t begin, size_t end);

// The targets of examples order[begin, end) into targets (cleared first).
void fill_targets(Targets& targets, const EncodedData& data, const std::vector<size_t>& order,
                  size_t begin, size_t end);

// Logits [N, C] in the order of data.encodings, computed in batches of at most batch_size
// sequences. progress may be null.
std::vector<float> predict_logits(Session& session, const EncodedData& data, int64_t batch_size,
                                  Progress* progress);

}  // namespace fwsvd
