// Row softmax and its backward, avx2 variant (bodies in softmax_simd.inc).
#include "kernels/isa_variants.h"
#include "kernels/simd_avx2.h"
// clang-format off
#include "kernels/simd_math.inc"
#include "kernels/softmax_simd.inc"
// clang-format on

namespace fwsvd::kernels {

void softmax_forward_avx2(float* out, const float* inp, int64_t rows, int64_t cols) {
    simd_softmax_forward(out, inp, rows, cols);
}
void softmax_backward_avx2(float* dinp, const float* dout, const float* out, int64_t rows,
                           int64_t cols) {
    simd_softmax_backward(dinp, dout, out, rows, cols);
}

}  // namespace fwsvd::kernels
