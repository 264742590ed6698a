// whiten: truncation-aware activation whitening (SVD-LLM, Wang et al. 2024; DRONE, Chen et al.
// 2021, for BERT): minimises ‖(W − Ŵ) Xᵀ‖_F over the layer's calibration inputs X, i.e.
// ‖(W − Ŵ) L‖_F with L Lᵀ = E[x xᵀ] + δ I (Cholesky, diagonal loading: compressor/whitening.h):
// SVD of W L, Ŵ = trunc_r(W L) L⁻¹ (computed as a projection, without L⁻¹: low_rank.h).
#include "compressor/method.h"
#include "compressor/whitening.h"

namespace fwsvd {

namespace {

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    const CovFactor l = covariance_factor(in.stats.input_cov, in.in,
                                          in.options ? in.options->damping : kCovDamping);
    if (!l.note.empty()) out.notes.push_back(l.note);
    if (l.l.empty()) {
        out.notes.push_back("factored by plain SVD");
        out.factors = factorize_linear_f64(in.weight, in.out, in.in, in.rank);
        return out;
    }
    out.factors =
        factorize_two_sided_f64(in.weight, in.out, in.in, in.rank, nullptr, nullptr, l.l.data());
    return out;
}

}  // namespace

extern const Method kWhitenMethod;
const Method kWhitenMethod = {
    .name = "whiten",
    .summary =
        "activation whitening (SVD-LLM/DRONE): minimises ||(W - W_r) X^T||_F over the "
        "calibration inputs X",
    .needs = kStatInputCov,
    .factorize = factorize,
    .nested = true,
    .profile = "",
    .closed_form = true,
    .reads = kReadsDamping,
};

}  // namespace fwsvd
