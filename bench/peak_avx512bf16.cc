// 16 independent chains of VDPBF16PS (32 bf16 products summed pairwise into 16 floats: 64 FLOPs
// an instruction), the bf16 dot-product peak the bf16 matmuls are held to. Built with
// -mavx512bf16; it includes nothing but <immintrin.h> and <cstdint> (see peak_avx512.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace fwsvd::bench {

double dpbf16_loop_avx512(int64_t iters) {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
    // 2^-10 in bf16 (0x3a80): tiny products, no overflow in any run length.
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3a80), b = (__m512bh)_mm512_set1_epi16(0x3a80);
    for (int64_t it = 0; it < iters; ++it) {
        for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return double(iters) * 16 * 32 * 2;
}

}  // namespace fwsvd::bench
