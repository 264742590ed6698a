// General matrix multiply on row-major matrices.
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// C[m, n] = alpha * op(A) * op(B) + beta * C, all row-major.
// op(A) is [m, k]: A is [m, k] with row stride lda, or [k, m] when trans_a.
// op(B) is [k, n]: B is [k, n] with row stride ldb, or [n, k] when trans_b.
// With beta == 0, C is not read (may hold NaN). Uses oneDNN (dnnl_sgemm); threads through OpenMP.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Scalar twin (T = float or double), single-threaded, accumulates each dot product in double.
// With beta == 0, C is not read here either.
template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace fwsvd::kernels
