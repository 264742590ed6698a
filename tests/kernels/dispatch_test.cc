// The dispatching float kernels against their _ref<float> twins, for every ISA this CPU runs
// (set_isa), on sizes that are and are not multiples of the vector widths. This is the test the
// AVX2 / AVX-512 variants are held to.
//
// Tolerances (normwise relative, max |fast - ref| / max |ref|):
//   kExact  0     plain adds (IEEE addition is the same in every variant)
//   kRound  1e-6  a rounding or two apart (FMA vs separate multiply-add, two adds vs one)
//   kReduce 1e-5  float reductions, GEMMs (oneDNN), transcendental approximations vs the
//                 double-accumulating ref (observed now: <= 2e-6 for linear, 3e-7 for attention)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/convert.h"
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

constexpr double kExact = 0.0;
constexpr double kRound = 1e-6;
constexpr double kReduce = 1e-5;

// Widths around the 8- and 16-float vector sizes, and shapes to try them in.
const int64_t kCols[] = {1, 7, 8, 16, 17, 33, 64, 100, 768, 1029};
const int64_t kRows[] = {1, 3, 5};

std::string shape_tag(int64_t rows, int64_t cols) {
    return "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
}

// float -> bfloat16: the ref's rounding on known values, and every variant bit-equal to it.
TEST(KernelDispatch, Bf16Rounding) {
    const auto bits = [](uint32_t u) {
        float x;
        std::memcpy(&x, &u, sizeof x);
        return x;
    };
    EXPECT_EQ(k::f32_to_bf16_one(1.0f), 0x3f80);
    EXPECT_EQ(k::f32_to_bf16_one(-2.0f), 0xc000);
    EXPECT_EQ(k::f32_to_bf16_one(bits(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(k::f32_to_bf16_one(bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(k::f32_to_bf16_one(bits(0x3f808001u)), 0x3f81);  // above the tie
    EXPECT_EQ(k::f32_to_bf16_one(bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to infinity
    EXPECT_EQ(k::f32_to_bf16_one(-std::numeric_limits<float>::infinity()), 0xff80);
    EXPECT_EQ(k::f32_to_bf16_one(bits(0x7f800001u)), 0x7fc0);  // signalling NaN -> quiet
    EXPECT_EQ(k::f32_to_bf16_one(bits(0x00018000u)), 0x0002);  // subnormal tie rounds to even
    EXPECT_EQ(k::bf16_to_f32(0x3f82), bits(0x3f820000u));
    Rng rng(107);
    for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 100, 1029}) {
        SCOPED_TRACE("n=" + std::to_string(n));
        std::vector<float> in = rng.vec<float>(n);
        // Ties, NaNs, infinities, subnormals and signed zeros among the random values.
        const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x7fc00001u, 0xff800001u,
                                    0x7f800000u, 0x00018000u, 0x80000000u, 0x7f7fffffu};
        for (int64_t i = 0; i < n; i += 3) in[size_t(i)] = bits(special[size_t(i / 3) % 8]);
        std::vector<uint16_t> want(static_cast<size_t>(n)), got;
        k::f32_to_bf16_ref(want.data(), in.data(), n);
        for_each_isa([&] {
            got.assign(size_t(n) + 1, 0xabcd);
            k::f32_to_bf16(got.data(), in.data(), n);
            EXPECT_EQ(got[size_t(n)], 0xabcd) << "wrote past the end";
            got.resize(size_t(n));
            EXPECT_EQ(got, want);
        });
    }
}

TEST(KernelDispatch, Elementwise) {
    Rng rng(100);
    for_each_isa([&] {
        for (int64_t n : {1, 7, 17, 33, 64, 100, 1000}) {
            SCOPED_TRACE("n=" + std::to_string(n));
            const auto a = rng.vec<float>(n), b = rng.vec<float>(n);
            std::vector<float> got(n), want(n);
            k::add_forward(got.data(), a.data(), b.data(), n);
            k::add_forward_ref<float>(want.data(), a.data(), b.data(), n);
            EXPECT_LE(rel_diff(got, want), kExact) << "add_forward";

            auto acc_got = rng.vec<float>(n);
            auto acc_want = acc_got;
            k::accumulate(acc_got.data(), a.data(), n);
            k::accumulate_ref<float>(acc_want.data(), a.data(), n);
            EXPECT_LE(rel_diff(acc_got, acc_want), kExact) << "accumulate";

            k::square_accumulate(acc_got.data(), b.data(), n);
            k::square_accumulate_ref<float>(acc_want.data(), b.data(), n);
            EXPECT_LE(rel_diff(acc_got, acc_want), kRound) << "square_accumulate";
        }
        for (int64_t rows : {1, 3, 5, 200}) {
            for (int64_t cols : kCols) {
                SCOPED_TRACE(shape_tag(rows, cols));
                const auto src = rng.vec<float>(rows * cols);
                auto got = rng.vec<float>(cols);
                auto want = got;
                k::sum_rows_accumulate(got.data(), src.data(), rows, cols);
                k::sum_rows_accumulate_ref<float>(want.data(), src.data(), rows, cols);
                EXPECT_LE(rel_diff(got, want), kReduce) << "sum_rows_accumulate";
            }
        }
        // Head blocks of width <= block inside rows wider than heads · block, bit for bit.
        for (int64_t heads : {1, 4, 12}) {
            for (auto [width, block] : {std::pair<int64_t, int64_t>{64, 64}, {5, 16}, {33, 40}}) {
                SCOPED_TRACE("heads=" + std::to_string(heads) + " width=" + std::to_string(width));
                const int64_t rows = 7, ld_in = heads * block + 3, ld_out = width + 2;
                const auto in = rng.vec<float>(rows * ld_in);
                auto got = rng.vec<float>(rows * ld_out);
                auto want = got;
                k::sum_head_blocks(got.data(), in.data(), rows, heads, width, block, ld_in, ld_out);
                k::sum_head_blocks_ref<float>(want.data(), in.data(), rows, heads, width, block,
                                              ld_in, ld_out);
                EXPECT_EQ(got, want) << "sum_head_blocks";
            }
        }
    });
}

TEST(KernelDispatch, Activations) {
    const k::Activation acts[] = {k::Activation::gelu, k::Activation::gelu_tanh,
                                  k::Activation::relu, k::Activation::silu, k::Activation::tanh};
    Rng rng(101);
    for_each_isa([&] {
        for (k::Activation act : acts) {
            SCOPED_TRACE("act=" + std::to_string(int(act)));
            for (int64_t n : {1, 7, 17, 33, 64, 100, 1000}) {
                SCOPED_TRACE("n=" + std::to_string(n));
                // Wide range: saturation of tanh/erf and large negative silu inputs included.
                const auto inp = rng.vec<float>(n, -12.0, 12.0);
                std::vector<float> got(n), want(n);
                k::activation_forward(act, got.data(), inp.data(), n);
                k::activation_forward_ref<float>(act, want.data(), inp.data(), n);
                EXPECT_LE(rel_diff(got, want), kReduce) << "activation_forward";

                const auto dout = rng.vec<float>(n);
                auto dgot = rng.vec<float>(n);
                auto dwant = dgot;
                k::activation_backward(act, dgot.data(), dout.data(), inp.data(), n);
                k::activation_backward_ref<float>(act, dwant.data(), dout.data(), inp.data(), n);
                EXPECT_LE(rel_diff(dgot, dwant), kReduce) << "activation_backward";
            }
        }
    });
}

// Element by element, not normwise: the vector transcendentals (erf, tanh, exp) against the
// double-precision ref on a fine grid. 1e-6 relative is ~16 ulp; the absolute floor covers the
// deep negative tails, where the ref's own 1 + erf / 1 + tanh cancels in double. gelu_tanh's
// forward gets 4e-6: x σ(2u) in float carries the rounding of u (2u = −14 at x = −4.6) into
// e^{−2u}.
TEST(KernelDispatch, ActivationsElementwiseAccuracy) {
    const k::Activation acts[] = {k::Activation::gelu, k::Activation::gelu_tanh,
                                  k::Activation::relu, k::Activation::silu, k::Activation::tanh};
    std::vector<float> x;
    for (int i = -10000; i <= 10000; ++i) x.push_back(float(i) * 1e-3f);
    const int64_t n = int64_t(x.size());
    const std::vector<double> xd(x.begin(), x.end());
    for_each_isa([&] {
        for (k::Activation act : acts) {
            SCOPED_TRACE("act=" + std::to_string(int(act)));
            std::vector<float> y(n), dy(n, 0.0f);
            std::vector<double> ref(n), dref(n, 0.0), ones(n, 1.0);
            const std::vector<float> onesf(n, 1.0f);
            k::activation_forward(act, y.data(), x.data(), n);
            k::activation_forward_ref<double>(act, ref.data(), xd.data(), n);
            k::activation_backward(act, dy.data(), onesf.data(), x.data(), n);
            k::activation_backward_ref<double>(act, dref.data(), ones.data(), xd.data(), n);
            int bad = 0, dbad = 0;
            for (int64_t i = 0; i < n; ++i) {
                const double rel = act == k::Activation::gelu_tanh ? 4e-6 : 1e-6;
                if (std::abs(y[i] - ref[i]) > rel * std::abs(ref[i]) + 1e-12 && bad++ < 3) {
                    ADD_FAILURE() << "forward at x=" << x[i] << ": " << y[i] << " vs " << ref[i];
                }
                if (std::abs(dy[i] - dref[i]) > 1e-6 * std::max(1.0, std::abs(dref[i])) &&
                    dbad++ < 3) {
                    ADD_FAILURE() << "backward at x=" << x[i] << ": " << dy[i] << " vs " << dref[i];
                }
            }
        }
    });
}

// The inference GELU: against its scalar twin (same rational formula) within kRound, and against
// the exact double formula element by element on a fine grid within its contract, 2e-6 ·
// max(1, |x|) absolute (a rational erf, not the few-ulp relative accuracy of activation_forward's
// gelu). Special values: NaN stays NaN, -inf gives 0, +inf gives +inf; in place and out of place,
// whole vectors and partial tails.
TEST(KernelDispatch, GeluInference) {
    std::vector<float> x;
    for (int i = -200000; i <= 200000; ++i) x.push_back(float(i) * 1e-4f);
    const int64_t n = int64_t(x.size());
    const std::vector<double> xd(x.begin(), x.end());
    std::vector<double> exact(static_cast<size_t>(n));
    k::activation_forward_ref<double>(k::Activation::gelu, exact.data(), xd.data(), n);
    std::vector<float> twin(static_cast<size_t>(n));
    k::gelu_inference_forward_ref<float>(twin.data(), x.data(), n);
    for_each_isa([&] {
        std::vector<float> y(static_cast<size_t>(n));
        k::gelu_inference_forward(y.data(), x.data(), n);
        EXPECT_LE(rel_diff(y, twin), kRound);
        double worst = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double err = std::abs(double(y[i]) - exact[i]) / std::max(1.0, std::abs(xd[i]));
            worst = std::max(worst, err);
        }
        EXPECT_LE(worst, 2e-6);
        std::vector<float> z(x.begin(), x.begin() + 37);
        k::gelu_inference_forward(z.data(), z.data(), 37);
        EXPECT_TRUE(std::equal(z.begin(), z.end(), y.begin())) << "in place, partial vector";
        const float inf = std::numeric_limits<float>::infinity();
        const float special[3] = {std::numeric_limits<float>::quiet_NaN(), -inf, inf};
        float out[3];
        k::gelu_inference_forward(out, special, 3);
        EXPECT_TRUE(std::isnan(out[0]));
        EXPECT_EQ(out[1], 0.0f);
        EXPECT_EQ(out[2], inf);
    });
}

TEST(KernelDispatch, LayerNorm) {
    Rng rng(102);
    for_each_isa([&] {
        for (int64_t rows : kRows) {
            for (int64_t cols : kCols) {
                SCOPED_TRACE(shape_tag(rows, cols));
                const float eps = 1e-12f;
                const auto inp = rng.vec<float>(rows * cols, 1.0, 3.0);
                const auto gamma = rng.vec<float>(cols, 0.5, 1.5), beta = rng.vec<float>(cols);
                std::vector<float> got(rows * cols), want(rows * cols);
                std::vector<float> mean_got(rows), mean_want(rows), rstd_got(rows), rstd_want(rows);
                k::layernorm_forward(got.data(), mean_got.data(), rstd_got.data(), inp.data(),
                                     gamma.data(), beta.data(), rows, cols, eps);
                k::layernorm_forward_ref<float>(want.data(), mean_want.data(), rstd_want.data(),
                                                inp.data(), gamma.data(), beta.data(), rows, cols,
                                                eps);
                EXPECT_LE(rel_diff(got, want), kReduce) << "layernorm_forward out";
                EXPECT_LE(rel_diff(mean_got, mean_want), kReduce) << "layernorm_forward mean";
                if (cols > 1) {  // one column: var = 0, rstd = 1/sqrt(eps) either way
                    EXPECT_LE(rel_diff(rstd_got, rstd_want), kReduce) << "layernorm_forward rstd";
                }

                const auto dout = rng.vec<float>(rows * cols);
                auto dinp_got = rng.vec<float>(rows * cols), dg_got = rng.vec<float>(cols),
                     db_got = rng.vec<float>(cols);
                auto dinp_want = dinp_got, dg_want = dg_got, db_want = db_got;
                k::layernorm_backward(dinp_got.data(), dg_got.data(), db_got.data(), dout.data(),
                                      inp.data(), gamma.data(), mean_want.data(), rstd_want.data(),
                                      rows, cols);
                k::layernorm_backward_ref<float>(dinp_want.data(), dg_want.data(), db_want.data(),
                                                 dout.data(), inp.data(), gamma.data(),
                                                 mean_want.data(), rstd_want.data(), rows, cols);
                EXPECT_LE(rel_diff(dinp_got, dinp_want), kReduce) << "layernorm_backward dinp";
                EXPECT_LE(rel_diff(dg_got, dg_want), kReduce) << "layernorm_backward dgamma";
                EXPECT_LE(rel_diff(db_got, db_want), kReduce) << "layernorm_backward dbeta";
            }
        }
    });
}

TEST(KernelDispatch, Softmax) {
    Rng rng(103);
    for_each_isa([&] {
        for (int64_t rows : kRows) {
            for (int64_t cols : kCols) {
                SCOPED_TRACE(shape_tag(rows, cols));
                const auto inp = rng.vec<float>(rows * cols, -8.0, 8.0);
                std::vector<float> got(rows * cols), want(rows * cols);
                k::softmax_forward(got.data(), inp.data(), rows, cols);
                k::softmax_forward_ref<float>(want.data(), inp.data(), rows, cols);
                EXPECT_LE(rel_diff(got, want), kReduce) << "softmax_forward";

                const auto dout = rng.vec<float>(rows * cols);
                auto dgot = rng.vec<float>(rows * cols);
                auto dwant = dgot;
                k::softmax_backward(dgot.data(), dout.data(), want.data(), rows, cols);
                k::softmax_backward_ref<float>(dwant.data(), dout.data(), want.data(), rows, cols);
                EXPECT_LE(rel_diff(dgot, dwant), kReduce) << "softmax_backward";
            }
        }
    });
}

TEST(KernelDispatch, Linear) {
    Rng rng(104);
    for_each_isa([&] {
        for (int64_t n : {1, 5, 17}) {
            for (int64_t c_in : {1, 7, 33, 100}) {
                for (int64_t c_out : {1, 8, 17, 64}) {
                    SCOPED_TRACE("n=" + std::to_string(n) + " c_in=" + std::to_string(c_in) +
                                 " c_out=" + std::to_string(c_out));
                    const auto inp = rng.vec<float>(n * c_in), w = rng.vec<float>(c_out * c_in),
                               bias = rng.vec<float>(c_out);
                    std::vector<float> got(n * c_out), want(n * c_out);
                    for (const float* bp : {bias.data(), static_cast<const float*>(nullptr)}) {
                        k::linear_forward(got.data(), inp.data(), w.data(), bp, n, c_in, c_out);
                        k::linear_forward_ref<float>(want.data(), inp.data(), w.data(), bp, n, c_in,
                                                     c_out);
                        EXPECT_LE(rel_diff(got, want), kReduce) << "linear_forward";
                    }
                    const auto dout = rng.vec<float>(n * c_out);
                    auto di_got = rng.vec<float>(n * c_in), dw_got = rng.vec<float>(c_out * c_in),
                         db_got = rng.vec<float>(c_out);
                    auto di_want = di_got, dw_want = dw_got, db_want = db_got;
                    k::linear_backward(di_got.data(), dw_got.data(), db_got.data(), dout.data(),
                                       inp.data(), w.data(), n, c_in, c_out);
                    k::linear_backward_ref<float>(di_want.data(), dw_want.data(), db_want.data(),
                                                  dout.data(), inp.data(), w.data(), n, c_in,
                                                  c_out);
                    EXPECT_LE(rel_diff(di_got, di_want), kReduce) << "linear_backward dinp";
                    EXPECT_LE(rel_diff(dw_got, dw_want), kReduce) << "linear_backward dweight";
                    EXPECT_LE(rel_diff(db_got, db_want), kReduce) << "linear_backward dbias";
                    // Null gradients are skipped, the others still accumulate.
                    const auto dw_before = dw_got;
                    k::linear_backward(di_got.data(), nullptr, nullptr, dout.data(), inp.data(),
                                       w.data(), n, c_in, c_out);
                    k::linear_backward_ref<float>(di_want.data(), nullptr, nullptr, dout.data(),
                                                  inp.data(), w.data(), n, c_in, c_out);
                    EXPECT_LE(rel_diff(di_got, di_want), kReduce) << "linear_backward dinp only";
                    EXPECT_EQ(dw_got, dw_before);
                }
            }
        }
    });
}

TEST(KernelDispatch, Embedding) {
    Rng rng(105);
    for_each_isa([&] {
        for (int64_t n : {1, 5, 40}) {
            for (int64_t h : kCols) {
                SCOPED_TRACE("n=" + std::to_string(n) + " h=" + std::to_string(h));
                const int32_t vocab = 11, max_pos = 9, types = 2;
                const auto ids = rng.ids(n, vocab), pos_ids = rng.ids(n, max_pos),
                           type_ids = rng.ids(n, types);
                const auto word = rng.vec<float>(vocab * h), pos = rng.vec<float>(max_pos * h),
                           type = rng.vec<float>(types * h);
                std::vector<float> got(n * h), want(n * h);
                for (bool with_type : {true, false}) {
                    const float* tp = with_type ? type.data() : nullptr;
                    const int32_t* tid = with_type ? type_ids.data() : nullptr;
                    k::embedding_forward(got.data(), ids.data(), pos_ids.data(), tid, word.data(),
                                         pos.data(), tp, n, h);
                    k::embedding_forward_ref<float>(want.data(), ids.data(), pos_ids.data(), tid,
                                                    word.data(), pos.data(), tp, n, h);
                    EXPECT_LE(rel_diff(got, want), kRound) << "embedding_forward";
                }
                const auto dout = rng.vec<float>(n * h);
                auto dw_got = rng.vec<float>(vocab * h), dp_got = rng.vec<float>(max_pos * h),
                     dt_got = rng.vec<float>(types * h);
                auto dw_want = dw_got, dp_want = dp_got, dt_want = dt_got;
                k::embedding_backward(dw_got.data(), dp_got.data(), dt_got.data(), dout.data(),
                                      ids.data(), pos_ids.data(), type_ids.data(), n, h);
                k::embedding_backward_ref<float>(dw_want.data(), dp_want.data(), dt_want.data(),
                                                 dout.data(), ids.data(), pos_ids.data(),
                                                 type_ids.data(), n, h);
                // Scatter-adds in row order round identically in any variant that keeps the order.
                EXPECT_LE(rel_diff(dw_got, dw_want), kRound) << "embedding_backward dword";
                EXPECT_LE(rel_diff(dp_got, dp_want), kRound) << "embedding_backward dpos";
                EXPECT_LE(rel_diff(dt_got, dt_want), kRound) << "embedding_backward dtype";
            }
        }
    });
}

TEST(KernelDispatch, Losses) {
    Rng rng(106);
    for_each_isa([&] {
        for (int64_t b : kRows) {
            for (int64_t c : kCols) {
                SCOPED_TRACE(shape_tag(b, c));
                const auto logits = rng.vec<float>(b * c, -6.0, 6.0);
                const auto labels = rng.ids(b, int32_t(c));
                std::vector<float> l_got(b), l_want(b), p_got(b * c), p_want(b * c);
                k::cross_entropy_forward(l_got.data(), p_got.data(), logits.data(), labels.data(),
                                         b, c);
                k::cross_entropy_forward_ref<float>(l_want.data(), p_want.data(), logits.data(),
                                                    labels.data(), b, c);
                EXPECT_LE(rel_diff(l_got, l_want), kReduce) << "cross_entropy_forward losses";
                EXPECT_LE(rel_diff(p_got, p_want), kReduce) << "cross_entropy_forward probs";

                const auto dl = rng.vec<float>(b);
                auto dgot = rng.vec<float>(b * c);
                auto dwant = dgot;
                k::cross_entropy_backward(dgot.data(), dl.data(), p_want.data(), labels.data(), b,
                                          c);
                k::cross_entropy_backward_ref<float>(dwant.data(), dl.data(), p_want.data(),
                                                     labels.data(), b, c);
                EXPECT_LE(rel_diff(dgot, dwant), kRound) << "cross_entropy_backward";
            }
        }
        for (int64_t b : {1, 7, 17, 33, 100}) {
            SCOPED_TRACE("b=" + std::to_string(b));
            const auto preds = rng.vec<float>(b), targets = rng.vec<float>(b),
                       dl = rng.vec<float>(b);
            std::vector<float> got(b), want(b);
            k::mse_forward(got.data(), preds.data(), targets.data(), b);
            k::mse_forward_ref<float>(want.data(), preds.data(), targets.data(), b);
            EXPECT_LE(rel_diff(got, want), kRound) << "mse_forward";
            auto dgot = rng.vec<float>(b);
            auto dwant = dgot;
            k::mse_backward(dgot.data(), dl.data(), preds.data(), targets.data(), b);
            k::mse_backward_ref<float>(dwant.data(), dl.data(), preds.data(), targets.data(), b);
            EXPECT_LE(rel_diff(dgot, dwant), kRound) << "mse_backward";
        }
    });
}

TEST(KernelDispatch, Gemm) {
    Rng rng(107);
    for_each_isa([&] {
        for (int64_t m : {1, 7, 33}) {
            for (int64_t n : {1, 17, 64}) {
                for (int64_t kk : {1, 8, 100}) {
                    for (int t = 0; t < 4; ++t) {
                        const bool ta = t & 1, tb = t & 2;
                        SCOPED_TRACE("m=" + std::to_string(m) + " n=" + std::to_string(n) +
                                     " k=" + std::to_string(kk) + " ta=" + std::to_string(ta) +
                                     " tb=" + std::to_string(tb));
                        const int64_t lda = (ta ? m : kk), ldb = (tb ? kk : n), ldc = n;
                        const auto a = rng.vec<float>((ta ? kk : m) * lda);
                        const auto b = rng.vec<float>((tb ? n : kk) * ldb);
                        auto got = rng.vec<float>(m * ldc);
                        auto want = got;
                        k::gemm(ta, tb, m, n, kk, 0.75f, a.data(), lda, b.data(), ldb, 1.0f,
                                got.data(), ldc);
                        k::gemm_ref<float>(ta, tb, m, n, kk, 0.75f, a.data(), lda, b.data(), ldb,
                                           1.0f, want.data(), ldc);
                        EXPECT_LE(rel_diff(got, want), kReduce) << "gemm";
                    }
                }
            }
        }
    });
}

// ---- attention ---------------------------------------------------------------------------------

struct AttnSetup {
    std::vector<k::SeqSpan> seqs;
    k::AttentionShape shape{};
    int64_t rows = 0, c = 0, probs_size = 0, scratch_size = 0;
    std::vector<float> qkv, dout;
};

// Random sequences packed as BERT's fused QKV output [rows, 3C + 3] and dout [rows, C + 5].
AttnSetup make_attention(Rng& rng, int64_t num_heads, int64_t head_dim, int64_t num_seqs) {
    AttnSetup s;
    for (int64_t i = 0; i < num_seqs; ++i) {
        const int64_t len = rng.index(1, 20);
        const int64_t keys = rng.index(1, len);
        s.seqs.push_back({s.rows, len, keys, 0});
        s.rows += len;
    }
    s.c = num_heads * head_dim;
    s.shape.num_heads = num_heads;
    s.shape.head_dim = head_dim;
    s.shape.ld_q = s.shape.ld_k = s.shape.ld_v = 3 * s.c + 3;
    s.shape.ld_out = s.c + 5;
    s.probs_size = k::attention_assign_probs_offsets(s.seqs.data(), num_seqs, num_heads);
    s.scratch_size = k::attention_scratch_size(s.seqs.data(), num_seqs);
    s.qkv = rng.vec<float>(s.rows * s.shape.ld_q, -2.0, 2.0);
    s.dout = rng.vec<float>(s.rows * s.shape.ld_out);
    return s;
}

// Sequences of the given (len, keys), packed as make_attention does.
AttnSetup make_attention_lens(Rng& rng, int64_t num_heads, int64_t head_dim,
                              const std::vector<std::pair<int64_t, int64_t>>& lens) {
    AttnSetup s;
    for (const auto& [len, keys] : lens) {
        s.seqs.push_back({s.rows, len, keys, 0});
        s.rows += len;
    }
    s.c = num_heads * head_dim;
    s.shape.num_heads = num_heads;
    s.shape.head_dim = head_dim;
    s.shape.ld_q = s.shape.ld_k = s.shape.ld_v = 3 * s.c + 3;
    s.shape.ld_out = s.c + 5;
    s.probs_size =
        k::attention_assign_probs_offsets(s.seqs.data(), int64_t(s.seqs.size()), num_heads);
    s.scratch_size = k::attention_scratch_size(s.seqs.data(), int64_t(s.seqs.size()));
    s.qkv = rng.vec<float>(s.rows * s.shape.ld_q, -2.0, 2.0);
    s.dout = rng.vec<float>(s.rows * s.shape.ld_out);
    return s;
}

// The fused variants tile keys by 16..64 and rows by 4, transpose K / V through 8x8 or 16x16
// register blocks, and keep Kᵀ / Vᵀ tiles of up to 128 columns (head_dim) on the stack:
// sequences crossing those tiles, padded (keys < len) or not, and heads at and beyond that width
// (129 takes the gemm path); forward and backward.
TEST(KernelDispatch, AttentionLongSequences) {
    Rng rng(109);
    const std::vector<std::pair<int64_t, int64_t>> lens = {
        {150, 150}, {67, 40}, {64, 64}, {33, 17}, {1, 1}, {130, 129}, {5, 2}};
    for_each_isa([&] {
        for (int64_t head_dim : {16, 40, 64, 80, 128, 129}) {
            SCOPED_TRACE("head_dim=" + std::to_string(head_dim));
            AttnSetup s = make_attention_lens(rng, 2, head_dim, lens);
            const int64_t items = int64_t(s.seqs.size()) * 2;
            const float* q = s.qkv.data();
            const float* kp = q + s.c;
            const float* v = q + 2 * s.c;
            std::vector<float> scratch(s.scratch_size), scratch_ref(s.scratch_size);
            std::vector<float> out(s.rows * s.shape.ld_out, 7.0f), out_ref = out;
            std::vector<float> probs(s.probs_size), probs_ref(s.probs_size);
            k::attention_forward(out.data(), probs.data(), q, kp, v, s.seqs.data(), s.shape, 0,
                                 items, scratch.data());
            k::attention_forward_ref<float>(out_ref.data(), probs_ref.data(), q, kp, v,
                                            s.seqs.data(), s.shape, 0, items, scratch_ref.data());
            EXPECT_LE(rel_diff(out, out_ref), kReduce) << "attention_forward out";
            EXPECT_LE(rel_diff(probs, probs_ref), kReduce) << "attention_forward probs";
            for (int64_t i = 0; i < s.rows; ++i) {
                for (int64_t j = s.c; j < s.shape.ld_out; ++j) {
                    ASSERT_EQ(out[i * s.shape.ld_out + j], 7.0f) << "pad column written";
                }
            }
            std::vector<float> out_inf(out.size(), 7.0f);
            k::attention_forward(out_inf.data(), nullptr, q, kp, v, s.seqs.data(), s.shape, 0,
                                 items, scratch.data());
            EXPECT_LE(rel_diff(out_inf, out), kRound) << "attention_forward inference";
            // One item at a time, prefetching another (or none): the same output.
            std::vector<float> out_items(out.size(), 7.0f);
            for (int64_t item = items - 1; item >= 0; --item) {
                const int64_t next = item % 3 == 0 ? -1 : (item + 1) % items;
                k::attention_inference_item(out_items.data(), q, kp, v, s.seqs.data(), s.shape,
                                            item, next, scratch.data());
            }
            EXPECT_LE(rel_diff(out_items, out_inf), 0.0) << "attention_inference_item";

            std::vector<float> dqkv = rng.vec<float>(s.qkv.size());
            std::vector<float> dqkv_ref = dqkv;
            k::attention_backward(dqkv.data(), dqkv.data() + s.c, dqkv.data() + 2 * s.c,
                                  s.dout.data(), q, kp, v, probs_ref.data(), s.seqs.data(), s.shape,
                                  0, items, scratch.data());
            k::attention_backward_ref<float>(
                dqkv_ref.data(), dqkv_ref.data() + s.c, dqkv_ref.data() + 2 * s.c, s.dout.data(), q,
                kp, v, probs_ref.data(), s.seqs.data(), s.shape, 0, items, scratch_ref.data());
            EXPECT_LE(rel_diff(dqkv, dqkv_ref), kReduce) << "attention_backward";
        }
    });
}

TEST(KernelDispatch, Attention) {
    Rng rng(108);
    for_each_isa([&] {
        for (int64_t num_heads : {1, 2, 3}) {
            for (int64_t head_dim : {1, 7, 16, 17, 33, 64}) {
                SCOPED_TRACE("heads=" + std::to_string(num_heads) +
                             " head_dim=" + std::to_string(head_dim));
                AttnSetup s = make_attention(rng, num_heads, head_dim, 3);
                const int64_t items = int64_t(s.seqs.size()) * num_heads;
                const float* q = s.qkv.data();
                const float* kp = q + s.c;
                const float* v = q + 2 * s.c;
                std::vector<float> scratch(s.scratch_size), scratch_ref(s.scratch_size);
                // Pad columns of out must stay as they were: fill with a sentinel.
                std::vector<float> out(s.rows * s.shape.ld_out, 7.0f), out_ref = out;
                std::vector<float> probs(s.probs_size), probs_ref(s.probs_size);
                k::attention_forward(out.data(), probs.data(), q, kp, v, s.seqs.data(), s.shape, 0,
                                     items, scratch.data());
                k::attention_forward_ref<float>(out_ref.data(), probs_ref.data(), q, kp, v,
                                                s.seqs.data(), s.shape, 0, items,
                                                scratch_ref.data());
                EXPECT_LE(rel_diff(out, out_ref), kReduce) << "attention_forward out";
                EXPECT_LE(rel_diff(probs, probs_ref), kReduce) << "attention_forward probs";
                for (int64_t i = 0; i < s.rows; ++i) {
                    for (int64_t j = s.c; j < s.shape.ld_out; ++j) {
                        ASSERT_EQ(out[i * s.shape.ld_out + j], 7.0f) << "pad column written";
                    }
                }

                // Inference (probs null) and items split in two calls give the same output.
                std::vector<float> out_inf(out.size(), 7.0f);
                const int64_t mid = items / 2;
                k::attention_forward(out_inf.data(), nullptr, q, kp, v, s.seqs.data(), s.shape, 0,
                                     mid, scratch.data());
                k::attention_forward(out_inf.data(), nullptr, q, kp, v, s.seqs.data(), s.shape, mid,
                                     items, scratch.data());
                EXPECT_LE(rel_diff(out_inf, out), kRound) << "attention_forward split/inference";

                std::vector<float> dqkv = rng.vec<float>(s.qkv.size());
                std::vector<float> dqkv_ref = dqkv;
                k::attention_backward(dqkv.data(), dqkv.data() + s.c, dqkv.data() + 2 * s.c,
                                      s.dout.data(), q, kp, v, probs_ref.data(), s.seqs.data(),
                                      s.shape, 0, items, scratch.data());
                k::attention_backward_ref<float>(dqkv_ref.data(), dqkv_ref.data() + s.c,
                                                 dqkv_ref.data() + 2 * s.c, s.dout.data(), q, kp, v,
                                                 probs_ref.data(), s.seqs.data(), s.shape, 0, items,
                                                 scratch_ref.data());
                EXPECT_LE(rel_diff(dqkv, dqkv_ref), kReduce) << "attention_backward";
            }
        }
    });
}

}  // namespace
}  // namespace fwsvd::testing
