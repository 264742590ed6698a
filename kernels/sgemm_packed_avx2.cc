// The AVX2+FMA body of sgemm_packed (sgemm_packed.h): input packing, the 6 x 16 micro-kernel and
// its fused epilogue. Compiled with -mavx2 -mfma; no library templates here (see
// check_isa_objects.cmake: everything is in the anonymous namespace or a plain function).
#include "kernels/sgemm_packed.h"
#include "kernels/simd_avx2.h"
// clang-format off
#include "kernels/simd_math.inc"
// clang-format on

namespace fwsvd::kernels {
namespace {

// The input is copied into micro-panels for more panels than this per call, read in place
// for fewer (the copy costs more than it saves then: bench/RESULTS.md).
constexpr int64_t kSgemmPackMinPanels = 4;

// Rows [r0, r0 + rows) and k [p0, p0 + kc) of inp (row stride k) into micro-panels of kSgemmMr
// rows, each [kc][kSgemmMr]: panel i at a_buf + i * kSgemmMr * kc. Rows past `rows` in the last
// micro-panel are left unset (the micro-kernel for fewer rows does not read them).
void pack_input(float* a_buf, const float* inp, int64_t k, int64_t r0, int64_t rows, int64_t p0,
                int64_t kc) {
    for (int64_t i = 0; i * kSgemmMr < rows; ++i) {
        float* dst = a_buf + i * kSgemmMr * kc;
        const int64_t first = r0 + i * kSgemmMr;
        const int64_t nr = rows - i * kSgemmMr < kSgemmMr ? rows - i * kSgemmMr : kSgemmMr;
        if (nr == kSgemmMr) {
            const float* s0 = inp + first * k + p0;
            const float* s1 = s0 + k;
            const float* s2 = s1 + k;
            const float* s3 = s2 + k;
            const float* s4 = s3 + k;
            const float* s5 = s4 + k;
            for (int64_t p = 0; p < kc; ++p) {
                float* d = dst + p * kSgemmMr;
                d[0] = s0[p];
                d[1] = s1[p];
                d[2] = s2[p];
                d[3] = s3[p];
                d[4] = s4[p];
                d[5] = s5[p];
            }
        } else {
            for (int64_t r = 0; r < nr; ++r) {
                const float* s = inp + (first + r) * k + p0;
                for (int64_t p = 0; p < kc; ++p) dst[p * kSgemmMr + r] = s[p];
            }
        }
    }
}

// What the micro-kernel does with its finished tile.
struct TileEpilogue {
    const float* bias;  // this panel's 16 bias values (first K block only), or null
    bool load_c;        // add out's current values (residual on entry, or earlier K blocks)
    bool gelu;          // apply the GELU (last K block)
};

// c[R, cols] (row stride ldc) = epilogue(a[R, kc] · b[kc, 16]); cols <= 16: columns past cols
// are neither read nor written. Packed: a is a micro-panel ([kc][kSgemmMr]); else R rows of the
// input itself (row stride lda).
template <int R, bool Packed>
void micro_kernel(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc,
                  int64_t cols, const TileEpilogue& ep) {
    __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        // The tile's rows are read or written at the end: start bringing them in now.
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kSgemmNr - 1), _MM_HINT_T0);
        acc0[r] = _mm256_setzero_ps();
        acc1[r] = _mm256_setzero_ps();
    }
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 b0 = _mm256_load_ps(b + p * kSgemmNr);
        const __m256 b1 = _mm256_load_ps(b + p * kSgemmNr + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m256 x = _mm256_broadcast_ss(Packed ? a + p * kSgemmMr + r : a + r * lda + p);
            acc0[r] = _mm256_fmadd_ps(x, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(x, b1, acc1[r]);
        }
    }
    const bool full = cols == kSgemmNr;
    const __m256i m0 = Simd::first(cols < 8 ? cols : 8);
    const __m256i m1 = Simd::first(cols > 8 ? cols - 8 : 0);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (ep.bias) {
        bias0 = full ? _mm256_loadu_ps(ep.bias) : _mm256_maskload_ps(ep.bias, m0);
        bias1 = full ? _mm256_loadu_ps(ep.bias + 8) : _mm256_maskload_ps(ep.bias + 8, m1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        float* row = c + r * ldc;
        __m256 v0 = acc0[r], v1 = acc1[r];
        if (ep.bias) {
            v0 = _mm256_add_ps(v0, bias0);
            v1 = _mm256_add_ps(v1, bias1);
        }
        if (ep.load_c) {
            v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, m0));
            v1 = _mm256_add_ps(v1,
                               full ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, m1));
        }
        if (ep.gelu) {
            v0 = gelu_rational_v(v0);
            v1 = gelu_rational_v(v1);
        }
        if (full) {
            _mm256_storeu_ps(row, v0);
            _mm256_storeu_ps(row + 8, v1);
        } else {
            _mm256_maskstore_ps(row, m0, v0);
            _mm256_maskstore_ps(row + 8, m1, v1);
        }
    }
}

template <bool Packed>
void micro_kernel_rows(int64_t rows, const float* a, int64_t lda, const float* b, int64_t kc,
                       float* c, int64_t ldc, int64_t cols, const TileEpilogue& ep) {
    switch (rows) {
        case 6:
            return micro_kernel<6, Packed>(a, lda, b, kc, c, ldc, cols, ep);
        case 5:
            return micro_kernel<5, Packed>(a, lda, b, kc, c, ldc, cols, ep);
        case 4:
            return micro_kernel<4, Packed>(a, lda, b, kc, c, ldc, cols, ep);
        case 3:
            return micro_kernel<3, Packed>(a, lda, b, kc, c, ldc, cols, ep);
        case 2:
            return micro_kernel<2, Packed>(a, lda, b, kc, c, ldc, cols, ep);
        default:
            return micro_kernel<1, Packed>(a, lda, b, kc, c, ldc, cols, ep);
    }
}

}  // namespace

void sgemm_packed_block_avx2(float* out, const float* inp, const float* packed, const float* bias,
                             int64_t m, int64_t n, int64_t k, MatmulEpilogue epilogue,
                             int64_t row_begin, int64_t row_end, int64_t panel_begin,
                             int64_t panel_end, float* a_buf) {
    (void)m;
    if (row_begin >= row_end || panel_begin >= panel_end) return;
    // K blocks of near-equal size, each at most kSgemmKc; block i is [k·i/nk, k·(i+1)/nk).
    const int64_t nk = k > 0 ? (k + kSgemmKc - 1) / kSgemmKc : 1;
    const bool residual = epilogue == MatmulEpilogue::residual;
    const bool gelu = epilogue == MatmulEpilogue::gelu_erf;
    const bool packed_input = panel_end - panel_begin > kSgemmPackMinPanels;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += kSgemmMc) {
        const int64_t rows = row_end - r0 < kSgemmMc ? row_end - r0 : kSgemmMc;
        for (int64_t kb = 0; kb < nk; ++kb) {
            const int64_t p0 = k * kb / nk, kc = k * (kb + 1) / nk - p0;
            if (packed_input) pack_input(a_buf, inp, k, r0, rows, p0, kc);
            for (int64_t j = panel_begin; j < panel_end; ++j) {
                const float* b = packed + j * kSgemmNr * k + p0 * kSgemmNr;
                const int64_t col = j * kSgemmNr;
                const int64_t cols = n - col < kSgemmNr ? n - col : kSgemmNr;
                const TileEpilogue ep{kb == 0 && bias ? bias + col : nullptr, kb > 0 || residual,
                                      kb + 1 == nk && gelu};
                for (int64_t i = 0; i < rows; i += kSgemmMr) {
                    const int64_t tile_rows = rows - i < kSgemmMr ? rows - i : kSgemmMr;
                    float* c = out + (r0 + i) * n + col;
                    if (packed_input) {
                        micro_kernel_rows<true>(tile_rows, a_buf + i * kc, 0, b, kc, c, n, cols,
                                                ep);
                    } else {
                        micro_kernel_rows<false>(tile_rows, inp + (r0 + i) * k + p0, k, b, kc, c, n,
                                                 cols, ep);
                    }
                }
            }
        }
    }
}

}  // namespace fwsvd::kernels
