// Attention with dropout on the probabilities, as transformers applies it in training mode.
// Composed from GEMM, softmax and dropout kernels per (sequence, head); used only when dropout is
// on (the fused attention kernels serve every other case).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"

namespace fwsvd {

// out = dropout(softmax(Q Kᵀ / √d)) V per item. Saves probs (before dropout), probs_drop and
// mask, all at the kernels' probs offsets.
void attention_dropout_forward(float* out, float* probs, float* probs_drop, uint8_t* mask,
                               const float* q, const float* k, const float* v,
                               const std::vector<kernels::SeqSpan>& seqs,
                               const kernels::AttentionShape& shape, float p, uint64_t seed);
// Accumulates dq, dk, dv.
void attention_dropout_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                const float* k, const float* v, const float* probs,
                                const float* probs_drop, const uint8_t* mask,
                                const std::vector<kernels::SeqSpan>& seqs,
                                const kernels::AttentionShape& shape, float p);

}  // namespace fwsvd
