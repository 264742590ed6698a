// Quantisation for the int8 inference matmuls (kernels/packed_matmul.h): activations to
// unsigned 8-bit with a scale and zero point (asymmetric, per row or per tensor), and the int32
// products of the GEMM back to floats with the bias and a residual added.
//
// An activation x is stored as q = clamp(round(x / scale) + zero, 0, qmax) and stands for
// scale · (q − zero); a weight w of output channel j as p = round(w / wscale[j]) (symmetric).
// Then Σ_k x_k w_k ≈ scale · wscale[j] · (Σ_k q_k p_k − zero · Σ_k p_k): the GEMM multiplies
// the raw codes and dequantize_i32 subtracts zero · Σ_k p_k (the weights' column sums, computed
// once at packing).
#pragma once
#include <cmath>
#include <cstdint>

namespace fwsvd::kernels {

// lo = min(lo, min of inp[0, n)), hi = max(hi, max of inp[0, n)); NaNs are ignored.
void min_max(float* lo, float* hi, const float* inp, int64_t n);

// out[i] = clamp(round(inp[i] · inv_scale) + zero, 0, qmax) as an unsigned byte, rounding to
// nearest even; NaN gives 0. zero and qmax are whole numbers, qmax <= 255. Bit-equal in every
// variant.
void quantize_u8(uint8_t* out, const float* inp, int64_t n, float inv_scale, float zero,
                 float qmax);

// For rows r < rows, columns j < n (row stride n everywhere):
//   out[r, j] = (accumulate ? out[r, j] : 0) +
//               fma(float(acc[r, j] − row_zero[r] · col_sum[j]), row_scale[r] · col_scale[j],
//                   bias ? bias[j] : 0)
// with one rounding per operation as written (bit-equal in every variant). The integer
// difference must fit int32 (PackedMatmul bounds k so that it does).
void dequantize_i32(float* out, const int32_t* acc, const float* row_scale, const int32_t* row_zero,
                    const float* col_scale, const int32_t* col_sum, const float* bias, int64_t rows,
                    int64_t n, int accumulate);

// The scale and zero point of an activation range [lo, hi] for codes 0..qmax: the range is
// widened to hold 0 (so that 0 is a code: padding and ReLU zeros stay exact), scale =
// (hi − lo) / qmax, zero = round(−lo / scale). A zero range gives scale 1, zero 0.
struct U8Params {
    float scale = 1.0f;
    float inv_scale = 1.0f;
    float zero = 0.0f;
};
inline U8Params u8_params(float lo, float hi, float qmax) {
    lo = lo < 0.0f ? lo : 0.0f;
    hi = hi > 0.0f ? hi : 0.0f;
    U8Params p;
    const float scale = (hi - lo) / qmax;
    if (!(scale > 0.0f) || !std::isfinite(scale)) return p;
    p.scale = scale;
    p.inv_scale = 1.0f / scale;
    const float z = std::nearbyint(-lo * p.inv_scale);
    p.zero = z < 0.0f ? 0.0f : (z > qmax ? qmax : z);
    return p;
}

void min_max_ref(float* lo, float* hi, const float* inp, int64_t n);
void quantize_u8_ref(uint8_t* out, const float* inp, int64_t n, float inv_scale, float zero,
                     float qmax);
void dequantize_i32_ref(float* out, const int32_t* acc, const float* row_scale,
                        const int32_t* row_zero, const float* col_scale, const int32_t* col_sum,
                        const float* bias, int64_t rows, int64_t n, int accumulate);

}  // namespace fwsvd::kernels
