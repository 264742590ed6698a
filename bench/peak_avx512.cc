// 16 independent chains of 16-float FMAs (2 FMA pipes x 4-cycle latency need >= 8 in flight).
// Built with ISA flags: it includes nothing but <immintrin.h> and <cstdint>, so that no inline
// library code compiled for this ISA can be picked by the linker for other callers.
// GCC 12's false uninitialized warnings inside its AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace fwsvd::bench {

double fma_loop_avx512(int64_t iters) {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it) {
        for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return double(iters) * 16 * 16 * 2;
}

}  // namespace fwsvd::bench
