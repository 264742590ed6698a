// The AVX-512 vector layer of the *_avx512.cc kernel files, which are compiled with
// -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma. Include it from those files only.
//
// Everything here has internal linkage (anonymous namespace, inline): every translation unit gets
// its own copy, so the linker can never pick a copy compiled for AVX-512 for a caller built for
// another ISA (the ODR hazard of shared inline code compiled under different -m flags). The
// generic kernel bodies (*_simd.inc) are written against this `Simd` interface; simd_avx2.h
// provides the same interface on 8-float vectors.
#pragma once
// GCC 12 reports false (maybe-)uninitialized warnings inside its own AVX-512 intrinsics
// (_mm512_undefined_ps's `__Y = __Y`, GCC bug 105593); the pragma covers the header's lines.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace fwsvd::kernels {
namespace {

struct Simd {
    using V = __m512;
    using Mask = __mmask16;
    static constexpr int64_t kWidth = 16;
    static constexpr const char* kName = "avx512";
    // Attention tiles: query rows per register block and vectors per key tile / value chunk
    // (6 x 4 accumulators of 32 zmm registers: the fastest of 4 x 4, 6 x 4 and 7 x 4, which
    // spills; BM_Attention in bench/RESULTS.md).
    static constexpr int kAttnRows = 6;
    static constexpr int kAttnVecs = 4;

    static V zero() { return _mm512_setzero_ps(); }
    static V set1(float x) { return _mm512_set1_ps(x); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
    // First n lanes (0 <= n <= kWidth).
    static Mask first(int64_t n) { return Mask((1u << unsigned(n)) - 1u); }
    // Loads the first n floats (the other lanes are 0; nothing beyond p + n is touched).
    static V load_n(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
    static void store_n(float* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, first(n), v); }
    // Loads the first n floats; the other lanes are `fill`.
    static V load_n_fill(const float* p, int64_t n, float fill) {
        return _mm512_mask_loadu_ps(set1(fill), first(n), p);
    }

    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V div(V a, V b) { return _mm512_div_ps(a, b); }
    static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }    // a·b + c
    static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }  // c − a·b
    static V fmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }    // a·b − c
    // max/min return the second operand when either is NaN (vmaxps): put the value that should
    // propagate NaN second.
    static V max(V a, V b) { return _mm512_max_ps(a, b); }
    static V min(V a, V b) { return _mm512_min_ps(a, b); }
    static V abs(V a) { return _mm512_andnot_ps(set1(-0.0f), a); }
    // |mag| with the sign bit of sign.
    static V copysign(V mag, V sign) {
        return _mm512_or_ps(abs(mag), _mm512_and_ps(sign, set1(-0.0f)));
    }
    static Mask lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static Mask le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
    static Mask gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static Mask mask_and(Mask a, Mask b) { return Mask(a & b); }
    static V select(Mask m, V if_true, V if_false) {
        return _mm512_mask_blend_ps(m, if_false, if_true);
    }
    static float reduce_add(V v) { return _mm512_reduce_add_ps(v); }
    static float reduce_max(V v) { return _mm512_reduce_max_ps(v); }

    // dst[j, i] = src[i, j] for a kWidth x kWidth block (row strides lds, ldd): lane
    // interleaves, then a 4 x 4 transpose of the 128-bit lanes.
    static void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
        V r[16], t[16];
        for (int i = 0; i < 16; ++i) r[i] = load(src + i * lds);
        for (int i = 0; i < 8; ++i) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4i + c], 128-bit lane l: column 4l + c of rows 4i..4i+3.
        for (int i = 0; i < 4; ++i) {
            const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
            const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
            r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
            r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
            r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
        }
        for (int c = 0; c < 4; ++c) {
            const V x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44);
            const V x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xee);
            const V y0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
            const V y1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xee);
            store(dst + (0 + c) * ldd, _mm512_shuffle_f32x4(x0, y0, 0x88));
            store(dst + (4 + c) * ldd, _mm512_shuffle_f32x4(x0, y0, 0xdd));
            store(dst + (8 + c) * ldd, _mm512_shuffle_f32x4(x1, y1, 0x88));
            store(dst + (12 + c) * ldd, _mm512_shuffle_f32x4(x1, y1, 0xdd));
        }
    }

    // e^x for float x, within about 2 ulp: x = n·ln2 + r, |r| <= ln2/2, e^r by its Taylor
    // polynomial to r^7 (truncation < 6e-9 relative), 2^n applied by vscalefps, which gives
    // inf above ~88.72, denormals below ~-87.3 and 0 below ~-103.9. NaN propagates.
    static V exp(V x) {
        x = min(set1(89.0f), max(set1(-104.0f), x));
        const V n = _mm512_roundscale_ps(mul(x, set1(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        V r = fnmadd(n, set1(0.693359375f), x);  // ln2 = 0.693359375 - 2.12194440e-4
        r = fnmadd(n, set1(-2.12194440e-4f), r);
        V p = set1(1.0f / 5040);
        p = fmadd(p, r, set1(1.0f / 720));
        p = fmadd(p, r, set1(1.0f / 120));
        p = fmadd(p, r, set1(1.0f / 24));
        p = fmadd(p, r, set1(1.0f / 6));
        p = fmadd(p, r, set1(0.5f));
        p = fmadd(p, r, set1(1.0f));
        p = fmadd(p, r, set1(1.0f));
        return _mm512_scalef_ps(p, n);
    }

    // Double-precision accumulation of a float vector (column sums).
    using VD = __m512d;
    static constexpr int64_t kWidthD = 8;
    static VD zero_d() { return _mm512_setzero_pd(); }
    // acc_lo += lanes 0..7 of v, acc_hi += lanes 8..15.
    static void accumulate_d(VD& acc_lo, VD& acc_hi, V v) {
        acc_lo = _mm512_add_pd(acc_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        acc_hi = _mm512_add_pd(
            acc_hi,
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    static void store_d(double* p, VD v) { _mm512_storeu_pd(p, v); }
    static VD load_d(const double* p) { return _mm512_loadu_pd(p); }
};

using V = Simd::V;

}  // namespace
}  // namespace fwsvd::kernels
