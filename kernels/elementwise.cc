// Element-wise helpers: add, accumulate, square-accumulate, column sums.
#include "kernels/elementwise.h"

#include <cstddef>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/isa_variants.h"

namespace fwsvd::kernels {

// ---- dispatching float entry points ------------------------------------------------------------

void add_forward(float* out, const float* a, const float* b, int64_t n) {
    switch (active_isa()) {
        case Isa::avx512:
            return add_forward_avx512(out, a, b, n);
        case Isa::avx2:
            return add_forward_avx2(out, a, b, n);
        case Isa::ref:
            break;
    }
    add_forward_ref<float>(out, a, b, n);
}

void accumulate(float* dst, const float* src, int64_t n) {
    switch (active_isa()) {
        case Isa::avx512:
            return accumulate_avx512(dst, src, n);
        case Isa::avx2:
            return accumulate_avx2(dst, src, n);
        case Isa::ref:
            break;
    }
    accumulate_ref<float>(dst, src, n);
}

void square_accumulate(float* dst, const float* src, int64_t n) {
    switch (active_isa()) {
        case Isa::avx512:
            return square_accumulate_avx512(dst, src, n);
        case Isa::avx2:
            return square_accumulate_avx2(dst, src, n);
        case Isa::ref:
            break;
    }
    square_accumulate_ref<float>(dst, src, n);
}

void sum_rows_accumulate(float* dst, const float* src, int64_t rows, int64_t cols) {
    switch (active_isa()) {
        case Isa::avx512:
            return sum_rows_accumulate_avx512(dst, src, rows, cols);
        case Isa::avx2:
            return sum_rows_accumulate_avx2(dst, src, rows, cols);
        case Isa::ref:
            break;
    }
    sum_rows_accumulate_ref<float>(dst, src, rows, cols);
}

void sum_head_blocks(float* out, const float* in, int64_t rows, int64_t heads, int64_t width,
                     int64_t block, int64_t ld_in, int64_t ld_out) {
    switch (active_isa()) {
        case Isa::avx512:
            return sum_head_blocks_avx512(out, in, rows, heads, width, block, ld_in, ld_out);
        case Isa::avx2:
            return sum_head_blocks_avx2(out, in, rows, heads, width, block, ld_in, ld_out);
        case Isa::ref:
            break;
    }
    sum_head_blocks_ref<float>(out, in, rows, heads, width, block, ld_in, ld_out);
}

// ---- scalar twins ------------------------------------------------------------------------------

template <typename T>
void add_forward_ref(T* out, const T* a, const T* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <typename T>
void accumulate_ref(T* dst, const T* src, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

template <typename T>
void square_accumulate_ref(T* dst, const T* src, int64_t n) {
    // One rounding per element (the square of a float is exact in double), as an FMA would.
    for (int64_t i = 0; i < n; ++i) dst[i] = T(double(dst[i]) + double(src[i]) * double(src[i]));
}

template <typename T>
void sum_rows_accumulate_ref(T* dst, const T* src, int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    std::vector<double> acc(static_cast<std::size_t>(cols),
                            0.0);  // rows outer keeps the reads contiguous
    for (int64_t r = 0; r < rows; ++r) {
        const T* row = src + r * cols;
        for (int64_t j = 0; j < cols; ++j) acc[j] += double(row[j]);
    }
    for (int64_t j = 0; j < cols; ++j) dst[j] = T(double(dst[j]) + acc[j]);
}

template <typename T>
void sum_head_blocks_ref(T* out, const T* in, int64_t rows, int64_t heads, int64_t width,
                         int64_t block, int64_t ld_in, int64_t ld_out) {
    for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = 0; j < width; ++j) {
            T s = heads > 0 ? in[i * ld_in + j] : T(0);
            for (int64_t h = 1; h < heads; ++h) s += in[i * ld_in + h * block + j];
            out[i * ld_out + j] = s;
        }
    }
}

template void add_forward_ref<float>(float*, const float*, const float*, int64_t);
template void add_forward_ref<double>(double*, const double*, const double*, int64_t);
template void accumulate_ref<float>(float*, const float*, int64_t);
template void accumulate_ref<double>(double*, const double*, int64_t);
template void square_accumulate_ref<float>(float*, const float*, int64_t);
template void square_accumulate_ref<double>(double*, const double*, int64_t);
template void sum_rows_accumulate_ref<float>(float*, const float*, int64_t, int64_t);
template void sum_rows_accumulate_ref<double>(double*, const double*, int64_t, int64_t);
template void sum_head_blocks_ref<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, int64_t);
template void sum_head_blocks_ref<double>(double*, const double*, int64_t, int64_t, int64_t,
                                          int64_t, int64_t, int64_t);

}  // namespace fwsvd::kernels
