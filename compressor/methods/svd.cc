// svd: plain truncated SVD, the Eckart–Young optimum of ‖W − Ŵ‖_F over rank-r Ŵ.
#include "compressor/method.h"

namespace fwsvd {

namespace {

MethodOutput factorize(const MethodInput& in) {
    MethodOutput out;
    out.factors = factorize_linear_f64(in.weight, in.out, in.in, in.rank);
    return out;
}

}  // namespace

extern const Method kSvdMethod;
const Method kSvdMethod = {
    .name = "svd",
    .summary = "plain truncated SVD: minimises ||W - W_r||_F",
    .needs = 0,
    .factorize = factorize,
    .nested = true,
    .profile = "",
    .closed_form = true,
};

}  // namespace fwsvd
