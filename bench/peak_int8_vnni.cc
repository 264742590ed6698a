// The int8 dot-product peak with AVX512_VNNI: 16 independent chains of VPDPBUSD (64 u8 x s8
// products summed by fours into 16 int32: 128 int8 operations an instruction). Built with
// -mavx512f -mavx512vnni; it includes nothing but <immintrin.h> and <cstdint> (see
// peak_avx512.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace fwsvd::bench {

double dpbusd_loop_avx512(int64_t iters) {
    __m512i acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
    for (int64_t it = 0; it < iters; ++it) {
        for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    }
    __m512i s = acc[0];
    for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, acc[i]);
    volatile int32_t sink = _mm512_reduce_add_epi32(s);
    (void)sink;
    return double(iters) * 16 * 64 * 2;
}

}  // namespace fwsvd::bench
