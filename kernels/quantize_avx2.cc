// Quantisation kernels for the int8 matmuls, avx2 variant: the ref's operations on 8 lanes,
// bit-equal.
#include "kernels/isa_variants.h"
#include "kernels/simd_avx2.h"

namespace fwsvd::kernels {

namespace {

// 8 codes as int32 lanes: clamp(round(x · inv) + zero, 0, qmax), NaN -> 0 (max returns its
// second operand when either is NaN).
inline __m256i codes_8(__m256 x, __m256 inv, __m256 zero, __m256 qmax) {
    __m256 v =
        _mm256_round_ps(_mm256_mul_ps(x, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_add_ps(v, zero);
    v = _mm256_max_ps(v, _mm256_setzero_ps());
    v = _mm256_min_ps(qmax, v);
    return _mm256_cvtps_epi32(v);
}

// 32 codes as bytes in order.
inline __m256i codes_32(const float* p, __m256 inv, __m256 zero, __m256 qmax) {
    const __m256i a = codes_8(_mm256_loadu_ps(p), inv, zero, qmax);
    const __m256i b = codes_8(_mm256_loadu_ps(p + 8), inv, zero, qmax);
    const __m256i c = codes_8(_mm256_loadu_ps(p + 16), inv, zero, qmax);
    const __m256i d = codes_8(_mm256_loadu_ps(p + 24), inv, zero, qmax);
    // The packs interleave by 128-bit lane: dwords a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7.
    const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

}  // namespace

void min_max_avx2(float* lo, float* hi, const float* inp, int64_t n) {
    __m256 l = _mm256_set1_ps(*lo), h = _mm256_set1_ps(*hi);
    int64_t i = 0;
    // min/max(x, acc): the accumulator (second operand) survives a NaN x.
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(inp + i);
        l = _mm256_min_ps(x, l);
        h = _mm256_max_ps(x, h);
    }
    alignas(32) float ls[8], hs[8];
    _mm256_store_ps(ls, l);
    _mm256_store_ps(hs, h);
    float lv = ls[0], hv = hs[0];
    for (int j = 1; j < 8; ++j) {
        lv = ls[j] < lv ? ls[j] : lv;
        hv = hs[j] > hv ? hs[j] : hv;
    }
    for (; i < n; ++i) {
        if (inp[i] < lv) lv = inp[i];
        if (inp[i] > hv) hv = inp[i];
    }
    *lo = lv;
    *hi = hv;
}

void quantize_u8_avx2(uint8_t* out, const float* inp, int64_t n, float inv_scale, float zero,
                      float qmax) {
    const __m256 inv = _mm256_set1_ps(inv_scale), z = _mm256_set1_ps(zero),
                 q = _mm256_set1_ps(qmax);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), codes_32(inp + i, inv, z, q));
    }
    if (i < n) {
        // The tail through a zero-padded block.
        alignas(32) float block[32] = {};
        alignas(32) uint8_t codes[32];
        for (int64_t j = 0; j < n - i; ++j) block[j] = inp[i + j];
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes), codes_32(block, inv, z, q));
        for (int64_t j = 0; j < n - i; ++j) out[i + j] = codes[j];
    }
}

namespace {

// 8 outputs of dequantize_i32 from the loaded lanes (one rounding per operation, as the ref).
inline __m256 dequantize_8(__m256i acc, __m256i cs, __m256i z, __m256 rs, __m256 col_scale,
                           __m256 bias) {
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_mullo_epi32(z, cs)));
    return _mm256_fmadd_ps(v, _mm256_mul_ps(rs, col_scale), bias);
}

}  // namespace

void dequantize_i32_avx2(float* out, const int32_t* acc, const float* row_scale,
                         const int32_t* row_zero, const float* col_scale, const int32_t* col_sum,
                         const float* bias, int64_t rows, int64_t n, int accumulate) {
    for (int64_t r = 0; r < rows; ++r) {
        const __m256 rs = _mm256_set1_ps(row_scale[r]);
        const __m256i z = _mm256_set1_epi32(row_zero[r]);
        const int32_t* a = acc + r * n;
        float* o = out + r * n;
        int64_t j = 0;
        // Whole vectors with plain loads and stores (masked stores are slow on some CPUs).
        for (; j + 8 <= n; j += 8) {
            const __m256 b = bias ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
            __m256 y =
                dequantize_8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + j)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_sum + j)), z,
                             rs, _mm256_loadu_ps(col_scale + j), b);
            if (accumulate) y = _mm256_add_ps(_mm256_loadu_ps(o + j), y);
            _mm256_storeu_ps(o + j, y);
        }
        if (j < n) {
            const __m256i m = Simd::first(n - j);
            const __m256 b = bias ? _mm256_maskload_ps(bias + j, m) : _mm256_setzero_ps();
            __m256 y =
                dequantize_8(_mm256_maskload_epi32(a + j, m), _mm256_maskload_epi32(col_sum + j, m),
                             z, rs, _mm256_maskload_ps(col_scale + j, m), b);
            if (accumulate) y = _mm256_add_ps(_mm256_maskload_ps(o + j, m), y);
            _mm256_maskstore_ps(o + j, m, y);
        }
    }
}

}  // namespace fwsvd::kernels
