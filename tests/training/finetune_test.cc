// Fine-tuning: the optimizer and schedule against hand computations, and training that learns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "app/task.h"
#include "kernels/optimizer.h"
#include "tests/models/golden_util.h"
#include "training/finetune.h"

namespace fwsvd::testing {
namespace {

TEST(Finetune, LinearScheduleWarmsUpThenDecaysToZero) {
    EXPECT_DOUBLE_EQ(linear_schedule_lr(1.0, 0, 10, 110), 0.0);
    EXPECT_DOUBLE_EQ(linear_schedule_lr(1.0, 5, 10, 110), 0.5);
    EXPECT_DOUBLE_EQ(linear_schedule_lr(1.0, 10, 10, 110), 1.0);
    EXPECT_DOUBLE_EQ(linear_schedule_lr(1.0, 60, 10, 110), 0.5);
    EXPECT_DOUBLE_EQ(linear_schedule_lr(1.0, 110, 10, 110), 0.0);
    EXPECT_DOUBLE_EQ(linear_schedule_lr(2.0, 3, 0, 4), 0.5);
}

TEST(Finetune, AdamWStepMatchesTorchFormula) {
    // Two steps by hand in double, torch.optim.AdamW's order: decay, moments, update.
    float p[2] = {1.0f, -2.0f}, m[2] = {0, 0}, v[2] = {0, 0};
    const float g1[2] = {0.5f, -1.0f}, g2[2] = {0.1f, 0.3f};
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    double ep[2] = {1.0, -2.0}, em[2] = {0, 0}, ev[2] = {0, 0};
    const float* gs[2] = {g1, g2};
    for (int t = 1; t <= 2; ++t) {
        kernels::adamw_step(p, gs[t - 1], m, v, 2, float(lr), float(b1), float(b2), float(eps),
                            float(wd), t);
        for (int i = 0; i < 2; ++i) {
            double g = gs[t - 1][i];
            ep[i] *= 1 - lr * wd;
            em[i] = b1 * em[i] + (1 - b1) * g;
            ev[i] = b2 * ev[i] + (1 - b2) * g * g;
            double mh = em[i] / (1 - std::pow(b1, t)), vh = ev[i] / (1 - std::pow(b2, t));
            ep[i] -= lr * mh / (std::sqrt(vh) + eps);
        }
    }
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(p[i], ep[i], 1e-6);
}

TEST(Finetune, FitsTheGoldenBatchWithAFreshHead) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    // Same label count: the trained head is kept.
    TrainableModel same = make_trainable(*g.model, 3, 1);
    const ParamEntry* w3 = same.layout.find("classifier.weight");
    EXPECT_EQ(0, std::memcmp(g.model->find_data("classifier.weight"),
                             same.flat.data<float>() + w3->offset, size_t(w3->numel) * 4));
    // Another label count: a fresh head, weights drawn with std initializer_range, zero bias.
    TrainableModel tm = make_trainable(*g.model, 4, 1);
    const ParamEntry* cw = tm.layout.find("classifier.weight");
    ASSERT_NE(cw, nullptr);
    EXPECT_EQ(cw->shape, (Shape{4, g.model->config().hidden_size}));
    EXPECT_EQ(tm.config.num_labels(), 4);
    double sq = 0;
    for (int64_t i = 0; i < cw->numel; ++i)
        sq += std::pow(tm.flat.data<float>()[cw->offset + i], 2);
    EXPECT_NEAR(std::sqrt(sq / double(cw->numel)), g.model->config().initializer_range,
                0.25 * g.model->config().initializer_range);
    const ParamEntry* cb = tm.layout.find("classifier.bias");
    for (int64_t i = 0; i < cb->numel; ++i) EXPECT_EQ(tm.flat.data<float>()[cb->offset + i], 0.0f);

    EncodedData d = golden_data(g);
    FinetuneOptions o;
    o.epochs = 40;
    o.batch = 3;
    o.lr = 3e-3;
    o.warmup_ratio = 0.1;
    FinetuneCallbacks callbacks;
    callbacks.evaluate_dev = [&](Session& session) {
        std::vector<float> logits = predict_logits(session, d, 64, nullptr);
        EvalResult r = evaluate(tm.config, d, logits.data(), primary_metric(tm.config, d, ""));
        return DevScore{r.value, r.metrics};
    };
    auto reports = finetune(tm, d, o, callbacks);
    ASSERT_EQ(reports.size(), 40u);
    EXPECT_LT(reports.back().train_loss, 0.5 * reports.front().train_loss);
    EXPECT_EQ(reports.back().dev_metrics.at("accuracy"), 1.0);
}

TEST(Finetune, TrainsFactoredLayersToo) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-reg");
    TrainableModel tm = make_trainable(*g.model, 0, 0);
    // Replace the first query layer by random factors.
    LayoutOptions lo = tm.layout.options();
    const std::string q = encoder_linear_prefixes(tm.config)[0];
    lo.ranks[q] = 4;
    ParamLayout fl(tm.config, lo);
    Tensor flat = Tensor::zeros({fl.total_floats()});
    for (const auto& e : fl.entries()) {
        float* dst = flat.data<float>() + e.offset;
        if (const ParamEntry* old = tm.layout.find(e.name)) {
            std::copy_n(tm.flat.data<float>() + old->offset, e.numel, dst);
        } else {
            for (int64_t i = 0; i < e.numel; ++i) dst[i] = 0.1f * float((i * 7919) % 13 - 6);
        }
    }
    const ParamEntry* a = fl.find(q + ".weight_a");
    std::vector<float> a_before(flat.data<float>() + a->offset,
                                flat.data<float>() + a->offset + a->numel);
    tm.layout = fl;
    tm.flat = flat;
    EncodedData d = golden_data(g);
    FinetuneOptions o;
    o.epochs = 30;
    o.batch = 3;
    o.lr = 3e-3;
    auto reports = finetune(tm, d, o);
    EXPECT_LT(reports.back().train_loss, reports.front().train_loss);
    EXPECT_NE(0, std::memcmp(a_before.data(), tm.flat.data<float>() + a->offset,
                             a_before.size() * sizeof(float)));
}

}  // namespace
}  // namespace fwsvd::testing
