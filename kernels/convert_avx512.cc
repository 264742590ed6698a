// float -> bfloat16 rounding, avx512 variant: the ref's integer rounding on 16 lanes (not
// VCVTNEPS2BF16, which needs AVX512_BF16 and flushes subnormals), so the bits are the ref's.
#include "kernels/simd_avx512.h"

#include "kernels/isa_variants.h"

namespace fwsvd::kernels {

namespace {

inline __m256i round_16(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x0040));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
}

}  // namespace

void f32_to_bf16_avx512(uint16_t* out, const float* in, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), round_16(_mm512_loadu_ps(in + i)));
    }
    if (i < n) {
        const __mmask16 m = __mmask16((1u << (n - i)) - 1u);
        _mm256_mask_storeu_epi16(out + i, m, round_16(_mm512_maskz_loadu_ps(m, in + i)));
    }
}

}  // namespace fwsvd::kernels
