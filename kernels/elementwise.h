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
// out[i, j] = Σ_h in[i, h · block + j] for rows i, j < width <= block, heads h, summed in head
// order (the ref's order: bit-equal results): the sum of each row's head blocks (the inference
// attention output of a layer whose value and output projections are merged per head).
// Row strides ld_in and ld_out.
void sum_head_blocks(float* out, const float* in, int64_t rows, int64_t heads, int64_t width,
                     int64_t block, int64_t ld_in, int64_t ld_out);

template <typename T>
void add_forward_ref(T* out, const T* a, const T* b, int64_t n);
template <typename T>
void accumulate_ref(T* dst, const T* src, int64_t n);
template <typename T>
void square_accumulate_ref(T* dst, const T* src, int64_t n);
template <typename T>
void sum_rows_accumulate_ref(T* dst, const T* src, int64_t rows, int64_t cols);
template <typename T>
void sum_head_blocks_ref(T* out, const T* in, int64_t rows, int64_t heads, int64_t width,
                         int64_t block, int64_t ld_in, int64_t ld_out);

}  // namespace fwsvd::kernels
