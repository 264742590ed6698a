// GEMM: oneDNN's dnnl_sgemm for float, a scalar twin for float and double.
#include "kernels/gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <cstdio>
#include <cstdlib>

namespace fwsvd::kernels {

namespace {

// C[m, n] = beta * C, without reading C when beta == 0 (the k == 0 case dnnl is not asked about).
template <typename T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
    if (beta == T(1)) return;
    for (int64_t i = 0; i < m; ++i) {
        T* row = c + i * ldc;
        for (int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
    }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    // Every ISA goes through oneDNN, which picks its own JIT kernel from CPUID.
    const dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k,
                                            alpha, a, lda, b, ldb, beta, c, ldc);
    if (status != dnnl_success) {
        // Kernels do not depend on the runtime's Error; a failure here is a programming error
        // (bad leading dimension), so stop loudly.
        std::fprintf(stderr,
                     "fwsvd::kernels::gemm: dnnl_sgemm failed with status %d (trans_a=%d "
                     "trans_b=%d m=%lld n=%lld k=%lld lda=%lld ldb=%lld ldc=%lld)\n",
                     static_cast<int>(status), int(trans_a), int(trans_b),
                     static_cast<long long>(m), static_cast<long long>(n),
                     static_cast<long long>(k), static_cast<long long>(lda),
                     static_cast<long long>(ldb), static_cast<long long>(ldc));
        std::abort();
    }
}

template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            double acc = 0;
            for (int64_t p = 0; p < k; ++p) {
                const double av = trans_a ? a[p * lda + i] : a[i * lda + p];  // op(A)[i, p]
                const double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];  // op(B)[p, j]
                acc += av * bv;
            }
            T& cij = c[i * ldc + j];
            const double prod = double(alpha) * acc;
            cij = beta == T(0) ? T(prod) : T(prod + double(beta) * double(cij));
        }
    }
}

template void gemm_ref<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void gemm_ref<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                               int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace fwsvd::kernels
