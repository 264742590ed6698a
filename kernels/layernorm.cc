// LayerNorm forward/backward (torch.nn.LayerNorm numerics): the scalar twins.
#include "kernels/layernorm.h"

#include <cmath>

namespace fwsvd::kernels {

// The dispatching float entry points are defined in kernel_table.cc from kernel_list.inc.

// ---- scalar twins ------------------------------------------------------------------------------

namespace {

// Normalises one row x[c] into out[c]. Reads every x before the final pass writes out[j], and
// each write reads only x[j], so out may alias x.
template <typename T>
void layernorm_row(T* out, T* mean_out, T* rstd_out, const T* x, const T* gamma, const T* beta,
                   int64_t c, T eps) {
    double sum = 0;
    for (int64_t j = 0; j < c; ++j) sum += double(x[j]);
    const double mean = sum / double(c);
    double sq = 0;
    for (int64_t j = 0; j < c; ++j) {
        const double d = double(x[j]) - mean;
        sq += d * d;
    }
    const double var = sq / double(c);  // biased, as torch
    const double rstd = 1.0 / std::sqrt(var + double(eps));
    for (int64_t j = 0; j < c; ++j) {
        const double norm = (double(x[j]) - mean) * rstd;
        out[j] = T(norm * double(gamma[j]) + double(beta[j]));
    }
    if (mean_out) *mean_out = T(mean);
    if (rstd_out) *rstd_out = T(rstd);
}

}  // namespace

template <typename T>
void layernorm_forward_ref(T* out, T* mean, T* rstd, const T* inp, const T* gamma, const T* beta,
                           int64_t n, int64_t c, T eps) {
    if (c <= 0) return;
    for (int64_t i = 0; i < n; ++i) {
        layernorm_row<T>(out + i * c, mean ? mean + i : nullptr, rstd ? rstd + i : nullptr,
                         inp + i * c, gamma, beta, c, eps);
    }
}

template <typename T>
void layernorm_backward_ref(T* dinp, T* dgamma, T* dbeta, const T* dout, const T* inp,
                            const T* gamma, const T* mean, const T* rstd, int64_t n, int64_t c) {
    if (c <= 0) return;
    for (int64_t i = 0; i < n; ++i) {
        const T* x = inp + i * c;
        const T* dy = dout + i * c;
        const double mu = double(mean[i]);
        const double rs = double(rstd[i]);
        // dnorm = dy ⊙ gamma; dx = rstd (dnorm - mean(dnorm) - norm ⊙ mean(dnorm ⊙ norm))
        double dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int64_t j = 0; j < c; ++j) {
            const double norm = (double(x[j]) - mu) * rs;
            const double dnorm = double(dy[j]) * double(gamma[j]);
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= double(c);
        dnorm_norm_mean /= double(c);
        for (int64_t j = 0; j < c; ++j) {
            const double norm = (double(x[j]) - mu) * rs;
            if (dinp) {
                const double dnorm = double(dy[j]) * double(gamma[j]);
                const double dx = (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rs;
                dinp[i * c + j] = T(double(dinp[i * c + j]) + dx);
            }
            if (dgamma) dgamma[j] = T(double(dgamma[j]) + norm * double(dy[j]));
            if (dbeta) dbeta[j] = T(double(dbeta[j]) + double(dy[j]));
        }
    }
}

template void layernorm_forward_ref<float>(float*, float*, float*, const float*, const float*,
                                           const float*, int64_t, int64_t, float);
template void layernorm_forward_ref<double>(double*, double*, double*, const double*, const double*,
                                            const double*, int64_t, int64_t, double);
template void layernorm_backward_ref<float>(float*, float*, float*, const float*, const float*,
                                            const float*, const float*, const float*, int64_t,
                                            int64_t);
template void layernorm_backward_ref<double>(double*, double*, double*, const double*,
                                             const double*, const double*, const double*,
                                             const double*, int64_t, int64_t);

}  // namespace fwsvd::kernels
