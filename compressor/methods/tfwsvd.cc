// tfwsvd: the element-wise Fisher-weighted objective itself, Σ_oi Ω_oi (W − Ŵ)²_oi with
// Ω = F / mean(F) + kOmegaFloor (the full Fisher, not its row or column sums), solved by
// alternating least squares (compressor/weighted_als.h, --iters iterations) started from the best
// of the closed forms svd, fwsvd and fw2 on that objective. The floor gives every element a
// weight, so every normal equation is positive definite, and adds a trace of ‖W − Ŵ‖² to the
// objective; it changes the solution negligibly.
#include <algorithm>
#include <cmath>

#include "compressor/method.h"
#include "compressor/weighted_als.h"
#include "runtime/error.h"

namespace fwsvd {

namespace {

constexpr double kOmegaFloor = 1e-6;

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    const int64_t n = in.out * in.in;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float f = in.stats.fisher[i];
        FWSVD_CHECK(std::isfinite(f) && f >= 0, "Fisher value ", f, " at element ", i,
                    " is negative or not finite");
        sum += double(f);
    }
    std::vector<double> omega(size_t(n), 1.0);  // [out, in]
    if (sum > 0) {
        const double inv_mean = double(n) / sum;
        for (int64_t i = 0; i < n; ++i)
            omega[size_t(i)] = double(in.stats.fisher[i]) * inv_mean + kOmegaFloor;
    } else {
        out.notes.push_back("the Fisher is all zero; the objective is plain ||W - W_r||");
    }
    // The starting point: the best closed form on this objective.
    const std::vector<double> wi = fisher_input_weights(in.stats.fisher, in.out, in.in);
    const std::vector<double> wo = fisher_output_weights(in.stats.fisher, in.out, in.in);
    struct Start {
        const char* name;
        LowRankFactorsF64 f;
    };
    std::vector<Start> starts;
    starts.push_back({"svd", factorize_linear_f64(in.weight, in.out, in.in, in.rank)});
    starts.push_back({"fwsvd", factorize_linear_f64(in.weight, in.out, in.in, in.rank, wi.data())});
    starts.push_back({"fw2", factorize_two_sided_f64(in.weight, in.out, in.in, in.rank, wo.data(),
                                                     wi.data(), nullptr)});
    size_t best = 0;
    double best_j = 0;
    for (size_t s = 0; s < starts.size(); ++s) {
        const double j = weighted_objective(in.weight, omega.data(), starts[s].f);
        if (s == 0 || j < best_j) {
            best = s;
            best_j = j;
        }
    }
    const int iters = in.options ? in.options->iters : 10;
    AlsResult r = weighted_als(in.weight, omega.data(), std::move(starts[best].f), iters);
    const double j0 = r.objective.front(), j1 = r.objective.back();
    out.notes.push_back(str_cat("started from ", starts[best].name, "; ", iters,
                                " iterations reduced the weighted error by ",
                                j0 > 0 ? 100 * (j0 - j1) / j0 : 0.0, "%"));
    out.factors = std::move(r.factors);
    return out;
}

}  // namespace

extern const Method kTfwsvdMethod;
const Method kTfwsvdMethod = {
    .name = "tfwsvd",
    .summary =
        "element-wise Fisher weights: minimises sum F (W - W_r)^2 by alternating least "
        "squares (--iters), from the best of svd, fwsvd, fw2",
    .needs = kStatFisher,
    .factorize = factorize,
    .nested = false,
    .profile = "fw2",
    .closed_form = false,
    .reads = kReadsIters,
};

}  // namespace fwsvd
