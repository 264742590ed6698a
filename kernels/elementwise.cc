// Element-wise helpers: add, accumulate, square-accumulate, column sums.
#include "kernels/elementwise.h"

#include <cstddef>
#include <vector>

namespace fwsvd::kernels {

// The dispatching float entry points are defined in kernel_table.cc from kernel_list.inc.

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
