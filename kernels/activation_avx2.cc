// Activations and their derivatives, avx2 variant (bodies in activation_simd.inc, vector
// transcendentals in simd_math.inc).
#include "kernels/isa_variants.h"
#include "kernels/simd_avx2.h"
// clang-format off
#include "kernels/simd_math.inc"
#include "kernels/activation_simd.inc"
// clang-format on

namespace fwsvd::kernels {

void activation_forward_avx2(Activation act, float* out, const float* inp, int64_t n) {
    simd_activation_forward(act, out, inp, n);
}
void activation_backward_avx2(Activation act, float* dinp, const float* dout, const float* inp,
                              int64_t n) {
    simd_activation_backward(act, dinp, dout, inp, n);
}
void gelu_inference_forward_avx2(float* out, const float* inp, int64_t n) {
    simd_gelu_inference_forward(out, inp, n);
}

}  // namespace fwsvd::kernels
