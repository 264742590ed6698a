// LayerNorm over the last dimension, as torch.nn.LayerNorm (biased variance, eps inside the sqrt).
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// out[n, c] = (inp - mean) * rstd * gamma + beta, row by row; rstd = 1 / sqrt(var + eps).
// mean[n] and rstd[n] are saved for the backward when non-null. out may alias inp.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* gamma,
                       const float* beta, int64_t n, int64_t c, float eps);
// Accumulates (+=) into dinp[n, c], dgamma[c], dbeta[c]; each may be null.
void layernorm_backward(float* dinp, float* dgamma, float* dbeta, const float* dout,
                        const float* inp, const float* gamma, const float* mean, const float* rstd,
                        int64_t n, int64_t c);

template <typename T>
void layernorm_forward_ref(T* out, T* mean, T* rstd, const T* inp, const T* gamma, const T* beta,
                           int64_t n, int64_t c, T eps);
template <typename T>
void layernorm_backward_ref(T* dinp, T* dgamma, T* dbeta, const T* dout, const T* inp,
                            const T* gamma, const T* mean, const T* rstd, int64_t n, int64_t c);

}  // namespace fwsvd::kernels
