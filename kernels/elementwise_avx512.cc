// Element-wise kernels, avx512 variant (bodies in elementwise_simd.inc).
#include "kernels/isa_variants.h"
#include "kernels/simd_avx512.h"
// clang-format off
#include "kernels/elementwise_simd.inc"
// clang-format on

namespace fwsvd::kernels {

void add_forward_avx512(float* out, const float* a, const float* b, int64_t n) {
    simd_add_forward(out, a, b, n);
}
void accumulate_avx512(float* dst, const float* src, int64_t n) {
    simd_accumulate(dst, src, n);
}
void square_accumulate_avx512(float* dst, const float* src, int64_t n) {
    simd_square_accumulate(dst, src, n);
}
void sum_rows_accumulate_avx512(float* dst, const float* src, int64_t rows, int64_t cols) {
    simd_sum_rows_accumulate(dst, src, rows, cols);
}
void sum_head_blocks_avx512(float* out, const float* in, int64_t rows, int64_t heads, int64_t width,
                            int64_t block, int64_t ld_in, int64_t ld_out) {
    simd_sum_head_blocks(out, in, rows, heads, width, block, ld_in, ld_out);
}

}  // namespace fwsvd::kernels
