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
