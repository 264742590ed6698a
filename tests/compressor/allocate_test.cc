// The greedy rank allocation (compressor/allocate.h) on hand-made menus: the Pareto clean-up,
// the budget, optimality on convex curves against exhaustive search, and the lookahead step on
// a curve that is not convex.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "compressor/allocate.h"

namespace fwsvd::testing {
namespace {

TEST(Allocate, ParetoDropsDominatedOptions) {
    const std::vector<RankOption> in = {
        {32, 40, 1.0}, {16, 20, 3.0}, {48, 60, 1.5},  // 48 costs more than 32 for more error
        {0, 100, 0.0}, {24, 20, 2.0},                 // 24 costs what 16 costs, less error
    };
    const std::vector<RankOption> out = pareto_options(in);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].rank, 24);
    EXPECT_EQ(out[1].rank, 32);
    EXPECT_EQ(out[2].rank, 0);
}

// Convex decreasing curves with equal step costs: marginal analysis is optimal, so the greedy
// matches the exhaustive optimum at every budget.
TEST(Allocate, GreedyIsOptimalOnConvexCurvesWithEqualSteps) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> u(0.1, 1.0);
    for (int trial = 0; trial < 30; ++trial) {
        const size_t layers = 3, options = 5;
        std::vector<std::vector<RankOption>> menus(layers);
        for (auto& m : menus) {
            // Decreasing gains: convex.
            std::vector<double> gains(options - 1);
            for (auto& g : gains) g = u(rng);
            std::sort(gains.rbegin(), gains.rend());
            double s = 0;
            for (double g : gains) s += g;
            for (size_t k = 0; k < options; ++k) {
                m.push_back({int64_t(k + 1), double(k + 1), s});
                if (k < gains.size()) s -= gains[k];
            }
        }
        for (double budget = 3; budget <= 15; budget += 1) {
            const GreedyResult g = allocate_greedy(menus, budget);
            EXPECT_LE(g.cost, budget);
            double best = 1e300;
            std::function<void(size_t, double, double)> search = [&](size_t l, double c, double s) {
                if (c > budget) return;
                if (l == layers) {
                    best = std::min(best, s);
                    return;
                }
                for (const auto& o : menus[l]) search(l + 1, c + o.cost, s + o.sensitivity);
            };
            search(0, 0, 0);
            EXPECT_NEAR(g.sensitivity, best, 1e-12) << trial << " budget " << budget;
        }
    }
}

// A layer whose curve is flat then drops: a one-option step gains nothing, the two-option step
// gains most per unit, and the lookahead takes it.
TEST(Allocate, LookaheadJumpsOverAFlatStretch) {
    const std::vector<std::vector<RankOption>> menus = {
        {{1, 1, 10}, {2, 2, 10}, {3, 3, 0}},
        {{1, 1, 10}, {2, 2, 9}, {3, 3, 8}},
    };
    const GreedyResult g = allocate_greedy(menus, 4);
    EXPECT_EQ(g.choice[0], 2u);
    EXPECT_EQ(g.choice[1], 0u);
    EXPECT_DOUBLE_EQ(g.sensitivity, 10);
    EXPECT_DOUBLE_EQ(g.last_ratio[0], 5);
    EXPECT_DOUBLE_EQ(g.threshold, 5);
    EXPECT_DOUBLE_EQ(g.next_ratio[1], 1);
    EXPECT_LT(g.last_ratio[1], 0);
}

TEST(Allocate, StaysWithinTheBudgetAndStopsWhenNothingHelps) {
    const std::vector<std::vector<RankOption>> menus = {
        {{1, 10, 5}, {2, 20, 1}},
        {{1, 10, 5}, {2, 25, 0}},
    };
    // Room for one step only: the better ratio (4/10 over 5/15).
    GreedyResult g = allocate_greedy(menus, 30);
    EXPECT_EQ(g.choice, (std::vector<size_t>{1, 0}));
    EXPECT_DOUBLE_EQ(g.cost, 30);
    // Everything fits: both take their last option.
    g = allocate_greedy(menus, 1000);
    EXPECT_EQ(g.choice, (std::vector<size_t>{1, 1}));
    EXPECT_LT(g.next_ratio[0], 0);
    // Exactly the cheapest: nothing moves.
    g = allocate_greedy(menus, 20);
    EXPECT_EQ(g.choice, (std::vector<size_t>{0, 0}));
    EXPECT_DOUBLE_EQ(g.threshold, 0);
}

}  // namespace
}  // namespace fwsvd::testing
