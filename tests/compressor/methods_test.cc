// The data-aware methods (compressor/methods/) on small matrices against float64 references
// computed here independently (Eigen's JacobiSVD of the weighted matrix, pseudo-inverses): each
// reaches the optimum of its stated objective, degenerate statistics give finite factors, the
// element-wise solver never increases its objective, and the refit is the least-squares B.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "compressor/low_rank.h"
#include "compressor/method.h"
#include "compressor/weighted_als.h"
#include "compressor/whitening.h"
#include "runtime/error.h"

namespace fwsvd::testing {
namespace {

using MatrixRowD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

MatrixRowD random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> dist(0.0, 1.0);
    MatrixRowD m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = dist(rng);
    return m;
}

// Positive weights spread over two orders of magnitude.
std::vector<double> spread(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-2.0, 0.0);
    std::vector<double> w(static_cast<size_t>(n));
    for (auto& x : w) x = std::pow(10.0, u(rng));
    return w;
}

MatrixRowD product(const LowRankFactorsF64& f) {
    return Eigen::Map<const MatrixRowD>(f.b.data(), f.out, f.rank) *
           Eigen::Map<const MatrixRowD>(f.a.data(), f.rank, f.in);
}

// Σ_{i > r} σ_i² of m: the Eckart–Young optimum of ‖m − rank-r‖²_F.
double tail(const Eigen::MatrixXd& m, int64_t r) {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(m);
    const Eigen::VectorXd s = svd.singularValues();
    return s.tail(s.size() - r).squaredNorm();
}

// trunc_r(m) by JacobiSVD.
Eigen::MatrixXd truncated(const Eigen::MatrixXd& m, int64_t r) {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
    return svd.matrixU().leftCols(r) * svd.singularValues().head(r).asDiagonal() *
           svd.matrixV().leftCols(r).transpose();
}

// Calibration inputs X [n, in] with correlated columns (a random mixing of scaled sources).
MatrixRowD inputs(int64_t n, int64_t in, uint32_t seed) {
    MatrixRowD s = random_matrix(n, in, seed);
    const std::vector<double> sc = spread(in, seed + 1);
    for (int64_t j = 0; j < in; ++j) s.col(j) *= sc[size_t(j)] * 3;
    return s * random_matrix(in, in, seed + 2);
}

struct Fixture {
    int64_t out = 7, in = 9, rank = 3, n = 40;
    MatrixRowD w;                  // [out, in]
    MatrixRowD x;                  // [n, in]
    std::vector<double> cov;       // [in, in] E[x xᵀ]
    std::vector<double> abs_mean;  // [in]
    std::vector<float> fisher;     // [out, in]
    MethodOptions options;

    explicit Fixture(uint32_t seed = 1) {
        w = random_matrix(out, in, seed);
        x = inputs(n, in, seed + 10);
        set_inputs(x);
        std::mt19937 rng(seed + 20);
        std::exponential_distribution<float> e(1.f);
        fisher.resize(size_t(out * in));
        for (auto& f : fisher) f = e(rng) * e(rng);
    }
    void set_inputs(const MatrixRowD& xs) {
        x = xs;
        cov.resize(size_t(in * in));
        Eigen::Map<MatrixRowD>(cov.data(), in, in) = x.transpose() * x / double(n);
        abs_mean.assign(size_t(in), 0.0);
        for (int64_t j = 0; j < in; ++j) abs_mean[size_t(j)] = x.col(j).cwiseAbs().mean();
    }
    MethodOutput run(const std::string& method, int64_t r = 0) const {
        MethodInput mi;
        mi.weight = w.data();
        mi.out = out;
        mi.in = in;
        mi.rank = r ? r : rank;
        mi.stats.fisher = fisher.data();
        mi.stats.input_abs_mean = abs_mean.data();
        mi.stats.input_cov = cov.data();
        mi.stats.in = in;
        mi.stats.out = out;
        mi.options = &options;
        return method_named(method).factorize(mi);
    }
    // ‖D (W − Ŵ) Xᵀ‖²_F with D = diag(d) (null: identity).
    double activation_objective(const LowRankFactorsF64& f, const double* d = nullptr) const {
        Eigen::MatrixXd e = (w - product(f)) * x.transpose();
        if (d) e = Eigen::Map<const Eigen::VectorXd>(d, out).asDiagonal() * e;
        return e.squaredNorm();
    }
};

TEST(Methods, TwoSidedWithIdentityWeightsIsTheSvd) {
    Fixture fx;
    const auto ref = factorize_linear_f64(fx.w.data(), fx.out, fx.in, fx.rank);
    const auto got =
        factorize_two_sided_f64(fx.w.data(), fx.out, fx.in, fx.rank, nullptr, nullptr, nullptr);
    EXPECT_LT((product(got) - product(ref)).cwiseAbs().maxCoeff(), 1e-12);
    // The same split as the SVD: B = U_r S_r, A = V_rᵀ (up to the sign of each component).
    for (int64_t k = 0; k < fx.rank; ++k) {
        Eigen::Map<const MatrixRowD> a(got.a.data(), fx.rank, fx.in),
            ar(ref.a.data(), fx.rank, fx.in);
        EXPECT_NEAR(std::abs(a.row(k).dot(ar.row(k))), 1.0, 1e-12);
    }
}

TEST(Methods, NestedMethodsTruncateToTheirLowerRankResult) {
    Fixture fx;
    for (const std::string m : {"svd", "fwsvd", "asvd", "whiten", "fisher-whiten", "fw2"}) {
        ASSERT_TRUE(method_named(m).nested) << m;
        const auto full = fx.run(m, 6).factors;
        const auto low = fx.run(m, 2).factors;
        const auto cut = truncate_factors(full, 2);
        EXPECT_LT((product(cut) - product(low)).cwiseAbs().maxCoeff(), 1e-10) << m;
    }
}

TEST(Methods, AsvdMinimisesTheInputScaledError) {
    Fixture fx;
    fx.options.alpha = 0.5;
    const auto f = fx.run("asvd").factors;
    Eigen::VectorXd s(fx.in);
    for (int64_t j = 0; j < fx.in; ++j) s[j] = std::sqrt(fx.abs_mean[size_t(j)]);
    const double got = ((fx.w - product(f)) * s.asDiagonal()).squaredNorm();
    const double best = tail(fx.w * s.asDiagonal(), fx.rank);
    EXPECT_NEAR(got, best, 1e-10 * best);
    // Its plain error is larger than the SVD's, the scaled one smaller.
    const auto svd = fx.run("svd").factors;
    EXPECT_LT(got, ((fx.w - product(svd)) * s.asDiagonal()).squaredNorm());
    // alpha 0 is the SVD.
    fx.options.alpha = 0;
    EXPECT_LT((product(fx.run("asvd").factors) - product(svd)).cwiseAbs().maxCoeff(), 1e-10);
}

// whiten against the direct solve: among rank-r Ŵ, ‖(W − Ŵ) Xᵀ‖ is smallest at
// Ŵ = trunc_r(W Xᵀ) (Xᵀ)⁺ (X of full column rank), with value Σ_{i>r} σ_i²(W Xᵀ).
TEST(Methods, WhitenMinimisesTheActivationErrorAgainstADirectSolve) {
    Fixture fx;
    fx.options.damping = 0;  // the exact objective (loading floored at 1e-10)
    const auto f = fx.run("whiten").factors;
    const Eigen::MatrixXd xt = fx.x.transpose();  // [in, n]
    const Eigen::MatrixXd direct =
        truncated(fx.w * xt, fx.rank) * xt.completeOrthogonalDecomposition().pseudoInverse();
    const double best = tail(fx.w * xt, fx.rank);
    EXPECT_NEAR(fx.activation_objective(f), best, 1e-8 * best);
    EXPECT_LT((product(f) - direct).cwiseAbs().maxCoeff(), 1e-6 * direct.cwiseAbs().maxCoeff());
    // No other rank-r matrix does better: random perturbations of the factors all lose.
    std::mt19937 rng(3);
    std::normal_distribution<double> d(0.0, 1e-3);
    for (int t = 0; t < 20; ++t) {
        LowRankFactorsF64 p = f;
        for (auto& v : p.a) v += d(rng);
        for (auto& v : p.b) v += d(rng);
        EXPECT_GT(fx.activation_objective(p), best);
    }
    // And it beats the data-free and the diagonal methods on this objective.
    for (const std::string m : {"svd", "asvd", "fwsvd"}) {
        EXPECT_LT(fx.activation_objective(f), fx.activation_objective(fx.run(m).factors)) << m;
    }
}

// Dead inputs (a zero column of X) and duplicated inputs make E[x xᵀ] singular: the loaded
// Cholesky still factors it, the factors are finite and the objective is near the optimum.
TEST(Methods, WhitenHandlesASingularCovariance) {
    Fixture fx;
    MatrixRowD x = fx.x;
    x.col(3).setZero();
    x.col(5) = x.col(2);
    x.col(7) = 2 * x.col(2) - x.col(1);
    fx.set_inputs(x);
    const double best = tail(fx.w * x.transpose(), fx.rank);
    for (double damping : {0.0, 0.01}) {
        fx.options.damping = damping;
        for (const std::string m : {"whiten", "fisher-whiten"}) {
            const auto out = fx.run(m);
            for (double v : out.factors.a) ASSERT_TRUE(std::isfinite(v)) << m;
            for (double v : out.factors.b) ASSERT_TRUE(std::isfinite(v)) << m;
        }
        const double got = fx.activation_objective(fx.run("whiten").factors);
        // Without loading (its 1e-10 floor) the optimum; the loading trades some activation
        // error for a smaller plain error, still far below the SVD's.
        if (damping == 0) {
            EXPECT_LE(got, best * (1 + 1e-6) + 1e-12);
        }
        EXPECT_LT(got, 0.5 * fx.activation_objective(fx.run("svd").factors)) << damping;
    }
    // The dead input's column of Ŵ is W's column projected on the kept subspace: finite, and no
    // larger than W's own column.
    const MatrixRowD wh = product(fx.run("whiten").factors);
    EXPECT_LE(wh.col(3).norm(), fx.w.col(3).norm() * (1 + 1e-9));

    // A zero covariance falls back to the SVD, saying so.
    std::fill(fx.cov.begin(), fx.cov.end(), 0.0);
    const auto zero = fx.run("whiten");
    ASSERT_FALSE(zero.notes.empty());
    EXPECT_LT((product(zero.factors) - product(fx.run("svd").factors)).cwiseAbs().maxCoeff(),
              1e-12);
}

TEST(Methods, CovarianceFactorRegularisation) {
    // Slightly indefinite (eigenvalues 2.0001 and -1e-4, as rounding can leave a singular C):
    // the loading grows tenfold until it factors, and says so.
    const std::vector<double> indef = {1, 1.0001, 1.0001, 1};
    const CovFactor f = covariance_factor(indef.data(), 2, 0);
    ASSERT_EQ(f.l.size(), 4u);
    EXPECT_FALSE(f.note.empty());
    for (double v : f.l) EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(f.delta, 1e-4);  // past the negative eigenvalue
    EXPECT_LT(f.delta, 1e-2);
    // Far from any second-moment matrix (|C_01| > C_00): an error, not a factor.
    const std::vector<double> bad = {1, 3, 3, 1};
    EXPECT_THROW(covariance_factor(bad.data(), 2, 0.01), Error);
    // Positive definite: δ = damping · mean diagonal and L Lᵀ = C + δ I.
    const std::vector<double> pd = {4, 1, 1, 2};
    const CovFactor g = covariance_factor(pd.data(), 2, 0.01);
    EXPECT_TRUE(g.note.empty());
    EXPECT_DOUBLE_EQ(g.delta, 0.03);
    Eigen::Map<const MatrixRowD> l(g.l.data(), 2, 2);
    const Eigen::MatrixXd c = l * l.transpose();
    EXPECT_NEAR(c(0, 0), 4.03, 1e-12);
    EXPECT_NEAR(c(0, 1), 1.0, 1e-12);
    EXPECT_NEAR(c(1, 1), 2.03, 1e-12);
    // Bad values are errors, never NaN factors.
    const std::vector<double> nan = {1, std::nan(""), std::nan(""), 1};
    EXPECT_THROW(covariance_factor(nan.data(), 2, 0.01), Error);
    const std::vector<double> neg = {-1, 0, 0, 1};
    EXPECT_THROW(covariance_factor(neg.data(), 2, 0.01), Error);
}

TEST(Methods, FisherWhitenMinimisesTheOutputWeightedActivationError) {
    Fixture fx;
    fx.options.damping = 0;
    const auto f = fx.run("fisher-whiten").factors;
    const std::vector<double> d = fisher_output_weights(fx.fisher.data(), fx.out, fx.in);
    const Eigen::MatrixXd dwx =
        Eigen::Map<const Eigen::VectorXd>(d.data(), fx.out).asDiagonal() * fx.w * fx.x.transpose();
    const double best = tail(dwx, fx.rank);
    EXPECT_NEAR(fx.activation_objective(f, d.data()), best, 1e-8 * best);
    EXPECT_LT(fx.activation_objective(f, d.data()),
              fx.activation_objective(fx.run("whiten").factors, d.data()));
}

TEST(Methods, Fw2MinimisesTheTwoSidedFisherError) {
    Fixture fx;
    const auto f = fx.run("fw2").factors;
    const std::vector<double> d = fisher_output_weights(fx.fisher.data(), fx.out, fx.in);
    const std::vector<double> c = fisher_input_weights(fx.fisher.data(), fx.out, fx.in);
    const auto dr = Eigen::Map<const Eigen::VectorXd>(d.data(), fx.out).asDiagonal();
    const auto dc = Eigen::Map<const Eigen::VectorXd>(c.data(), fx.in).asDiagonal();
    const double best = tail(dr * fx.w * dc, fx.rank);
    EXPECT_NEAR((dr * (fx.w - product(f)) * dc).squaredNorm(), best, 1e-10 * best);
}

std::vector<double> omega_of(const std::vector<float>& fisher) {
    return std::vector<double>(fisher.begin(), fisher.end());
}

TEST(Methods, AlternatingLeastSquaresNeverIncreasesItsObjective) {
    for (uint32_t seed : {1u, 2u, 3u}) {
        Fixture fx(seed);
        const std::vector<double> om = omega_of(fx.fisher);
        for (const std::string start : {"svd", "fwsvd"}) {
            AlsResult r = weighted_als(fx.w.data(), om.data(), fx.run(start).factors, 25);
            ASSERT_EQ(r.objective.size(), 26u);
            for (size_t i = 1; i < r.objective.size(); ++i) {
                EXPECT_LE(r.objective[i], r.objective[i - 1]) << seed << " " << start << " " << i;
            }
            EXPECT_LT(r.objective.back(), 0.9 * r.objective.front()) << seed << " " << start;
            EXPECT_NEAR(weighted_objective(fx.w.data(), om.data(), r.factors), r.objective.back(),
                        1e-9 * r.objective.back());
        }
    }
    // Rows and columns with zero weight (singular normal equations) keep it monotone and finite.
    Fixture fx;
    for (int64_t i = 0; i < fx.in; ++i) fx.fisher[size_t(2 * fx.in + i)] = 0;
    for (int64_t o = 0; o < fx.out; ++o) fx.fisher[size_t(o * fx.in + 4)] = 0;
    const std::vector<double> om = omega_of(fx.fisher);
    AlsResult r = weighted_als(fx.w.data(), om.data(), fx.run("svd").factors, 10);
    for (size_t i = 1; i < r.objective.size(); ++i) EXPECT_LE(r.objective[i], r.objective[i - 1]);
    for (double v : r.factors.a) ASSERT_TRUE(std::isfinite(v));
    for (double v : r.factors.b) ASSERT_TRUE(std::isfinite(v));
}

// With a rank-1 Fisher F = r cᵀ, Σ F (W − Ŵ)² = ‖diag(√r) (W − Ŵ) diag(√c)‖², which fw2 solves
// in closed form: the iterations converge to fw2's objective and cannot go below it.
TEST(Methods, AlternatingLeastSquaresReachesTheClosedFormOnARankOneFisher) {
    Fixture fx;
    const std::vector<double> r = spread(fx.out, 5), c = spread(fx.in, 6);
    for (int64_t o = 0; o < fx.out; ++o)
        for (int64_t i = 0; i < fx.in; ++i)
            fx.fisher[size_t(o * fx.in + i)] = float(r[size_t(o)] * c[size_t(i)]);
    const std::vector<double> om = omega_of(fx.fisher);
    const double closed = weighted_objective(fx.w.data(), om.data(), fx.run("fw2").factors);
    AlsResult als = weighted_als(fx.w.data(), om.data(), fx.run("svd").factors, 300);
    EXPECT_GE(als.objective.back(), closed * (1 - 1e-6));
    EXPECT_LE(als.objective.back(), closed * (1 + 1e-3));
}

TEST(Methods, TfwsvdIsNoWorseThanItsClosedFormStarts) {
    Fixture fx;
    fx.options.iters = 5;
    const auto out = fx.run("tfwsvd");
    EXPECT_FALSE(out.notes.empty());
    // Its own objective: Ω = F / mean(F) + 1e-6.
    double mean = 0;
    for (float f : fx.fisher) mean += f;
    mean /= double(fx.fisher.size());
    std::vector<double> om(fx.fisher.size());
    for (size_t i = 0; i < om.size(); ++i) om[i] = fx.fisher[i] / mean + 1e-6;
    const double got = weighted_objective(fx.w.data(), om.data(), out.factors);
    for (const std::string m : {"svd", "fwsvd", "fw2"}) {
        EXPECT_LT(got, weighted_objective(fx.w.data(), om.data(), fx.run(m).factors)) << m;
    }
}

// The refit B solves the normal equations (W − B A) C Aᵀ = 0 with the loaded C, never worsens
// the activation error, and leaves whiten (already optimal for the same C) where it was.
TEST(Methods, RefitIsTheLeastSquaresB) {
    Fixture fx;
    const CovFactor l = covariance_factor(fx.cov.data(), fx.in, 0.01);
    const std::vector<double> c = damped_covariance(fx.cov.data(), fx.in, l.delta);
    for (const std::string m : {"svd", "fwsvd", "asvd", "whiten"}) {
        auto f = fx.run(m).factors;
        const double before = activation_error(fx.w.data(), f, c.data());
        refit_b(fx.w.data(), fx.cov.data(), l.delta, f);
        const double after = activation_error(fx.w.data(), f, c.data());
        EXPECT_LE(after, before * (1 + 1e-12)) << m;
        Eigen::Map<const MatrixRowD> cm(c.data(), fx.in, fx.in);
        Eigen::Map<const MatrixRowD> am(f.a.data(), f.rank, f.in);
        const Eigen::MatrixXd grad = (fx.w - product(f)) * cm * am.transpose();
        const Eigen::MatrixXd scale = fx.w * cm * am.transpose();
        EXPECT_LT(grad.cwiseAbs().maxCoeff(), 1e-10 * scale.cwiseAbs().maxCoeff()) << m;
        if (m == "whiten") {
            EXPECT_NEAR(after, before, 1e-9 * before);
        }
        if (m == "svd") {
            EXPECT_LT(after, 0.99 * before);
        }
    }
    // A zero row of A (a rank-deficient W) gives a zero column of B, not NaN.
    auto f = fx.run("svd").factors;
    std::fill(f.a.begin(), f.a.begin() + f.in, 0.0);
    refit_b(fx.w.data(), fx.cov.data(), l.delta, f);
    for (double v : f.b) ASSERT_TRUE(std::isfinite(v));
}

// The allocation sensitivities of nested factors against their definitions, rank by rank.
TEST(Methods, TruncationSensitivitiesMatchTheirDefinitions) {
    Fixture fx;
    const auto f = fx.run("whiten", 6).factors;
    const std::vector<float> w32(fx.w.data(), fx.w.data() + fx.w.size());
    const MatrixRowD w =
        Eigen::Map<const Eigen::Matrix<float, -1, -1, Eigen::RowMajor>>(w32.data(), fx.out, fx.in)
            .cast<double>();
    const double delta = 0.05;
    const std::vector<double> fisher_s =
        fisher_truncation_errors(w32.data(), fx.fisher.data(), f, 2);
    const std::vector<double> kfac_s =
        kfac_truncation_errors(w32.data(), fx.fisher.data(), fx.cov.data(), delta, f, 2);
    ASSERT_EQ(fisher_s.size(), 3u);
    ASSERT_EQ(kfac_s.size(), 3u);
    Eigen::MatrixXd c = Eigen::Map<const MatrixRowD>(fx.cov.data(), fx.in, fx.in);
    c.diagonal().array() += delta;
    for (int64_t k = 0; k < 3; ++k) {
        const MatrixRowD d = w - product(truncate_factors(f, 2 * (k + 1)));
        double fs = 0, ks = 0;
        const Eigen::MatrixXd dcd = d * c * d.transpose();
        for (int64_t o = 0; o < fx.out; ++o) {
            double row = 0;
            for (int64_t i = 0; i < fx.in; ++i) {
                fs += fx.fisher[size_t(o * fx.in + i)] * d(o, i) * d(o, i);
                row += fx.fisher[size_t(o * fx.in + i)];
            }
            ks += row * dcd(o, o) / c.trace();
        }
        EXPECT_NEAR(fisher_s[size_t(k)], fs, 1e-9 * fs) << k;
        EXPECT_NEAR(kfac_s[size_t(k)], ks, 1e-9 * ks) << k;
        if (k > 0) {
            EXPECT_LT(kfac_s[size_t(k)], kfac_s[size_t(k - 1)]);
        }
    }
}

TEST(Methods, RankDeficientWeightsGiveFiniteFactors) {
    Fixture fx;
    fx.w = random_matrix(fx.out, 2, 9) * random_matrix(2, fx.in, 10);  // rank 2 < rank 3
    for (const std::string m : {"asvd", "whiten", "fisher-whiten", "fw2", "tfwsvd"}) {
        const auto f = fx.run(m).factors;
        for (double v : f.a) ASSERT_TRUE(std::isfinite(v)) << m;
        for (double v : f.b) ASSERT_TRUE(std::isfinite(v)) << m;
        EXPECT_LT((product(f) - fx.w).cwiseAbs().maxCoeff(), 1e-8) << m;
    }
}

TEST(Methods, InvalidStatisticsAreErrors) {
    Fixture fx;
    fx.abs_mean[2] = -1;
    EXPECT_THROW(fx.run("asvd"), Error);
    Fixture g;
    g.fisher[3] = std::nanf("");
    for (const std::string m : {"fisher-whiten", "fw2", "tfwsvd"}) EXPECT_THROW(g.run(m), Error);
    Fixture h;
    h.cov[1] = std::nan("");
    EXPECT_THROW(h.run("whiten"), Error);
}

}  // namespace
}  // namespace fwsvd::testing
