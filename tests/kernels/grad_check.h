// Finite-difference gradient checks (in the spirit of ggml's test-backend-ops MODE_GRAD).
//
// A test picks a scalar objective L = Σ out ⊙ R with a random R, runs the kernel's backward with
// dout = R into gradient buffers pre-filled with random values (GradBuffer), and compares what the
// backward *added* with central differences of L over every input entry.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::testing {

// Step and tolerance of the double-precision checks. With h = 1e-6 the truncation error is
// O(h²) ≈ 1e-12 and the cancellation error ≈ 1e-16·|L|/h ≈ 1e-9, so 1e-6 leaves a wide margin
// while any real mistake in a backward shows up as an O(1) difference.
inline constexpr double kFdStep = 1e-6;
inline constexpr double kGradTol = 1e-6;  // normwise: max |analytic - numeric| / max |numeric|

// Σ a ⊙ b in double.
template <typename A, typename B>
double dot(const std::vector<A>& a, const std::vector<B>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += double(a[i]) * double(b[i]);
    return s;
}

// Central differences dL/dx[i] for every i; loss() must read x. x is restored afterwards. The
// denominator is the step actually taken after rounding x ± h to T.
template <typename T, typename F>
std::vector<double> numeric_grad(std::vector<T>& x, F&& loss, double h = kFdStep) {
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const T saved = x[i];
        x[i] = T(double(saved) + h);
        const double xp = double(x[i]);
        const double lp = loss();
        x[i] = T(double(saved) - h);
        const double xm = double(x[i]);
        const double lm = loss();
        x[i] = saved;
        g[i] = (lp - lm) / (xp - xm);
    }
    return g;
}

// A gradient buffer pre-filled with random values: a backward that overwrites instead of
// accumulating (+=) is caught because added() subtracts the pre-fill.
template <typename T = double>
class GradBuffer {
  public:
    GradBuffer(size_t n, Rng& rng) : prefill_(rng.vec<T>(n, -2.0, 2.0)), buf_(prefill_) {}
    T* data() { return buf_.data(); }
    const std::vector<T>& values() const { return buf_; }
    const std::vector<T>& prefill() const { return prefill_; }
    std::vector<double> added() const {
        std::vector<double> d(buf_.size());
        for (size_t i = 0; i < d.size(); ++i) d[i] = double(buf_[i]) - double(prefill_[i]);
        return d;
    }

  private:
    std::vector<T> prefill_, buf_;
};

// Expects analytic ≈ numeric within tol (normwise relative, see kGradTol).
inline void expect_grad_near(const std::vector<double>& analytic,
                             const std::vector<double>& numeric, const std::string& what,
                             double tol = kGradTol) {
    ASSERT_EQ(analytic.size(), numeric.size()) << what;
    const double err = max_rel_diff(analytic.data(), numeric.data(), numeric.size());
    double scale = 0;
    for (double v : numeric) scale = std::max(scale, std::abs(v));
    EXPECT_LE(err, tol) << what
                        << ": analytic and finite-difference gradients differ (max |g| = " << scale
                        << ")";
    // A check against an all-zero gradient would prove little: the objective must move.
    EXPECT_GT(scale, 0.0) << what << ": the numeric gradient is identically zero";
}

// numeric_grad + expect_grad_near in one call.
template <typename T, typename F>
void check_grad(const std::string& what, std::vector<T>& x, const std::vector<double>& analytic,
                F&& loss, double tol = kGradTol, double h = kFdStep) {
    expect_grad_near(analytic, numeric_grad(x, loss, h), what, tol);
}

}  // namespace fwsvd::testing
