// PackedMatmul (oneDNN matmul on weights packed once) against the scalar linear / activation
// twins, for each epilogue, with and without bias, at row counts across the buckets and the
// 1024-row chunks, from two threads at once; in bf16 against the ref on bf16-rounded operands.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "kernels/activation.h"
#include "kernels/convert.h"
#include "kernels/linear.h"
#include "kernels/packed_matmul.h"
#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

constexpr double kTol = 1e-5;  // float GEMM against the double-accumulating ref

// out_want = epilogue(inp · Wᵀ + bias) computed with the ref twins.
std::vector<float> expected(const std::vector<float>& inp, const std::vector<float>& w,
                            const float* bias, const std::vector<float>& residual, int64_t m,
                            int64_t n, int64_t kk, k::MatmulEpilogue e) {
    std::vector<float> out(m * n);
    k::linear_forward_ref<float>(out.data(), inp.data(), w.data(), bias, m, kk, n);
    if (e == k::MatmulEpilogue::gelu_erf) {
        k::activation_forward_ref<float>(k::Activation::gelu, out.data(), out.data(), m * n);
    } else if (e == k::MatmulEpilogue::residual) {
        for (int64_t i = 0; i < m * n; ++i) out[i] += residual[i];
    }
    return out;
}

TEST(PackedMatmul, MatchesRefAcrossRowBuckets) {
    Rng rng(300);
    k::MatmulContext ctx;
    for (auto e :
         {k::MatmulEpilogue::none, k::MatmulEpilogue::gelu_erf, k::MatmulEpilogue::residual}) {
        for (auto [n, kk] : {std::pair<int64_t, int64_t>{2, 33}, {64, 17}, {100, 64}}) {
            const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
            for (const float* bp : {bias.data(), static_cast<const float*>(nullptr)}) {
                k::PackedMatmul mm(w.data(), bp, n, kk, e);
                EXPECT_EQ(mm.n(), n);
                EXPECT_EQ(mm.k(), kk);
                EXPECT_GE(mm.packed_bytes(), size_t(n * kk) * sizeof(float));
                for (int64_t m : {1, 5, 16, 17, 100, 129, 513, 1024, 1030, 2100}) {
                    SCOPED_TRACE("epilogue=" + std::to_string(int(e)) + " n=" + std::to_string(n) +
                                 " k=" + std::to_string(kk) + " m=" + std::to_string(m) +
                                 " bias=" + std::to_string(bp != nullptr));
                    const int64_t rows = k::matmul_padded_rows(m);
                    ASSERT_GE(rows, m);
                    ASSERT_LE(rows - m, std::max<int64_t>(7, m / 8));
                    const auto inp = rng.vec<float>(rows * kk);
                    const auto residual = rng.vec<float>(rows * n);
                    std::vector<float> out = residual;  // the residual epilogue adds into out
                    mm.run(ctx, out.data(), inp.data(), m);
                    out.resize(size_t(m * n));
                    const auto want = expected(inp, w, bp, residual, m, n, kk, e);
                    EXPECT_LE(rel_diff(out, want), kTol);
                }
            }
        }
    }
}

TEST(PackedMatmul, PaddedRows) {
    EXPECT_EQ(k::matmul_padded_rows(0), 0);
    EXPECT_EQ(k::matmul_padded_rows(1), 1);
    EXPECT_EQ(k::matmul_padded_rows(16), 16);
    EXPECT_EQ(k::matmul_padded_rows(17), 24);
    EXPECT_EQ(k::matmul_padded_rows(128), 128);
    EXPECT_EQ(k::matmul_padded_rows(129), 144);
    EXPECT_EQ(k::matmul_padded_rows(513), 576);
    EXPECT_EQ(k::matmul_padded_rows(1024), 1024);
    EXPECT_EQ(k::matmul_padded_rows(1025), 1025);
    EXPECT_EQ(k::matmul_padded_rows(2048 + 200), 2048 + 208);
}

TEST(PackedMatmul, ConcurrentCallsShareThePrimitives) {
    Rng rng(301);
    const int64_t n = 48, kk = 40, m = 37;
    const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
    const k::PackedMatmul mm(w.data(), bias.data(), n, kk, k::MatmulEpilogue::gelu_erf);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto inp = rng.vec<float>(rows * kk);
    const auto want = expected(inp, w, bias.data(), {}, m, n, kk, k::MatmulEpilogue::gelu_erf);
    std::vector<std::vector<float>> outs(2, std::vector<float>(rows * n));
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            k::MatmulContext ctx;
            for (int it = 0; it < 50; ++it) mm.run(ctx, outs[t].data(), inp.data(), m);
        });
    }
    for (auto& th : threads) th.join();
    for (auto& o : outs) {
        o.resize(size_t(m * n));
        EXPECT_LE(rel_diff(o, want), kTol);
    }
}

std::vector<float> rounded_to_bf16(std::vector<float> v) {
    for (float& x : v) x = k::bf16_to_f32(k::f32_to_bf16_one(x));
    return v;
}

// bf16: the weights are rounded when packed and the input rows at each call, the products
// accumulate in f32. Against the double ref on the rounded operands, only the accumulation
// differs (kTol); against the unrounded f32 ref, the rounding shows (< 1e-2 normwise, about
// 2^-9 per operand: a wrong rounding or an input left unconverted fails one or the other).
TEST(PackedMatmul, Bf16MatchesRefOnRoundedOperands) {
    if (!k::bf16_matmul_supported()) GTEST_SKIP() << "this CPU lacks AVX512_BF16";
    Rng rng(302);
    for (auto e :
         {k::MatmulEpilogue::none, k::MatmulEpilogue::gelu_erf, k::MatmulEpilogue::residual}) {
        for (auto [n, kk] : {std::pair<int64_t, int64_t>{2, 33}, {100, 64}, {96, 768}}) {
            const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
            const k::PackedMatmul mm(w.data(), bias.data(), n, kk, e, k::MatmulPrecision::bf16);
            EXPECT_EQ(mm.precision(), k::MatmulPrecision::bf16);
            const k::PackedMatmul f32(w.data(), bias.data(), n, kk, e);
            EXPECT_LT(mm.packed_bytes(), f32.packed_bytes());  // two bytes a weight
            for (int64_t m : {1, 17, 128, 1030}) {
                SCOPED_TRACE("epilogue=" + std::to_string(int(e)) + " n=" + std::to_string(n) +
                             " k=" + std::to_string(kk) + " m=" + std::to_string(m));
                const int64_t rows = k::matmul_padded_rows(m);
                const auto inp = rng.vec<float>(rows * kk);
                const auto residual = rng.vec<float>(rows * n);
                // Outside a parallel region (oneDNN's threads and the split rounding) and inside
                // one (this thread alone).
                for (bool nested : {false, true}) {
                    k::MatmulContext ctx;
                    std::vector<float> out = residual;
#pragma omp parallel num_threads(1) if (nested)
                    mm.run(ctx, out.data(), inp.data(), m);
                    out.resize(size_t(m * n));
                    const auto want = expected(rounded_to_bf16(inp), rounded_to_bf16(w),
                                               bias.data(), residual, m, n, kk, e);
                    EXPECT_LE(rel_diff(out, want), kTol);
                    const auto exact = expected(inp, w, bias.data(), residual, m, n, kk, e);
                    EXPECT_LE(rel_diff(out, exact), 1e-2);
                }
            }
        }
    }
}

}  // namespace
}  // namespace fwsvd::testing
