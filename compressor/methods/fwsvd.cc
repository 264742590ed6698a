// fwsvd: Fisher-weighted SVD (Hsu et al., ICLR 2022): minimises Σ_i w_i² ‖W[:, i] − Ŵ[:, i]‖²
// with input-row weights w_i = sqrt(Σ_out F[out, i]) from the layer's empirical Fisher.
#include "compressor/method.h"

namespace fwsvd {

namespace {

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    bool all_zero = false;
    const std::vector<double> w = fisher_input_weights(in.stats.fisher, in.out, in.in, &all_zero);
    if (all_zero) out.notes.push_back("the Fisher is all zero; factored by plain SVD");
    out.factors = factorize_linear_f64(in.weight, in.out, in.in, in.rank, w.data());
    return out;
}

}  // namespace

extern const Method kFwsvdMethod;
const Method kFwsvdMethod = {
    .name = "fwsvd",
    .summary =
        "Fisher-weighted SVD: minimises sum_i w_i^2 ||W[:,i] - W_r[:,i]||^2, "
        "w_i = sqrt(sum_out F[out,i])",
    .needs = kStatFisher,
    .factorize = factorize,
    .nested = true,
    .profile = "",
    .closed_form = true,
};

}  // namespace fwsvd
