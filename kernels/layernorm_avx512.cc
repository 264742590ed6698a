// LayerNorm forward/backward, avx512 variant (bodies in layernorm_simd.inc).
#include "kernels/isa_variants.h"
#include "kernels/simd_avx512.h"
// clang-format off
#include "kernels/layernorm_simd.inc"
// clang-format on

namespace fwsvd::kernels {

void layernorm_forward_avx512(float* out, float* mean, float* rstd, const float* inp,
                              const float* gamma, const float* beta, int64_t n, int64_t c,
                              float eps) {
    simd_layernorm_forward(out, mean, rstd, inp, gamma, beta, n, c, eps);
}
void layernorm_backward_avx512(float* dinp, float* dgamma, float* dbeta, const float* dout,
                               const float* inp, const float* gamma, const float* mean,
                               const float* rstd, int64_t n, int64_t c) {
    simd_layernorm_backward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, n, c);
}

}  // namespace fwsvd::kernels
