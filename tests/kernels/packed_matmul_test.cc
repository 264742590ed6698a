// PackedMatmul (oneDNN matmul on weights packed once) against the scalar linear / activation
// twins, for each epilogue, with and without bias, at row counts across the buckets and the
// 1024-row chunks, from two threads at once; in bf16 against the ref on bf16-rounded operands;
// in int8 against a double ref on the quantised operands (tight) and on the raw ones (loose).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "kernels/activation.h"
#include "kernels/convert.h"
#include "kernels/linear.h"
#include "kernels/packed_matmul.h"
#include "kernels/quantize.h"
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

// ---- int8 ---------------------------------------------------------------------------------------

// The operands as an int8 PackedMatmul sees them, in double: W's symmetric per-channel codes
// times their scales, x's codes (per row, or one range for the first m rows) minus the zero
// point times the scale (kernels/quantize.h: u8_params, round to nearest even).
struct Int8Operands {
    std::vector<float> x, w;  // dequantised, [rows, k] and [n, k]
};

Int8Operands int8_operands(const std::vector<float>& inp, const std::vector<float>& w, int64_t m,
                           int64_t n, int64_t kk, const k::Int8Scheme& q) {
    Int8Operands o;
    o.w.resize(w.size());
    for (int64_t j = 0; j < n; ++j) {
        float amax = 0;
        for (int64_t i = 0; i < kk; ++i) amax = std::max(amax, std::fabs(w[j * kk + i]));
        const float inv = amax > 0 ? float(q.weight_max) / amax : 0.0f;
        const float scale = amax / float(q.weight_max);
        for (int64_t i = 0; i < kk; ++i) {
            const float c = std::clamp(std::nearbyint(w[j * kk + i] * inv), -float(q.weight_max),
                                       float(q.weight_max));
            o.w[j * kk + i] = float(double(c) * scale);
        }
    }
    const float qmax = float(q.activation_max);
    const auto range = [&](int64_t r0, int64_t r1) {
        float lo = 0, hi = 0;
        for (int64_t i = r0 * kk; i < r1 * kk; ++i) {
            lo = std::min(lo, inp[i]);
            hi = std::max(hi, inp[i]);
        }
        return k::u8_params(lo, hi, qmax);
    };
    const k::U8Params all = range(0, m);
    o.x.assign(size_t(m * kk), 0.0f);
    for (int64_t r = 0; r < m; ++r) {
        const k::U8Params p = q.per_tensor ? all : range(r, r + 1);
        for (int64_t i = 0; i < kk; ++i) {
            float c = std::nearbyint(inp[r * kk + i] * p.inv_scale) + p.zero;
            c = std::clamp(c, 0.0f, qmax);
            o.x[r * kk + i] = float((double(c) - p.zero) * p.scale);
        }
    }
    return o;
}

// Every int8 output of the first m rows: out = epilogue(x_q · W_qᵀ + bias) within 1e-5 of the
// double ref on the quantised operands (only the final scaling's few roundings and the
// inference GELU's 2e-6 differ; a wrong zero point, scale or code is off by a whole step), and
// within 5e-2 normwise of the ref on the raw operands while more than 1e-4 away from it (the
// codes' half-steps are 1/255 of a row's range and 1/(2·64) of a channel's largest weight:
// about 1e-2 for these uniform values, up to 0.04 seen on 2 outputs of a 33-term row).
void check_int8(const k::PackedMatmul& mm, k::MatmulContext& ctx, Rng& rng, int64_t m,
                k::MatmulEpilogue e, const float* bias, const std::vector<float>& w,
                bool nested = false, const std::vector<float>* given_inp = nullptr) {
    const int64_t n = mm.n(), kk = mm.k();
    const int64_t rows = k::matmul_padded_rows(m);
    const auto inp = given_inp ? *given_inp : rng.vec<float>(rows * kk);
    const auto residual = rng.vec<float>(rows * n);
    std::vector<float> out = residual;
#pragma omp parallel num_threads(1) if (nested)
    mm.run(ctx, out.data(), inp.data(), m);
    out.resize(size_t(m * n));
    const Int8Operands q = int8_operands(inp, w, m, n, kk, mm.int8_scheme());
    const auto want = expected(q.x, q.w, bias, residual, m, n, kk, e);
    EXPECT_LE(rel_diff(out, want), 1e-5);
    std::vector<float> raw_inp(inp.begin(), inp.begin() + m * kk);
    const auto exact = expected(raw_inp, w, bias, residual, m, n, kk, e);
    EXPECT_LE(rel_diff(out, exact), 5e-2);
    EXPECT_GT(rel_diff(out, exact), 1e-4) << "as exact as f32: were the operands quantised?";
}

TEST(PackedMatmul, Int8MatchesRefOnQuantisedOperands) {
    Rng rng(303);
    const k::Int8Scheme scheme = k::default_int8_scheme();
    for (auto e :
         {k::MatmulEpilogue::none, k::MatmulEpilogue::gelu_erf, k::MatmulEpilogue::residual}) {
        for (auto [n, kk] : {std::pair<int64_t, int64_t>{2, 33}, {100, 64}, {96, 768}}) {
            const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
            for (const float* bp : {bias.data(), static_cast<const float*>(nullptr)}) {
                const k::PackedMatmul mm(w.data(), bp, n, kk, e, k::MatmulPrecision::int8, scheme);
                EXPECT_EQ(mm.precision(), k::MatmulPrecision::int8);
                const k::PackedMatmul f32(w.data(), bp, n, kk, e);
                EXPECT_LT(mm.packed_bytes(), f32.packed_bytes());  // a byte a weight
                // Past the 1024-row chunk on the small shapes only (the double ref is slow).
                const std::vector<int64_t> ms = kk < 768 ? std::vector<int64_t>{1, 17, 128, 1030}
                                                         : std::vector<int64_t>{1, 128};
                for (int64_t m : ms) {
                    SCOPED_TRACE("epilogue=" + std::to_string(int(e)) + " n=" + std::to_string(n) +
                                 " k=" + std::to_string(kk) + " m=" + std::to_string(m) +
                                 " bias=" + std::to_string(bp != nullptr));
                    // Outside a parallel region (the quantisation and scaling split across
                    // threads) and inside one (this thread alone).
                    for (bool nested : {false, true}) {
                        k::MatmulContext ctx;
                        check_int8(mm, ctx, rng, m, e, bp, w, nested);
                    }
                }
            }
        }
    }
}

// Per-tensor activations: one range for the call. Rows of very different sizes then lose the
// small rows' precision, which per-row scales keep: both match their own quantised ref.
TEST(PackedMatmul, Int8PerTensorAndPerRowActivations) {
    Rng rng(304);
    const int64_t n = 48, kk = 96, m = 20;
    const auto w = rng.vec<float>(n * kk), bias = rng.vec<float>(n);
    k::Int8Scheme per_tensor = k::default_int8_scheme();
    per_tensor.per_tensor = true;
    const k::PackedMatmul rowwise(w.data(), bias.data(), n, kk, k::MatmulEpilogue::none,
                                  k::MatmulPrecision::int8, k::default_int8_scheme());
    const k::PackedMatmul tensor(w.data(), bias.data(), n, kk, k::MatmulEpilogue::none,
                                 k::MatmulPrecision::int8, per_tensor);
    auto inp = rng.vec<float>(k::matmul_padded_rows(m) * kk);
    for (int64_t i = 0; i < kk; ++i) inp[size_t(i)] *= 100.0f;  // row 0: 100x the others
    k::MatmulContext ctx;
    for (const k::PackedMatmul* mm : {&rowwise, &tensor}) {
        const Int8Operands q = int8_operands(inp, w, m, n, kk, mm->int8_scheme());
        std::vector<float> out(size_t(k::matmul_padded_rows(m) * n));
        mm->run(ctx, out.data(), inp.data(), m);
        out.resize(size_t(m * n));
        const auto want = expected(q.x, q.w, bias.data(), {}, m, n, kk, k::MatmulEpilogue::none);
        EXPECT_LE(rel_diff(out, want), 1e-5) << "per_tensor=" << mm->int8_scheme().per_tensor;
    }
    // Rows 1.. against the raw ref: per-row keeps them as accurate as ever, one range for all
    // (100x wider) makes their step 100x coarser.
    std::vector<float> a(size_t(k::matmul_padded_rows(m) * n)), b = a;
    rowwise.run(ctx, a.data(), inp.data(), m);
    tensor.run(ctx, b.data(), inp.data(), m);
    std::vector<float> raw(inp.begin(), inp.begin() + m * kk);
    const auto exact = expected(raw, w, bias.data(), {}, m, n, kk, k::MatmulEpilogue::none);
    const auto tail = [&](const std::vector<float>& v) {
        return std::vector<float>(v.begin() + n, v.begin() + m * n);
    };
    const double err_row = rel_diff(tail(a), tail(exact)),
                 err_tensor = rel_diff(tail(b), tail(exact));
    EXPECT_LT(err_row, 3e-2);
    EXPECT_GT(err_tensor, 3 * err_row);
}

// The codes at their extremes (every activation code 255, every weight code at weight_max, all
// products of one sign) give the exact sum: the scheme cannot saturate the CPU's pair sums
// (VPMADDUBSW's 16 bits without VNNI would return about half of it at 8-bit weights).
TEST(PackedMatmul, Int8ExtremeCodesDoNotSaturate) {
    const int64_t n = 16, kk = 512, m = 8;
    const std::vector<float> w(size_t(n * kk), 1.0f);
    const std::vector<float> inp(size_t(k::matmul_padded_rows(m) * kk), 1.0f);
    const k::PackedMatmul mm(w.data(), nullptr, n, kk, k::MatmulEpilogue::none,
                             k::MatmulPrecision::int8, k::default_int8_scheme());
    k::MatmulContext ctx;
    std::vector<float> out(size_t(k::matmul_padded_rows(m) * n));
    mm.run(ctx, out.data(), inp.data(), m);
    for (int64_t i = 0; i < m * n; ++i) ASSERT_NEAR(out[size_t(i)], float(kk), 1e-3) << i;
}

// The scheme follows the CPU: 8-bit codes only where oneDNN's sums are exact (found by a probe),
// which needs VNNI; 7-bit weights (or activations) elsewhere; and codes that could saturate are
// refused there.
TEST(PackedMatmul, Int8SchemeFollowsTheCpu) {
    if (!k::int8_vnni()) {
        EXPECT_FALSE(k::int8_full_range_exact());
    }
    const k::Int8Scheme d = k::default_int8_scheme(), r = k::default_int8_scheme(true);
    if (k::int8_full_range_exact()) {
        EXPECT_EQ(d.weight_max, 127);
        EXPECT_EQ(d.activation_max, 255);
    } else {
        EXPECT_EQ(d.weight_max, 64);
        EXPECT_EQ(d.activation_max, 255);
        EXPECT_EQ(r.weight_max, 127);
        EXPECT_EQ(r.activation_max, 127);
        const std::vector<float> w(64 * 64, 0.5f);
        k::Int8Scheme full;
        EXPECT_THROW(k::PackedMatmul(w.data(), nullptr, 64, 64, k::MatmulEpilogue::none,
                                     k::MatmulPrecision::int8, full),
                     std::invalid_argument);
    }
    // 7-bit activations with 8-bit weights: still exact on the quantised operands.
    Rng rng(305);
    const int64_t n = 40, kk = 100;
    const auto w = rng.vec<float>(n * kk);
    const k::PackedMatmul mm(w.data(), nullptr, n, kk, k::MatmulEpilogue::none,
                             k::MatmulPrecision::int8, r);
    k::MatmulContext ctx;
    check_int8(mm, ctx, rng, 33, k::MatmulEpilogue::none, nullptr, w);
}

TEST(PackedMatmul, PrecisionNames) {
    for (auto p : {k::MatmulPrecision::f32, k::MatmulPrecision::bf16, k::MatmulPrecision::int8}) {
        k::MatmulPrecision back{};
        ASSERT_TRUE(k::parse_precision(k::precision_name(p), &back));
        EXPECT_EQ(back, p);
    }
    k::MatmulPrecision back{};
    EXPECT_FALSE(k::parse_precision("int4", &back));
    EXPECT_FALSE(k::parse_precision("INT8", &back));
}

}  // namespace
}  // namespace fwsvd::testing
