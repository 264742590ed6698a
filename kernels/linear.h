// Fully connected layer y = x Wᵀ + b with weights in PyTorch's [out, in] layout.
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// out[n, c_out] = inp[n, c_in] · weight[c_out, c_in]ᵀ + bias[c_out]. bias may be null. Overwrites
// out.
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t n,
                    int64_t c_in, int64_t c_out);
// Accumulates (+=): dinp[n, c_in] += dout · weight; dweight[c_out, c_in] += doutᵀ · inp;
// dbias[c_out] += Σ_rows dout. Any of dinp, dweight, dbias may be null (skipped).
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t n, int64_t c_in, int64_t c_out);

template <typename T>
void linear_forward_ref(T* out, const T* inp, const T* weight, const T* bias, int64_t n,
                        int64_t c_in, int64_t c_out);
template <typename T>
void linear_backward_ref(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                         const T* weight, int64_t n, int64_t c_in, int64_t c_out);

}  // namespace fwsvd::kernels
