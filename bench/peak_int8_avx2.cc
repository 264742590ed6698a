// The int8 dot-product peak without VNNI: 12 independent chains of VPMADDUBSW (32 u8 x s8
// products summed pairwise into 16 int16) + VPMADDWD with ones (into 8 int32) + VPADDD, 64 int8
// operations (32 multiply-adds) per triple: what oneDNN's AVX2 int8 GEMM runs per 32 products.
// Built with -mavx2; it includes nothing but <immintrin.h> and <cstdint> (see peak_avx2.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace fwsvd::bench {

double maddubs_loop_avx2(int64_t iters) {
    __m256i acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_epi32(i);
    __m256i a = _mm256_set1_epi8(3);
    const __m256i b = _mm256_set1_epi8(5), ones = _mm256_set1_epi16(1);
    for (int64_t it = 0; it < iters; ++it) {
        // The empty asm makes `a` look changed: the products cannot be hoisted out of the loop.
        __asm__ volatile("" : "+x"(a));
        for (int i = 0; i < 12; ++i) {
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones);
            acc[i] = _mm256_add_epi32(acc[i], p);
        }
    }
    __m256i s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm256_add_epi32(s, acc[i]);
    alignas(32) int32_t out[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
    volatile int32_t sink = out[0];
    (void)sink;
    return double(iters) * 12 * 32 * 2;
}

}  // namespace fwsvd::bench
