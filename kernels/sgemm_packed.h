// fwsvd's own f32 GEMM on weights packed once, for CPUs with AVX2+FMA:
// out[m, n] = epilogue(inp[m, k] · W[n, k]ᵀ + bias), BLIS-style.
//
// Why: on AVX2 CPUs without AVX-512, oneDNN 2.6 has no brgemm f32 matmul and falls back to its
// plain jit gemm, well below the FMA peak on BERT's shapes (bench/RESULTS.md, "Own f32 GEMM on
// AVX2"). PackedMatmul (packed_matmul.h) runs this one there for MatmulPrecision::f32.
//
// Layout: W is packed into panels of kSgemmNr = 16 output columns, each k-major ([k, 16]; the
// last panel zero-padded past n), so a K block of a panel is one contiguous micro-panel. The
// micro-kernel keeps a 6 x 16 tile of out in 12 ymm accumulators (broadcast one input value,
// two loads of the panel per k). The inner dimension runs in blocks of at most kSgemmKc (the
// block of a panel stays in L1) and the rows in blocks of at most kSgemmMc, whose K block of
// the input is copied into a per-thread buffer of 6-row micro-panels (stays in L2) when the call
// covers more than a few panels; for fewer the micro-kernel reads the input rows in place.
//
// Numerics: every output element is the same sequence of FMAs over k (its K blocks in order,
// each summed from zero, added to the previous blocks' sum), whatever m, the thread count or
// the element's position: results are deterministic and a row's values do not depend on the
// other rows. The bias is added after the first K block, then the residual (out's value on
// entry), the GELU (gelu_inference_forward's rational erf) after the last.
#pragma once
#include <cstdint>

#include "kernels/packed_matmul.h"

namespace fwsvd::kernels {

constexpr int64_t kSgemmNr = 16;   // output columns per packed panel
constexpr int64_t kSgemmMr = 6;    // rows of the micro-kernel's tile
constexpr int64_t kSgemmKc = 256;  // at most this many k per block
constexpr int64_t kSgemmMc = 144;  // at most this many rows per block (a multiple of kSgemmMr)

// Whether this CPU runs the kernel (AVX2 and FMA).
bool sgemm_packed_supported();

// Floats of the packed copy of W [n, k]: ceil(n / 16) panels of [k, 16].
int64_t sgemm_packed_floats(int64_t n, int64_t k);

// packed[sgemm_packed_floats(n, k)] (32-byte aligned) = W [n, k] row-major in panels.
void sgemm_pack_weights(float* packed, const float* w, int64_t n, int64_t k);

// out[m, n] (row stride n) = epilogue(inp[m, k] (row stride k) · Wᵀ + bias) on W packed by
// sgemm_pack_weights; bias [n] may be null. Reads and writes exactly m rows and n columns.
// threads > 1 (outside an OpenMP parallel region only; inside one it runs on the calling
// thread) splits the panels across an OpenMP team, or the rows when there are few panels.
void sgemm_packed(float* out, const float* inp, const float* packed, const float* bias, int64_t m,
                  int64_t n, int64_t k, MatmulEpilogue epilogue, int threads);

// Scalar twin on the unpacked W: gemm_ref (double accumulation) + bias, then the epilogue
// (residual add, or gelu_inference_forward_ref).
void sgemm_packed_ref(float* out, const float* inp, const float* w, const float* bias, int64_t m,
                      int64_t n, int64_t k, MatmulEpilogue epilogue);

// The AVX2 body (sgemm_packed_avx2.cc, reached only through sgemm_packed): rows [row_begin,
// row_end) and panels [panel_begin, panel_end) of the product, on one thread. a_buf holds
// kSgemmMc * kSgemmKc floats (32-byte aligned).
void sgemm_packed_block_avx2(float* out, const float* inp, const float* packed, const float* bias,
                             int64_t m, int64_t n, int64_t k, MatmulEpilogue epilogue,
                             int64_t row_begin, int64_t row_end, int64_t panel_begin,
                             int64_t panel_end, float* a_buf);

}  // namespace fwsvd::kernels
