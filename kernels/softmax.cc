// Row-wise softmax (max subtracted) and its backward.
#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fwsvd::kernels {

// The dispatching float entry points are defined in kernel_table.cc from kernel_list.inc.

// ---- scalar twins ------------------------------------------------------------------------------

template <typename T>
void softmax_forward_ref(T* out, const T* inp, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        const T* x = inp + r * cols;
        T* y = out + r * cols;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, double(x[j]));
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) sum += std::exp(double(x[j]) - mx);
        const double inv = 1.0 / sum;
        // y[j] is written after x[j] is read, so out may alias inp.
        for (int64_t j = 0; j < cols; ++j) y[j] = T(std::exp(double(x[j]) - mx) * inv);
    }
}

template <typename T>
void softmax_backward_ref(T* dinp, const T* dout, const T* out, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        const T* dy = dout + r * cols;
        const T* y = out + r * cols;
        T* dx = dinp + r * cols;
        double dot = 0;
        for (int64_t j = 0; j < cols; ++j) dot += double(dy[j]) * double(y[j]);
        for (int64_t j = 0; j < cols; ++j) {
            dx[j] = T(double(dx[j]) + double(y[j]) * (double(dy[j]) - dot));
        }
    }
}

template void softmax_forward_ref<float>(float*, const float*, int64_t, int64_t);
template void softmax_forward_ref<double>(double*, const double*, int64_t, int64_t);
template void softmax_backward_ref<float>(float*, const float*, const float*, int64_t, int64_t);
template void softmax_backward_ref<double>(double*, const double*, const double*, int64_t, int64_t);

}  // namespace fwsvd::kernels
