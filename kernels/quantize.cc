// Quantisation kernels for the int8 matmuls: the scalar twins.
#include "kernels/quantize.h"

#include <cmath>

namespace fwsvd::kernels {

// The dispatching min_max, quantize_u8 and dequantize_i32 are defined in kernel_table.cc from
// kernel_list.inc.

void min_max_ref(float* lo, float* hi, const float* inp, int64_t n) {
    float l = *lo, h = *hi;
    for (int64_t i = 0; i < n; ++i) {
        if (inp[i] < l) l = inp[i];
        if (inp[i] > h) h = inp[i];
    }
    *lo = l;
    *hi = h;
}

void quantize_u8_ref(uint8_t* out, const float* inp, int64_t n, float inv_scale, float zero,
                     float qmax) {
    for (int64_t i = 0; i < n; ++i) {
        float v = std::nearbyint(inp[i] * inv_scale) + zero;
        v = v > 0.0f ? v : 0.0f;  // NaN -> 0
        v = v < qmax ? v : qmax;
        out[i] = uint8_t(int32_t(v));
    }
}

void dequantize_i32_ref(float* out, const int32_t* acc, const float* row_scale,
                        const int32_t* row_zero, const float* col_scale, const int32_t* col_sum,
                        const float* bias, int64_t rows, int64_t n, int accumulate) {
    for (int64_t r = 0; r < rows; ++r) {
        const float rs = row_scale[r];
        const int32_t z = row_zero[r];
        for (int64_t j = 0; j < n; ++j) {
            const float v = float(acc[r * n + j] - z * col_sum[j]);
            float y = std::fma(v, rs * col_scale[j], bias ? bias[j] : 0.0f);
            if (accumulate) y = out[r * n + j] + y;
            out[r * n + j] = y;
        }
    }
}

}  // namespace fwsvd::kernels
