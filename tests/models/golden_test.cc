// The training-form forward and backward against transformers' float64 goldens: BERT's
// ../shared/golden/tiny-{cls,reg} and every family's tests/golden/<family> (made by
// tests/golden/generate.py): position ids, hidden states, logits, loss, every gradient and,
// where no parameter is shared, the per-example Fisher (the shared case: compressor/stats_test);
// the inference Session's logits against the training form's.
// Tolerance: max |ours - HF| / max |HF| per tensor, float32 against float64.
#include <gtest/gtest.h>

#include "models/backward.h"
#include "models/embeddings.h"
#include "models/session.h"
#include "runtime/error.h"
#include "tests/models/golden_util.h"

namespace fwsvd::testing {
namespace {

constexpr double kTol = 1e-4;

class GoldenFamily : public ::testing::TestWithParam<std::string> {
  protected:
    // The shared goldens need ../shared; the repository's are always there.
    void SetUp() override {
        if (!golden_in_repo(GetParam())) FWSVD_REQUIRE_SHARED();
    }
};

// The largest |value| of a tensor of the golden.
double max_abs(const Tensor& t) {
    double m = 0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, double(std::abs(t.data<float>()[i])));
    return m;
}

TEST_P(GoldenFamily, PositionIdsHiddenStatesLogitsAndLossMatchTransformers) {
    Golden g = load_golden(GetParam());
    const ModelConfig& c = g.model->config();

    if (g.expected->find("position_ids")) {
        std::vector<int32_t> scratch;
        const int32_t* pos = position_ids(c, g.batch, scratch);
        Tensor ref_pos = g.expected->read("position_ids");
        for (int64_t i = 0; i < g.batch.tokens(); ++i) {
            ASSERT_EQ(pos[i], ref_pos.data<int32_t>()[i]) << "position " << i;
        }
    }

    Activations acts;
    model_forward(g.model->params(), g.model->layout(), g.batch, acts, ForwardOptions{});
    if (g.expected->find("embedding_output")) {
        Tensor ref = g.expected->read_f32("embedding_output");
        EXPECT_LT(max_rel_diff(acts.emb_out, ref.data<float>(), size_t(ref.numel())), kTol);
    }
    for (int64_t l = 0; l <= c.num_hidden_layers; ++l) {
        Tensor ref = g.expected->read_f32("hidden_states." + std::to_string(l));
        ASSERT_EQ(ref.numel(), g.batch.tokens() * c.hidden_size);
        const float* ours = l == 0 ? acts.x0 : acts.layers[size_t(l - 1)].x2;
        EXPECT_LT(max_rel_diff(ours, ref.data<float>(), size_t(ref.numel())), kTol)
            << "hidden_states." << l;
    }
    Tensor logits = g.expected->read_f32("logits");
    const double logit_diff =
        max_rel_diff(acts.logits, logits.data<float>(), size_t(logits.numel()));
    EXPECT_LT(logit_diff, kTol);
    const double loss = model_loss(g.model->layout(), acts, g.targets);
    const double ref_loss = g.expected->read_f32("loss").data<float>()[0];
    EXPECT_NEAR(loss, ref_loss, kTol * std::abs(ref_loss));

    // The inference session: the same logits as the training-form forward.
    Session session(g.model);
    std::vector<float> out = session.logits(g.batch);
    EXPECT_LT(max_rel_diff(out.data(), acts.logits, out.size()), 1e-5);
    std::printf("%s: max relative logit difference to transformers %.2e\n", GetParam().c_str(),
                logit_diff);
}

// Forward and backward of the golden batch: the flat gradient of the mean loss (sum mode) or of
// each example's loss squared (per_example_squares).
Tensor run_backward(const Golden& g, GradMode mode) {
    const ParamLayout& layout = g.model->layout();
    Activations acts;
    model_forward(g.model->params(), layout, g.batch, acts, ForwardOptions{});
    model_loss(layout, acts, g.targets);
    Tensor grad = Tensor::zeros({layout.total_floats()});
    const ModelParams gp = layout.bind(grad.data<float>());
    const int64_t B = g.batch.size();
    std::vector<float> dloss(size_t(B), mode == GradMode::sum ? 1.0f / float(B) : 1.0f);
    BackwardWorkspace ws;
    model_backward(gp, g.model->params(), layout, g.batch, acts, g.targets, dloss.data(), mode, ws);
    return grad;
}

// Each parameter against the golden's PREFIX.name; parameters whose reference is zero up to
// float64 round-off (key biases) must be zero up to float32 round-off of the largest value.
void expect_all_close(const Golden& g, const float* flat, const std::string& prefix,
                      float scale_by = 1.0f) {
    double scale = 0, worst = 0;
    for (const auto& e : g.model->layout().entries()) {
        scale = std::max(scale, max_abs(g.expected->read_f32(prefix + e.name)));
    }
    for (const auto& e : g.model->layout().entries()) {
        Tensor ref = g.expected->read_f32(prefix + e.name, &e.shape);
        std::vector<float> ours(flat + e.offset, flat + e.offset + e.numel);
        for (float& v : ours) v *= scale_by;
        if (max_abs(ref) < 1e-10 * scale) {
            double m = 0;
            for (float v : ours) m = std::max(m, double(std::abs(v)));
            EXPECT_LT(m, 1e-6 * scale) << prefix << e.name << " should be zero";
            continue;
        }
        const double d = max_rel_diff(ours.data(), ref.data<float>(), ours.size());
        EXPECT_LT(d, kTol) << prefix << e.name;
        worst = std::max(worst, d);
    }
    std::printf("%s: max relative difference of every '%s' tensor to transformers %.3g\n",
                ::testing::UnitTest::GetInstance()->current_test_info()->value_param(),
                prefix.c_str(), worst);
}

TEST_P(GoldenFamily, EveryParameterGradientMatchesTransformers) {
    Golden g = load_golden(GetParam());
    Tensor grad = run_backward(g, GradMode::sum);
    expect_all_close(g, grad.data<float>(), "grad.");
}

TEST_P(GoldenFamily, PerExampleFisherMatchesTransformers) {
    Golden g = load_golden(GetParam());
    if (g.model->layout().has_shared()) {
        // Squaring each use's gradient would be wrong here: the backward refuses it.
        EXPECT_THROW(run_backward(g, GradMode::per_example_squares), Error);
        GTEST_SKIP() << "shared parameters: the Fisher is tested through compute_stats";
    }
    Tensor sq = run_backward(g, GradMode::per_example_squares);
    expect_all_close(g, sq.data<float>(), "fisher.", 1.0f / float(g.batch.size()));
}

INSTANTIATE_TEST_SUITE_P(Bert, GoldenFamily, ::testing::Values("tiny-cls", "tiny-reg"),
                         [](const auto& param_info) {
                             std::string n = param_info.param;
                             for (char& ch : n) ch = ch == '-' ? '_' : ch;
                             return n;
                         });
INSTANTIATE_TEST_SUITE_P(Families, GoldenFamily, ::testing::ValuesIn(family_goldens()),
                         [](const auto& param_info) {
                             std::string n = param_info.param;
                             for (char& ch : n) ch = ch == '-' ? '_' : ch;
                             return n;
                         });

}  // namespace
}  // namespace fwsvd::testing
