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

struct ReconstructionError {
    double plain = 0;    // ‖W − B·A‖_F / ‖W‖_F
    double fisher = -1;  // sqrt(Σ F⊙(W − B·A)²) / sqrt(Σ F⊙W²); -1 when no Fisher is given
};

// Errors of the float32 factors against W [out, in], computed in double. fisher [out, in] may be
// null.
ReconstructionError reconstruction_error(const float* weight, const LowRankFactors& factors,
                                         const float* fisher = nullptr);

}  // namespace fwsvd
