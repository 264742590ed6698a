// Rank allocation to a budget (--allocate greedy): each layer has a menu of options (a rank, or
// dense), each with a cost (weights, or measured microseconds) and a sensitivity (the estimated
// loss increase of truncating the layer there; compress.h says which). Starting from every
// layer's cheapest option, the greedy repeatedly takes the step, in any layer and to any of its
// costlier options, that removes the most sensitivity per unit of cost and still fits the budget
// (a step may skip options: that is the "lookahead" that keeps the greedy sound where a layer's
// curve is not convex). For convex curves this is the classic marginal-analysis optimum of a
// separable knapsack up to the last, partly-fitting step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fwsvd {

struct RankOption {
    int64_t rank = 0;  // 0: dense
    double cost = 0;
    double sensitivity = 0;
};

// Sorts options by cost and drops those no cheaper than another with no more sensitivity (the
// Pareto front), so that costs strictly increase and sensitivities strictly decrease.
std::vector<RankOption> pareto_options(std::vector<RankOption> options);

struct GreedyResult {
    std::vector<size_t> choice;      // per layer: index into its options
    double cost = 0;                 // Σ chosen costs
    double sensitivity = 0;          // Σ chosen sensitivities
    std::vector<double> last_ratio;  // per layer: sensitivity per cost of its last step (-1: none)
    // per layer: sensitivity per cost of its best step not taken (-1: none left); every such
    // step exceeds the budget left when the greedy stops.
    std::vector<double> next_ratio;
    double threshold = 0;  // the smallest ratio of any step taken (0: none taken)
};

// layers[l]: options with strictly increasing cost (pareto_options). The cheapest options
// together must fit the budget (the caller checks and says so). Steps that would not lower the
// sensitivity are not taken.
GreedyResult allocate_greedy(const std::vector<std::vector<RankOption>>& layers, double budget);

}  // namespace fwsvd
