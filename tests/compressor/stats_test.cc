// compute_stats against the definitions: the Fisher as one separate backward per example, squared,
// averaged (also for a layout whose layers share parameters), the input statistics as mean |x| and
// E[x xᵀ] over the rows of each linear layer's saved input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <tuple>

#include "compressor/stats.h"
#include "models/backward.h"
#include "models/encoder_layer.h"
#include "models/forward.h"
#include "runtime/error.h"
#include "tests/models/golden_util.h"

namespace fwsvd::testing {
namespace {

// The definition, naively: a full backward per example in sum mode, squared.
std::map<std::string, std::vector<double>> naive_fisher(const Model& m, const EncodedData& d) {
    const ParamLayout& layout = m.layout();
    std::map<std::string, std::vector<double>> out;
    for (size_t i = 0; i < d.encodings.size(); ++i) {
        Batch b;
        b.add(d.encodings[i].ids.data(), d.encodings[i].type_ids.data(),
              int64_t(d.encodings[i].ids.size()));
        Targets t;
        if (m.config().is_regression()) {
            t.values = {d.targets.values[i]};
        } else {
            t.classes = {d.targets.classes[i]};
        }
        Activations acts;
        model_forward(m.params(), layout, b, acts, ForwardOptions{});
        model_loss(layout, acts, t);
        Tensor grad = Tensor::zeros({layout.total_floats()});
        float one = 1.0f;
        BackwardWorkspace ws;
        model_backward(layout.bind(grad.data<float>()), m.params(), layout, b, acts, t, &one,
                       GradMode::sum, ws);
        for (const auto& e : layout.entries()) {
            auto& v = out[e.name];
            v.resize(size_t(e.numel), 0.0);
            for (int64_t k = 0; k < e.numel; ++k) {
                double gk = grad.data<float>()[e.offset + k];
                v[size_t(k)] += gk * gk / double(d.encodings.size());
            }
        }
    }
    return out;
}

class FisherDefinition : public ::testing::TestWithParam<std::string> {};

TEST_P(FisherDefinition, BatchedPerExampleEqualsOneBackwardPerExample) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden(GetParam());
    EncodedData d = golden_data(g);
    StatsOptions fo;
    fo.all_params = true;
    fo.batch_size = 2;  // batches of 2 and 1: examples share a batched pass
    Stats f = compute_stats(*g.model, d, fo, nullptr);
    EXPECT_EQ(f.examples, int64_t(d.encodings.size()));
    EXPECT_EQ(f.model_checksum.size(), 64u);
    auto ref = naive_fisher(*g.model, d);
    ASSERT_EQ(f.fisher.size(), ref.size());
    double scale = 0;
    for (const auto& [name, r] : ref) {
        for (double x : r) scale = std::max(scale, std::abs(x));
    }
    for (const auto& [name, t] : f.fisher) {
        const auto& r = ref.at(name);
        double num = 0, den = 0;
        for (size_t k = 0; k < r.size(); ++k) {
            num = std::max(num, std::abs(double(t.data<float>()[k]) - r[k]));
            den = std::max(den, std::abs(r[k]));
        }
        // Parameters whose Fisher is 0 up to round-off (key biases) must stay ~0 on the scale of
        // the largest Fisher value; every other one within 1e-4 relative.
        if (den < 1e-10 * scale) {
            EXPECT_LT(num, 1e-6 * scale) << name;
        } else {
            EXPECT_LE(num, 1e-4 * den) << name;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, FisherDefinition, ::testing::Values("tiny-cls", "tiny-reg"));
INSTANTIATE_TEST_SUITE_P(Families, FisherDefinition, ::testing::ValuesIn(family_goldens()),
                         [](const auto& param_info) {
                             std::string n = param_info.param;
                             for (char& ch : n) ch = ch == '-' ? '_' : ch;
                             return n;
                         });

// ALBERT's layers share one parameter group: its Fisher is the mean of the square of each
// example's gradient summed over the layers (transformers' fisher.*), not the sum over the layers
// of each use's squared gradient (fisher_per_use.*, what squaring per use would give).
TEST(Fisher, SharedParametersSquareTheGradientSummedOverTheirUses) {
    Golden g = load_golden("albert");
    ASSERT_TRUE(g.model->layout().has_shared());
    StatsOptions o;
    o.all_params = true;
    Stats f = compute_stats(*g.model, golden_data(g), o, nullptr);
    auto max_of = [](const float* p, int64_t n) {
        double m = 0;
        for (int64_t i = 0; i < n; ++i) m = std::max(m, double(std::abs(p[i])));
        return m;
    };
    double scale = 0;
    for (const auto& e : g.model->layout().entries()) {
        Tensor ref = g.expected->read_f32("fisher." + e.name, &e.shape);
        scale = std::max(scale, max_of(ref.data<float>(), e.numel));
    }
    int shared = 0, differ = 0;
    double worst = 0;
    for (const auto& e : g.model->layout().entries()) {
        Tensor ref = g.expected->read_f32("fisher." + e.name, &e.shape);
        const float* ours = f.fisher.at(e.name).data<float>();
        // A Fisher that is zero up to float64 round-off (the key bias) must be ~0 here too.
        const bool zero = max_of(ref.data<float>(), e.numel) < 1e-10 * scale;
        if (zero) {
            EXPECT_LT(max_of(ours, e.numel), 1e-6 * scale) << e.name;
        } else {
            const double d = max_rel_diff(ours, ref.data<float>(), size_t(e.numel));
            EXPECT_LT(d, 1e-4) << e.name;
            worst = std::max(worst, d);
        }
        if (e.uses < 2) continue;
        ++shared;
        Tensor per_use = g.expected->read_f32("fisher_per_use." + e.name, &e.shape);
        if (!zero && max_rel_diff(ours, per_use.data<float>(), size_t(e.numel)) > 0.1) ++differ;
    }
    std::printf("albert: max relative Fisher difference to transformers %.3g\n", worst);
    EXPECT_EQ(shared, 16);
    // Every shared parameter but the key bias (gradient zero up to round-off) differs.
    EXPECT_GE(differ, 15);
}

class InputStats : public ::testing::TestWithParam<std::string> {};

// mean |x| and E[x xᵀ] of every linear layer's input, against the saved activations of one
// training-form forward over all examples (a shared group: the rows of every layer using it).
TEST_P(InputStats, MeanAbsAndCovarianceOfEachLayerInput) {
    Golden g = load_golden(GetParam());
    const ModelConfig& c = g.model->config();
    EncodedData d = golden_data(g);
    StatsOptions o;
    o.kinds = kStatInputAbsMean | kStatInputCov;
    o.batch_size = 2;
    Stats s = compute_stats(*g.model, d, o, nullptr);
    EXPECT_TRUE(s.fisher.empty());

    Batch all;
    for (const auto& e : d.encodings)
        all.add(e.ids.data(), e.type_ids.data(), int64_t(e.ids.size()));
    Activations acts;
    ForwardOptions fo;
    fo.head = false;
    model_forward(g.model->params(), g.model->layout(), all, acts, fo);
    for (const LinearSpec& spec : encoder_linears(c)) {
        const LayerStats ls = s.layer(c, spec.prefix, kStatInputAbsMean | kStatInputCov);
        const int64_t w = spec.in;
        std::vector<double> mean(size_t(w), 0.0), cov(size_t(w * w), 0.0);
        int64_t rows = 0;
        for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
            if (c.group_of_layer(l) != spec.group) continue;
            const float* x = layer_input_rows(acts.layers[size_t(l)], layer_input_of(spec.role));
            for (int64_t r = 0; r < acts.n; ++r) {
                for (int64_t i = 0; i < w; ++i) {
                    mean[size_t(i)] += std::abs(double(x[r * w + i]));
                    for (int64_t j = 0; j < w; ++j)
                        cov[size_t(i * w + j)] += double(x[r * w + i]) * double(x[r * w + j]);
                }
            }
            rows += acts.n;
        }
        double mean_err = 0, mean_max = 0, cov_err = 0, cov_max = 0;
        for (int64_t i = 0; i < w; ++i) {
            mean_err = std::max(mean_err, std::abs(ls.input_abs_mean[i] - mean[size_t(i)] / rows));
            mean_max = std::max(mean_max, mean[size_t(i)] / rows);
        }
        for (int64_t i = 0; i < w * w; ++i) {
            cov_err = std::max(cov_err, std::abs(ls.input_cov[i] - cov[size_t(i)] / rows));
            cov_max = std::max(cov_max, std::abs(cov[size_t(i)] / rows));
        }
        EXPECT_LT(mean_err, 1e-5 * mean_max) << spec.prefix;
        EXPECT_LT(cov_err, 1e-5 * cov_max) << spec.prefix;
    }
    // Query, key and value read one input, kept once.
    EXPECT_EQ(input_name(c, encoder_linears(c)[0].prefix),
              input_name(c, encoder_linears(c)[1].prefix));
    EXPECT_EQ(s.input_cov.size(), size_t(4 * c.num_layer_groups()));

    // Saved and loaded: the same values, and the statistics format.
    TempDir tmp;
    save_stats(tmp / "s.safetensors", s);
    Stats r = load_stats(tmp / "s.safetensors");
    EXPECT_EQ(r.kinds(), unsigned(kStatInputAbsMean | kStatInputCov));
    for (const auto& [name, t] : s.input_cov) {
        EXPECT_EQ(0, std::memcmp(r.input_cov.at(name).raw(), t.raw(), t.nbytes())) << name;
    }
}

INSTANTIATE_TEST_SUITE_P(Families, InputStats, ::testing::Values("bert", "albert", "electra"));

// Float64 sums of per-batch float32 sums (what several ranks use) against float32 running sums
// (one process's default): the same statistic up to float32 rounding.
TEST(Fisher, Float64SumsAgreeWithFloat32RunningSums) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    EncodedData d = golden_data(g);
    StatsOptions o;
    o.all_params = true;
    o.batch_size = 2;
    Stats f32 = compute_stats(*g.model, d, o, nullptr);
    o.fisher_f64 = true;
    Stats f64 = compute_stats(*g.model, d, o, nullptr);
    ASSERT_EQ(f32.fisher.size(), f64.fisher.size());
    for (const auto& [name, t] : f32.fisher) {
        const Tensor& u = f64.fisher.at(name);
        ASSERT_EQ(t.numel(), u.numel());
        EXPECT_LE(max_rel_diff(u.data<float>(), t.data<float>(), size_t(t.numel())), 1e-6) << name;
    }
    EXPECT_EQ(f64.examples, f32.examples);
}

TEST(Fisher, DefaultTargetsAreTheEncoderLinearWeights) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    Stats f = compute_stats(*g.model, golden_data(g), StatsOptions{}, nullptr);
    std::set<std::string> expected;
    for (const auto& p : encoder_linear_prefixes(g.model->config())) expected.insert(p + ".weight");
    std::set<std::string> got;
    for (const auto& [name, t] : f.fisher) got.insert(name);
    EXPECT_EQ(got, expected);
}

TEST(Fisher, SampleIsSeededAndWithoutRepeats) {
    auto a = stats_sample(1000, 100, 7);
    auto b = stats_sample(1000, 100, 7);
    auto c = stats_sample(1000, 100, 8);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 100u);
    for (size_t i : a) EXPECT_LT(i, 1000u);
    auto all = stats_sample(5, 0, 7);
    EXPECT_EQ(all, (std::vector<size_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(stats_sample(5, 50, 7).size(), 5u);
}

TEST(Fisher, SaveLoadRoundTripKeepsProvenance) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-reg");
    StatsOptions fo;
    fo.seed = 42;
    Stats f = compute_stats(*g.model, golden_data(g), fo, nullptr);
    TempDir tmp;
    save_stats(tmp / "f.safetensors", f, {{"data", "golden"}});
    Stats r = load_stats(tmp / "f.safetensors");
    EXPECT_EQ(r.examples, f.examples);
    EXPECT_EQ(r.seed, 42u);
    EXPECT_EQ(r.model_checksum, g.model->checksum());
    ASSERT_EQ(r.fisher.size(), f.fisher.size());
    for (const auto& [name, t] : f.fisher) {
        ASSERT_EQ(r.fisher.at(name).shape(), t.shape());
        EXPECT_EQ(0, std::memcmp(r.fisher.at(name).raw(), t.raw(), t.nbytes())) << name;
    }
    // A checkpoint is not a Fisher file.
    EXPECT_THROW(load_stats(shared_dir() / "golden" / "tiny-reg" / "model.safetensors"),
                 fwsvd::Error);
}

// The input statistics against their definition: every layer input row of a one-example-at-a-
// time forward, summed in double. 700 examples of ~20 tokens cross the float tile's flush into
// the double sums (stats_sources.cc) at least once.
TEST(InputStats, MeanAbsAndSecondMomentMatchTheDefinition) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    const ModelConfig& c = g.model->config();
    EncodedData d;
    d.source = "random";
    d.has_labels = true;
    std::mt19937 rng(3);
    std::uniform_int_distribution<int32_t> id(5, int32_t(c.vocab_size - 1));
    std::uniform_int_distribution<int> len(10, 30);
    for (int i = 0; i < 700; ++i) {
        EncodedExample e;
        const int l = len(rng);
        for (int t = 0; t < l; ++t) e.ids.push_back(id(rng));
        e.type_ids.assign(e.ids.size(), 0);
        d.encodings.push_back(e);
        d.lines.push_back(i + 1);
        d.targets.classes.push_back(i % 3);
    }
    StatsOptions so;
    so.kinds = kStatInputAbsMean | kStatInputCov;
    so.batch_size = 32;
    const Stats got = compute_stats(*g.model, d, so, nullptr);

    // name -> (Σ|x|, Σ x xᵀ, rows)
    std::map<std::string, std::tuple<std::vector<double>, std::vector<double>, int64_t>> ref;
    for (const auto& e : d.encodings) {
        Batch b;
        b.add(e.ids.data(), e.type_ids.data(), int64_t(e.ids.size()));
        Activations acts;
        ForwardOptions fo;
        fo.head = false;
        model_forward(g.model->params(), g.model->layout(), b, acts, fo);
        for (size_t l = 0; l < acts.layers.size(); ++l) {
            for (LayerInput in : {LayerInput::layer_input, LayerInput::context,
                                  LayerInput::attention_output, LayerInput::intermediate}) {
                const int64_t w =
                    in == LayerInput::intermediate ? c.intermediate_size : c.hidden_size;
                const std::string name =
                    str_cat("encoder.", c.group_of_layer(int64_t(l)), ".", layer_input_name(in));
                auto& [abs, cov, rows] = ref[name];
                abs.resize(size_t(w), 0.0);
                cov.resize(size_t(w * w), 0.0);
                const float* x = layer_input_rows(acts.layers[l], in);
                for (int64_t r = 0; r < acts.n; ++r) {
                    for (int64_t i = 0; i < w; ++i) {
                        abs[size_t(i)] += std::fabs(double(x[r * w + i]));
                        for (int64_t j = 0; j < w; ++j)
                            cov[size_t(i * w + j)] += double(x[r * w + i]) * double(x[r * w + j]);
                    }
                }
                rows += acts.n;
            }
        }
    }
    ASSERT_EQ(got.input_cov.size(), ref.size());
    for (const auto& [name, v] : ref) {
        const auto& [abs, cov, rows] = v;
        ASSERT_GT(rows, 8192) << name;  // the tile was flushed mid-pass
        const Tensor& m = got.input_abs_mean.at(name);
        const Tensor& cv = got.input_cov.at(name);
        double scale = 0;
        for (double x : cov) scale = std::max(scale, std::fabs(x) / double(rows));
        for (size_t i = 0; i < abs.size(); ++i) {
            EXPECT_NEAR(m.data<double>()[i], abs[i] / double(rows), 1e-5 * abs[i] / double(rows))
                << name;
        }
        double worst = 0;
        for (size_t i = 0; i < cov.size(); ++i)
            worst = std::max(worst, std::fabs(cv.data<double>()[i] - cov[i] / double(rows)));
        EXPECT_LT(worst, 1e-5 * scale) << name;
    }
}

}  // namespace
}  // namespace fwsvd::testing
