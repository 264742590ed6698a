// A batch of token sequences packed row after row, with no padding between them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "models/model_config.h"

namespace fwsvd {

struct Batch {
    std::vector<int32_t> ids;            // [N] token ids of all sequences, packed
    std::vector<int32_t> type_ids;       // [N] token type ids
    std::vector<int32_t> pos_ids;        // [N] position ids (0.. within each sequence)
    std::vector<kernels::SeqSpan> seqs;  // [B] rows of each sequence (probs_offset unused here)

    int64_t tokens() const { return int64_t(ids.size()); }
    int64_t size() const { return int64_t(seqs.size()); }
    int64_t max_len() const;
    void clear();
    // Appends a sequence of len tokens. type_ids may be null (all 0). keys < len reproduces
    // Hugging Face's right padding: the last len - keys rows are padding that no row attends to.
    void add(const int32_t* ids, const int32_t* type_ids, int64_t len, int64_t keys = -1);
    // Throws Error if an id, type id or length does not fit the model (`what` names the input).
    void validate(const ModelConfig& config, const char* what = "input") const;
};

// Per-example targets: class ids (classification) or values (regression).
struct Targets {
    std::vector<int32_t> classes;  // [B]
    std::vector<float> values;     // [B]
};

}  // namespace fwsvd
