// Small element-wise helpers the model composes (residual adds, accumulation, Fisher squares).
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// out[i] = a[i] + b[i]; out may alias a or b.
void add_forward(float* out, const float* a, const float* b, int64_t n);
// dst[i] += src[i].
void accumulate(float* dst, const float* src, int64_t n);
// dst[i] += src[i] * src[i] (per-example Fisher accumulation).
void square_accumulate(float* dst, const float* src, int64_t n);
// dst[i] += Σ_r src[r, i] for r < rows (bias gradients).
void sum_rows_accumulate(float* dst, const float* src, int64_t rows, int64_t cols);

template <typename T>
void add_forward_ref(T* out, const T* a, const T* b, int64_t n);
template <typename T>
void accumulate_ref(T* dst, const T* src, int64_t n);
template <typename T>
void square_accumulate_ref(T* dst, const T* src, int64_t n);
template <typename T>
void sum_rows_accumulate_ref(T* dst, const T* src, int64_t rows, int64_t cols);

}  // namespace fwsvd::kernels
