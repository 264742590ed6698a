// gemm (oneDNN) against gemm_ref: transposes, leading dimensions wider than the matrices, beta 0
// (C is not read), beta 1 (accumulate), zero-sized dimensions. Tolerance: 1e-5 normwise relative
// (float accumulation in oneDNN vs double in the ref, k up to 100).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

constexpr double kGemmTol = 1e-5;
constexpr float kSentinel = 12345.0f;  // marks the gap columns between n and ldc

TEST(KernelGemm, RefHandExample) {
    // A [2, 3], B [3, 2]: A·B = [[58, 64], [139, 154]].
    const double a[] = {1, 2, 3, 4, 5, 6};
    const double at[] = {1, 4, 2, 5, 3, 6};  // Aᵀ stored [3, 2]
    const double b[] = {7, 8, 9, 10, 11, 12};
    const double bt[] = {7, 9, 11, 8, 10, 12};  // Bᵀ stored [2, 3]
    const double want[] = {58, 64, 139, 154};
    for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        double c[4];
        k::gemm_ref<double>(ta, tb, 2, 2, 3, 1.0, ta ? at : a, ta ? 2 : 3, tb ? bt : b, tb ? 3 : 2,
                            0.0, c, 2);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(c[i], want[i]) << "ta=" << ta << " tb=" << tb;
        float cf[4];
        const std::vector<float> af(ta ? at : a, (ta ? at : a) + 6),
            bf(tb ? bt : b, (tb ? bt : b) + 6);
        k::gemm(ta, tb, 2, 2, 3, 1.0f, af.data(), ta ? 2 : 3, bf.data(), tb ? 3 : 2, 0.0f, cf, 2);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(cf[i], float(want[i])) << "ta=" << ta << " tb=" << tb;
    }
}

// One random case: op(A) [m, k], op(B) [k, n], C [m, n], all with row strides wider than needed.
void check_case(Rng& rng, bool ta, bool tb, int64_t m, int64_t n, int64_t kk, float alpha,
                float beta) {
    SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " m=" +
                 std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(kk) +
                 " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta));
    const int64_t a_rows = ta ? kk : m, a_cols = ta ? m : kk;
    const int64_t b_rows = tb ? n : kk, b_cols = tb ? kk : n;
    const int64_t lda = a_cols + 3, ldb = b_cols + 5, ldc = n + 2;
    const auto a = rng.vec<float>(a_rows * lda);
    const auto b = rng.vec<float>(b_rows * ldb);
    std::vector<float> c0 = rng.vec<float>(m * ldc);
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
            float& x = c0[i * ldc + j];
            if (j >= n)
                x = kSentinel;
            else if (beta == 0.0f)
                x = std::numeric_limits<float>::quiet_NaN();  // must not leak
        }
    }
    auto got = c0, want = c0;
    k::gemm(ta, tb, m, n, kk, alpha, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
    k::gemm_ref<float>(ta, tb, m, n, kk, alpha, a.data(), lda, b.data(), ldb, beta, want.data(),
                       ldc);
    // The ref against a double-precision ref, then gemm against the ref.
    std::vector<double> want_d(c0.begin(), c0.end());
    const std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
    k::gemm_ref<double>(ta, tb, m, n, kk, alpha, ad.data(), lda, bd.data(), ldb, beta,
                        want_d.data(), ldc);
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
            const int64_t at = i * ldc + j;
            if (j >= n) {
                ASSERT_EQ(got[at], kSentinel) << "gemm wrote past n at " << i << "," << j;
                ASSERT_EQ(want[at], kSentinel) << "gemm_ref wrote past n at " << i << "," << j;
            } else {
                ASSERT_TRUE(std::isfinite(got[at])) << "gemm: NaN leaked at " << i << "," << j;
                ASSERT_TRUE(std::isfinite(want[at])) << "gemm_ref: NaN leaked at " << i << "," << j;
            }
        }
    }
    EXPECT_LE(rel_diff(want, want_d), 1e-6) << "gemm_ref<float> vs gemm_ref<double>";
    EXPECT_LE(rel_diff(got, want), kGemmTol) << "gemm vs gemm_ref<float>";
}

TEST(KernelGemm, MatchesRefAllTransposesAndStrides) {
    Rng rng(200);
    const int64_t sizes[] = {1, 7, 17, 33, 64, 100};
    for_each_isa([&] {
        for (int t = 0; t < 4; ++t) {
            const bool ta = t & 1, tb = t & 2;
            for (int64_t m : sizes) {
                for (int64_t n : {int64_t(1), int64_t(17), int64_t(100)}) {
                    for (int64_t kk : {int64_t(1), int64_t(33), int64_t(64)}) {
                        check_case(rng, ta, tb, m, n, kk, 1.0f, 0.0f);
                        check_case(rng, ta, tb, m, n, kk, 1.0f, 1.0f);
                        check_case(rng, ta, tb, m, n, kk, -0.7f, 0.5f);
                    }
                }
            }
        }
    });
}

TEST(KernelGemm, ZeroSizes) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    // m == 0 or n == 0: nothing is touched (null C is fine).
    k::gemm(false, false, 0, 3, 2, 1.0f, a, 2, b, 3, 0.0f, nullptr, 3);
    k::gemm(false, false, 3, 0, 2, 1.0f, a, 2, b, 1, 0.0f, nullptr, 1);
    k::gemm_ref<float>(false, false, 0, 3, 2, 1.0f, a, 2, b, 3, 0.0f, nullptr, 3);
    k::gemm_ref<float>(false, false, 3, 0, 2, 1.0f, a, 2, b, 1, 0.0f, nullptr, 1);
    // k == 0: C = beta C, and beta == 0 clears even NaN.
    for (auto fn : {+[](float beta, float*c) {
                        k::gemm(false, true, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 1, beta, c, 3);
                    },
                    +[](float beta, float*c) {
                        k::gemm_ref<float>(false, true, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 1, beta,
                                           c, 3);
                    }}) {
        float c[6] = {nan, nan, kSentinel, nan, nan, kSentinel};
        fn(0.0f, c);
        EXPECT_EQ(c[0], 0.0f);
        EXPECT_EQ(c[1], 0.0f);
        EXPECT_EQ(c[3], 0.0f);
        EXPECT_EQ(c[4], 0.0f);
        EXPECT_EQ(c[2], kSentinel);
        EXPECT_EQ(c[5], kSentinel);
        float d[6] = {1, 2, kSentinel, 3, 4, kSentinel};
        fn(1.0f, d);
        EXPECT_EQ(d[0], 1.0f);
        EXPECT_EQ(d[4], 4.0f);
        fn(2.0f, d);
        EXPECT_EQ(d[0], 2.0f);
        EXPECT_EQ(d[1], 4.0f);
        EXPECT_EQ(d[3], 6.0f);
        EXPECT_EQ(d[4], 8.0f);
        EXPECT_EQ(d[2], kSentinel);
    }
}

}  // namespace
}  // namespace fwsvd::testing
