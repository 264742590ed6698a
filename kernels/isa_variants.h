// The ISA-specific kernel variants of kernel_list.inc: name##_avx512 / name##_avx2 are defined in
// <op>_avx512.cc / <op>_avx2.cc (compiled with that ISA's -m flags, bodies shared through
// <op>_simd.inc) and reached only through kernel_table(), whose table for an ISA the dispatching
// entry points use only when active_isa() allows it. Same contracts as the entry points in the
// public headers.
#pragma once
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/attention.h"

namespace fwsvd::kernels {

// Largest head_dim the fused attention variants take (their Kᵀ / Vᵀ tile lives on the stack);
// beyond it they run the gemm path below.
constexpr int64_t kAttentionSimdMaxHeadDim = 128;
// Widest chunk of queries the fused inference attention takes at once (its key tile width at
// the widest ISA): its scores [keys, chunk] live in the scratch (attention_scratch_size).
constexpr int64_t kAttentionSimdMaxQueryTile = 64;

#define FWSVD_KERNEL(name, ref, params, args) \
    void name##_avx512 params;                \
    void name##_avx2 params;
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL

// Attention on gemm (dnnl_sgemm per item, the dispatching softmax; attention.cc): Isa::ref's
// attention, and what the variants run for heads wider than kAttentionSimdMaxHeadDim.
void attention_forward_gemm(float* out, float* probs, const float* q, const float* k,
                            const float* v, const SeqSpan* seqs, const AttentionShape& shape,
                            int64_t item_begin, int64_t item_end, float* scratch);
void attention_inference_item_gemm(float* out, const float* q, const float* k, const float* v,
                                   const SeqSpan* seqs, const AttentionShape& shape, int64_t item,
                                   int64_t next, float* scratch);
void attention_backward_gemm(float* dq, float* dk, float* dv, const float* dout, const float* q,
                             const float* k, const float* v, const float* probs,
                             const SeqSpan* seqs, const AttentionShape& shape, int64_t item_begin,
                             int64_t item_end, float* scratch);

}  // namespace fwsvd::kernels
