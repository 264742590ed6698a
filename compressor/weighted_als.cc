#include "compressor/weighted_als.h"

#include <Eigen/Dense>
#include <cmath>

#include "runtime/error.h"

namespace fwsvd {
namespace {

using MatrixRowD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One half-step: for each row i of X [n, r], minimise Σ_j Ω[i, j] (W[i, j] − x_i · y_j)² over
// x_i with Y [m, r] fixed; W, Ω [n, m]. A row's new value is kept only if its term did not grow.
void update_rows(const Eigen::MatrixXd& w, const Eigen::MatrixXd& omega, Eigen::MatrixXd& x,
                 const Eigen::MatrixXd& y) {
    const Eigen::Index n = w.rows(), r = x.cols();
    Eigen::MatrixXd yw(y.rows(), r);  // [m, r] rows of Y scaled by Ω[i, :]
    Eigen::MatrixXd g(r, r);
    Eigen::VectorXd rhs(r);
    for (Eigen::Index i = 0; i < n; ++i) {
        const auto om = omega.row(i).transpose();  // [m]
        const auto wi = w.row(i).transpose();      // [m]
        yw = om.asDiagonal() * y;
        g.noalias() = y.transpose() * yw;
        rhs.noalias() = yw.transpose() * wi;
        const Eigen::VectorXd xi = g.ldlt().solve(rhs);
        if (!xi.allFinite()) continue;
        const double before = (om.array() * (wi - y * x.row(i).transpose()).array().square()).sum();
        const double after = (om.array() * (wi - y * xi).array().square()).sum();
        if (after <= before) x.row(i) = xi.transpose();
    }
}

}  // namespace

double weighted_objective(const double* weight, const double* omega, const LowRankFactorsF64& f) {
    Eigen::Map<const MatrixRowD> w(weight, f.out, f.in);
    Eigen::Map<const MatrixRowD> om(omega, f.out, f.in);
    Eigen::Map<const MatrixRowD> a(f.a.data(), f.rank, f.in);
    Eigen::Map<const MatrixRowD> b(f.b.data(), f.out, f.rank);
    return (om.array() * (w - b * a).array().square()).sum();
}

AlsResult weighted_als(const double* weight, const double* omega, LowRankFactorsF64 start,
                       int iters) {
    FWSVD_CHECK(iters >= 0, "--iters must be >= 0 (got ", iters, ")");
    const int64_t out = start.out, in = start.in, r = start.rank;
    for (int64_t i = 0; i < out * in; ++i) {
        FWSVD_CHECK(std::isfinite(omega[i]) && omega[i] >= 0, "element weight ", omega[i], " at ",
                    i, " is negative or not finite");
    }
    AlsResult res;
    res.objective.push_back(weighted_objective(weight, omega, start));
    const Eigen::MatrixXd w = Eigen::Map<const MatrixRowD>(weight, out, in);
    const Eigen::MatrixXd om = Eigen::Map<const MatrixRowD>(omega, out, in);
    const Eigen::MatrixXd wt = w.transpose(), omt = om.transpose();
    Eigen::MatrixXd b = Eigen::Map<const MatrixRowD>(start.b.data(), out, r);  // [out, r]
    Eigen::MatrixXd at =
        Eigen::Map<const MatrixRowD>(start.a.data(), r, in).transpose();  // [in, r]
    for (int it = 0; it < iters; ++it) {
        update_rows(w, om, b, at);
        update_rows(wt, omt, at, b);
        res.objective.push_back((om.array() * (w - b * at.transpose()).array().square()).sum());
    }
    res.factors = std::move(start);
    Eigen::Map<MatrixRowD>(res.factors.b.data(), out, r) = b;
    Eigen::Map<MatrixRowD>(res.factors.a.data(), r, in) = at.transpose();
    return res;
}

}  // namespace fwsvd
