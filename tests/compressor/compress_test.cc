// Whole-model compression (compressor/compress.h): rank selection rules, full-rank factoring
// reproducing the dense model's logits, checkpoints that load back, refusals.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "compressor/compress.h"
#include "models/forward.h"
#include "models/session.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "tests/models/golden_util.h"
#include "tests/random_model.h"
#include "tests/test_util.h"

namespace fwsvd::testing {
namespace {

ModelConfig bert_base_config() {
    ModelConfig c;  // the defaults are BERT-base: 12 layers, hidden 768, FFN 3072
    c.set_num_labels(2);
    return c;
}

ModelConfig bert_mini_config() {
    ModelConfig c;
    c.hidden_size = 256;
    c.intermediate_size = 1024;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.set_num_labels(2);
    return c;
}

RankSpec rank_of(int64_t r) {
    RankSpec s;
    s.rule = RankRule::rank;
    s.rank = r;
    return s;
}

RankSpec ratio_of(RankRule rule, double f) {
    RankSpec s;
    s.rule = rule;
    s.ratio = f;
    return s;
}

ErrorKind kind_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.kind();
    }
    ADD_FAILURE() << "no Error thrown";
    return ErrorKind::internal;
}

TEST(RankPlan, ParamRatioIsTheLargestUniformRankWithinTheBudget) {
    for (const ModelConfig& c : {bert_base_config(), bert_mini_config()}) {
        const int64_t r_max = std::min(c.hidden_size, c.intermediate_size);
        for (double f : {0.01, 0.05, 0.1, 0.2, 1.0 / 3, 0.5, 0.6, 0.75, 0.9, 0.99, 1.0}) {
            RankPlan p = plan_ranks(c, ratio_of(RankRule::param_ratio, f));
            ASSERT_GE(p.uniform_rank, 1);
            EXPECT_LE(p.fraction(), f) << "F " << f;
            // The same plan as --rank r, and rank r + 1 would exceed the budget.
            EXPECT_EQ(plan_ranks(c, rank_of(p.uniform_rank)).params_after, p.params_after);
            if (p.uniform_rank < r_max) {
                EXPECT_GT(plan_ranks(c, rank_of(p.uniform_rank + 1)).fraction(), f)
                    << "F " << f << " r " << p.uniform_rank;
            }
            // The count is the documented one: dense in*out, factored r*(in+out), no biases.
            int64_t expect = 0, before = 0;
            for (const auto& l : p.layers) {
                before += l.in * l.out;
                expect += l.factored ? l.rank * (l.in + l.out) : l.in * l.out;
            }
            EXPECT_EQ(p.params_before, before);
            EXPECT_EQ(p.params_after, expect);
        }
    }
    // BERT-base, F = 0.5: 48 layers of 768x768 and 24 of 768x3072 (or 3072x768).
    RankPlan p = plan_ranks(bert_base_config(), ratio_of(RankRule::param_ratio, 0.5));
    const int64_t before = 48 * 768 * 768 + 24 * 768 * 3072;
    EXPECT_EQ(p.params_before, before);
    const int64_t r = p.uniform_rank;
    EXPECT_LE(48 * r * 1536 + 24 * r * 3840, before / 2);
    EXPECT_GT(48 * (r + 1) * 1536 + 24 * (r + 1) * 3840, before / 2);
}

TEST(RankPlan, LayersThatWouldNotShrinkStayDense) {
    // BERT-base at rank 500: 768x768 needs r < 384 to shrink, 768x3072 needs r < 614.4.
    RankPlan p = plan_ranks(bert_base_config(), rank_of(500));
    int64_t factored = 0;
    for (const auto& l : p.layers) {
        if (l.in == l.out) {
            EXPECT_FALSE(l.factored) << l.prefix;
            EXPECT_NE(l.dense_reason.find("does not shrink"), std::string::npos) << l.dense_reason;
        } else {
            EXPECT_TRUE(l.factored) << l.prefix;
            EXPECT_EQ(l.rank, 500);
            ++factored;
        }
    }
    EXPECT_EQ(factored, 24);
    EXPECT_EQ(p.num_factored(), 24);
    // Rank 383 shrinks every layer, 384 keeps the square ones dense.
    EXPECT_EQ(plan_ranks(bert_base_config(), rank_of(383)).num_factored(), 72);
    EXPECT_EQ(plan_ranks(bert_base_config(), rank_of(384)).num_factored(), 24);
    // A rank above min(in, out) never shrinks; force_factor factors at full rank instead.
    EXPECT_EQ(plan_ranks(bert_mini_config(), rank_of(5000)).num_factored(), 0);
    RankPlan forced = plan_ranks(bert_mini_config(), rank_of(5000), "", true);
    EXPECT_EQ(forced.num_factored(), 24);
    for (const auto& l : forced.layers) EXPECT_EQ(l.rank, std::min(l.in, l.out));
}

TEST(RankPlan, RankRatioIsPerLayerAndAtLeastOne) {
    RankPlan p = plan_ranks(bert_mini_config(), ratio_of(RankRule::rank_ratio, 0.25));
    for (const auto& l : p.layers) EXPECT_EQ(l.rank, 64);  // min(in, out) is 256 everywhere
    EXPECT_EQ(p.uniform_rank, 0);
    ModelConfig odd = bert_mini_config();
    odd.hidden_size = 100;
    odd.intermediate_size = 30;
    odd.num_attention_heads = 4;
    RankPlan q = plan_ranks(odd, ratio_of(RankRule::rank_ratio, 0.1));
    for (const auto& l : q.layers) {
        EXPECT_EQ(l.rank, std::llround(0.1 * double(std::min(l.in, l.out)))) << l.prefix;
    }
    RankPlan tiny = plan_ranks(odd, ratio_of(RankRule::rank_ratio, 1e-4));
    for (const auto& l : tiny.layers) EXPECT_EQ(l.rank, 1);
}

TEST(RankPlan, LayerFilter) {
    RankPlan p = plan_ranks(bert_mini_config(), rank_of(16), "intermediate");
    EXPECT_EQ(p.num_factored(), 4);
    for (const auto& l : p.layers) {
        const bool inter = l.prefix.find("intermediate") != std::string::npos;
        EXPECT_EQ(l.factored, inter) << l.prefix;
        EXPECT_EQ(l.selected, inter);
        if (!inter) {
            EXPECT_EQ(l.dense_reason, "not matched by --layers");
        }
    }
    // Searched, not matched whole; ECMAScript.
    EXPECT_EQ(plan_ranks(bert_mini_config(), rank_of(16), R"(layer\.[01]\.attention\.self)")
                  .num_factored(),
              6);
    EXPECT_EQ(kind_of([] { plan_ranks(bert_mini_config(), rank_of(16), "(["); }), ErrorKind::usage);
    EXPECT_EQ(kind_of([] { plan_ranks(bert_mini_config(), rank_of(16), "pooler"); }),
              ErrorKind::usage);
    // Unselected layers count dense, so a small --param-ratio can be out of reach.
    EXPECT_EQ(kind_of([] {
                  plan_ranks(bert_mini_config(), ratio_of(RankRule::param_ratio, 0.1),
                             "intermediate");
              }),
              ErrorKind::usage);
    RankPlan q =
        plan_ranks(bert_mini_config(), ratio_of(RankRule::param_ratio, 0.9), "intermediate");
    EXPECT_LE(q.fraction(), 0.9);
    EXPECT_EQ(q.num_factored(), 4);
}

TEST(RankPlan, InvalidSpecs) {
    const ModelConfig c = bert_mini_config();
    EXPECT_EQ(kind_of([&] { plan_ranks(c, rank_of(0)); }), ErrorKind::usage);
    EXPECT_EQ(kind_of([&] { plan_ranks(c, rank_of(-3)); }), ErrorKind::usage);
    for (double f : {0.0, -0.5, 1.5, std::nan("")}) {
        EXPECT_EQ(kind_of([&] { plan_ranks(c, ratio_of(RankRule::rank_ratio, f)); }),
                  ErrorKind::usage);
        EXPECT_EQ(kind_of([&] { plan_ranks(c, ratio_of(RankRule::param_ratio, f)); }),
                  ErrorKind::usage);
    }
    // Even rank 1 keeps 1·(256+256)/(256·256) of a square layer: F below that is unreachable.
    EXPECT_EQ(kind_of([&] { plan_ranks(c, ratio_of(RankRule::param_ratio, 0.001)); }),
              ErrorKind::usage);
    EXPECT_EQ(rank_of(64).str(), "--rank 64");
    EXPECT_EQ(ratio_of(RankRule::param_ratio, 0.5).str(), "--param-ratio 0.5");
    EXPECT_EQ(ratio_of(RankRule::rank_ratio, 0.25).str(), "--rank-ratio 0.25");
}

// The golden Fisher (transformers' per-example squared gradients, averaged) as a Stats.
Stats golden_fisher(const Golden& g) {
    Stats f;
    for (const auto& prefix : encoder_linear_prefixes(g.model->config())) {
        const std::string name = prefix + ".weight";
        f.fisher[name] = g.expected->read_f32("fisher." + name);
    }
    f.examples = g.rows;
    f.model_checksum = g.model->checksum();
    return f;
}

TEST(Compress, FullRankReproducesTheDenseLogits) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    Session dense(g.model);
    const std::vector<float> ref = dense.logits(g.batch);
    Stats fisher = golden_fisher(g);
    for (const std::string method : {"svd", "fwsvd"}) {
        CompressOptions o;
        o.method = method;
        o.ranks = rank_of(1 << 20);
        o.force_factor = true;  // full rank does not shrink; factor anyway
        CompressResult r = compress_model(*g.model, &fisher, o);
        EXPECT_EQ(r.plan.num_factored(), int64_t(r.plan.layers.size()));
        for (const auto& l : r.layers) {
            EXPECT_EQ(l.plan.rank, std::min(l.plan.in, l.plan.out));
            EXPECT_LT(l.error.plain, 1e-6) << l.plan.prefix;
            EXPECT_LT(l.error.fisher, 1e-6) << l.plan.prefix;
        }
        auto m = Model::from_flat(r.config, r.layout, std::move(r.flat));
        EXPECT_EQ(m->layout().options().ranks.size(), r.layout.options().ranks.size());
        Session s(m);
        std::vector<float> out = s.logits(g.batch);
        ASSERT_EQ(out.size(), ref.size());
        EXPECT_LT(max_rel_diff(out.data(), ref.data(), ref.size()), 1e-4) << method;
    }
}

// The per-head merges of factored projections on trained weights: bert-mini-sst2 at rank 32
// (every output projection and key at rank <= the head size 64, so every layer merges both)
// gives the logits of the same model packed without merges and of the training forward.
TEST(Compress, MergedProjectionsOnBertMiniMatchTheTrainingForward) {
    FWSVD_REQUIRE_SHARED();
    auto mini = Model::load(shared_dir() / "models" / "bert-mini-sst2");
    CompressOptions o;
    o.method = "svd";
    o.ranks = rank_of(32);
    CompressResult r = compress_model(*mini, nullptr, o);
    auto m = Model::from_flat(r.config, r.layout, std::move(r.flat));
    Batch b;
    std::mt19937 gen(5);
    std::uniform_int_distribution<int32_t> id(1000, int32_t(m->config().vocab_size - 1));
    for (int64_t len : {128, 77, 9}) {
        std::vector<int32_t> ids(static_cast<size_t>(len));
        for (auto& v : ids) v = id(gen);
        ids.front() = 101;  // [CLS]
        ids.back() = 102;   // [SEP]
        b.add(ids.data(), nullptr, len);
    }
    Activations acts;
    model_forward(m->params(), m->layout(), b, acts, ForwardOptions{});
    const std::vector<float> want(acts.logits, acts.logits + b.size() * m->config().num_labels());
    auto merged = PackedModel::build(m, PackedOptions{});
    PackedOptions none;
    none.merge_value_output = false;
    none.merge_query_key = false;
    auto separate = PackedModel::build(m, none);
    for (const PackedLayer& l : merged->groups()) {
        EXPECT_TRUE(l.value_output_merged);
        EXPECT_TRUE(l.query_key_merged);
    }
    const std::vector<float> got = Session(merged).logits(b);
    const std::vector<float> sep = Session(separate).logits(b);
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(sep.size(), want.size());
    EXPECT_LT(max_rel_diff(got.data(), want.data(), want.size()), 1e-5);
    EXPECT_LT(max_rel_diff(got.data(), sep.data(), want.size()), 1e-5);
}

TEST(Compress, CheckpointRoundTripAndReport) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    Stats fisher = golden_fisher(g);
    CompressOptions o;
    o.method = "fwsvd";
    o.ranks = rank_of(4);
    o.layers_regex = "layer\\.0\\.";
    CompressResult r = compress_model(*g.model, &fisher, o);
    EXPECT_EQ(r.plan.num_factored(), 6);
    EXPECT_EQ(r.config.raw["low_rank"]["format"], kLowRankFormat);
    EXPECT_EQ(r.config.raw["low_rank"]["method"], "fwsvd");
    EXPECT_EQ(r.config.raw["low_rank"]["ranks"].size(), 6u);
    EXPECT_EQ(r.config.raw["low_rank"]["ranks"]["bert.encoder.layer.0.intermediate.dense"], 4);
    for (const auto& l : r.layers) {
        if (!l.plan.factored) continue;
        EXPECT_GT(l.error.plain, 0);
        EXPECT_GE(l.error.fisher, 0);
    }
    // Parameter counts: the layout's entries.
    int64_t n = 0;
    for (const auto& e : r.layout.entries()) n += e.numel;
    EXPECT_EQ(r.model_params_after, n);
    EXPECT_EQ(r.model_params_before, g.model->num_params());
    auto j = compress_report_json(r);
    EXPECT_EQ(j["factored_layers"], 6);
    EXPECT_EQ(j["encoder_linear"]["params_after"], r.plan.params_after);
    EXPECT_EQ(j["layers"].size(), r.plan.layers.size());
    EXPECT_TRUE(j["layers"][0].contains("fisher_rel_error"));
    EXPECT_TRUE(j["layers"][11].contains("dense_reason"));

    // Written and loaded back: the same logits as the model in memory.
    TempDir tmp;
    save_checkpoint(tmp / "out", r.config, r.layout, r.flat.data<float>(), "");
    auto loaded = Model::load(tmp / "out");
    EXPECT_EQ(loaded->layout().options().ranks, r.layout.options().ranks);
    EXPECT_EQ(loaded->config().raw["low_rank"]["ranks"], r.config.raw["low_rank"]["ranks"]);
    auto mem = Model::from_flat(r.config, r.layout, r.flat);
    Session a(loaded), b(mem);
    std::vector<float> la = a.logits(g.batch), lb = b.logits(g.batch);
    EXPECT_LT(max_rel_diff(la.data(), lb.data(), la.size()), 1e-6);

    // A factored model is refused.
    CompressOptions again;
    again.ranks = rank_of(2);
    EXPECT_THROW(compress_model(*loaded, nullptr, again), Error);
}

TEST(Compress, FactoredWordEmbeddings) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    const ModelConfig& c = g.model->config();
    const int64_t V = c.vocab_size, E = c.embedding_dim();
    CompressOptions o;
    o.method = "svd";
    o.ranks = rank_of(4);
    o.embedding_rank = 3;
    CompressResult r = compress_model(*g.model, nullptr, o);
    EXPECT_EQ(r.embeddings.rank, 3);
    EXPECT_EQ(r.embeddings.params_before, V * E);
    EXPECT_EQ(r.embeddings.params_after, 3 * (V + E));
    EXPECT_GT(r.embeddings.rel_error, 0);
    EXPECT_LT(r.embeddings.rel_error, 1);
    const std::string word = word_embeddings_prefix(c);
    EXPECT_EQ(r.layout.find(word + ".weight"), nullptr);
    ASSERT_NE(r.layout.find(word + ".weight_a"), nullptr);
    EXPECT_EQ(r.config.raw["low_rank"]["ranks"][word], 3);
    int64_t n = 0;
    for (const auto& e : r.layout.entries()) n += e.numel;
    EXPECT_EQ(r.model_params_after, n);
    EXPECT_EQ(compress_report_json(r)["word_embeddings"]["rank"], 3);

    // Written and loaded back: the session's logits are the in-memory model's.
    TempDir tmp;
    save_checkpoint(tmp / "out", r.config, r.layout, r.flat.data<float>(), "");
    auto loaded = Model::load(tmp / "out");
    EXPECT_EQ(loaded->layout().options().ranks.at(word), 3);
    Session a(loaded);
    std::vector<float> la = a.logits(g.batch);
    Activations acts;
    auto mem = Model::from_flat(r.config, r.layout, r.flat);
    model_forward(mem->params(), mem->layout(), g.batch, acts, ForwardOptions{});
    EXPECT_LT(max_rel_diff(la.data(), acts.logits, la.size()), 1e-5);

    // A rank that would not shrink the table: r (V + E) >= V E.
    o.embedding_rank = V * E / (V + E) + 1;
    EXPECT_THROW(compress_model(*g.model, nullptr, o), Error);
    o.embedding_rank = V * E / (V + E);
    EXPECT_NO_THROW(compress_model(*g.model, nullptr, o));
}

TEST(Compress, Refusals) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    CompressOptions o;
    o.method = "fwsvd";
    o.ranks = rank_of(4);
    EXPECT_EQ(kind_of([&] { compress_model(*g.model, nullptr, o); }), ErrorKind::usage);
    // A Fisher without the layer's tensor, or of the wrong shape.
    Stats partial = golden_fisher(g);
    partial.fisher.erase("bert.encoder.layer.1.output.dense.weight");
    EXPECT_THROW(compress_model(*g.model, &partial, o), Error);
    Stats wrong = golden_fisher(g);
    wrong.fisher["bert.encoder.layer.0.attention.self.query.weight"] = Tensor::zeros({3, 3});
    EXPECT_THROW(compress_model(*g.model, &wrong, o), Error);
    // Nothing would shrink.
    o.method = "svd";
    o.ranks = rank_of(32);
    EXPECT_THROW(compress_model(*g.model, nullptr, o), Error);
}

// A BERT-base-sized encoder with random weights: the time to factor all 72 linear layers.
// Run with --gtest_also_run_disabled_tests --gtest_filter='*BertBase*' (it takes tens of seconds).
TEST(Compress, DISABLED_BertBaseTiming) {
    ModelConfig c = bert_base_config();
    auto model = random_model(c, {}, 1);
    std::mt19937 rng(1);
    for (auto [method, rank] : {std::pair{std::string("svd"), int64_t(128)},
                                std::pair{std::string("fwsvd"), int64_t(128)}}) {
        Stats fisher;
        if (method == "fwsvd") {
            for (const auto& prefix : encoder_linear_prefixes(c)) {
                auto [in, out] = linear_shape(c, prefix);
                Tensor t = Tensor::zeros({out, in});
                std::uniform_real_distribution<float> u(0.f, 1.f);
                for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng) * u(rng);
                fisher.fisher[prefix + ".weight"] = t;
            }
        }
        CompressOptions o;
        o.method = method;
        o.ranks = rank_of(rank);
        CompressResult r = compress_model(*model, method == "fwsvd" ? &fisher : nullptr, o);
        double layer_s = 0;
        for (const auto& l : r.layers) layer_s += l.seconds;
        std::printf(
            "BERT-base %s rank %lld: %lld layers in %.2f s wall (%.2f s summed over "
            "layers, %d threads)\n",
            method.c_str(), (long long)rank, (long long)r.plan.num_factored(), r.seconds, layer_s,
            omp_get_max_threads());
        EXPECT_EQ(r.plan.num_factored(), 72);
    }
}

}  // namespace
}  // namespace fwsvd::testing
