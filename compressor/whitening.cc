#include "compressor/whitening.h"

#include <Eigen/Dense>
#include <cmath>

#include "runtime/error.h"

namespace fwsvd {
namespace {

using MatrixRowD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// (C + Cᵀ) / 2 + δ I, checked.
Eigen::MatrixXd loaded(const double* cov, int64_t in, double delta) {
    Eigen::Map<const MatrixRowD> c(cov, in, in);
    for (int64_t i = 0; i < in * in; ++i) {
        FWSVD_CHECK(std::isfinite(cov[i]), "input covariance: non-finite value at element ", i);
    }
    Eigen::MatrixXd s = 0.5 * (c + c.transpose());
    s.diagonal().array() += delta;
    return s;
}

Eigen::MatrixXd product(const LowRankFactorsF64& f) {
    Eigen::Map<const MatrixRowD> a(f.a.data(), f.rank, f.in);
    Eigen::Map<const MatrixRowD> b(f.b.data(), f.out, f.rank);
    return b * a;
}

}  // namespace

std::vector<double> damped_covariance(const double* cov, int64_t in, double delta) {
    std::vector<double> out(size_t(in * in));
    Eigen::Map<MatrixRowD>(out.data(), in, in) = loaded(cov, in, delta);
    return out;
}

CovFactor covariance_factor(const double* cov, int64_t in, double damping) {
    FWSVD_CHECK(in > 0, "input covariance: empty");
    FWSVD_CHECK(std::isfinite(damping) && damping >= 0, "--damping must be >= 0 (got ", damping,
                ")");
    double trace = 0;
    for (int64_t i = 0; i < in; ++i) {
        const double d = cov[i * in + i];
        FWSVD_CHECK(std::isfinite(d) && d >= 0, "input covariance: diagonal entry ", i, " is ", d,
                    " (a second moment E[x_i^2] cannot be negative)");
        trace += d;
    }
    CovFactor f;
    const double mean_diag = trace / double(in);
    if (mean_diag <= 0) {
        f.note = "the input covariance is zero (no input reached this layer)";
        return f;
    }
    // A floor under the loading keeps a zero damping usable on a singular C.
    double delta = std::max(damping, 1e-10) * mean_diag;
    for (int attempt = 0;; ++attempt) {
        Eigen::LLT<Eigen::MatrixXd> llt(loaded(cov, in, delta));
        if (llt.info() == Eigen::Success) {
            Eigen::MatrixXd l = llt.matrixL();
            bool finite = true;
            for (Eigen::Index i = 0; i < l.size(); ++i) finite = finite && std::isfinite(l(i));
            if (finite) {
                f.l.resize(size_t(in * in));
                Eigen::Map<MatrixRowD>(f.l.data(), in, in) = l;
                f.delta = delta;
                if (attempt > 0) {
                    f.note = str_cat(
                        "the input covariance is not positive semi-definite; "
                        "diagonal loading raised to ",
                        delta / mean_diag, " of its mean diagonal");
                }
                return f;
            }
        }
        FWSVD_CHECK(delta < mean_diag,
                    "input covariance: no positive-definite factor even with "
                    "diagonal loading of its mean diagonal");
        delta = std::min(delta * 10, mean_diag);
    }
}

void refit_b(const double* weight, const double* cov, double delta, LowRankFactorsF64& f) {
    const int64_t out = f.out, in = f.in, r = f.rank;
    const Eigen::MatrixXd c = loaded(cov, in, delta);
    Eigen::Map<const MatrixRowD> w(weight, out, in);
    Eigen::Map<const MatrixRowD> a(f.a.data(), r, in);
    const Eigen::MatrixXd ac = a * c;                // [r, in]
    const Eigen::MatrixXd g = ac * a.transpose();    // [r, r] A C Aᵀ
    const Eigen::MatrixXd rhs = ac * w.transpose();  // [r, out] (W C Aᵀ)ᵀ
    // LDLT's solve uses a pseudo-inverse of D: a zero row of A gives a zero column of B.
    const Eigen::MatrixXd bt = g.ldlt().solve(rhs);  // [r, out]
    for (Eigen::Index i = 0; i < bt.size(); ++i) {
        FWSVD_CHECK(std::isfinite(bt(i)), "refit: non-finite factor B");
    }
    Eigen::Map<MatrixRowD>(f.b.data(), out, r) = bt.transpose();
}

std::vector<double> kfac_truncation_errors(const float* weight, const float* fisher,
                                           const double* cov, double delta,
                                           const LowRankFactorsF64& f, int64_t step) {
    using MatrixRowF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    FWSVD_CHECK(step >= 1, "internal: truncation step ", step);
    const int64_t out = f.out, in = f.in;
    const Eigen::MatrixXd c = loaded(cov, in, delta);
    const double trace = c.trace();
    FWSVD_CHECK(trace > 0, "internal: zero input covariance");
    Eigen::LLT<Eigen::MatrixXd> llt(c);
    FWSVD_CHECK(llt.info() == Eigen::Success, "input covariance: not positive definite");
    const Eigen::MatrixXd l = llt.matrixL();
    Eigen::VectorXd g =
        Eigen::Map<const MatrixRowF>(fisher, out, in).cast<double>().rowwise().sum();
    g /= trace;
    // E_r = (W − B_r A_r) L, updated by the components r .. r + step of B and A L.
    Eigen::MatrixXd e = Eigen::Map<const MatrixRowF>(weight, out, in).cast<double>() * l;
    Eigen::Map<const MatrixRowD> a(f.a.data(), f.rank, in);
    Eigen::Map<const MatrixRowD> b(f.b.data(), out, f.rank);
    const Eigen::MatrixXd al = a * l;  // [rank, in]
    std::vector<double> s;
    for (int64_t r0 = 0; r0 + step <= f.rank; r0 += step) {
        e.noalias() -= b.middleCols(r0, step) * al.middleRows(r0, step);
        s.push_back(g.dot(e.rowwise().squaredNorm()));
    }
    return s;
}

double activation_error(const double* weight, const LowRankFactorsF64& f, const double* cov) {
    Eigen::Map<const MatrixRowD> w(weight, f.out, f.in);
    Eigen::Map<const MatrixRowD> c(cov, f.in, f.in);
    const Eigen::MatrixXd d = w - product(f);
    return (d * c).cwiseProduct(d).sum();
}

}  // namespace fwsvd
