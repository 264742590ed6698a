// The AVX2 vector layer of the *_avx2.cc kernel files, which are compiled with -mavx2 -mfma.
// Include it from those files only. Same interface as simd_avx512.h (see there why everything
// has internal linkage), on 8-float vectors; masks are vectors of all-ones / all-zero lanes.
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

// Lane masks for partial loads and stores: 8 all-ones lanes then 8 zero lanes; the mask of the
// first n lanes starts at kTailLanes + 8 - n.
alignas(32) constexpr int32_t kTailLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};

struct Simd {
    using V = __m256;
    using Mask = __m256;
    static constexpr int64_t kWidth = 8;
    static constexpr const char* kName = "avx2";
    // Attention tiles: 4 rows x 2 vectors = 8 accumulators of 16 ymm registers.
    static constexpr int kAttnRows = 4;
    static constexpr int kAttnVecs = 2;

    static V zero() { return _mm256_setzero_ps(); }
    static V set1(float x) { return _mm256_set1_ps(x); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    static __m256i first(int64_t n) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailLanes + 8 - n));
    }
    // Loads the first n floats (0 <= n <= kWidth; the other lanes are 0, nothing beyond p + n
    // is touched).
    static V load_n(const float* p, int64_t n) { return _mm256_maskload_ps(p, first(n)); }
    static void store_n(float* p, V v, int64_t n) { _mm256_maskstore_ps(p, first(n), v); }
    // Loads the first n floats; the other lanes are `fill`.
    static V load_n_fill(const float* p, int64_t n, float fill) {
        const __m256i m = first(n);
        return _mm256_blendv_ps(set1(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
    }

    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V div(V a, V b) { return _mm256_div_ps(a, b); }
    static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a·b + c
    static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c − a·b
    static V fmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }    // a·b − c
    // max/min return the second operand when either is NaN: put the value that should
    // propagate NaN second.
    static V max(V a, V b) { return _mm256_max_ps(a, b); }
    static V min(V a, V b) { return _mm256_min_ps(a, b); }
    static V abs(V a) { return _mm256_andnot_ps(set1(-0.0f), a); }
    static V copysign(V mag, V sign) {
        return _mm256_or_ps(abs(mag), _mm256_and_ps(sign, set1(-0.0f)));
    }
    static Mask lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static Mask le(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
    static Mask gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static Mask mask_and(Mask a, Mask b) { return _mm256_and_ps(a, b); }
    static V select(Mask m, V if_true, V if_false) {
        return _mm256_blendv_ps(if_false, if_true, m);
    }
    static float reduce_add(V v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static float reduce_max(V v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }

    // dst[j, i] = src[i, j] for a kWidth x kWidth block (row strides lds, ldd).
    static void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
        V r[8], u[8];
        for (int i = 0; i < 8; ++i) r[i] = load(src + i * lds);
        for (int h = 0; h < 2; ++h) {  // rows 4h..4h+3
            const V t0 = _mm256_unpacklo_ps(r[4 * h], r[4 * h + 1]);
            const V t1 = _mm256_unpackhi_ps(r[4 * h], r[4 * h + 1]);
            const V t2 = _mm256_unpacklo_ps(r[4 * h + 2], r[4 * h + 3]);
            const V t3 = _mm256_unpackhi_ps(r[4 * h + 2], r[4 * h + 3]);
            // u[4h + c], 128-bit lane l: column 4l + c of rows 4h..4h+3.
            u[4 * h] = _mm256_shuffle_ps(t0, t2, 0x44);
            u[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xee);
            u[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
            u[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xee);
        }
        for (int c = 0; c < 4; ++c) {
            store(dst + c * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
            store(dst + (4 + c) * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
        }
    }

    // 2^k for integer k in [-126, 127] (as float lanes).
    static V pow2(__m256i k) {
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
    }
    // e^x for float x, within about 2 ulp: as the AVX-512 variant, with 2^n applied in two
    // halves (each a normal float) so that overflow gives inf and underflow denormals / 0.
    static V exp(V x) {
        x = min(set1(89.0f), max(set1(-104.0f), x));
        const V n = _mm256_round_ps(mul(x, set1(1.44269504088896341f)),
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
        const __m256i ni = _mm256_cvtps_epi32(n);  // in [-150, 128]
        const __m256i h1 = _mm256_srai_epi32(ni, 1);
        const __m256i h2 = _mm256_sub_epi32(ni, h1);
        return mul(mul(p, pow2(h1)), pow2(h2));
    }

    // Double-precision accumulation of a float vector (column sums).
    using VD = __m256d;
    static constexpr int64_t kWidthD = 4;
    static VD zero_d() { return _mm256_setzero_pd(); }
    // acc_lo += lanes 0..3 of v, acc_hi += lanes 4..7.
    static void accumulate_d(VD& acc_lo, VD& acc_hi, V v) {
        acc_lo = _mm256_add_pd(acc_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        acc_hi = _mm256_add_pd(acc_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    static void store_d(double* p, VD v) { _mm256_storeu_pd(p, v); }
    static VD load_d(const double* p) { return _mm256_loadu_pd(p); }
};

using V = Simd::V;

}  // namespace
}  // namespace fwsvd::kernels
