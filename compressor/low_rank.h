// Low-rank factorization of one linear layer, in double precision with Eigen: plain truncated SVD
// and Fisher-Weighted SVD (FWSVD, Hsu et al., ICLR 2022). docs/COMPRESSION.md has the derivation.
//
// A dense W [out, in] (y = x Wᵀ + b) becomes A [r, in] (applied first) and B [out, r]:
// y = (x Aᵀ) Bᵀ + b, so Ŵ = B·A.
//   SVD:   W = U S Vᵀ,            A = V_rᵀ,             B = U_r S_r   (Eckart–Young optimum)
//   FWSVD: W·diag(w) = U S Vᵀ,    A = V_rᵀ diag(w)⁻¹,   B = U_r S_r
// with input-row weights w_i = sqrt(Σ_out F[out, i]) from the Fisher F [out, in] of W. FWSVD
// minimises Σ_i w_i² ‖W[:, i] − Ŵ[:, i]‖² over rank-r Ŵ; with uniform w it is the SVD.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fwsvd {

// The FWSVD input-row weights are normalised to max_j w_j = 1 (only their ratios matter for Ŵ;
// normalising makes the factors A, B themselves independent of the Fisher's overall scale, and
// a uniform Fisher gives exactly the SVD's factors), then floored:
// w_i = max(w_i, kFisherWeightFloor).
// Zero-Fisher rows (an input feature no example's gradient touched) would make diag(w) singular.
// A floor relative to the largest weight keeps the scale invariance (adding a constant to F
// would not) and bounds diag(w)⁻¹ at 1e6. It costs no accuracy: from W·diag(w) = U S Vᵀ,
// A = V_rᵀ diag(w)⁻¹ = S_r⁻¹ U_rᵀ W exactly (σ_r > 0), so a floored column's A[:, i] stays finite
// and of the size of W's entries whatever w_i is; dividing V_r[i, :] ~ w_i by w_i only loses
// ~1e-16 / 1e-6 = 1e-10 relative. The objective moves from weight 0 to weight 1e-12 on such rows,
// which does not change Ŵ measurably.
constexpr double kFisherWeightFloor = 1e-6;

// Input-row weights w [in] of a layer from its Fisher F [out, in] (row-major, float32):
// w_i = sqrt(Σ_out F[out, i]) / max_j sqrt(Σ_out F[out, j]), floored as above. Throws Error if
// F holds a negative or non-finite value. All-zero F gives w = 1 (uniform: FWSVD degenerates to
// SVD) and sets *all_zero.
std::vector<double> fisher_input_weights(const float* fisher, int64_t out, int64_t in,
                                         bool* all_zero = nullptr);

struct LowRankFactors {
    int64_t out = 0, in = 0, rank = 0;
    std::vector<float> a;                 // [rank, in]  applied first
    std::vector<float> b;                 // [out, rank]
    std::vector<double> singular_values;  // [min(out, in)] of W (SVD) or W·diag(w) (FWSVD)
};

// The same factors before rounding to float32 (what the tests compare at 1e-10).
struct LowRankFactorsF64 {
    int64_t out = 0, in = 0, rank = 0;
    std::vector<double> a;                // [rank, in]
    std::vector<double> b;                // [out, rank]
    std::vector<double> singular_values;  // [min(out, in)]
};

// Factorizes W [out, in] (row-major) at rank 1 <= rank <= min(out, in). input_weights [in]
// (from fisher_input_weights) selects FWSVD; null is plain SVD. Uses Eigen's BDCSVD in double,
// single-threaded (EIGEN_DONT_PARALLELIZE): callers factor several layers in parallel. Throws
// Error if the SVD fails or a factor is not finite.
LowRankFactorsF64 factorize_linear_f64(const double* weight, int64_t out, int64_t in, int64_t rank,
                                       const double* input_weights = nullptr);
// The float32 entry point: W is converted to double, factored, and A, B are rounded to float32.
LowRankFactors factorize_linear(const float* weight, int64_t out, int64_t in, int64_t rank,
                                const double* input_weights = nullptr);
// Factors rounded to float32 (what checkpoints store); Error if one overflows float.
LowRankFactors round_factors(LowRankFactorsF64 factors);

// Normalises positive weights to max 1 and floors them at kFisherWeightFloor, as
// fisher_input_weights does (scale-invariant, bounded inverse). All-zero weights become 1 and set
// *all_zero. Throws Error(what) if a value is negative or not finite.
std::vector<double> normalized_weights(std::vector<double> w, const char* what,
                                       bool* all_zero = nullptr);
// Output-row weights [out] of a layer from its Fisher F [out, in]: d_o = sqrt(Σ_in F[o, in]),
// normalised and floored as above.
std::vector<double> fisher_output_weights(const float* fisher, int64_t out, int64_t in,
                                          bool* all_zero = nullptr);

// The closed-form two-sided weighted factorization every SVD-based method reduces to: the rank-r
// B·A minimising ‖D_o (W − B A) R‖_F, with D_o = diag(row_weights) (> 0; null: identity) and R
// either diag(input_weights) (> 0), a full [in, in] matrix `right` (row-major, e.g. the Cholesky
// factor of an input covariance), or the identity. With M = D_o W R = U S Vᵀ:
//   A = S_r⁻¹ U_rᵀ D_o W  [r, in],   B = D_o⁻¹ U_r S_r  [out, r],
// i.e. B A = D_o⁻¹ U_r U_rᵀ D_o W, the projection of D_o W onto M's leading left singular
// vectors. For an invertible R this is D_o⁻¹ trunc_r(M) R⁻¹ without ever forming R⁻¹; for
// D_o = I, R = diag(w) it equals FWSVD's A = V_rᵀ diag(w)⁻¹. Singular values below
// 1e-13 · σ_1 (M of rank < r) give a zero row of A and a zero column of B, which is still an
// optimum. singular_values are M's. The factors are nested: the first r' rows of A and columns of
// B are the rank-r' solution.
LowRankFactorsF64 factorize_two_sided_f64(const double* weight, int64_t out, int64_t in,
                                          int64_t rank, const double* row_weights,
                                          const double* input_weights, const double* right);

// The first `rank` components of nested factors (the rank-`rank` solution of a nested method).
LowRankFactorsF64 truncate_factors(const LowRankFactorsF64& factors, int64_t rank);

// Σ F ⊙ (W − B_r A_r)² of nested factors at every r = step, 2·step, ... <= factors.rank (B_r A_r:
// their first r components), with W and F [out, in] float32: the Fisher-weighted truncation error
// of each candidate rank from one factorization.
std::vector<double> fisher_truncation_errors(const float* weight, const float* fisher,
                                             const LowRankFactorsF64& factors, int64_t step);

struct ReconstructionError {
    double plain = 0;    // ‖W − B·A‖_F / ‖W‖_F
    double fisher = -1;  // sqrt(Σ F⊙(W − B·A)²) / sqrt(Σ F⊙W²); -1 when no Fisher is given
};

// Errors of the float32 factors against W [out, in], computed in double. fisher [out, in] may be
// null.
ReconstructionError reconstruction_error(const float* weight, const LowRankFactors& factors,
                                         const float* fisher = nullptr);

}  // namespace fwsvd
