// Helpers shared by the kernel tests: seeded random data, the ISA loop, buffer comparisons.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "tests/test_util.h"

namespace fwsvd::testing {

// Seeded generator so every failure reproduces.
class Rng {
  public:
    explicit Rng(uint64_t seed) : gen_(seed) {}
    double uniform(double lo = -1.0, double hi = 1.0) {
        return std::uniform_real_distribution<double>(lo, hi)(gen_);
    }
    int64_t index(int64_t lo, int64_t hi) {  // inclusive range
        return std::uniform_int_distribution<int64_t>(lo, hi)(gen_);
    }
    template <typename T = double>
    std::vector<T> vec(size_t n, double lo = -1.0, double hi = 1.0) {
        std::vector<T> v(n);
        for (auto& x : v) x = T(uniform(lo, hi));
        return v;
    }
    std::vector<int32_t> ids(size_t n, int32_t count) {
        std::vector<int32_t> v(n);
        for (auto& x : v) x = int32_t(index(0, count - 1));
        return v;
    }

  private:
    std::mt19937_64 gen_;
};

template <typename To, typename From>
std::vector<To> cast_vec(const std::vector<From>& v) {
    return std::vector<To>(v.begin(), v.end());
}

// Restores the active ISA when the test scope ends.
class IsaGuard {
  public:
    IsaGuard() : saved_(kernels::active_isa()) {}
    ~IsaGuard() { kernels::set_isa(saved_); }
    IsaGuard(const IsaGuard&) = delete;
    IsaGuard& operator=(const IsaGuard&) = delete;

  private:
    kernels::Isa saved_;
};

// Every variant this CPU can run, ref first.
inline std::vector<kernels::Isa> runnable_isas() {
    std::vector<kernels::Isa> out;
    for (int i = 0; i <= int(kernels::detected_isa()); ++i) out.push_back(kernels::Isa(i));
    return out;
}

// Runs body() once per runnable ISA with that ISA active (restored afterwards), tagging failures.
template <typename F>
void for_each_isa(F&& body) {
    IsaGuard guard;
    for (kernels::Isa isa : runnable_isas()) {
        kernels::set_isa(isa);
        ASSERT_EQ(kernels::active_isa(), isa);
        SCOPED_TRACE(std::string("isa=") + kernels::isa_name(isa));
        body();
    }
}

// Normwise relative difference of two equally sized buffers (see max_rel_diff in test_util.h).
template <typename A, typename B>
double rel_diff(const std::vector<A>& a, const std::vector<B>& b) {
    EXPECT_EQ(a.size(), b.size());
    return max_rel_diff(a.data(), b.data(), std::min(a.size(), b.size()));
}

}  // namespace fwsvd::testing
