// The list of ISA-specific kernel variants: each is defined in <op>_avx512.cc / <op>_avx2.cc
// (compiled with that ISA's -m flags, bodies shared through <op>_simd.inc) and called only by
// the dispatching entry point of <op>.cc when active_isa() allows it. Same contracts as the
// dispatching functions in the public headers.
#pragma once
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/attention.h"

namespace fwsvd::kernels {

// Largest head_dim the fused attention variants take (their Kᵀ / Vᵀ tile lives on the stack);
// beyond it attention_forward / attention_backward use the gemm path.
constexpr int64_t kAttentionSimdMaxHeadDim = 128;
// Widest chunk of queries the fused inference attention takes at once (its key tile width at
// the widest ISA): its scores [keys, chunk] live in the scratch (attention_scratch_size).
constexpr int64_t kAttentionSimdMaxQueryTile = 64;

#define FWSVD_DECLARE_ISA_VARIANTS(isa)                                                            \
    void add_forward_##isa(float* out, const float* a, const float* b, int64_t n);                 \
    void f32_to_bf16_##isa(uint16_t* out, const float* in, int64_t n);                             \
    void accumulate_##isa(float* dst, const float* src, int64_t n);                                \
    void square_accumulate_##isa(float* dst, const float* src, int64_t n);                         \
    void sum_rows_accumulate_##isa(float* dst, const float* src, int64_t rows, int64_t cols);      \
    void sum_head_blocks_##isa(float* out, const float* in, int64_t rows, int64_t heads,           \
                               int64_t width, int64_t block, int64_t ld_in, int64_t ld_out);       \
    void activation_forward_##isa(Activation act, float* out, const float* inp, int64_t n);        \
    void activation_backward_##isa(Activation act, float* dinp, const float* dout,                 \
                                   const float* inp, int64_t n);                                   \
    void gelu_inference_forward_##isa(float* out, const float* inp, int64_t n);                    \
    void layernorm_forward_##isa(float* out, float* mean, float* rstd, const float* inp,           \
                                 const float* gamma, const float* beta, int64_t n, int64_t c,      \
                                 float eps);                                                       \
    void layernorm_backward_##isa(float* dinp, float* dgamma, float* dbeta, const float* dout,     \
                                  const float* inp, const float* gamma, const float* mean,         \
                                  const float* rstd, int64_t n, int64_t c);                        \
    void softmax_forward_##isa(float* out, const float* inp, int64_t rows, int64_t cols);          \
    void softmax_backward_##isa(float* dinp, const float* dout, const float* out, int64_t rows,    \
                                int64_t cols);                                                     \
    void attention_forward_##isa(float* out, float* probs, const float* q, const float* k,         \
                                 const float* v, const SeqSpan* seqs, const AttentionShape& shape, \
                                 int64_t item_begin, int64_t item_end, float* scratch);            \
    void attention_inference_item_##isa(                                                           \
        float* out, const float* q, const float* k, const float* v, const SeqSpan* seqs,           \
        const AttentionShape& shape, int64_t item, int64_t next, float* scratch);                  \
    void attention_backward_##isa(                                                                 \
        float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,        \
        const float* v, const float* probs, const SeqSpan* seqs, const AttentionShape& shape,      \
        int64_t item_begin, int64_t item_end, float* scratch);

FWSVD_DECLARE_ISA_VARIANTS(avx512)
FWSVD_DECLARE_ISA_VARIANTS(avx2)

#undef FWSVD_DECLARE_ISA_VARIANTS

}  // namespace fwsvd::kernels
