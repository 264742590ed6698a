#include "compressor/low_rank.h"

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace fwsvd {
namespace {

using MatrixRowF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixRowD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

std::vector<double> normalized_weights(std::vector<double> w, const char* what, bool* all_zero) {
    double w_max = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        const double x = w[i];
        if (!std::isfinite(x) || x < 0) {
            throw Error(str_cat(what, " weight ", x, " at [", i, "] is negative or not finite"));
        }
        w_max = std::max(w_max, x);
    }
    if (all_zero) *all_zero = w_max == 0;
    if (w_max == 0) {
        std::fill(w.begin(), w.end(), 1.0);
        return w;
    }
    for (double& x : w) x = std::max(x / w_max, kFisherWeightFloor);
    return w;
}

std::vector<double> fisher_output_weights(const float* fisher, int64_t out, int64_t in,
                                          bool* all_zero) {
    std::vector<double> d(size_t(out), 0.0);  // [out]
    for (int64_t o = 0; o < out; ++o) {
        const float* row = fisher + o * in;
        double s = 0;
        for (int64_t i = 0; i < in; ++i) {
            const float f = row[i];
            if (!std::isfinite(f) || f < 0) {
                throw Error(str_cat("Fisher value ", f, " at [", o, ", ", i,
                                    "] is negative or not finite"));
            }
            s += double(f);
        }
        d[size_t(o)] = std::sqrt(s);
    }
    return normalized_weights(std::move(d), "Fisher output", all_zero);
}

std::vector<double> fisher_input_weights(const float* fisher, int64_t out, int64_t in,
                                         bool* all_zero) {
    std::vector<double> w(size_t(in), 0.0);  // [in]
    for (int64_t o = 0; o < out; ++o) {
        const float* row = fisher + o * in;
        for (int64_t i = 0; i < in; ++i) {
            const float f = row[i];
            if (!std::isfinite(f) || f < 0) {
                throw Error(str_cat("Fisher value ", f, " at [", o, ", ", i,
                                    "] is negative or not finite"));
            }
            w[size_t(i)] += double(f);
        }
    }
    double w_max = 0;
    for (double& x : w) {
        x = std::sqrt(x);
        w_max = std::max(w_max, x);
    }
    if (all_zero) *all_zero = w_max == 0;
    if (w_max == 0) {
        std::fill(w.begin(), w.end(), 1.0);
        return w;
    }
    for (double& x : w) x = std::max(x / w_max, kFisherWeightFloor);
    return w;
}

LowRankFactorsF64 factorize_linear_f64(const double* weight, int64_t out, int64_t in, int64_t rank,
                                       const double* input_weights) {
    FWSVD_CHECK(out > 0 && in > 0, "factorize_linear: empty matrix [", out, ", ", in, "]");
    FWSVD_CHECK(rank >= 1 && rank <= std::min(out, in), "factorize_linear: rank ", rank,
                " outside [1, ", std::min(out, in), "] for a [", out, ", ", in, "] matrix");
    // M = W·diag(w) [out, in] (column-major for the SVD).
    Eigen::MatrixXd m = Eigen::Map<const MatrixRowD>(weight, out, in);
    Eigen::Map<const Eigen::VectorXd> w(input_weights, input_weights ? in : 0);
    if (input_weights) m = m * w.asDiagonal();

    Eigen::BDCSVD<Eigen::MatrixXd> svd(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
    FWSVD_CHECK(svd.info() == Eigen::Success, "factorize_linear: the SVD of a [", out, ", ", in,
                "] matrix did not converge");
    const Eigen::MatrixXd& u = svd.matrixU();         // [out, k]
    const Eigen::MatrixXd& v = svd.matrixV();         // [in, k]
    const Eigen::VectorXd& s = svd.singularValues();  // [k], descending

    LowRankFactorsF64 f;
    f.out = out;
    f.in = in;
    f.rank = rank;
    f.a.resize(size_t(rank * in));
    f.b.resize(size_t(out * rank));
    // A = V_rᵀ diag(w)⁻¹ [r, in]; B = U_r S_r [out, r].
    Eigen::Map<MatrixRowD> a(f.a.data(), rank, in);
    a = v.leftCols(rank).transpose();
    if (input_weights) a = a * w.cwiseInverse().asDiagonal();
    Eigen::Map<MatrixRowD>(f.b.data(), out, rank) = u.leftCols(rank) * s.head(rank).asDiagonal();
    f.singular_values.assign(s.data(), s.data() + s.size());
    for (double x : f.a) FWSVD_CHECK(std::isfinite(x), "factorize_linear: non-finite factor A");
    for (double x : f.b) FWSVD_CHECK(std::isfinite(x), "factorize_linear: non-finite factor B");
    return f;
}

LowRankFactorsF64 factorize_two_sided_f64(const double* weight, int64_t out, int64_t in,
                                          int64_t rank, const double* row_weights,
                                          const double* input_weights, const double* right) {
    FWSVD_CHECK(out > 0 && in > 0, "factorize: empty matrix [", out, ", ", in, "]");
    FWSVD_CHECK(rank >= 1 && rank <= std::min(out, in), "factorize: rank ", rank, " outside [1, ",
                std::min(out, in), "] for a [", out, ", ", in, "] matrix");
    FWSVD_CHECK(!(input_weights && right), "internal: give input_weights or right, not both");
    // D_o W [out, in].
    Eigen::MatrixXd dw = Eigen::Map<const MatrixRowD>(weight, out, in);
    if (row_weights) dw = Eigen::Map<const Eigen::VectorXd>(row_weights, out).asDiagonal() * dw;
    // M = D_o W R.
    Eigen::MatrixXd m;
    if (input_weights) {
        m = dw * Eigen::Map<const Eigen::VectorXd>(input_weights, in).asDiagonal();
    } else if (right) {
        m = dw * Eigen::Map<const MatrixRowD>(right, in, in);
    } else {
        m = dw;
    }
    Eigen::BDCSVD<Eigen::MatrixXd> svd(m, Eigen::ComputeThinU);
    FWSVD_CHECK(svd.info() == Eigen::Success, "factorize: the SVD of a [", out, ", ", in,
                "] matrix did not converge");
    const Eigen::MatrixXd& u = svd.matrixU();         // [out, k]
    const Eigen::VectorXd& s = svd.singularValues();  // [k], descending
    for (Eigen::Index i = 0; i < s.size(); ++i) {
        FWSVD_CHECK(std::isfinite(s[i]), "factorize: non-finite singular value");
    }

    LowRankFactorsF64 f;
    f.out = out;
    f.in = in;
    f.rank = rank;
    f.singular_values.assign(s.data(), s.data() + s.size());
    // Components with σ_i <= 1e-13 σ_1 contribute nothing to M and would divide by ~0: zero.
    const double cut = s.size() > 0 ? 1e-13 * s[0] : 0.0;
    Eigen::VectorXd sr = s.head(rank);
    Eigen::VectorXd inv(rank);
    for (int64_t i = 0; i < rank; ++i) {
        const bool keep = sr[i] > cut && sr[i] > 0;
        inv[i] = keep ? 1.0 / sr[i] : 0.0;
        if (!keep) sr[i] = 0.0;
    }
    f.a.resize(size_t(rank * in));
    f.b.resize(size_t(out * rank));
    Eigen::Map<MatrixRowD> a(f.a.data(), rank, in);
    a = inv.asDiagonal() * (u.leftCols(rank).transpose() * dw);
    Eigen::Map<MatrixRowD> b(f.b.data(), out, rank);
    b = u.leftCols(rank) * sr.asDiagonal();
    if (row_weights) {
        b = Eigen::Map<const Eigen::VectorXd>(row_weights, out).cwiseInverse().asDiagonal() * b;
    }
    for (double x : f.a) FWSVD_CHECK(std::isfinite(x), "factorize: non-finite factor A");
    for (double x : f.b) FWSVD_CHECK(std::isfinite(x), "factorize: non-finite factor B");
    return f;
}

LowRankFactorsF64 truncate_factors(const LowRankFactorsF64& f, int64_t rank) {
    FWSVD_CHECK(rank >= 1 && rank <= f.rank, "truncate_factors: rank ", rank, " outside [1, ",
                f.rank, "]");
    LowRankFactorsF64 t;
    t.out = f.out;
    t.in = f.in;
    t.rank = rank;
    t.singular_values = f.singular_values;
    t.a.assign(f.a.begin(), f.a.begin() + rank * f.in);  // the first rows of A [r, in]
    t.b.resize(size_t(f.out * rank));
    for (int64_t o = 0; o < f.out; ++o) {
        for (int64_t k = 0; k < rank; ++k) t.b[size_t(o * rank + k)] = f.b[size_t(o * f.rank + k)];
    }
    return t;
}

std::vector<double> fisher_truncation_errors(const float* weight, const float* fisher,
                                             const LowRankFactorsF64& f, int64_t step) {
    FWSVD_CHECK(step >= 1, "internal: truncation step ", step);
    Eigen::MatrixXd resid = Eigen::Map<const MatrixRowF>(weight, f.out, f.in).cast<double>();
    const Eigen::MatrixXd fm = Eigen::Map<const MatrixRowF>(fisher, f.out, f.in).cast<double>();
    Eigen::Map<const MatrixRowD> a(f.a.data(), f.rank, f.in);
    Eigen::Map<const MatrixRowD> b(f.b.data(), f.out, f.rank);
    std::vector<double> s;
    for (int64_t r0 = 0; r0 + step <= f.rank; r0 += step) {
        resid.noalias() -= b.middleCols(r0, step) * a.middleRows(r0, step);
        s.push_back(fm.cwiseProduct(resid.cwiseAbs2()).sum());
    }
    return s;
}

LowRankFactors factorize_linear(const float* weight, int64_t out, int64_t in, int64_t rank,
                                const double* input_weights) {
    FWSVD_CHECK(out > 0 && in > 0, "factorize_linear: empty matrix [", out, ", ", in, "]");
    std::vector<double> w64(weight, weight + out * in);
    return round_factors(factorize_linear_f64(w64.data(), out, in, rank, input_weights));
}

LowRankFactors round_factors(LowRankFactorsF64 d) {
    LowRankFactors f;
    f.out = d.out;
    f.in = d.in;
    f.rank = d.rank;
    f.a.assign(d.a.begin(), d.a.end());
    f.b.assign(d.b.begin(), d.b.end());
    f.singular_values = std::move(d.singular_values);
    for (float x : f.a) FWSVD_CHECK(std::isfinite(x), "factorize_linear: factor A overflows float");
    for (float x : f.b) FWSVD_CHECK(std::isfinite(x), "factorize_linear: factor B overflows float");
    return f;
}

ReconstructionError reconstruction_error(const float* weight, const LowRankFactors& factors,
                                         const float* fisher) {
    const int64_t out = factors.out, in = factors.in, r = factors.rank;
    Eigen::MatrixXd w = Eigen::Map<const MatrixRowF>(weight, out, in).cast<double>();
    Eigen::MatrixXd a = Eigen::Map<const MatrixRowF>(factors.a.data(), r, in).cast<double>();
    Eigen::MatrixXd b = Eigen::Map<const MatrixRowF>(factors.b.data(), out, r).cast<double>();
    Eigen::MatrixXd diff = w - b * a;  // [out, in]
    ReconstructionError e;
    const double wn = w.norm();
    e.plain = wn > 0 ? diff.norm() / wn : diff.norm();
    if (fisher) {
        Eigen::MatrixXd f = Eigen::Map<const MatrixRowF>(fisher, out, in).cast<double>();
        const double num = f.cwiseProduct(diff.cwiseAbs2()).sum();
        const double den = f.cwiseProduct(w.cwiseAbs2()).sum();
        e.fisher = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    }
    return e;
}

}  // namespace fwsvd
