// float -> bfloat16 rounding, avx2 variant: the ref's integer rounding on 8 lanes, bit-equal.
#include "kernels/simd_avx2.h"

#include "kernels/isa_variants.h"

namespace fwsvd::kernels {

namespace {

// 8 rounded values in the low 16 bits of each 32-bit lane (upper bits zero).
inline __m256i round_8(__m256 x) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
    const __m256i quiet = _mm256_or_si256(hi, _mm256_set1_epi32(0x0040));
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_epi8(rounded, quiet, _mm256_castps_si256(nan));
}

}  // namespace

void f32_to_bf16_avx2(uint16_t* out, const float* in, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        // packus keeps each value (< 2^16) and interleaves the two halves by 128-bit lane.
        const __m256i packed = _mm256_packus_epi32(round_8(_mm256_loadu_ps(in + i)),
                                                   round_8(_mm256_loadu_ps(in + i + 8)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                            _mm256_permute4x64_epi64(packed, 0xd8));
    }
    if (i < n) {
        // The tail through a zero-padded block (no call to the header's inline scalar rounding:
        // an ISA object must not define it, see check_isa_objects.cmake).
        alignas(32) float block[16] = {};
        alignas(32) uint16_t rounded[16];
        for (int64_t j = 0; j < n - i; ++j) block[j] = in[i + j];
        const __m256i packed =
            _mm256_packus_epi32(round_8(_mm256_load_ps(block)), round_8(_mm256_load_ps(block + 8)));
        _mm256_store_si256(reinterpret_cast<__m256i*>(rounded),
                           _mm256_permute4x64_epi64(packed, 0xd8));
        for (int64_t j = 0; j < n - i; ++j) out[i + j] = rounded[j];
    }
}

}  // namespace fwsvd::kernels
