// SVD and FWSVD of single matrices (compressor/low_rank.h): the factored layer computes what the
// multiplied-out matrix computes, full rank is exact, uniform Fisher is plain SVD, FWSVD trades
// plain error for Fisher-weighted error, and zero or invalid Fisher is handled.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "compressor/low_rank.h"
#include "compressor/method.h"
#include "kernels/linear.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace fwsvd::testing {
namespace {

std::vector<float> random_matrix(int64_t rows, int64_t cols, uint32_t seed, float scale = 1.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, scale);
    std::vector<float> m(size_t(rows * cols));
    for (auto& x : m) x = dist(rng);
    return m;
}

// Ŵ = B·A [out, in] in double.
template <typename T>
std::vector<double> product(const std::vector<T>& b, const std::vector<T>& a, int64_t out,
                            int64_t in, int64_t r) {
    std::vector<double> w(size_t(out * in), 0.0);
    for (int64_t o = 0; o < out; ++o) {
        for (int64_t k = 0; k < r; ++k) {
            const double bk = double(b[size_t(o * r + k)]);
            for (int64_t i = 0; i < in; ++i)
                w[size_t(o * in + i)] += bk * double(a[size_t(k * in + i)]);
        }
    }
    return w;
}

// Row-weighted error that FWSVD minimises: Σ_i w_i² ‖W[:, i] − Ŵ[:, i]‖².
double row_weighted_error(const std::vector<float>& w, const std::vector<double>& w_hat,
                          const std::vector<double>& weights, int64_t out, int64_t in) {
    double e = 0;
    for (int64_t o = 0; o < out; ++o) {
        for (int64_t i = 0; i < in; ++i) {
            const double d = double(w[size_t(o * in + i)]) - w_hat[size_t(o * in + i)];
            e += weights[size_t(i)] * weights[size_t(i)] * d * d;
        }
    }
    return e;
}

TEST(LowRank, FactoredLayerEqualsMultipliedOutDenseLayer) {
    // Sizes that are not multiples of any vector width, and BERT-mini's shapes.
    struct Case {
        int64_t out, in, rank, n;
    };
    for (const Case& c :
         {Case{37, 53, 11, 7}, Case{256, 1024, 32, 5}, Case{1024, 256, 64, 3}, Case{9, 9, 9, 13}}) {
        std::vector<float> w = random_matrix(c.out, c.in, 1, 0.05f);
        std::vector<float> bias = random_matrix(1, c.out, 2);
        std::vector<float> x = random_matrix(c.n, c.in, 3);
        LowRankFactors f = factorize_linear(w.data(), c.out, c.in, c.rank);
        ASSERT_EQ(f.a.size(), size_t(c.rank * c.in));
        ASSERT_EQ(f.b.size(), size_t(c.out * c.rank));
        // y1 = (x Aᵀ) Bᵀ + b: two linear_forward calls, A first.
        std::vector<float> t(size_t(c.n * c.rank)), y1(size_t(c.n * c.out));
        kernels::linear_forward(t.data(), x.data(), f.a.data(), nullptr, c.n, c.in, c.rank);
        kernels::linear_forward(y1.data(), t.data(), f.b.data(), bias.data(), c.n, c.rank, c.out);
        // y2 = x Ŵᵀ + b with Ŵ = B·A multiplied out (float32, as a dense checkpoint would hold).
        std::vector<double> w_hat = product(f.b, f.a, c.out, c.in, c.rank);
        std::vector<float> w_hat_f(w_hat.begin(), w_hat.end()), y2(size_t(c.n * c.out));
        kernels::linear_forward(y2.data(), x.data(), w_hat_f.data(), bias.data(), c.n, c.in, c.out);
        EXPECT_LT(max_rel_diff(y1.data(), y2.data(), y1.size()), 1e-5)
            << c.out << "x" << c.in << " rank " << c.rank;
    }
}

TEST(LowRank, FullRankReproducesTheMatrix) {
    for (auto [out, in] : {std::pair<int64_t, int64_t>{40, 24}, {24, 40}, {33, 33}}) {
        std::vector<float> w = random_matrix(out, in, 5);
        std::vector<double> w64(w.begin(), w.end());
        const int64_t r = std::min(out, in);
        LowRankFactorsF64 f = factorize_linear_f64(w64.data(), out, in, r);
        std::vector<double> w_hat = product(f.b, f.a, out, in, r);
        EXPECT_LT(max_rel_diff(w_hat.data(), w64.data(), w64.size()), 1e-12);
        // FWSVD at full rank too, with strongly varying weights.
        std::vector<double> weights(static_cast<size_t>(in));
        for (int64_t i = 0; i < in; ++i) weights[size_t(i)] = std::pow(10.0, double(i % 5) - 2);
        LowRankFactorsF64 g = factorize_linear_f64(w64.data(), out, in, r, weights.data());
        std::vector<double> g_hat = product(g.b, g.a, out, in, r);
        EXPECT_LT(max_rel_diff(g_hat.data(), w64.data(), w64.size()), 1e-10);
        // Singular values descend.
        for (size_t k = 1; k < f.singular_values.size(); ++k) {
            EXPECT_LE(f.singular_values[k], f.singular_values[k - 1]);
        }
    }
}

TEST(LowRank, SvdMatchesEckartYoungError) {
    // The plain SVD error at rank r is sqrt(Σ_{k>r} σ_k²) / ‖W‖_F.
    const int64_t out = 30, in = 50, r = 7;
    std::vector<float> w = random_matrix(out, in, 6);
    LowRankFactors f = factorize_linear(w.data(), out, in, r);
    double tail = 0, all = 0;
    for (size_t k = 0; k < f.singular_values.size(); ++k) {
        const double s2 = f.singular_values[k] * f.singular_values[k];
        all += s2;
        if (int64_t(k) >= r) tail += s2;
    }
    ReconstructionError e = reconstruction_error(w.data(), f);
    EXPECT_NEAR(e.plain, std::sqrt(tail / all), 1e-6);
    EXPECT_EQ(e.fisher, -1);
}

TEST(LowRank, FwsvdWithUniformFisherEqualsSvd) {
    const int64_t out = 64, in = 48, r = 10;
    std::vector<float> w = random_matrix(out, in, 7);
    std::vector<double> w64(w.begin(), w.end());
    // Uniform Fisher of any scale gives uniform input weights.
    std::vector<float> fisher(size_t(out * in), 0.37f);
    bool all_zero = true;
    std::vector<double> weights = fisher_input_weights(fisher.data(), out, in, &all_zero);
    EXPECT_FALSE(all_zero);
    for (double x : weights) EXPECT_EQ(x, 1.0);  // normalised to max 1

    LowRankFactorsF64 svd = factorize_linear_f64(w64.data(), out, in, r);
    LowRankFactorsF64 fw = factorize_linear_f64(w64.data(), out, in, r, weights.data());
    std::vector<double> p_svd = product(svd.b, svd.a, out, in, r);
    std::vector<double> p_fw = product(fw.b, fw.a, out, in, r);
    EXPECT_LT(max_rel_diff(p_fw.data(), p_svd.data(), p_svd.size()), 1e-10);
    // The factors themselves agree up to the sign of each singular pair.
    for (int64_t k = 0; k < r; ++k) {
        double dot = 0;
        for (int64_t i = 0; i < in; ++i)
            dot += svd.a[size_t(k * in + i)] * fw.a[size_t(k * in + i)];
        const double sign = dot < 0 ? -1 : 1;
        for (int64_t i = 0; i < in; ++i) {
            EXPECT_NEAR(fw.a[size_t(k * in + i)], sign * svd.a[size_t(k * in + i)], 1e-10);
        }
        for (int64_t o = 0; o < out; ++o) {
            EXPECT_NEAR(fw.b[size_t(o * r + k)], sign * svd.b[size_t(o * r + k)], 1e-10);
        }
    }
}

TEST(LowRank, FwsvdTradesPlainErrorForFisherWeightedError) {
    // The theorem: FWSVD minimises Σ_i w_i² ‖W[:, i] − Ŵ[:, i]‖² over rank-r Ŵ, and SVD minimises
    // the plain error. With a Fisher that is constant along `out` (F[o, i] = f_i) the
    // Fisher-weighted error of the report is exactly that objective (up to normalisation), so
    // FWSVD has the smaller Fisher-weighted error and SVD the smaller plain error.
    for (uint32_t seed : {11u, 12u, 13u}) {
        const int64_t out = 48, in = 64, r = 8;
        std::vector<float> w = random_matrix(out, in, seed);
        std::mt19937 rng(seed + 100);
        std::uniform_real_distribution<double> log_f(-3, 1);  // f_i in [1e-3, 10]
        std::vector<float> f_in(static_cast<size_t>(in));
        for (auto& x : f_in) x = float(std::pow(10.0, log_f(rng)));
        std::vector<float> fisher(size_t(out * in));
        for (int64_t o = 0; o < out; ++o) {
            for (int64_t i = 0; i < in; ++i) fisher[size_t(o * in + i)] = f_in[size_t(i)];
        }
        std::vector<double> weights = fisher_input_weights(fisher.data(), out, in);
        LowRankFactors svd = factorize_linear(w.data(), out, in, r);
        LowRankFactors fw = factorize_linear(w.data(), out, in, r, weights.data());
        ReconstructionError e_svd = reconstruction_error(w.data(), svd, fisher.data());
        ReconstructionError e_fw = reconstruction_error(w.data(), fw, fisher.data());
        EXPECT_GT(e_fw.plain, e_svd.plain) << "seed " << seed;
        EXPECT_LT(e_fw.fisher, e_svd.fisher) << "seed " << seed;
        EXPECT_LT(row_weighted_error(w, product(fw.b, fw.a, out, in, r), weights, out, in),
                  row_weighted_error(w, product(svd.b, svd.a, out, in, r), weights, out, in));
    }
}

TEST(LowRank, FwsvdIsInvariantToTheFishersScale) {
    const int64_t out = 20, in = 30, r = 5;
    std::vector<float> w = random_matrix(out, in, 21);
    std::vector<double> w64(w.begin(), w.end());
    std::vector<float> f1 = random_matrix(out, in, 22), f2(f1.size());
    for (size_t k = 0; k < f1.size(); ++k) {
        f1[k] = f1[k] * f1[k];
        f2[k] = f1[k] * 1024.f;
    }
    std::vector<double> w1 = fisher_input_weights(f1.data(), out, in);
    std::vector<double> w2 = fisher_input_weights(f2.data(), out, in);
    LowRankFactorsF64 a = factorize_linear_f64(w64.data(), out, in, r, w1.data());
    LowRankFactorsF64 b = factorize_linear_f64(w64.data(), out, in, r, w2.data());
    std::vector<double> pa = product(a.b, a.a, out, in, r), pb = product(b.b, b.a, out, in, r);
    EXPECT_LT(max_rel_diff(pa.data(), pb.data(), pa.size()), 1e-10);
}

TEST(LowRank, ZeroFisherRowsGiveFiniteFactors) {
    const int64_t out = 40, in = 36, r = 6;
    std::vector<float> w = random_matrix(out, in, 31);
    std::vector<float> fisher = random_matrix(out, in, 32);
    for (auto& x : fisher) x = x * x;
    // Input features 0, 5 and 35 (the last) have no Fisher at all.
    for (int64_t o = 0; o < out; ++o) {
        for (int64_t i : {0, 5, 35}) fisher[size_t(o * in + i)] = 0.f;
    }
    bool all_zero = true;
    std::vector<double> weights = fisher_input_weights(fisher.data(), out, in, &all_zero);
    EXPECT_FALSE(all_zero);
    double w_max = 0;
    for (double x : weights) w_max = std::max(w_max, x);
    EXPECT_EQ(w_max, 1.0);
    for (int64_t i : {0, 5, 35}) EXPECT_EQ(weights[size_t(i)], kFisherWeightFloor);

    LowRankFactors f = factorize_linear(w.data(), out, in, r, weights.data());
    for (float x : f.a) ASSERT_TRUE(std::isfinite(x));
    for (float x : f.b) ASSERT_TRUE(std::isfinite(x));
    // Every column, floored ones included, is A[:, i] = S_r⁻¹ U_rᵀ W[:, i] = S_r⁻² B_rᵀ W[:, i]
    // (from W·diag(w) = U S Vᵀ): finite, of the size of W's entries, and computed accurately
    // although the floored columns were divided by 1e-6 · max w.
    std::vector<double> w64(w.begin(), w.end());
    LowRankFactorsF64 d = factorize_linear_f64(w64.data(), out, in, r, weights.data());
    for (int64_t k = 0; k < r; ++k) {
        const double s2 = d.singular_values[size_t(k)] * d.singular_values[size_t(k)];
        for (int64_t i = 0; i < in; ++i) {
            double expect = 0;
            for (int64_t o = 0; o < out; ++o)
                expect += d.b[size_t(o * r + k)] * w64[size_t(o * in + i)];
            expect /= s2;
            EXPECT_NEAR(d.a[size_t(k * in + i)], expect, 1e-8 * (1 + std::abs(expect)))
                << "k " << k << " i " << i;
        }
    }
    ReconstructionError e = reconstruction_error(w.data(), f, fisher.data());
    EXPECT_TRUE(std::isfinite(e.plain));
    EXPECT_TRUE(std::isfinite(e.fisher));
    EXPECT_LT(e.plain, 1.0);

    // An all-zero Fisher degenerates to uniform weights, i.e. plain SVD.
    std::vector<float> zeros(size_t(out * in), 0.f);
    std::vector<double> uniform = fisher_input_weights(zeros.data(), out, in, &all_zero);
    EXPECT_TRUE(all_zero);
    for (double x : uniform) EXPECT_EQ(x, 1.0);
    LowRankFactors z = factorize_linear(w.data(), out, in, r, uniform.data());
    LowRankFactors s = factorize_linear(w.data(), out, in, r);
    EXPECT_NEAR(reconstruction_error(w.data(), z).plain, reconstruction_error(w.data(), s).plain,
                1e-6);
    // With an all-zero Fisher the weighted error is 0/0: reported as its numerator, 0.
    EXPECT_EQ(reconstruction_error(w.data(), z, zeros.data()).fisher, 0.0);
}

TEST(LowRank, InvalidInputsAreErrors) {
    const int64_t out = 4, in = 3;
    std::vector<float> w = random_matrix(out, in, 41);
    std::vector<float> fisher(size_t(out * in), 1.f);
    fisher[4] = -1.f;
    EXPECT_THROW(fisher_input_weights(fisher.data(), out, in), Error);
    fisher[4] = std::nanf("");
    EXPECT_THROW(fisher_input_weights(fisher.data(), out, in), Error);
    fisher[4] = INFINITY;
    EXPECT_THROW(fisher_input_weights(fisher.data(), out, in), Error);
    EXPECT_THROW(factorize_linear(w.data(), out, in, 0), Error);
    EXPECT_THROW(factorize_linear(w.data(), out, in, 4), Error);  // > min(out, in)
    EXPECT_NO_THROW(factorize_linear(w.data(), out, in, 3));
    EXPECT_EQ(method_named("svd").name, "svd");
    EXPECT_EQ(method_named("fwsvd").name, "fwsvd");
    EXPECT_THROW(method_named("SVD"), Error);
}

TEST(LowRank, RankDeficientMatrixFactorsFinite) {
    // W of rank 2 factored at rank 5: σ_3.. are 0; the factors stay finite and exact.
    const int64_t out = 12, in = 10, r = 5;
    std::vector<float> u = random_matrix(out, 2, 51), v = random_matrix(2, in, 52);
    std::vector<double> w = product(u, v, out, in, 2);
    std::vector<float> wf(w.begin(), w.end());
    std::vector<float> fisher = random_matrix(out, in, 53);
    for (auto& x : fisher) x = x * x;
    std::vector<double> weights = fisher_input_weights(fisher.data(), out, in);
    for (const double* wt :
         {static_cast<const double*>(nullptr), static_cast<const double*>(weights.data())}) {
        LowRankFactors f = factorize_linear(wf.data(), out, in, r, wt);
        for (float x : f.a) ASSERT_TRUE(std::isfinite(x));
        for (float x : f.b) ASSERT_TRUE(std::isfinite(x));
        EXPECT_LT(reconstruction_error(wf.data(), f).plain, 1e-6);
    }
}

}  // namespace
}  // namespace fwsvd::testing
