// fw2: two-sided Fisher weights. The Fisher F [out, in] is replaced by its best rank-1 fit in
// sums, F_oi ≈ r_o c_i / Σ F with r_o = Σ_i F[o, i] and c_i = Σ_o F[o, i], and the element-wise
// objective Σ F ⊙ (W − Ŵ)² by ‖D_r (W − Ŵ) D_c‖²_F with D_r = diag(sqrt r), D_c = diag(sqrt c)
// (each normalised and floored as FWSVD's weights, low_rank.h): one SVD of D_r W D_c. FWSVD is
// the one-sided case D_r = I.
#include "compressor/method.h"

namespace fwsvd {

namespace {

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    bool zero_rows = false, zero_cols = false;
    const std::vector<double> d = fisher_output_weights(in.stats.fisher, in.out, in.in, &zero_rows);
    const std::vector<double> w = fisher_input_weights(in.stats.fisher, in.out, in.in, &zero_cols);
    if (zero_rows || zero_cols)
        out.notes.push_back("the Fisher is all zero; factored by plain SVD");
    out.factors =
        factorize_two_sided_f64(in.weight, in.out, in.in, in.rank, d.data(), w.data(), nullptr);
    return out;
}

}  // namespace

extern const Method kFw2Method;
const Method kFw2Method = {
    .name = "fw2",
    .summary =
        "two-sided Fisher weights: minimises ||diag(sqrt(row sums of F)) (W - W_r) "
        "diag(sqrt(column sums of F))||_F",
    .needs = kStatFisher,
    .factorize = factorize,
    .nested = true,
    .profile = "",
    .closed_form = true,
};

}  // namespace fwsvd
