// Edge cases and promises of the headers: zero sizes, one key, aliasing, attention's helpers,
// ISA selection.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/loss.h"
#include "kernels/softmax.h"
#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

// ---- ISA selection -----------------------------------------------------------------------------

TEST(KernelCpu, SetIsaClampsAndRestores) {
    IsaGuard guard;
    const k::Isa best = k::detected_isa();
    k::set_isa(k::Isa::avx512);
    EXPECT_EQ(k::active_isa(), best) << "asking for more than detected clamps to detected";
    k::set_isa(k::Isa::ref);
    EXPECT_EQ(k::active_isa(), k::Isa::ref);
    EXPECT_STREQ(k::isa_name(k::Isa::ref), "ref");
    EXPECT_STREQ(k::isa_name(k::Isa::avx2), "avx2");
    EXPECT_STREQ(k::isa_name(k::Isa::avx512), "avx512");
    std::printf("detected ISA: %s\n", k::isa_name(best));
}

TEST(KernelCpu, DetectionMatchesCompilerBuiltins) {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    EXPECT_EQ(k::detected_isa(), avx512 ? k::Isa::avx512 : avx2 ? k::Isa::avx2 : k::Isa::ref);
}

// ---- zero sizes --------------------------------------------------------------------------------

// With every size 0 nothing is read or written: buffers keep their sentinel.
TEST(KernelEdge, ZeroSizesDoNothing) {
    const float s = 3.25f;
    std::vector<float> f1(64, s), f2(64, s), f3(64, s), f4(64, s);
    std::vector<double> d1(64, s), d2(64, s), d3(64, s);
    std::vector<uint8_t> mask(64, 9);
    const std::vector<int32_t> ids(64, 0);
    auto all_untouched = [&] {
        for (auto* v : {&f1, &f2, &f3, &f4}) {
            for (float x : *v) ASSERT_EQ(x, s);
        }
        for (auto* v : {&d1, &d2, &d3}) {
            for (double x : *v) ASSERT_EQ(x, s);
        }
        for (uint8_t m : mask) ASSERT_EQ(m, 9);
    };
    for_each_isa([&] {
        for (k::Activation act : {k::Activation::gelu, k::Activation::relu}) {
            k::activation_forward(act, f1.data(), f2.data(), 0);
            k::activation_backward(act, f1.data(), f2.data(), f3.data(), 0);
            k::activation_forward_ref<double>(act, d1.data(), d2.data(), 0);
            k::activation_backward_ref<double>(act, d1.data(), d2.data(), d3.data(), 0);
        }
        k::add_forward(f1.data(), f2.data(), f3.data(), 0);
        k::accumulate(f1.data(), f2.data(), 0);
        k::square_accumulate(f1.data(), f2.data(), 0);
        k::sum_rows_accumulate(f1.data(), f2.data(), 0, 5);  // dst += 0 for 5 columns
        k::sum_rows_accumulate(f1.data(), f2.data(), 5, 0);
        k::layernorm_forward(f1.data(), f2.data(), f3.data(), f4.data(), f4.data(), f4.data(), 0, 8,
                             1e-5f);
        k::layernorm_backward(f1.data(), nullptr, nullptr, f2.data(), f3.data(), f4.data(),
                              f4.data(), f4.data(), 0, 8);
        k::layernorm_forward_ref<double>(d1.data(), d2.data(), d3.data(), d1.data(), d1.data(),
                                         d1.data(), 0, 8, 1e-5);
        k::softmax_forward(f1.data(), f2.data(), 0, 8);
        k::softmax_forward(f1.data(), f2.data(), 8, 0);
        k::softmax_backward(f1.data(), f2.data(), f3.data(), 0, 8);
        k::softmax_forward_ref<double>(d1.data(), d2.data(), 0, 8);
        k::linear_forward(f1.data(), f2.data(), f3.data(), f4.data(), 0, 4, 4);
        k::linear_forward(f1.data(), f2.data(), f3.data(), f4.data(), 4, 4, 0);
        k::linear_forward_ref<double>(d1.data(), d2.data(), d3.data(), nullptr, 0, 4, 4);
        k::linear_backward_ref<double>(d1.data(), nullptr, nullptr, d2.data(), d3.data(), d3.data(),
                                       0, 4, 4);
        k::embedding_forward(f1.data(), ids.data(), ids.data(), ids.data(), f2.data(), f3.data(),
                             f4.data(), 0, 4);
        k::embedding_backward(f1.data(), f2.data(), f3.data(), f4.data(), ids.data(), ids.data(),
                              ids.data(), 0, 4);
        k::embedding_forward(f1.data(), ids.data(), ids.data(), ids.data(), f2.data(), f3.data(),
                             f4.data(), 4, 0);
        k::cross_entropy_forward(f1.data(), f2.data(), f3.data(), ids.data(), 0, 3);
        k::cross_entropy_backward(f1.data(), f2.data(), f3.data(), ids.data(), 0, 3);
        k::mse_forward(f1.data(), f2.data(), f3.data(), 0);
        k::mse_backward(f1.data(), f2.data(), f3.data(), f4.data(), 0);
        k::dropout_forward(f1.data(), mask.data(), f2.data(), 0, 0.5f, 1, 2);
        k::dropout_backward(f1.data(), f2.data(), mask.data(), 0, 0.5f);
        k::gemm(false, false, 0, 4, 4, 1.0f, f2.data(), 4, f3.data(), 4, 0.0f, f1.data(), 4);
        k::gemm(false, false, 4, 0, 4, 1.0f, f2.data(), 4, f3.data(), 1, 0.0f, f1.data(), 1);
        // No sequences / empty item range.
        k::AttentionShape shape{2, 2, 4, 4, 4, 4};
        k::SeqSpan seq{0, 3, 2, 0};
        k::attention_forward(f1.data(), f2.data(), f3.data(), f3.data(), f3.data(), &seq, shape, 1,
                             1, f4.data());
        k::attention_backward(f1.data(), f1.data(), f1.data(), f2.data(), f3.data(), f3.data(),
                              f3.data(), f4.data(), &seq, shape, 0, 0, f4.data());
        k::attention_forward_ref<double>(d1.data(), d2.data(), d3.data(), d3.data(), d3.data(),
                                         &seq, shape, 2, 2, d1.data());
        all_untouched();
    });
    // Zero rows in a backward still leave the (zero-sum) gradients as they were.
    k::linear_backward(f1.data(), f2.data(), f3.data(), f4.data(), f4.data(), f4.data(), 0, 4, 4);
    k::linear_backward_ref<double>(d1.data(), d2.data(), d3.data(), d1.data(), d1.data(), d1.data(),
                                   0, 4, 4);
    all_untouched();
    k::SeqSpan none[1];
    EXPECT_EQ(k::attention_assign_probs_offsets(none, 0, 12), 0);
    EXPECT_EQ(k::attention_scratch_size(none, 0), 0);
}

// ---- attention ---------------------------------------------------------------------------------

TEST(KernelEdge, AttentionHelpers) {
    std::vector<k::SeqSpan> seqs = {{0, 5, 3, -1}, {5, 2, 2, -1}, {7, 4, 1, -1}};
    EXPECT_EQ(k::attention_assign_probs_offsets(seqs.data(), 3, 2), 2 * (15 + 4 + 4));
    EXPECT_EQ(seqs[0].probs_offset, 0);
    EXPECT_EQ(seqs[1].probs_offset, 2 * 15);
    EXPECT_EQ(seqs[2].probs_offset, 2 * 15 + 2 * 4);
    // max(2 · max(len · keys) (the training forward's scores and the backward's), 64 · max(keys)
    // (the inference forward's [keys, 64] scores of a query chunk)).
    EXPECT_EQ(k::attention_scratch_size(seqs.data(), 3), 64 * 3);
    EXPECT_EQ(k::attention_scratch_size(seqs.data() + 1, 2), 64 * 2);
    const k::SeqSpan long_seq{0, 100, 90, -1};
    EXPECT_EQ(k::attention_scratch_size(&long_seq, 1), 2 * 100 * 90);
}

TEST(KernelEdge, AttentionWithOneKeyCopiesItsValue) {
    // keys == 1: every query's probability row is [1], so out row i = v row 0 of the sequence.
    Rng rng(400);
    const int64_t h = 2, d = 3, c = h * d;
    std::vector<k::SeqSpan> seqs = {{0, 4, 1, 0}, {4, 1, 1, 0}};
    const int64_t probs_size = k::attention_assign_probs_offsets(seqs.data(), 2, h);
    const k::AttentionShape shape{h, d, c, c, c, c};
    const auto q = rng.vec<float>(5 * c), kk = rng.vec<float>(5 * c), v = rng.vec<float>(5 * c);
    const auto qd = cast_vec<double>(q), kd = cast_vec<double>(kk), vd = cast_vec<double>(v);
    std::vector<float> scratch(k::attention_scratch_size(seqs.data(), 2));
    std::vector<double> scratch_d(scratch.size());
    for_each_isa([&] {
        std::vector<float> out(5 * c), probs(probs_size);
        std::vector<double> out_d(5 * c), probs_d(probs_size);
        k::attention_forward(out.data(), probs.data(), q.data(), kk.data(), v.data(), seqs.data(),
                             shape, 0, 2 * h, scratch.data());
        k::attention_forward_ref<double>(out_d.data(), probs_d.data(), qd.data(), kd.data(),
                                         vd.data(), seqs.data(), shape, 0, 2 * h, scratch_d.data());
        for (float p : probs) EXPECT_EQ(p, 1.0f);
        for (double p : probs_d) EXPECT_EQ(p, 1.0);
        for (const auto& s : seqs) {
            for (int64_t i = 0; i < s.len; ++i) {
                for (int64_t j = 0; j < c; ++j) {
                    const float want = v[s.offset * c + j];
                    EXPECT_NEAR(out[(s.offset + i) * c + j], want, 1e-6f);
                    EXPECT_EQ(out_d[(s.offset + i) * c + j], double(want));
                }
            }
        }
    });
}

// ---- aliasing ----------------------------------------------------------------------------------

TEST(KernelEdge, InPlaceEqualsOutOfPlace) {
    Rng rng(401);
    const int64_t rows = 3, cols = 17;
    const auto x = rng.vec<float>(rows * cols, -3.0, 3.0), y = rng.vec<float>(rows * cols);
    const auto gamma = rng.vec<float>(cols), beta = rng.vec<float>(cols);
    for_each_isa([&] {
        std::vector<float> want(rows * cols), inout;
        for (k::Activation act : {k::Activation::gelu, k::Activation::gelu_tanh,
                                  k::Activation::relu, k::Activation::silu, k::Activation::tanh}) {
            k::activation_forward(act, want.data(), x.data(), rows * cols);
            inout = x;
            k::activation_forward(act, inout.data(), inout.data(), rows * cols);
            EXPECT_EQ(inout, want) << "activation " << int(act);
        }
        k::softmax_forward(want.data(), x.data(), rows, cols);
        inout = x;
        k::softmax_forward(inout.data(), inout.data(), rows, cols);
        EXPECT_EQ(inout, want) << "softmax";

        k::layernorm_forward(want.data(), nullptr, nullptr, x.data(), gamma.data(), beta.data(),
                             rows, cols, 1e-5f);
        inout = x;
        k::layernorm_forward(inout.data(), nullptr, nullptr, inout.data(), gamma.data(),
                             beta.data(), rows, cols, 1e-5f);
        EXPECT_EQ(inout, want) << "layernorm";

        k::add_forward(want.data(), x.data(), y.data(), rows * cols);
        inout = x;
        k::add_forward(inout.data(), inout.data(), y.data(), rows * cols);
        EXPECT_EQ(inout, want) << "add out == a";
    });
}

// ---- known values ------------------------------------------------------------------------------

TEST(KernelEdge, ActivationKnownValues) {
    // Reference values from the defining formulas with Python's math module (erf, tanh, exp in
    // double), to 12 decimals: x/2 (1 + erf(x/√2)), x/2 (1 + tanh(√(2/π)(x + 0.044715x³))), x σ(x).
    const double x[] = {-3.0, -1.0, 0.0, 0.5, 2.0};
    const double gelu[] = {-0.004049694095, -0.158655253931, 0.0, 0.345731230637, 1.954499736104};
    const double gelu_tanh[] = {-0.003637392082, -0.158808009392, 0.0, 0.345714009825,
                                1.954597694088};
    const double silu[] = {-0.142277619533, -0.268941421370, 0.0, 0.311229665601, 1.761594155956};
    double out[5];
    k::activation_forward_ref<double>(k::Activation::gelu, out, x, 5);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(out[i], gelu[i], 1e-9) << "gelu " << x[i];
    k::activation_forward_ref<double>(k::Activation::gelu_tanh, out, x, 5);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(out[i], gelu_tanh[i], 1e-9) << "gelu_tanh " << x[i];
    k::activation_forward_ref<double>(k::Activation::silu, out, x, 5);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(out[i], silu[i], 1e-9) << "silu " << x[i];
    k::activation_forward_ref<double>(k::Activation::relu, out, x, 5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(out[i], std::max(x[i], 0.0)) << "relu " << x[i];
    k::activation_forward_ref<double>(k::Activation::tanh, out, x, 5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(out[i], std::tanh(x[i])) << "tanh " << x[i];
    // relu'(0) = 0, as torch.
    const double zero = 0.0, one = 1.0;
    double g = 0.0;
    k::activation_backward_ref<double>(k::Activation::relu, &g, &one, &zero, 1);
    EXPECT_EQ(g, 0.0);
}

TEST(KernelEdge, LayerNormAndLossKnownValues) {
    // LayerNorm of [1, 2, 3, 4] with unit gamma, zero beta, eps 0: mean 2.5, biased var 1.25.
    const double x[] = {1, 2, 3, 4}, ones[] = {1, 1, 1, 1}, zeros[] = {0, 0, 0, 0};
    double out[4], mean, rstd;
    k::layernorm_forward_ref<double>(out, &mean, &rstd, x, ones, zeros, 1, 4, 0.0);
    EXPECT_DOUBLE_EQ(mean, 2.5);
    EXPECT_DOUBLE_EQ(rstd, 1.0 / std::sqrt(1.25));
    EXPECT_NEAR(out[0], -1.5 / std::sqrt(1.25), 1e-15);
    // Cross entropy of logits [1, 2, 3] with label 2 = log(e + e² + e³) - 3; large logits stay
    // finite (log-sum-exp).
    const double z[] = {1, 2, 3, 1000, 1001, 1002};
    const int32_t labels[] = {2, 0};
    double losses[2], probs[6];
    k::cross_entropy_forward_ref<double>(losses, probs, z, labels, 2, 3);
    const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    EXPECT_NEAR(losses[0], lse - 3.0, 1e-14);
    EXPECT_NEAR(losses[1], lse - 1.0, 1e-12);
    EXPECT_NEAR(probs[2], std::exp(3.0 - lse), 1e-15);
    float zf[] = {1000, 1001, 1002}, lf, pf[3];
    k::cross_entropy_forward(&lf, pf, zf, labels + 1, 1, 3);
    EXPECT_NEAR(lf, lse - 1.0, 1e-5);
}

}  // namespace
}  // namespace fwsvd::testing
