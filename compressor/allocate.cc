#include "compressor/allocate.h"

#include <algorithm>

#include "runtime/error.h"

namespace fwsvd {

std::vector<RankOption> pareto_options(std::vector<RankOption> options) {
    std::stable_sort(options.begin(), options.end(), [](const RankOption& a, const RankOption& b) {
        return a.cost < b.cost || (a.cost == b.cost && a.sensitivity < b.sensitivity);
    });
    std::vector<RankOption> front;
    for (const RankOption& o : options) {
        if (!front.empty() &&
            (o.cost <= front.back().cost || o.sensitivity >= front.back().sensitivity)) {
            continue;
        }
        front.push_back(o);
    }
    return front;
}

GreedyResult allocate_greedy(const std::vector<std::vector<RankOption>>& layers, double budget) {
    const size_t n = layers.size();
    GreedyResult g;
    g.choice.assign(n, 0);
    g.last_ratio.assign(n, -1.0);
    g.next_ratio.assign(n, -1.0);
    for (size_t l = 0; l < n; ++l) {
        FWSVD_CHECK(!layers[l].empty(), "internal: layer ", l, " has no rank options");
        for (size_t k = 1; k < layers[l].size(); ++k) {
            FWSVD_CHECK(layers[l][k].cost > layers[l][k - 1].cost,
                        "internal: rank options not sorted by cost");
        }
        g.cost += layers[l][0].cost;
    }
    FWSVD_CHECK(g.cost <= budget, "internal: the cheapest options exceed the budget");
    bool taken_any = false;
    for (;;) {
        double best_ratio = -1;
        size_t best_l = 0, best_k = 0;
        for (size_t l = 0; l < n; ++l) {
            const RankOption& cur = layers[l][g.choice[l]];
            for (size_t k = g.choice[l] + 1; k < layers[l].size(); ++k) {
                const RankOption& o = layers[l][k];
                if (g.cost + (o.cost - cur.cost) > budget) break;  // costs increase with k
                const double gain = cur.sensitivity - o.sensitivity;
                if (gain <= 0) continue;
                const double ratio = gain / (o.cost - cur.cost);
                if (ratio > best_ratio) {
                    best_ratio = ratio;
                    best_l = l;
                    best_k = k;
                }
            }
        }
        if (best_ratio < 0) break;
        const RankOption& cur = layers[best_l][g.choice[best_l]];
        g.cost += layers[best_l][best_k].cost - cur.cost;
        g.choice[best_l] = best_k;
        g.last_ratio[best_l] = best_ratio;
        g.threshold = taken_any ? std::min(g.threshold, best_ratio) : best_ratio;
        taken_any = true;
    }
    g.sensitivity = 0;
    for (size_t l = 0; l < n; ++l) {
        const RankOption& cur = layers[l][g.choice[l]];
        g.sensitivity += cur.sensitivity;
        for (size_t k = g.choice[l] + 1; k < layers[l].size(); ++k) {
            const RankOption& o = layers[l][k];
            const double gain = cur.sensitivity - o.sensitivity;
            if (gain <= 0) continue;
            const double ratio = gain / (o.cost - cur.cost);
            g.next_ratio[l] = std::max(g.next_ratio[l], ratio);
        }
    }
    return g;
}

}  // namespace fwsvd
