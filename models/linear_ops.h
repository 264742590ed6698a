// Model-level compositions of kernels shared by the forward, backward and inference passes:
// dense-or-factored linear layers and row-parallel splits of row-wise kernels.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "models/params.h"

namespace fwsvd {

// out[n, out] = linear(inp[n, in]); t[n, rank] receives inp·Aᵀ for a factored layer.
void linear_forward_any(float* out, float* t, const float* inp, const LinearParams& p, int64_t n);

// LayerNorm of n rows of c, split across threads.
void layernorm_rows(float* out, float* mean, float* rstd, const float* inp, const float* gamma,
                    const float* beta, int64_t n, int64_t c, float eps);

// Attention over all (sequence, head) items, split across threads with per-thread scratch.
void attention_all(float* out, float* probs, const float* q, const float* k, const float* v,
                   const std::vector<kernels::SeqSpan>& seqs, const kernels::AttentionShape& shape);
// Inference form: the same items split across threads by their cost (len · (keys + head_dim)),
// each thread using its slice of `scratch`, which holds attention_threads(seqs, shape) slices
// of scratch_per_thread >= attention_scratch_size(seqs) floats. No allocation.
void attention_all(float* out, float* probs, const float* q, const float* k, const float* v,
                   const std::vector<kernels::SeqSpan>& seqs, const kernels::AttentionShape& shape,
                   float* scratch, int64_t scratch_per_thread);
// Threads attention_all with a scratch argument uses (at most num_threads()).
int attention_threads(const std::vector<kernels::SeqSpan>& seqs,
                      const kernels::AttentionShape& shape);

void attention_all_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                            const float* k, const float* v, const float* probs,
                            const std::vector<kernels::SeqSpan>& seqs,
                            const kernels::AttentionShape& shape);

}  // namespace fwsvd
