// Fused multi-head attention forward and backward, avx2 variant (body in attention_simd.inc).
#include "kernels/isa_variants.h"
#include "kernels/simd_avx2.h"
// clang-format off
#include "kernels/simd_math.inc"
#include "kernels/softmax_simd.inc"
#include "kernels/attention_simd.inc"
// clang-format on

namespace fwsvd::kernels {

void attention_forward_avx2(float* out, float* probs, const float* q, const float* k,
                            const float* v, const SeqSpan* seqs, const AttentionShape& shape,
                            int64_t item_begin, int64_t item_end, float* scratch) {
    simd_attention_forward(out, probs, q, k, v, seqs, shape, item_begin, item_end, scratch);
}

void attention_inference_item_avx2(float* out, const float* q, const float* k, const float* v,
                                   const SeqSpan* seqs, const AttentionShape& shape, int64_t item,
                                   int64_t next, float* scratch) {
    simd_attention_inference_item(out, q, k, v, seqs, shape, item, next, scratch);
}

void attention_backward_avx2(float* dq, float* dk, float* dv, const float* dout, const float* q,
                             const float* k, const float* v, const float* probs,
                             const SeqSpan* seqs, const AttentionShape& shape, int64_t item_begin,
                             int64_t item_end, float* scratch) {
    simd_attention_backward(dq, dk, dv, dout, q, k, v, probs, seqs, shape, item_begin, item_end,
                            scratch);
}

}  // namespace fwsvd::kernels
