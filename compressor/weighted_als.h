// Element-wise weighted low-rank approximation by alternating least squares (the solver of the
// tfwsvd method, after Hua et al. 2022, "Numerical optimizations for weighted low-rank
// estimation on language models"): minimise
//     J(B, A) = Σ_ij Ω_ij (W_ij − (B A)_ij)²
// over B [out, r], A [r, in] for element weights Ω >= 0 (the full Fisher, not its row or column
// sums). With A fixed, J separates over the rows of B: row o solves the r×r normal equations
// (A diag(Ω_o) Aᵀ) b_o = A diag(Ω_o) W_oᵀ; then the columns of A likewise with B fixed. Each
// half-step minimises J exactly over its block, so J cannot increase; to make that hold in
// floating point too (a near-singular Gram solved by a pseudo-inverse), a row's new value is kept
// only when that row's own term of J did not grow.
#pragma once
#include <cstdint>
#include <vector>

#include "compressor/low_rank.h"

namespace fwsvd {

// J(B, A) of the factors against W [out, in] with weights omega [out, in] (row-major).
double weighted_objective(const double* weight, const double* omega, const LowRankFactorsF64& f);

struct AlsResult {
    LowRankFactorsF64 factors;
    std::vector<double> objective;  // J at the start, then after each iteration (B then A)
};

// `iters` iterations from `start` (rank, out, in taken from it). iters 0 returns the start.
AlsResult weighted_als(const double* weight, const double* omega, LowRankFactorsF64 start,
                       int iters);

}  // namespace fwsvd
