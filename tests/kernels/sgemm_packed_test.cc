// The own f32 GEMM (sgemm_packed.h) against gemm_ref in double plus the epilogue, per element,
// across row tails (m mod 6), K blocks (k > 256), column tails (n mod 16) and every epilogue with
// and without bias; the same bits on 1 thread, 2 threads, and inside a parallel region; nothing
// written outside the m x n output; PackedMatmul with the own GEMM and with oneDNN agreeing.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/activation.h"
#include "kernels/gemm.h"
#include "kernels/packed_matmul.h"
#include "kernels/sgemm_packed.h"
#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

// Per element: |got - want| <= kTol · (‖x_i‖ ‖w_j‖ + |bias_j| + |residual_ij|), with want the
// double result. A float sum of k products (FMA chains, a few K blocks) errs by a few ulp of
// Σ_p |x_ip w_jp| <= ‖x_i‖ ‖w_j‖ at these k, far below kTol; the GELU adds its 4e-7 relative
// error.
constexpr double kTol = 1e-5;
constexpr float kGuard = 12345.0f;
constexpr int64_t kGuardFloats = 40;

struct Packed {
    std::unique_ptr<float, void (*)(void*)> data{nullptr, std::free};
};

Packed pack(const std::vector<float>& w, int64_t n, int64_t kk) {
    Packed p;
    const int64_t floats = std::max<int64_t>(1, k::sgemm_packed_floats(n, kk));
    p.data.reset(static_cast<float*>(std::aligned_alloc(64, size_t((floats * 4 + 63) / 64 * 64))));
    k::sgemm_pack_weights(p.data.get(), w.data(), n, kk);
    return p;
}

// The Euclidean norm of each row of a [rows, cols].
std::vector<double> row_norms(const std::vector<double>& a, int64_t rows, int64_t cols) {
    std::vector<double> out(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) {
        double s = 0;
        for (int64_t p = 0; p < cols; ++p) s += a[size_t(i * cols + p)] * a[size_t(i * cols + p)];
        out[size_t(i)] = std::sqrt(s);
    }
    return out;
}

const char* epilogue_name(k::MatmulEpilogue e) {
    return e == k::MatmulEpilogue::none       ? "none"
           : e == k::MatmulEpilogue::gelu_erf ? "gelu"
                                              : "residual";
}

TEST(SgemmPacked, PackedSizeAndLayout) {
    EXPECT_EQ(k::sgemm_packed_floats(1, 3), 16 * 3);
    EXPECT_EQ(k::sgemm_packed_floats(16, 5), 16 * 5);
    EXPECT_EQ(k::sgemm_packed_floats(17, 5), 32 * 5);
    // W[j, p] = 100 j + p: panel 1 holds columns 16..19, k-major, zero-padded.
    const int64_t n = 20, kk = 3;
    std::vector<float> w(size_t(n * kk));
    for (int64_t j = 0; j < n; ++j)
        for (int64_t p = 0; p < kk; ++p) w[size_t(j * kk + p)] = float(100 * j + p);
    const Packed pk = pack(w, n, kk);
    const float* p1 = pk.data.get() + 16 * kk;
    EXPECT_EQ(pk.data.get()[2 * 16 + 5], 502.0f);  // panel 0, p = 2, column 5
    EXPECT_EQ(p1[1 * 16 + 3], 1901.0f);            // panel 1, p = 1, column 19
    EXPECT_EQ(p1[1 * 16 + 4], 0.0f);               // padding
}

TEST(SgemmPacked, MatchesDoubleRefEveryShapeEpilogueAndThreading) {
    if (!k::sgemm_packed_supported()) GTEST_SKIP() << "this CPU lacks AVX2+FMA";
    Rng rng(500);
    for (int64_t kk : {1, 3, 16, 64, 257, 768}) {
        for (int64_t n : {1, 7, 16, 17, 33, 256 + 5}) {
            const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
            const Packed pk = pack(w, n, kk);
            const std::vector<double> wd(w.begin(), w.end());
            for (int64_t m : {1, 2, 5, 6, 7, 13, 128, 131}) {
                const auto inp = rng.vec<float>(m * kk);  // exactly m rows: ASan sees overreads
                const auto residual = rng.vec<float>(m * n);
                const std::vector<double> xd(inp.begin(), inp.end());
                std::vector<double> prod(size_t(m * n)), scale(size_t(m * n));
                k::gemm_ref<double>(false, true, m, n, kk, 1.0, xd.data(), kk, wd.data(), kk, 0.0,
                                    prod.data(), n);
                const std::vector<double> xn = row_norms(xd, m, kk), wn = row_norms(wd, n, kk);
                for (int64_t i = 0; i < m; ++i)
                    for (int64_t j = 0; j < n; ++j) {
                        scale[size_t(i * n + j)] =
                            xn[size_t(i)] * wn[size_t(j)] + std::fabs(residual[size_t(i * n + j)]);
                    }
                for (auto e : {k::MatmulEpilogue::none, k::MatmulEpilogue::gelu_erf,
                               k::MatmulEpilogue::residual}) {
                    for (const float* bp : {bias.data(), static_cast<const float*>(nullptr)}) {
                        SCOPED_TRACE(std::string("epilogue=") + epilogue_name(e) +
                                     " m=" + std::to_string(m) + " k=" + std::to_string(kk) +
                                     " n=" + std::to_string(n) +
                                     " bias=" + std::to_string(bp != nullptr));
                        std::vector<double> want(size_t(m * n));
                        for (int64_t i = 0; i < m; ++i)
                            for (int64_t j = 0; j < n; ++j) {
                                double v = prod[size_t(i * n + j)] + (bp ? bp[j] : 0.0);
                                if (e == k::MatmulEpilogue::residual)
                                    v += residual[size_t(i * n + j)];
                                want[size_t(i * n + j)] = v;
                            }
                        if (e == k::MatmulEpilogue::gelu_erf)
                            k::gelu_inference_forward_ref<double>(want.data(), want.data(), m * n);
                        // Guards before and after the output: nothing outside m x n is written.
                        auto run = [&](int threads, bool in_region) {
                            std::vector<float> buf(size_t(m * n + 2 * kGuardFloats), kGuard);
                            float* out = buf.data() + kGuardFloats;
                            if (e == k::MatmulEpilogue::residual)
                                std::memcpy(out, residual.data(), size_t(m * n) * 4);
                            if (in_region) {
                                // Each thread of the region runs its own copy on its own.
                                std::vector<float> other(buf);
#pragma omp parallel num_threads(2)
                                {
                                    float* o = omp_get_thread_num() == 0
                                                   ? out
                                                   : other.data() + kGuardFloats;
                                    k::sgemm_packed(o, inp.data(), pk.data.get(), bp, m, n, kk, e,
                                                    threads);
                                }
                                EXPECT_EQ(other, buf);
                            } else {
                                k::sgemm_packed(out, inp.data(), pk.data.get(), bp, m, n, kk, e,
                                                threads);
                            }
                            for (int64_t g = 0; g < kGuardFloats; ++g) {
                                EXPECT_EQ(buf[size_t(g)], kGuard);
                                EXPECT_EQ(buf[size_t(kGuardFloats + m * n + g)], kGuard);
                            }
                            return std::vector<float>(out, out + m * n);
                        };
                        const auto got = run(1, false);
                        int64_t bad = 0;
                        for (int64_t i = 0; i < m * n; ++i) {
                            const double tol =
                                kTol * (scale[size_t(i)] + (bp ? std::fabs(bp[i % n]) : 0.0));
                            if (!(std::fabs(double(got[size_t(i)]) - want[size_t(i)]) <= tol)) {
                                if (++bad <= 3)
                                    ADD_FAILURE() << "element " << i << ": " << got[size_t(i)]
                                                  << " vs " << want[size_t(i)] << " tol " << tol;
                            }
                        }
                        EXPECT_EQ(bad, 0);
                        // The same bits whatever the thread split (on a subset: parallel
                        // regions are slow to start on a loaded machine). m = 131 splits the
                        // panels where n is large, the rows where it is small.
                        if (bp && (m == 7 || m == 131)) {
                            EXPECT_EQ(run(2, false), got);
                            EXPECT_EQ(run(2, true), got);
                        }
                    }
                }
            }
        }
    }
}

TEST(SgemmPacked, RefTwinMatchesDouble) {
    Rng rng(501);
    const int64_t m = 9, n = 21, kk = 70;
    const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n), inp = rng.vec<float>(m * kk);
    const auto residual = rng.vec<float>(m * n);
    const std::vector<double> wd(w.begin(), w.end()), xd(inp.begin(), inp.end());
    std::vector<double> want(size_t(m * n));
    k::gemm_ref<double>(false, true, m, n, kk, 1.0, xd.data(), kk, wd.data(), kk, 0.0, want.data(),
                        n);
    for (int64_t i = 0; i < m * n; ++i)
        want[size_t(i)] += bias[size_t(i % n)] + residual[size_t(i)];
    std::vector<float> out = residual;
    k::sgemm_packed_ref(out.data(), inp.data(), w.data(), bias.data(), m, n, kk,
                        k::MatmulEpilogue::residual);
    EXPECT_LE(rel_diff(out, want), 1e-6);
}

// PackedMatmul through oneDNN and through the own GEMM: the same result within float rounding;
// the own one reports its packed size and reads only m rows of the input.
TEST(SgemmPacked, PackedMatmulOwnAgreesWithOneDnn) {
    if (!k::sgemm_packed_supported()) GTEST_SKIP() << "this CPU lacks AVX2+FMA";
    Rng rng(502);
    const k::F32Gemm saved = k::f32_gemm();
    k::MatmulContext ctx;
    for (auto e :
         {k::MatmulEpilogue::none, k::MatmulEpilogue::gelu_erf, k::MatmulEpilogue::residual}) {
        for (auto [m, n, kk] :
             {std::tuple<int64_t, int64_t, int64_t>{37, 100, 300}, {128, 64, 768}, {5, 3072, 64}}) {
            SCOPED_TRACE(std::string("epilogue=") + epilogue_name(e) + " m=" + std::to_string(m) +
                         " n=" + std::to_string(n) + " k=" + std::to_string(kk));
            const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
            const int64_t rows = k::matmul_padded_rows(m);
            const auto inp = rng.vec<float>(rows * kk), residual = rng.vec<float>(rows * n);
            k::set_f32_gemm(k::F32Gemm::onednn);
            const k::PackedMatmul dnnl(w.data(), bias.data(), n, kk, e);
            k::set_f32_gemm(k::F32Gemm::own);
            const k::PackedMatmul own(w.data(), bias.data(), n, kk, e);
            EXPECT_FALSE(dnnl.own_gemm());
            ASSERT_TRUE(own.own_gemm());
            EXPECT_EQ(own.packed_bytes(), size_t(k::sgemm_packed_floats(n, kk)) * 4);
            std::vector<float> a = residual, b = residual;
            dnnl.run(ctx, a.data(), inp.data(), m);
            const std::vector<float> own_inp(inp.begin(), inp.begin() + m * kk);
            own.run(ctx, b.data(), own_inp.data(), m);
            a.resize(size_t(m * n));
            b.resize(size_t(m * n));
            EXPECT_LE(rel_diff(b, a), 1e-5);
            const std::vector<float> res_m(residual.begin(), residual.begin() + m * n);
            EXPECT_GT(rel_diff(b, res_m), 1e-2);  // it did compute something
        }
    }
    k::set_f32_gemm(saved);
}

TEST(SgemmPacked, F32GemmNames) {
    EXPECT_STREQ(k::f32_gemm_name(k::F32Gemm::automatic), "auto");
    EXPECT_STREQ(k::f32_gemm_name(k::F32Gemm::onednn), "onednn");
    EXPECT_STREQ(k::f32_gemm_name(k::F32Gemm::own), "own");
}

}  // namespace
}  // namespace fwsvd::testing
