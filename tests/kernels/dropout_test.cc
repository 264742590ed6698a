// Dropout's counter-based stream: reproducible, independent of call splitting, with the right
// keep rate; forward/backward values against a scalar reconstruction from dropout_uniform.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/dropout.h"
#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

struct DropoutRun {
    std::vector<float> out;
    std::vector<uint8_t> mask;
};

DropoutRun run_dropout(const std::vector<float>& inp, float p, uint64_t seed, uint64_t offset) {
    DropoutRun r{std::vector<float>(inp.size()), std::vector<uint8_t>(inp.size())};
    k::dropout_forward(r.out.data(), r.mask.data(), inp.data(), int64_t(inp.size()), p, seed,
                       offset);
    return r;
}

TEST(KernelDropout, UniformIsInUnitIntervalAndUniform) {
    double sum = 0;
    const int n = 100000;
    for (int i = 0; i < n; ++i) {
        const double u = k::dropout_uniform(7, uint64_t(i));
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
    }
    // Mean of n uniforms: sd = 1/sqrt(12 n) ≈ 9e-4; allow 5 sd.
    EXPECT_NEAR(sum / n, 0.5, 5e-3);
    EXPECT_EQ(k::dropout_uniform(7, 3), k::dropout_uniform(7, 3));
    EXPECT_NE(k::dropout_uniform(7, 3), k::dropout_uniform(8, 3));
    EXPECT_NE(k::dropout_uniform(7, 3), k::dropout_uniform(7, 4));
}

TEST(KernelDropout, SameSeedAndOffsetGiveSameMask) {
    Rng rng(300);
    const auto inp = rng.vec<float>(5000);
    for_each_isa([&] {
        const DropoutRun a = run_dropout(inp, 0.4f, 123, 77), b = run_dropout(inp, 0.4f, 123, 77);
        EXPECT_EQ(a.mask, b.mask);
        EXPECT_EQ(a.out, b.out);
        EXPECT_NE(run_dropout(inp, 0.4f, 124, 77).mask, a.mask) << "the seed must matter";
        EXPECT_NE(run_dropout(inp, 0.4f, 123, 78).mask, a.mask) << "the offset must matter";
    });
}

TEST(KernelDropout, SplittingARangeGivesTheSameMask) {
    Rng rng(301);
    const int64_t n = 1000;
    const auto inp = rng.vec<float>(n);
    const uint64_t seed = 99, offset = 5000;
    for_each_isa([&] {
        const DropoutRun whole = run_dropout(inp, 0.25f, seed, offset);
        for (int64_t split : {int64_t(1), int64_t(17), int64_t(333), n - 1}) {
            SCOPED_TRACE("split=" + std::to_string(split));
            std::vector<float> out(n);
            std::vector<uint8_t> mask(n);
            k::dropout_forward(out.data(), mask.data(), inp.data(), split, 0.25f, seed, offset);
            k::dropout_forward(out.data() + split, mask.data() + split, inp.data() + split,
                               n - split, 0.25f, seed, offset + uint64_t(split));
            EXPECT_EQ(mask, whole.mask);
            EXPECT_EQ(out, whole.out);
        }
    });
}

TEST(KernelDropout, KeptFractionIsOneMinusP) {
    const int64_t n = 100000;
    const std::vector<float> inp(n, 1.0f);
    for_each_isa([&] {
        for (float p : {0.1f, 0.5f, 0.9f}) {
            const DropoutRun r = run_dropout(inp, p, 2024, 0);
            int64_t kept = 0;
            for (uint8_t m : r.mask) kept += m;
            // Binomial sd = sqrt(p (1-p) / n) ≤ 1.6e-3; allow about 6 sd.
            EXPECT_NEAR(double(kept) / double(n), 1.0 - p, 0.01) << "p=" << p;
        }
    });
}

TEST(KernelDropout, PZeroKeepsEverything) {
    Rng rng(302);
    const auto inp = rng.vec<float>(1001);
    for_each_isa([&] {
        const DropoutRun r = run_dropout(inp, 0.0f, 5, 6);
        for (uint8_t m : r.mask) ASSERT_EQ(m, 1);
        EXPECT_EQ(r.out, inp);
    });
}

TEST(KernelDropout, ForwardAndBackwardValues) {
    // Against a scalar reconstruction from dropout_uniform: kept iff u >= p, scaled by 1/(1-p)
    // (within one float rounding, 1e-6 relative), dropped exactly 0; backward adds likewise.
    Rng rng(303);
    for_each_isa([&] {
        for (int64_t n : {1, 7, 17, 33, 64, 100, 4097}) {
            SCOPED_TRACE("n=" + std::to_string(n));
            const float p = 0.35f;
            const uint64_t seed = 11, offset = 1u << 20;
            const auto inp = rng.vec<float>(n);
            const DropoutRun r = run_dropout(inp, p, seed, offset);
            const auto dout = rng.vec<float>(n);
            auto dinp = rng.vec<float>(n);
            const auto prefill = dinp;
            k::dropout_backward(dinp.data(), dout.data(), r.mask.data(), n, p);
            for (int64_t i = 0; i < n; ++i) {
                const bool keep = !(k::dropout_uniform(seed, offset + uint64_t(i)) < double(p));
                ASSERT_EQ(r.mask[i], keep ? 1 : 0) << i;
                const double out_want = keep ? double(inp[i]) / (1.0 - double(p)) : 0.0;
                const double din_want =
                    double(prefill[i]) + (keep ? double(dout[i]) / (1.0 - p) : 0.0);
                if (keep) {
                    EXPECT_NEAR(r.out[i], out_want, 1e-6 * std::abs(out_want)) << i;
                } else {
                    EXPECT_EQ(r.out[i], 0.0f) << i;
                }
                EXPECT_NEAR(dinp[i], din_want, 1e-6 * (std::abs(din_want) + 1.0)) << i;
            }
            // out may alias inp.
            auto inout = inp;
            std::vector<uint8_t> mask(n);
            k::dropout_forward(inout.data(), mask.data(), inout.data(), n, p, seed, offset);
            EXPECT_EQ(inout, r.out);
            EXPECT_EQ(mask, r.mask);
        }
    });
}

}  // namespace
}  // namespace fwsvd::testing
