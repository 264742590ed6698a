// The backward pass against transformers' float64 gradients and empirical Fisher.
#include <gtest/gtest.h>

#include "models/backward.h"
#include "tests/models/golden_util.h"

namespace fwsvd::testing {
namespace {

// max |ours - HF| / max |HF| per parameter, float32 against float64.
constexpr double kTol = 1e-4;

// Compares one parameter's values. A parameter whose reference is zero up to float64 round-off
// (the key biases: softmax ignores a per-row constant, so their gradient is exactly 0) has no
// meaningful relative error; it must then be zero up to float32 round-off, judged against the
// largest value over all parameters (`scale`).
void expect_param_close(const float* ours, const float* ref, int64_t n, double scale,
                        const std::string& name) {
    double ref_max = 0, ours_max = 0;
    for (int64_t i = 0; i < n; ++i) {
        ref_max = std::max(ref_max, double(std::abs(ref[i])));
        ours_max = std::max(ours_max, double(std::abs(ours[i])));
    }
    if (ref_max < 1e-10 * scale) {
        EXPECT_LT(ours_max, 1e-6 * scale) << name << " should be zero";
        return;
    }
    EXPECT_LT(max_rel_diff(ours, ref, size_t(n)), kTol) << name;
}

double max_abs_over(const Golden& g, const std::string& prefix) {
    double m = 0;
    for (const auto& e : g.model->layout().entries()) {
        Tensor ref = g.expected->read_f32(prefix + e.name);
        for (int64_t i = 0; i < ref.numel(); ++i)
            m = std::max(m, double(std::abs(ref.data<float>()[i])));
    }
    return m;
}

class GoldenBackward : public ::testing::TestWithParam<std::string> {};

// Runs forward + backward on the golden batch in the given mode and returns the flat gradient.
Tensor run_backward(const Golden& g, GradMode mode) {
    const ParamLayout& layout = g.model->layout();
    Activations acts;
    model_forward(g.model->params(), layout, g.batch, acts, ForwardOptions{});
    model_loss(layout, acts, g.targets);
    Tensor grad = Tensor::zeros({layout.total_floats()});
    ModelParams gp = layout.bind(grad.data<float>());
    const int64_t B = g.batch.size();
    // sum mode: gradient of the mean loss; per-example: each example's own loss.
    std::vector<float> dloss(size_t(B), mode == GradMode::sum ? 1.0f / float(B) : 1.0f);
    BackwardWorkspace ws;
    model_backward(gp, g.model->params(), layout, g.batch, acts, g.targets, dloss.data(), mode, ws);
    return grad;
}

TEST_P(GoldenBackward, EveryParameterGradientMatchesTransformers) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden(GetParam());
    Tensor grad = run_backward(g, GradMode::sum);
    const double scale = max_abs_over(g, "grad.");
    int checked = 0;
    for (const auto& e : g.model->layout().entries()) {
        Tensor ref = g.expected->read_f32("grad." + e.name, &e.shape);
        expect_param_close(grad.data<float>() + e.offset, ref.data<float>(), e.numel, scale,
                           "grad." + e.name);
        ++checked;
    }
    EXPECT_EQ(checked, int(g.model->layout().entries().size()));
}

TEST_P(GoldenBackward, PerExampleFisherMatchesTransformers) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden(GetParam());
    Tensor sq = run_backward(g, GradMode::per_example_squares);
    const float inv_b = 1.0f / float(g.batch.size());
    const double scale = max_abs_over(g, "fisher.");
    for (const auto& e : g.model->layout().entries()) {
        Tensor ref = g.expected->read_f32("fisher." + e.name, &e.shape);
        std::vector<float> ours(sq.data<float>() + e.offset, sq.data<float>() + e.offset + e.numel);
        for (float& v : ours) v *= inv_b;
        expect_param_close(ours.data(), ref.data<float>(), e.numel, scale, "fisher." + e.name);
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenBackward, ::testing::Values("tiny-cls", "tiny-reg"));

}  // namespace
}  // namespace fwsvd::testing
