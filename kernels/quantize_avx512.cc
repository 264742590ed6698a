// Quantisation kernels for the int8 matmuls, avx512 variant: the ref's operations on 16 lanes,
// bit-equal.
#include "kernels/isa_variants.h"
#include "kernels/simd_avx512.h"

namespace fwsvd::kernels {

namespace {

inline __mmask16 first16(int64_t n) {
    return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
}

}  // namespace

void min_max_avx512(float* lo, float* hi, const float* inp, int64_t n) {
    __m512 l = _mm512_set1_ps(*lo), h = _mm512_set1_ps(*hi);
    // min/max(x, acc): the accumulator (second operand) survives a NaN x; masked-off lanes keep
    // the accumulator.
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first16(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(m, inp + i);
        l = _mm512_mask_min_ps(l, m, x, l);
        h = _mm512_mask_max_ps(h, m, x, h);
    }
    alignas(64) float ls[16], hs[16];
    _mm512_store_ps(ls, l);
    _mm512_store_ps(hs, h);
    float lv = ls[0], hv = hs[0];
    for (int j = 1; j < 16; ++j) {
        lv = ls[j] < lv ? ls[j] : lv;
        hv = hs[j] > hv ? hs[j] : hv;
    }
    *lo = lv;
    *hi = hv;
}

void quantize_u8_avx512(uint8_t* out, const float* inp, int64_t n, float inv_scale, float zero,
                        float qmax) {
    const __m512 inv = _mm512_set1_ps(inv_scale), z = _mm512_set1_ps(zero),
                 q = _mm512_set1_ps(qmax);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first16(n - i);
        __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, inp + i), inv),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm512_add_ps(v, z);
        v = _mm512_max_ps(v, _mm512_setzero_ps());  // NaN -> 0 (the second operand)
        v = _mm512_min_ps(q, v);
        _mm_mask_storeu_epi8(out + i, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
    }
}

void dequantize_i32_avx512(float* out, const int32_t* acc, const float* row_scale,
                           const int32_t* row_zero, const float* col_scale, const int32_t* col_sum,
                           const float* bias, int64_t rows, int64_t n, int accumulate) {
    for (int64_t r = 0; r < rows; ++r) {
        const __m512 rs = _mm512_set1_ps(row_scale[r]);
        const __m512i z = _mm512_set1_epi32(row_zero[r]);
        const int32_t* a = acc + r * n;
        float* o = out + r * n;
        for (int64_t j = 0; j < n; j += 16) {
            const __mmask16 m = first16(n - j);
            const __m512i av = _mm512_maskz_loadu_epi32(m, a + j);
            const __m512i cs = _mm512_maskz_loadu_epi32(m, col_sum + j);
            const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(av, _mm512_mullo_epi32(z, cs)));
            const __m512 s = _mm512_mul_ps(rs, _mm512_maskz_loadu_ps(m, col_scale + j));
            const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + j) : _mm512_setzero_ps();
            __m512 y = _mm512_fmadd_ps(v, s, b);
            if (accumulate) y = _mm512_add_ps(_mm512_maskz_loadu_ps(m, o + j), y);
            _mm512_mask_storeu_ps(o + j, m, y);
        }
    }
}

}  // namespace fwsvd::kernels
