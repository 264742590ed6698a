// Whole-model compression with the data-aware methods on the tiny golden model: every method at
// full rank reproduces the dense logits, greedy and latency budgets hold and explain each rank,
// --refit lowers each layer's activation error, and --method auto is never worse on the
// held-out examples than the best single method.
#include <gtest/gtest.h>

#include <random>

#include "compressor/compress.h"
#include "compressor/holdout.h"
#include "compressor/latency.h"
#include "compressor/whitening.h"
#include "models/session.h"
#include "runtime/error.h"
#include "tests/models/golden_util.h"
#include "tests/test_util.h"

namespace fwsvd::testing {
namespace {

// Random labelled sequences for the tiny model ([CLS] ... [SEP] with ids in its vocabulary).
EncodedData random_data(const ModelConfig& c, size_t n, uint32_t seed) {
    EncodedData d;
    d.source = "random";
    d.has_labels = true;
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> id(5, int32_t(c.vocab_size - 1));
    std::uniform_int_distribution<int> len(4, 20);
    std::uniform_int_distribution<int32_t> label(0, int32_t(c.num_labels() - 1));
    for (size_t i = 0; i < n; ++i) {
        EncodedExample e;
        const int l = len(rng);
        for (int t = 0; t < l; ++t) e.ids.push_back(id(rng));
        e.type_ids.assign(e.ids.size(), 0);
        d.encodings.push_back(e);
        d.lines.push_back(int64_t(i) + 1);
        d.targets.classes.push_back(label(rng));
    }
    return d;
}

struct Tiny {
    Golden g = load_golden("tiny-cls");
    EncodedData calib = random_data(g.model->config(), 48, 1);
    EncodedData held = random_data(g.model->config(), 32, 2);
    Stats stats;
    Tiny() {
        StatsOptions so;
        so.kinds = kStatFisher | kStatInputAbsMean | kStatInputCov;
        stats = compute_stats(*g.model, calib, so, nullptr);
    }
};

RankSpec budget(RankRule rule, double f) {
    RankSpec s;
    s.rule = rule;
    s.ratio = f;
    return s;
}

TEST(Budget, EveryMethodAtFullRankReproducesTheDenseLogits) {
    FWSVD_REQUIRE_SHARED();
    Tiny t;
    Session dense(t.g.model);
    const std::vector<float> ref = dense.logits(t.g.batch);
    for (const Method* m : methods()) {
        CompressOptions o;
        o.method = m->name;
        o.method_options.iters = 2;
        o.ranks.rule = RankRule::rank;
        o.ranks.rank = 1 << 20;
        o.force_factor = true;
        CompressResult r = compress_model(*t.g.model, &t.stats, o);
        for (const auto& l : r.layers) EXPECT_LT(l.error.plain, 1e-5) << m->name << l.plan.prefix;
        auto cm = Model::from_flat(r.config, r.layout, std::move(r.flat));
        const std::vector<float> out = Session(cm).logits(t.g.batch);
        EXPECT_LT(max_rel_diff(out.data(), ref.data(), ref.size()), 1e-4) << m->name;
    }
}

// Σ over factored layers of Σ F ⊙ (W − Ŵ)², the quantity greedy allocation minimises.
double fisher_error(const Model& m, const Stats& s, const CompressResult& r) {
    double e = 0;
    for (const auto& l : r.layers) {
        if (!l.plan.factored) continue;
        const float* w = m.find_data(l.plan.prefix + ".weight");
        const float* f = s.fisher.at(l.plan.prefix + ".weight").data<float>();
        const float* a = r.flat.data<float>() + r.layout.find(l.plan.prefix + ".weight_a")->offset;
        const float* b = r.flat.data<float>() + r.layout.find(l.plan.prefix + ".weight_b")->offset;
        for (int64_t o = 0; o < l.plan.out; ++o) {
            for (int64_t i = 0; i < l.plan.in; ++i) {
                double wh = 0;
                for (int64_t k = 0; k < l.plan.rank; ++k)
                    wh += double(b[o * l.plan.rank + k]) * double(a[k * l.plan.in + i]);
                const double d = double(w[o * l.plan.in + i]) - wh;
                e += double(f[o * l.plan.in + i]) * d * d;
            }
        }
    }
    return e;
}

TEST(Budget, GreedyParamRatioStaysWithinTheBudgetAndExplainsEachRank) {
    FWSVD_REQUIRE_SHARED();
    Tiny t;
    for (const std::string method : {"svd", "whiten", "fw2", "kfac"}) {
        CompressOptions o;
        o.method = method == "kfac" ? "fisher-whiten" : method;
        if (method == "kfac") o.sensitivity = Sensitivity::kfac;
        o.ranks = budget(RankRule::param_ratio, 0.5);
        o.rank_multiple = 4;
        o.allocate = Allocation::greedy;
        CompressResult g = compress_model(*t.g.model, &t.stats, o);
        EXPECT_LE(g.plan.fraction(), 0.5) << method;
        EXPECT_GT(g.plan.fraction(), 0.3) << method;  // the budget is spent
        EXPECT_EQ(g.config.raw["low_rank"]["allocation"], "greedy");
        for (const auto& l : g.layers) {
            EXPECT_FALSE(l.plan.why.empty()) << l.plan.prefix;
            if (!l.plan.factored) continue;
            EXPECT_EQ(l.plan.rank % 4, 0) << l.plan.prefix;
            EXPECT_GE(l.plan.sensitivity, 0);
        }
        const auto j = compress_report_json(g);
        EXPECT_EQ(j["allocation"], "greedy");
        EXPECT_TRUE(j["layers"][0].contains("why"));
        // Greedy spends the same budget better than the uniform multiple of 4 that fits, on what
        // it minimises (both with this method's factors).
        CompressOptions u = o;
        u.allocate = Allocation::uniform;
        u.ranks.rule = RankRule::rank;
        u.ranks.rank = 4;
        while (true) {
            CompressOptions next = u;
            next.ranks.rank += 4;
            if (plan_ranks(t.g.model->config(), next.ranks).fraction() > 0.5) break;
            u = next;
        }
        CompressResult uni = compress_model(*t.g.model, &t.stats, u);
        EXPECT_LE(uni.plan.fraction(), 0.5);
        if (method != "kfac") {
            EXPECT_LE(fisher_error(*t.g.model, t.stats, g), fisher_error(*t.g.model, t.stats, uni))
                << method;
        }
    }
}

// A deterministic timer: time proportional to the multiply-adds plus a fixed cost per GEMM.
class FakeTimer final : public GemmTimer {
  public:
    double micros(int64_t k, int64_t n) override { return 0.05 + 1e-3 * double(k * n); }
    int64_t rows() const override { return 16; }
    int threads() const override { return 1; }
};

TEST(Budget, LatencyRatioUniformAndGreedy) {
    FWSVD_REQUIRE_SHARED();
    Tiny t;
    FakeTimer timer;
    for (Allocation a : {Allocation::uniform, Allocation::greedy}) {
        CompressOptions o;
        o.method = "fwsvd";
        o.ranks = budget(RankRule::latency_ratio, 0.6);
        o.rank_multiple = 4;
        o.allocate = a;
        o.timer = &timer;
        CompressResult r = compress_model(*t.g.model, &t.stats, o);
        EXPECT_GT(r.plan.micros_before, 0);
        EXPECT_LE(r.plan.latency_fraction(), 0.6) << allocation_name(a);
        double before = 0, after = 0;
        for (const auto& l : r.layers) {
            ASSERT_GE(l.plan.micros_before, 0);
            before += l.plan.micros_before * double(l.plan.uses);
            after += l.plan.micros_after * double(l.plan.uses);
            if (l.plan.factored) {
                EXPECT_EQ(l.plan.rank % 4, 0);
            }
        }
        EXPECT_NEAR(before, r.plan.micros_before, 1e-9 * before);
        EXPECT_NEAR(after, r.plan.micros_after, 1e-9 * after);
        EXPECT_TRUE(compress_report_json(r).contains("linear_latency"));
    }
    // Out of reach: every GEMM's fixed cost alone exceeds 1% of the dense time.
    CompressOptions o;
    o.method = "svd";
    o.ranks = budget(RankRule::latency_ratio, 0.01);
    o.timer = &timer;
    o.rank_multiple = 4;
    EXPECT_THROW(compress_model(*t.g.model, &t.stats, o), Error);
}

TEST(Budget, MeasuredTimerTimesTheRuntimesGemms) {
    auto timer = measured_gemm_timer(8, 1);
    const double small = timer->micros(32, 32);
    const double large = timer->micros(256, 256);
    EXPECT_GT(small, 0);
    EXPECT_GT(large, small);
    EXPECT_EQ(timer->micros(32, 32), small);  // cached
    EXPECT_DOUBLE_EQ(layer_micros(*timer, 32, 32, 0), small);
}

TEST(Budget, Refusals) {
    FWSVD_REQUIRE_SHARED();
    Tiny t;
    CompressOptions o;
    o.method = "svd";
    o.ranks = budget(RankRule::param_ratio, 0.5);
    o.allocate = Allocation::greedy;
    o.rank_multiple = 4;
    Stats no_fisher = t.stats;
    no_fisher.fisher.clear();
    EXPECT_THROW(compress_model(*t.g.model, &no_fisher, o), Error);  // greedy needs the Fisher
    o.ranks.rule = RankRule::rank;
    o.ranks.rank = 4;
    EXPECT_THROW(compress_model(*t.g.model, &t.stats, o), Error);  // greedy needs a budget
    o.allocate = Allocation::uniform;
    o.method_options.refit = true;
    Stats no_cov = t.stats;
    no_cov.input_cov.clear();
    EXPECT_THROW(compress_model(*t.g.model, &no_cov, o), Error);  // refit needs E[x xᵀ]
    o.method = "auto";
    EXPECT_THROW(compress_model(*t.g.model, &t.stats, o), Error);  // auto needs held-out data
}

TEST(Budget, RefitLowersEachLayersActivationError) {
    FWSVD_REQUIRE_SHARED();
    Tiny t;
    CompressOptions o;
    o.method = "fwsvd";
    o.ranks.rule = RankRule::rank;
    o.ranks.rank = 6;
    CompressResult plain = compress_model(*t.g.model, &t.stats, o);
    o.method_options.refit = true;
    CompressResult refit = compress_model(*t.g.model, &t.stats, o);
    EXPECT_EQ(refit.config.raw["low_rank"]["refit"], true);
    auto error = [&](const CompressResult& r, const LayerReport& l) {
        const LayerStats ls = t.stats.layer(t.g.model->config(), l.plan.prefix, kStatInputCov);
        const float* w = t.g.model->find_data(l.plan.prefix + ".weight");
        LowRankFactorsF64 f;
        f.out = l.plan.out;
        f.in = l.plan.in;
        f.rank = l.plan.rank;
        const float* a = r.flat.data<float>() + r.layout.find(l.plan.prefix + ".weight_a")->offset;
        const float* b = r.flat.data<float>() + r.layout.find(l.plan.prefix + ".weight_b")->offset;
        f.a.assign(a, a + f.rank * f.in);
        f.b.assign(b, b + f.out * f.rank);
        const std::vector<double> w64(w, w + f.out * f.in);
        return activation_error(w64.data(), f, ls.input_cov);
    };
    int better = 0;
    for (size_t i = 0; i < plain.layers.size(); ++i) {
        if (!plain.layers[i].plan.factored) continue;
        const double e0 = error(plain, plain.layers[i]), e1 = error(refit, refit.layers[i]);
        EXPECT_LE(e1, e0 * (1 + 1e-4)) << plain.layers[i].plan.prefix;
        better += e1 < 0.999 * e0;
    }
    EXPECT_GT(better, 0);
}

// The score --method auto ranks by, computed here from the model's held-out logits.
double criterion(AutoCriterion c, const Tiny& t, const CompressResult& r,
                 const std::vector<float>& dense) {
    auto m = Model::from_flat(r.config, r.layout, r.flat);
    const HoldoutScore s = score_holdout(m->config(), t.held, holdout_logits(m, t.held), &dense);
    switch (c) {
        case AutoCriterion::error:
            return 1 - s.accuracy;
        case AutoCriterion::loss:
            return s.loss;
        case AutoCriterion::divergence:
            return s.divergence;
    }
    return 0;
}

// auto keeps the candidate that scores lowest on the held-out slice: never worse there than any
// single method (each compressed and scored here on its own), with and without --refit, for
// every criterion and allocation.
TEST(Budget, AutoIsNeverWorseThanTheBestSingleMethodOnTheHeldOutSlice) {
    FWSVD_REQUIRE_SHARED();
    Tiny t;
    const std::vector<float> dense = holdout_logits(t.g.model, t.held);
    for (AutoCriterion crit :
         {AutoCriterion::error, AutoCriterion::loss, AutoCriterion::divergence}) {
        for (Allocation a : {Allocation::uniform, Allocation::greedy}) {
            if (crit != AutoCriterion::loss && a == Allocation::greedy) continue;  // time
            CompressOptions o;
            o.ranks = budget(RankRule::param_ratio, 0.4);
            o.rank_multiple = 4;
            o.allocate = a;
            o.holdout = &t.held;
            o.method = "auto";
            o.auto_criterion = crit;
            CompressResult best = compress_model(*t.g.model, &t.stats, o);
            EXPECT_EQ(best.block.selected_by, "auto");
            EXPECT_EQ(best.config.raw["low_rank"]["selected_by"], "auto");
            // Every closed-form method, each with and without refit.
            size_t closed = 0;
            for (const Method* m : methods()) closed += m->closed_form;
            ASSERT_EQ(best.candidates.size(), 2 * closed);
            const double got = criterion(crit, t, best, dense);
            for (const Method* m : methods()) {
                if (!m->closed_form) continue;  // not a candidate (below: named ones)
                for (bool refit : {false, true}) {
                    CompressOptions single = o;
                    single.method = m->name;
                    single.method_options.refit = refit;
                    single.holdout = nullptr;
                    CompressResult r = compress_model(*t.g.model, &t.stats, single);
                    EXPECT_LE(got, criterion(crit, t, r, dense))
                        << m->name << (refit ? " refit " : " ") << auto_criterion_name(crit);
                }
            }
        }
    }
    // Named candidates, an iterative one among them.
    CompressOptions o;
    o.ranks = budget(RankRule::param_ratio, 0.4);
    o.holdout = &t.held;
    o.method = "auto";
    o.auto_criterion = AutoCriterion::loss;
    o.method_options.iters = 2;
    o.auto_methods = {"tfwsvd", "svd"};
    CompressResult r = compress_model(*t.g.model, &t.stats, o);
    ASSERT_EQ(r.candidates.size(), 4u);
    EXPECT_EQ(r.candidates[0].method, "tfwsvd");
    double lowest = r.candidates[0].holdout_loss;
    for (const auto& c : r.candidates) lowest = std::min(lowest, c.holdout_loss);
    EXPECT_EQ(holdout_loss(Model::from_flat(r.config, r.layout, r.flat), t.held), lowest);
}

}  // namespace
}  // namespace fwsvd::testing
