// Row-wise softmax.
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// out[r, :] = softmax(inp[r, :]) over cols entries, numerically stable (max subtracted).
// out may alias inp.
void softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols);
// dinp[r, j] += out[r, j] * (dout[r, j] - Σ_k dout[r, k] out[r, k]).
void softmax_backward(float* dinp, const float* dout, const float* out, int64_t rows, int64_t cols);

template <typename T>
void softmax_forward_ref(T* out, const T* inp, int64_t rows, int64_t cols);
template <typename T>
void softmax_backward_ref(T* dinp, const T* dout, const T* out, int64_t rows, int64_t cols);

}  // namespace fwsvd::kernels
