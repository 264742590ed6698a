// fisher-whiten: whiten with the rows (outputs) of W weighted by d_o = sqrt(Σ_in F[o, in]), the
// square root of the row-summed Fisher: minimises ‖D (W − Ŵ) Xᵀ‖_F, D = diag(d), over the
// calibration inputs X (SVD of D W L; compressor/whitening.h, low_rank.h). The outputs whose
// errors the loss feels more count more; the inputs are weighted by what they really carry.
#include "compressor/method.h"
#include "compressor/whitening.h"

namespace fwsvd {

namespace {

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    bool all_zero = false;
    const std::vector<double> d = fisher_output_weights(in.stats.fisher, in.out, in.in, &all_zero);
    if (all_zero) out.notes.push_back("the Fisher is all zero; outputs weighted uniformly");
    const CovFactor l = covariance_factor(in.stats.input_cov, in.in,
                                          in.options ? in.options->damping : kCovDamping);
    if (!l.note.empty()) out.notes.push_back(l.note);
    if (l.l.empty()) out.notes.push_back("inputs weighted uniformly");
    out.factors = factorize_two_sided_f64(in.weight, in.out, in.in, in.rank, d.data(), nullptr,
                                          l.l.empty() ? nullptr : l.l.data());
    return out;
}

}  // namespace

extern const Method kFisherWhitenMethod;
const Method kFisherWhitenMethod = {
    .name = "fisher-whiten",
    .summary =
        "whiten with output rows weighted by sqrt(row-summed Fisher): minimises "
        "||D (W - W_r) X^T||_F",
    .needs = kStatFisher | kStatInputCov,
    .factorize = factorize,
    .nested = true,
    .profile = "",
    .closed_form = true,
    .reads = kReadsDamping,
};

}  // namespace fwsvd
