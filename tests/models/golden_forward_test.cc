// The forward pass against transformers' float64 outputs on the random-weight golden models.
#include <gtest/gtest.h>

#include "models/session.h"
#include "tests/models/golden_util.h"

namespace fwsvd::testing {
namespace {

class GoldenForward : public ::testing::TestWithParam<std::string> {};

// Tolerance: max |ours - HF| / max |HF| over each tensor (float32 against float64).
constexpr double kTol = 1e-4;

TEST_P(GoldenForward, HiddenStatesLogitsAndLossMatchTransformers) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden(GetParam());
    Activations acts;
    model_forward(g.model->params(), g.model->layout(), g.batch, acts, ForwardOptions{});
    const int64_t H = g.model->config().hidden_size;
    const int64_t L = g.model->config().num_hidden_layers;
    for (int64_t l = 0; l <= L; ++l) {
        Tensor ref = g.expected->read_f32("hidden_states." + std::to_string(l));
        ASSERT_EQ(ref.numel(), g.batch.tokens() * H);
        const float* ours = l == 0 ? acts.x0 : acts.layers[size_t(l - 1)].x2;
        EXPECT_LT(max_rel_diff(ours, ref.data<float>(), size_t(ref.numel())), kTol)
            << "hidden_states." << l;
    }
    Tensor logits = g.expected->read_f32("logits");
    EXPECT_LT(max_rel_diff(acts.logits, logits.data<float>(), size_t(logits.numel())), kTol);
    double loss = model_loss(g.model->layout(), acts, g.targets);
    Tensor ref_loss = g.expected->read_f32("loss");
    EXPECT_NEAR(loss, ref_loss.data<float>()[0], kTol * std::abs(ref_loss.data<float>()[0]));

    // The inference session gives the same logits as the training-form forward.
    Session session(g.model);
    std::vector<float> out = session.logits(g.batch);
    EXPECT_LT(max_rel_diff(out.data(), acts.logits, out.size()), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenForward, ::testing::Values("tiny-cls", "tiny-reg"));

}  // namespace
}  // namespace fwsvd::testing
