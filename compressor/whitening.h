// Input-covariance tools of the activation-aware methods (whiten, fisher-whiten, --refit): a
// regularised square-root factor of E[x xᵀ] and the least-squares refit of B.
//
// ‖(W − Ŵ) Xᵀ‖²_F over the calibration input rows X [n, in] equals n · tr((W − Ŵ) C (W − Ŵ)ᵀ)
// with C = E[x xᵀ] = XᵀX / n, i.e. n · ‖(W − Ŵ) L‖²_F for any L with L Lᵀ = C (Cholesky).
//
// Regularisation (diagonal loading, as GPTQ's damping): C is symmetrised and
// δ = damping · tr(C) / in (a fraction of the mean input energy) is added to its diagonal before
// the Cholesky factorization. It makes a covariance that is only positive semi-definite (dead
// inputs: a zero row and column; duplicated or linearly dependent inputs; rounding) positive
// definite, and turns the objective into ‖(W − Ŵ) L‖² + δ ‖W − Ŵ‖²: among the (then many)
// minimisers of the activation error it prefers the one closest to W, so directions the
// calibration data never excited keep the weights they had. If the loaded factorization still
// fails (negative eigenvalues beyond δ), δ grows tenfold, up to the mean diagonal itself.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compressor/low_rank.h"

namespace fwsvd {

// The default relative diagonal loading (--damping).
constexpr double kCovDamping = 0.01;

struct CovFactor {
    std::vector<double> l;  // [in, in] row-major lower-triangular, L Lᵀ = C + δ I; empty if C = 0
    double delta = 0;       // the δ added to the diagonal
    std::string note;       // set when δ had to grow beyond damping · tr(C) / in, or C = 0
};

// The factor of the loaded covariance C [in, in] (row-major, symmetric up to rounding). Error if C
// holds a non-finite value or a negative diagonal entry.
CovFactor covariance_factor(const double* cov, int64_t in, double damping);

// C + δ I with C symmetrised (the matrix covariance_factor factors), [in, in] row-major.
std::vector<double> damped_covariance(const double* cov, int64_t in, double delta);

// Least-squares refit of B for fixed A: B = argmin ‖(W − B A) L‖² = W C Aᵀ (A C Aᵀ)⁺ with
// C = C_cov + δ I (covariance_factor's loading). Zero rows of A give zero columns of B.
void refit_b(const double* weight, const double* cov, double delta, LowRankFactorsF64& factors);

// tr((W − B A) C (W − B A)ᵀ) for C [in, in]: the mean squared output error per input row.
double activation_error(const double* weight, const LowRankFactorsF64& factors, const double* cov);

// The K-FAC estimate of the loss increase of truncating nested factors at r = step, 2·step, ...:
// with the Fisher approximated as E[x xᵀ] ⊗ diag(E[g²]) and E[g_o²] ≈ Σ_in F[o, in] / tr(C)
// (inputs and output gradients independent), Δloss ≈ ½ Σ_o E[g_o²] ((W − Ŵ_r) C (W − Ŵ_r)ᵀ)_oo;
// returned without the ½, as Σ_o f_o ‖((W − Ŵ_r) L)_o‖² / tr(C) with L Lᵀ = C + δ I. weight and
// fisher [out, in] float32, cov [in, in].
std::vector<double> kfac_truncation_errors(const float* weight, const float* fisher,
                                           const double* cov, double delta,
                                           const LowRankFactorsF64& factors, int64_t step);

}  // namespace fwsvd
