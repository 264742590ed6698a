// The inference Session (packed oneDNN GEMMs, fused Q/K/V, fused epilogues, fwsvd's SIMD
// kernels) against the training-form forward model_forward on models built in memory: factored
// (all Q/K/V factored: one GEMM for the three first factors; mixed dense and factored; factored
// pooler), dense, and dense written as factored at full rank with A = I. Also: Sessions of one
// model share its packed weights, work from several threads at once, and give the same logits
// whatever batches came before.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "models/forward.h"
#include "models/session.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "tests/random_model.h"
#include "tests/test_util.h"

namespace fwsvd::testing {
namespace {

constexpr double kTol = 1e-5;  // max |session - model_forward| / max |model_forward| of the logits

ModelConfig small_config(const std::string& act = "gelu") {
    ModelConfig c;
    c.vocab_size = 50;
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.intermediate_size = 96;
    c.max_position_embeddings = 40;
    c.hidden_act = act;
    c.set_num_labels(3);
    return c;
}

// Larger weights than trained models (so that errors show) and perturbed LayerNorm gammas.
constexpr RandomWeights kWeights{0.15f, 0.1f};

std::shared_ptr<const Model> random_model(const ModelConfig& c,
                                          const std::map<std::string, int64_t>& ranks,
                                          uint64_t seed) {
    return testing::random_model(c, ranks, seed, kWeights);
}

// Sequences of several lengths, one right-padded (keys < len) as Hugging Face batches are.
Batch test_batch(const ModelConfig& c, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int32_t> id(0, int32_t(c.vocab_size - 1));
    Batch b;
    for (auto [len, keys] :
         {std::pair<int64_t, int64_t>{7, 7}, {23, 23}, {12, 9}, {1, 1}, {33, 33}}) {
        std::vector<int32_t> ids(static_cast<size_t>(len)), types(static_cast<size_t>(len));
        for (int64_t i = 0; i < len; ++i) {
            ids[size_t(i)] = id(gen);
            types[size_t(i)] = i >= len / 2 ? 1 : 0;
        }
        b.add(ids.data(), types.data(), len, keys);
    }
    return b;
}

std::vector<float> reference_logits(const Model& m, const Batch& b) {
    Activations acts;
    model_forward(m.params(), m.layout(), b, acts, ForwardOptions{});
    const size_t n = size_t(b.size() * m.config().num_labels());
    return std::vector<float>(acts.logits, acts.logits + n);
}

void expect_session_matches(const std::shared_ptr<const Model>& m, const char* what) {
    SCOPED_TRACE(what);
    const Batch b = test_batch(m->config(), 11);
    const std::vector<float> want = reference_logits(*m, b);
    Session session(m);
    const std::vector<float> got = session.logits(b);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LT(max_rel_diff(got.data(), want.data(), got.size()), kTol);
}

std::map<std::string, int64_t> varied_ranks(const ModelConfig& c, bool skip_query) {
    std::map<std::string, int64_t> ranks;
    int64_t r = 5;
    for (const auto& prefix : encoder_linear_prefixes(c)) {
        if (skip_query && prefix.find("attention.self.query") != std::string::npos) continue;
        ranks[prefix] = r;
        r = r % 23 + 3;  // ranks differ layer by layer, as FWSVD's allocation gives
    }
    return ranks;
}

TEST(Session, FactoredModelMatchesTrainingForward) {
    const ModelConfig c = small_config();
    // Every Q/K/V factored: the fused [Aq; Ak; Av] GEMM, then each B.
    expect_session_matches(random_model(c, varied_ranks(c, false), 1), "all factored");
    // Query dense, key/value factored: the separate Q/K/V path.
    expect_session_matches(random_model(c, varied_ranks(c, true), 2), "mixed dense/factored");
    // Pooler and classifier factored too.
    auto ranks = varied_ranks(c, false);
    ranks["bert.pooler.dense"] = 7;
    ranks["classifier"] = 2;
    expect_session_matches(random_model(c, ranks, 3), "factored head");
}

// Factored word embeddings: the session gathers codes [T, r] and multiplies by the second
// factor, the training forward does the same through its own path.
TEST(Session, FactoredWordEmbeddingsMatchTrainingForward) {
    const ModelConfig c = small_config();
    std::map<std::string, int64_t> ranks;
    ranks[word_embeddings_prefix(c)] = 9;
    expect_session_matches(random_model(c, ranks, 5), "word embeddings only");
    ranks = varied_ranks(c, false);
    ranks[word_embeddings_prefix(c)] = 4;
    expect_session_matches(random_model(c, ranks, 6), "word embeddings and encoder");
}

TEST(Session, DenseModelMatchesTrainingForward) {
    for (const char* act : {"gelu", "gelu_new", "relu", "silu"}) {
        expect_session_matches(random_model(small_config(act), {}, 4), act);
    }
}

// A dense model and the same weights written as factored layers at full rank with A = I
// (B = W) give the same logits.
TEST(Session, FullRankIdentityFactorsMatchDense) {
    const ModelConfig c = small_config();
    auto dense = random_model(c, {}, 5);
    std::map<std::string, int64_t> ranks;
    for (const auto& prefix : encoder_linear_prefixes(c))
        ranks[prefix] = linear_shape(c, prefix).first;
    LayoutOptions options;
    options.ranks = ranks;
    ParamLayout layout(c, options);
    Tensor flat = Tensor::zeros({layout.total_floats()});
    for (const ParamEntry& e : layout.entries()) {
        float* p = flat.data<float>() + e.offset;
        auto ends_with = [&](const std::string& s) {
            return e.name.size() >= s.size() &&
                   e.name.compare(e.name.size() - s.size(), s.size(), s) == 0;
        };
        if (ends_with(".weight_a")) {
            for (int64_t i = 0; i < e.shape[0]; ++i) p[i * e.shape[1] + i] = 1.0f;  // A = I
        } else if (ends_with(".weight_b")) {
            const std::string w = e.name.substr(0, e.name.size() - 9) + ".weight";
            std::copy_n(dense->find_data(w), e.numel, p);  // B = W
        } else {
            std::copy_n(dense->find_data(e.name), e.numel, p);
        }
    }
    auto factored = Model::from_flat(c, layout, std::move(flat));
    const Batch b = test_batch(c, 12);
    Session sd(dense), sf(factored);
    const auto ld = sd.logits(b), lf = sf.logits(b);
    EXPECT_LT(max_rel_diff(lf.data(), ld.data(), ld.size()), kTol);
}

TEST(Session, SessionsShareThePackedModelAndRunConcurrently) {
    const ModelConfig c = small_config();
    auto m = random_model(c, varied_ranks(c, false), 6);
    Session a(m), b(m);
    EXPECT_EQ(&a.packed(), &b.packed()) << "one PackedModel per model";
    const Batch batch = test_batch(c, 13);
    const std::vector<float> want = a.logits(batch);
    std::vector<std::vector<float>> got(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            Session s(m);
            for (int i = 0; i < 5; ++i) got[size_t(t)] = s.logits(batch);
        });
    }
    for (auto& th : threads) th.join();
    for (const auto& g : got) {
        ASSERT_EQ(g.size(), want.size());
        EXPECT_LT(max_rel_diff(g.data(), want.data(), g.size()), 1e-6);
    }
}

// `count` sequences of lengths cycling through 1..max_len (every fifth right-padded).
Batch long_batch(const ModelConfig& c, int count, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int32_t> id(0, int32_t(c.vocab_size - 1));
    Batch b;
    for (int s = 0; s < count; ++s) {
        const int64_t len = 1 + (s * 7) % c.max_position_embeddings;
        std::vector<int32_t> ids(static_cast<size_t>(len));
        for (auto& v : ids) v = id(gen);
        b.add(ids.data(), nullptr, len, s % 5 == 4 && len > 2 ? len - 2 : len);
    }
    return b;
}

// With several threads the encoder of a small model runs in one parallel region, each thread on
// its own rows (GEMMs on row blocks that are multiples of 16 or 64, the last one padded) and its
// share of the attention items; with one thread it runs whole-batch GEMMs. All give model_forward's
// logits, on teams of 1, 2 and 3 threads, for a batch of 76 rows (blocks of 16), of 1,210 rows
// (blocks of 64 on 2 threads; a 1024-row GEMM chunk and the rest on 1) and of 12 rows (too few to
// split: one thread, oneDNN forking its own).
// The last layer runs past its Q/K/V for the [CLS] rows only, reading Q/K/V from the buffer of
// its parity in a team: models of 1 and 3 layers cover an even last layer.
TEST(Session, OneParallelRegionPerForwardMatchesOneThread) {
    const ModelConfig c = small_config();
    ModelConfig one_layer = c, three_layers = c;
    one_layer.num_hidden_layers = 1;
    three_layers.num_hidden_layers = 3;
    struct Case {
        const char* what;
        std::shared_ptr<const Model> model;
    };
    const Case cases[] = {
        {"dense", random_model(c, {}, 21)},
        {"all factored", random_model(c, varied_ranks(c, false), 22)},
        {"mixed", random_model(c, varied_ranks(c, true), 23)},
        {"relu", random_model(small_config("relu"), {}, 24)},
        {"dense, 1 layer", random_model(one_layer, {}, 25)},
        {"factored, 3 layers", random_model(three_layers, varied_ranks(three_layers, false), 26)}};
    Batch tiny;
    const int32_t ids[12] = {3, 9, 27, 1, 4, 4, 8, 30, 2, 11, 19, 6};
    tiny.add(ids, nullptr, 12);
    const Batch batches[] = {test_batch(c, 15), long_batch(c, 60, 16), tiny};
    const int saved = num_threads();
    for (const Case& cs : cases) {
        SCOPED_TRACE(cs.what);
        for (const Batch& b : batches) {
            SCOPED_TRACE("tokens=" + std::to_string(b.tokens()));
            const std::vector<float> want = reference_logits(*cs.model, b);
            Session session(cs.model);
            for (int threads : {1, 2, 3, 1}) {
                SCOPED_TRACE("threads=" + std::to_string(threads));
                set_num_threads(threads);
                const std::vector<float> got = session.logits(b);
                ASSERT_EQ(got.size(), want.size());
                EXPECT_LT(max_rel_diff(got.data(), want.data(), got.size()), kTol);
            }
        }
    }
    set_num_threads(saved);
}

// The defaults by layer size: small layers run in one parallel region with the inference GELU
// kernel; layers above region_max_layer_bytes (forced here with 0) keep oneDNN's split of each
// GEMM and the GELU post-op. Every combination, on 1 and 2 threads, gives model_forward's logits.
TEST(Session, RegionAndGeluChoicesMatchTrainingForward) {
    const ModelConfig c = small_config();
    auto m = random_model(c, varied_ranks(c, false), 31);
    const Batch b = test_batch(c, 17);
    const std::vector<float> want = reference_logits(*m, b);
    const int saved = num_threads();
    for (size_t max_bytes : {size_t(0), size_t(10) << 20}) {
        for (std::optional<bool> fuse :
             {std::optional<bool>(), std::optional<bool>(true), std::optional<bool>(false)}) {
            PackedOptions options;
            options.region_max_layer_bytes = max_bytes;
            options.fuse_gelu = fuse;
            auto packed = PackedModel::build(m, options);
            EXPECT_EQ(packed->one_region(), max_bytes > 0);
            EXPECT_EQ(packed->gelu_fused(), fuse.value_or(max_bytes == 0));
            Session session(packed);
            for (int threads : {1, 2}) {
                SCOPED_TRACE("max_bytes=" + std::to_string(max_bytes) +
                             " fuse=" + (fuse ? std::to_string(*fuse) : "unset") +
                             " threads=" + std::to_string(threads));
                set_num_threads(threads);
                const std::vector<float> got = session.logits(b);
                ASSERT_EQ(got.size(), want.size());
                EXPECT_LT(max_rel_diff(got.data(), want.data(), got.size()), kTol);
            }
        }
    }
    set_num_threads(saved);
}

// Value and output projections merged per head where the output projection's rank is at most
// the head size (16 here; layer 1's output projection at rank 20 does not merge), query and key
// where the key's rank is (layer 0's key at rank 20 does not), each or neither: all give
// model_forward's logits, on 1 and 2 threads. The merges must also carry the value and query
// biases (random here) into the output bias and the merged queries' bias.
TEST(Session, MergedProjectionsMatchTrainingForward) {
    const ModelConfig c = small_config();
    ModelConfig three_layers = c;
    three_layers.num_hidden_layers = 3;
    const int saved = num_threads();
    for (const ModelConfig& cfg : {c, three_layers}) {
        auto ranks = varied_ranks(cfg, false);
        ranks["bert.encoder.layer.1.attention.output.dense"] = 20;  // > head size: not merged
        ranks["bert.encoder.layer.0.attention.self.key"] = 20;
        auto m = random_model(cfg, ranks, 41);
        const Batch b = test_batch(cfg, 19);
        const std::vector<float> want = reference_logits(*m, b);
        int merged_vo = 0, merged_qk = 0;
        for (int variant = 0; variant < 4; ++variant) {
            const bool vo = (variant & 1) != 0, qk = (variant & 2) != 0;
            PackedOptions options;
            options.merge_value_output = vo;
            options.merge_query_key = qk;
            auto packed = PackedModel::build(m, options);
            for (int64_t l = 0; l < packed->num_layers(); ++l) {
                const PackedLayer& pl = packed->layer(l);
                const int64_t ro = m->params().layers[l].attn_out.rank;
                const int64_t rk = m->params().layers[l].key.rank;
                EXPECT_EQ(pl.value_output_merged, vo && ro <= cfg.head_dim()) << "layer " << l;
                EXPECT_EQ(pl.query_key_merged, qk && rk <= cfg.head_dim()) << "layer " << l;
                merged_vo += pl.value_output_merged ? 1 : 0;
                merged_qk += pl.query_key_merged ? 1 : 0;
            }
            Session session(packed);
            for (int threads : {1, 2}) {
                SCOPED_TRACE("layers=" + std::to_string(cfg.num_hidden_layers) +
                             " merge V/O=" + std::to_string(vo) + " Q/K=" + std::to_string(qk) +
                             " threads=" + std::to_string(threads));
                set_num_threads(threads);
                const std::vector<float> got = session.logits(b);
                ASSERT_EQ(got.size(), want.size());
                EXPECT_LT(max_rel_diff(got.data(), want.data(), got.size()), kTol);
            }
        }
        EXPECT_GT(merged_vo, 0) << "no V/O merged: the test would not test the merge";
        EXPECT_GT(merged_qk, 0) << "no Q/K merged: the test would not test the merge";
    }
    set_num_threads(saved);
}

// --precision bf16: dense and factored models (merged or not, one region or not) on 1 and 2
// threads stay within bf16's rounding of the training forward's logits (5e-2 normwise; measured
// below 1e-2), and differ from them by more than f32's 1e-5 (the encoder's GEMMs did round). The
// packed form of each precision is its own (PackedModel::of), with half the weight bytes.
TEST(Session, Bf16StaysWithinItsRoundingOfTrainingForward) {
    if (!kernels::bf16_matmul_supported()) GTEST_SKIP() << "this CPU lacks AVX512_BF16";
    const ModelConfig c = small_config();
    const int saved = num_threads();
    PackedOptions bf16;
    bf16.precision = kernels::MatmulPrecision::bf16;
    for (bool factored : {false, true}) {
        auto m = random_model(
            c, factored ? varied_ranks(c, false) : std::map<std::string, int64_t>{}, 43);
        const Batch b = test_batch(c, 19);
        const std::vector<float> want = reference_logits(*m, b);
        Session f32_session(m);
        Session bf16_session(m, bf16);
        EXPECT_EQ(bf16_session.packed().precision(), kernels::MatmulPrecision::bf16);
        EXPECT_EQ(f32_session.packed().precision(), kernels::MatmulPrecision::f32);
        EXPECT_LT(bf16_session.packed().packed_bytes(), f32_session.packed().packed_bytes());
        EXPECT_EQ(&Session(m, bf16).packed(), &bf16_session.packed()) << "not shared";
        for (bool region : {false, true}) {
            PackedOptions o = bf16;
            o.region_max_layer_bytes = region ? size_t(1) << 30 : 0;
            Session session(PackedModel::build(m, o));
            for (int threads : {1, 2}) {
                SCOPED_TRACE("factored=" + std::to_string(factored) + " region=" +
                             std::to_string(region) + " threads=" + std::to_string(threads));
                set_num_threads(threads);
                const std::vector<float> got = session.logits(b);
                ASSERT_EQ(got.size(), want.size());
                const double diff = max_rel_diff(got.data(), want.data(), got.size());
                EXPECT_LT(diff, 5e-2);
                EXPECT_GT(diff, kTol) << "no bf16 rounding seen";
            }
        }
    }
    set_num_threads(saved);
}

// --precision int8: dense and factored models (merged or not, one region or not) on 1 and 2
// threads stay within int8's quantisation of the training forward's logits (0.25 normwise on
// these random models, whose weights are 7x BERT's scale and whose logits are small; measured
// 0.116 dense, 0.007 factored, spread over every layer rather than one) and differ from them by
// more than 1e-3 (far above f32's 1e-5: an int8 request that ran f32 fails). Each set of int8
// options packs its own form, with a quarter of the weight bytes.
TEST(Session, Int8StaysWithinItsQuantisationOfTrainingForward) {
    const ModelConfig c = small_config();
    const int saved = num_threads();
    PackedOptions int8;
    int8.precision = kernels::MatmulPrecision::int8;
    for (bool factored : {false, true}) {
        auto m = random_model(
            c, factored ? varied_ranks(c, false) : std::map<std::string, int64_t>{}, 43);
        const Batch b = test_batch(c, 19);
        const std::vector<float> want = reference_logits(*m, b);
        Session f32_session(m);
        Session int8_session(m, int8);
        EXPECT_EQ(int8_session.packed().precision(), kernels::MatmulPrecision::int8);
        EXPECT_TRUE(int8_session.packed().precision_note().empty());
        EXPECT_EQ(int8_session.packed().f32_gemms(), 0);
        EXPECT_GT(int8_session.packed().int8_gemms(), 0);
        EXPECT_LT(int8_session.packed().packed_bytes(), f32_session.packed().packed_bytes());
        EXPECT_EQ(&Session(m, int8).packed(), &int8_session.packed()) << "not shared";
        PackedOptions per_tensor = int8;
        per_tensor.int8.per_tensor = true;
        EXPECT_NE(&Session(m, per_tensor).packed(), &int8_session.packed());
        for (bool region : {false, true}) {
            PackedOptions o = int8;
            o.region_max_layer_bytes = region ? size_t(1) << 30 : 0;
            Session session(PackedModel::build(m, o));
            for (int threads : {1, 2}) {
                SCOPED_TRACE("factored=" + std::to_string(factored) + " region=" +
                             std::to_string(region) + " threads=" + std::to_string(threads));
                set_num_threads(threads);
                const std::vector<float> got = session.logits(b);
                ASSERT_EQ(got.size(), want.size());
                const double diff = max_rel_diff(got.data(), want.data(), got.size());
                EXPECT_LT(diff, 0.25);
                EXPECT_GT(diff, 1e-3) << "no int8 quantisation seen";
            }
        }
    }
    set_num_threads(saved);
}

// --int8-skip: layers it names stay f32 (every layer: the f32 logits, bit for bit); a fused
// Q/K/V GEMM stays f32 if any of its three does; a pattern that matches nothing, or is not a
// regular expression, or is given without int8, is an error. --int8-middle f32: the second
// factors of factored layers in f32.
TEST(Session, Int8SkipAndMiddleChooseLayersInF32) {
    const ModelConfig c = small_config();
    auto dense = random_model(c, {}, 44);
    const Batch b = test_batch(c, 20);
    const std::vector<float> f32 = Session(dense).logits(b);
    PackedOptions o;
    o.precision = kernels::MatmulPrecision::int8;
    const int64_t gemms = PackedModel::build(dense, o)->int8_gemms();
    EXPECT_EQ(gemms, 4 * c.num_hidden_layers);  // Q/K/V fused, output, intermediate, output
    o.int8.skip = ".";
    auto all = PackedModel::build(dense, o);
    EXPECT_EQ(all->int8_gemms(), 0);
    EXPECT_EQ(all->f32_gemms(), gemms);
    EXPECT_EQ(Session(all).logits(b), f32);
    o.int8.skip = "layer\\.0\\.intermediate|layer\\.1\\.attention\\.self\\.key";
    auto two = PackedModel::build(dense, o);
    EXPECT_EQ(two->f32_gemms(), 2);
    EXPECT_EQ(two->int8_gemms(), gemms - 2);
    for (const char* bad : {"decoder", "(", "layer.[0"}) {
        o.int8.skip = bad;
        EXPECT_THROW(PackedModel::build(dense, o), Error) << bad;
    }
    PackedOptions not_int8;
    not_int8.int8.skip = "layer";
    EXPECT_THROW(PackedModel::build(dense, not_int8), Error);

    auto factored = random_model(c, varied_ranks(c, false), 45);
    const std::vector<float> want = reference_logits(*factored, b);
    PackedOptions q;
    q.precision = kernels::MatmulPrecision::int8;
    PackedOptions middle = q;
    middle.int8.middle_f32 = true;
    auto int8_middle = PackedModel::build(factored, q);
    auto f32_middle = PackedModel::build(factored, middle);
    EXPECT_EQ(int8_middle->f32_gemms(), 0);
    EXPECT_GT(f32_middle->f32_gemms(), 0);
    EXPECT_GT(f32_middle->int8_gemms(), 0);
    EXPECT_EQ(f32_middle->f32_gemms() + f32_middle->int8_gemms(), int8_middle->int8_gemms());
    const std::vector<float> a = Session(int8_middle).logits(b);
    const std::vector<float> m = Session(f32_middle).logits(b);
    EXPECT_NE(a, m);
    EXPECT_LT(max_rel_diff(m.data(), want.data(), m.size()), 0.1);
}

TEST(Session, LogitsDoNotDependOnEarlierBatches) {
    const ModelConfig c = small_config();
    auto m = random_model(c, {}, 7);
    const Batch big = test_batch(c, 14);
    Batch small;
    const int32_t ids[4] = {3, 9, 27, 1};
    small.add(ids, nullptr, 4);
    Session fresh(m);
    const auto want = fresh.logits(small);
    Session used(m);
    used.logits(big);
    used.logits(small);
    used.logits(big);
    EXPECT_EQ(used.logits(small), want);
}

TEST(Session, ForwardFlopsCountsLinearsAndAttention) {
    const ModelConfig c = small_config();
    auto dense = random_model(c, {}, 8);
    Batch b;
    const int32_t ids[5] = {1, 2, 3, 4, 5};
    b.add(ids, nullptr, 5);
    const double H = 64, I = 96, N = 5, L = 2, C = 3;
    const double per_layer = 2 * N * (4 * H * H + 2 * H * I) + 4 * N * N * H;
    // The last layer runs Q/K/V on every row, the rest on the one [CLS] row.
    const double last_layer = 2 * N * 3 * H * H + 2 * (H * H + 2 * H * I) + 4 * N * H;
    EXPECT_DOUBLE_EQ(forward_flops(*PackedModel::of(dense), b),
                     (L - 1) * per_layer + last_layer + 2 * (H * H + H * C));

    // Every encoder linear layer at rank 4 (<= head size 16): V and O merge, the output
    // projection's first factor is not run; Q and K merge, the key's second factor is not run.
    std::map<std::string, int64_t> ranks;
    for (const auto& prefix : encoder_linear_prefixes(c)) ranks[prefix] = 4;
    auto factored = random_model(c, ranks, 9);
    const double r = 4;
    auto layer = [&](double rows, double queries) {
        return 2 * N * 3 * r * 2 * H - 2 * N * r * H             // Q/K/V on every row, no B_k
               + 2 * rows * (r * H + r * (H + I) + r * (I + H))  // B_o only, FFN
               + 4 * queries * N * H;
    };
    EXPECT_DOUBLE_EQ(forward_flops(*PackedModel::of(factored), b),
                     (L - 1) * layer(N, N) + layer(1, 1) + 2 * (H * H + H * C));
    PackedOptions separate;
    separate.merge_value_output = false;
    separate.merge_query_key = false;
    EXPECT_DOUBLE_EQ(forward_flops(*PackedModel::build(factored, separate), b),
                     (L - 1) * layer(N, N) + layer(1, 1) + 2 * (H * H + H * C) +
                         (L - 1) * 2 * r * H * N + 2 * r * H + L * 2 * N * r * H);
}

}  // namespace
}  // namespace fwsvd::testing
