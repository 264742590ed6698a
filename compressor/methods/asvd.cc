// asvd: activation-aware SVD (Yuan et al. 2023): scales the inputs by s_i = mean|x_i|^alpha over
// the calibration inputs and minimises Σ_i s_i² ‖W[:, i] − Ŵ[:, i]‖² (SVD of W diag(s)); alpha 0
// is plain SVD. The scales are normalised and floored as FWSVD's weights (low_rank.h).
#include <cmath>

#include "compressor/method.h"
#include "runtime/error.h"

namespace fwsvd {

namespace {

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    const double alpha = in.options ? in.options->alpha : 0.5;
    FWSVD_CHECK(std::isfinite(alpha) && alpha >= 0, "--alpha must be >= 0 (got ", alpha, ")");
    std::vector<double> s(in.stats.input_abs_mean, in.stats.input_abs_mean + in.in);
    for (double& x : s) x = std::pow(x, alpha);
    bool all_zero = false;
    s = normalized_weights(std::move(s), "input mean |x|", &all_zero);
    if (all_zero) out.notes.push_back("the input mean |x| is all zero; factored by plain SVD");
    out.factors =
        factorize_two_sided_f64(in.weight, in.out, in.in, in.rank, nullptr, s.data(), nullptr);
    return out;
}

}  // namespace

extern const Method kAsvdMethod;
const Method kAsvdMethod = {
    .name = "asvd",
    .summary = "activation-aware SVD: minimises ||(W - W_r) diag(mean|x|^alpha)||_F",
    .needs = kStatInputAbsMean,
    .factorize = factorize,
    .nested = true,
    .profile = "",
    .closed_form = true,
    .reads = kReadsAlpha,
};

}  // namespace fwsvd
