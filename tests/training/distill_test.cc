// Distillation (training/distill.cc): the whole model's gradient with a teacher against finite
// differences, kd_alpha = 0 against plain fine-tuning, a teacher equal to the student, and the
// refusals of teachers that cannot teach.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "models/backward.h"
#include "models/forward.h"
#include "runtime/error.h"
#include "tests/models/golden_util.h"
#include "training/distill.h"
#include "training/finetune.h"

namespace fwsvd::testing {
namespace {

// The golden's parameters with normal(0, sd) noise: a student that differs from the teacher.
Tensor perturbed(const Model& m, float sd, uint64_t seed) {
    Tensor flat = m.copy_flat();
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::normal_distribution<float> nd(0.0f, sd);
    for (int64_t i = 0; i < flat.numel(); ++i) flat.data<float>()[i] += nd(rng);
    return flat;
}

// The mean combined loss of the student `flat` on the golden batch, and (with grad) its gradient.
double distill_loss(const Golden& g, const DistillOptions& o, const float* flat,
                    Tensor* grad = nullptr) {
    const ParamLayout& layout = g.model->layout();
    ModelParams p = layout.bind(const_cast<float*>(flat));
    Activations acts;
    model_forward(p, layout, g.batch, acts, ForwardOptions{});
    model_loss(layout, acts, g.targets);
    Distiller distiller(o, layout.config());
    std::vector<float> dloss;
    OutputGrads extra;
    const float scale = 1.0f / float(g.batch.size());
    const double loss = distiller.step(g.batch, acts, scale, dloss, extra);
    if (grad) {
        *grad = Tensor::zeros({layout.total_floats()});
        BackwardWorkspace ws;
        model_backward(layout.bind(grad->data<float>()), p, layout, g.batch, acts, g.targets,
                       dloss.data(), GradMode::sum, ws, extra);
    }
    return loss;
}

// Directional derivative along a random direction: (L(θ + h v) - L(θ - h v)) / 2h against ∇L · v,
// accumulated in double (float32 forward, as tests/models/model_gradcheck_test.cc).
void check_directional_derivative(const Golden& g, const DistillOptions& o, const Tensor& flat,
                                  float h) {
    Tensor grad;
    distill_loss(g, o, flat.data<float>(), &grad);
    const int64_t n = flat.numel();
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = nd(rng);
    double analytic = 0;
    for (int64_t i = 0; i < n; ++i) analytic += double(grad.data<float>()[i]) * v[size_t(i)];
    std::vector<float> plus(static_cast<size_t>(n)), minus(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        plus[size_t(i)] = flat.data<float>()[i] + h * v[size_t(i)];
        minus[size_t(i)] = flat.data<float>()[i] - h * v[size_t(i)];
    }
    const double numeric =
        (distill_loss(g, o, plus.data()) - distill_loss(g, o, minus.data())) / (2.0 * h);
    // float32 forward: ~1e-3 relative noise in the difference; a wrong term is off by O(1).
    EXPECT_NEAR(analytic, numeric, 1e-2 * std::abs(numeric) + 1e-4)
        << "analytic " << analytic << " numeric " << numeric;
}

TEST(Distill, WholeModelGradientClassification) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    DistillOptions o;
    o.teacher = g.model;
    o.alpha = 0.7;
    o.temperature = 2.0;
    Tensor student = perturbed(*g.model, 0.05f, 1);
    check_directional_derivative(g, o, student, 1e-3f);
    // The KD term alone, at another temperature, and with the hidden-state term.
    o.alpha = 1.0;
    o.temperature = 0.7;
    check_directional_derivative(g, o, student, 1e-3f);
    o.alpha = 0.5;
    o.hidden_weight = 2.0;
    check_directional_derivative(g, o, student, 1e-3f);
}

TEST(Distill, WholeModelGradientRegression) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-reg");
    DistillOptions o;
    o.teacher = g.model;
    o.alpha = 0.6;
    o.hidden_weight = 1.0;
    Tensor student = perturbed(*g.model, 0.05f, 2);
    // tiny-reg is strongly curved along a random direction: h = 1e-3 is still 1% off the
    // converged value, 3e-4 and 1e-4 agree with the analytic one.
    check_directional_derivative(g, o, student, 3e-4f);
}

TEST(Distill, LossTermsAreWhatTheyClaim) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-reg");
    Tensor student = perturbed(*g.model, 0.05f, 3);
    const ParamLayout& layout = g.model->layout();
    Activations s, t;
    model_forward(layout.bind(student.data<float>()), layout, g.batch, s, ForwardOptions{});
    const double task = model_loss(layout, s, g.targets);
    model_forward(g.model->params(), layout, g.batch, t, ForwardOptions{});
    const int64_t B = g.batch.size();
    double kd = 0;  // regression: the squared difference of the outputs
    for (int64_t b = 0; b < B; ++b) kd += std::pow(double(s.logits[b]) - t.logits[b], 2) / B;
    DistillOptions o;
    o.teacher = g.model;
    o.alpha = 0.25;
    EXPECT_NEAR(distill_loss(g, o, student.data<float>()), 0.75 * task + 0.25 * kd,
                1e-6 * (task + kd));
}

// Plain fine-tuning and distillation with kd_alpha = 0 take the same steps, bit for bit.
TEST(Distill, AlphaZeroIsPlainFinetuning) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    EncodedData d = golden_data(g);
    FinetuneOptions o;
    o.epochs = 3;
    o.batch = 2;
    o.lr = 3e-3;
    o.seed = 5;
    TrainableModel plain = make_trainable(*g.model, 0, 0);
    auto plain_reports = finetune(plain, d, o);
    // Any teacher: its term has no weight.
    auto other =
        Model::from_flat(g.model->config(), g.model->layout(), perturbed(*g.model, 0.1f, 4));
    o.distill.teacher = other;
    o.distill.alpha = 0.0;
    TrainableModel distilled = make_trainable(*g.model, 0, 0);
    auto distill_reports = finetune(distilled, d, o);
    ASSERT_EQ(plain.flat.numel(), distilled.flat.numel());
    EXPECT_EQ(0, std::memcmp(plain.flat.data<float>(), distilled.flat.data<float>(),
                             size_t(plain.flat.numel()) * sizeof(float)));
    ASSERT_EQ(plain_reports.size(), distill_reports.size());
    for (size_t i = 0; i < plain_reports.size(); ++i) {
        EXPECT_EQ(plain_reports[i].train_loss, distill_reports[i].train_loss);
    }
}

// A teacher equal to the student (no dropout) adds nothing to the gradient: the KD and hidden
// terms' gradients are exactly zero, and the rest is (1 - alpha) times the task's gradient.
TEST(Distill, TeacherEqualToStudentGivesZeroDistillationGradient) {
    FWSVD_REQUIRE_SHARED();
    for (const char* name : {"tiny-cls", "tiny-reg"}) {
        SCOPED_TRACE(name);
        Golden g = load_golden(name);
        Tensor flat = g.model->copy_flat();
        DistillOptions o;
        o.teacher = g.model;
        o.alpha = 1.0;
        o.hidden_weight = 3.0;
        Tensor grad;
        EXPECT_EQ(distill_loss(g, o, flat.data<float>(), &grad), 0.0);
        for (int64_t i = 0; i < grad.numel(); ++i) ASSERT_EQ(grad.data<float>()[i], 0.0f) << i;

        // alpha = 0.5: half the plain gradient (a power of two scales every float exactly).
        o.alpha = 0.5;
        distill_loss(g, o, flat.data<float>(), &grad);
        const ParamLayout& layout = g.model->layout();
        Activations acts;
        ModelParams p = layout.bind(flat.data<float>());
        model_forward(p, layout, g.batch, acts, ForwardOptions{});
        model_loss(layout, acts, g.targets);
        Tensor plain = Tensor::zeros({layout.total_floats()});
        std::vector<float> dloss(size_t(g.batch.size()), 1.0f / float(g.batch.size()));
        BackwardWorkspace ws;
        model_backward(layout.bind(plain.data<float>()), p, layout, g.batch, acts, g.targets,
                       dloss.data(), GradMode::sum, ws);
        for (int64_t i = 0; i < grad.numel(); ++i) {
            ASSERT_EQ(grad.data<float>()[i], 0.5f * plain.data<float>()[i]) << i;
        }
    }
}

void expect_refused(const DistillOptions& o, const ModelConfig& student, const std::string& what) {
    try {
        check_distill(o, student);
        ADD_FAILURE() << "accepted; expected an error containing: " << what;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
}

TEST(Distill, RefusesTeachersThatCannotTeach) {
    FWSVD_REQUIRE_SHARED();
    Golden cls = load_golden("tiny-cls");
    Golden reg = load_golden("tiny-reg");
    const ModelConfig& student = cls.model->config();
    DistillOptions o;
    o.teacher = cls.model;
    EXPECT_NO_THROW(check_distill(o, student));
    o.teacher = reg.model;
    expect_refused(o, student, "the teacher has 1 labels and the student 3");
    o.teacher = load_golden("roberta").model;
    expect_refused(o, student, "the teacher is a RoBERTa model and the student a BERT model");
    o.teacher = cls.model;
    ModelConfig other_vocab = student;
    other_vocab.vocab_size += 1;
    expect_refused(o, other_vocab, "vocabulary");
    ModelConfig wider = student;
    wider.hidden_size = 64;
    EXPECT_NO_THROW(check_distill(o, wider));  // logits only: any hidden size
    o.hidden_weight = 1.0;
    expect_refused(o, wider, "--kd-hidden needs the same hidden size");
    o.hidden_weight = 0.0;
    o.alpha = 1.5;
    expect_refused(o, student, "--kd-alpha");
    o.alpha = 0.5;
    o.temperature = 0.0;
    expect_refused(o, student, "--temperature");
    o.temperature = 2.0;
    o.teacher = nullptr;
    expect_refused(o, student, "teacher");
}

// Distilling the golden model into a perturbed copy of itself brings the copy's logits closer.
TEST(Distill, FinetuningWithATeacherApproachesTheTeacher) {
    FWSVD_REQUIRE_SHARED();
    Golden g = load_golden("tiny-cls");
    EncodedData d = golden_data(g);
    TrainableModel tm = make_trainable(*g.model, 0, 0);
    tm.flat = perturbed(*g.model, 0.05f, 6);
    auto kd_of = [&](const TrainableModel& m) {
        DistillOptions o;
        o.teacher = g.model;
        o.alpha = 1.0;
        return distill_loss(g, o, m.flat.data<float>());
    };
    const double before = kd_of(tm);
    FinetuneOptions o;
    o.epochs = 20;
    o.batch = 3;
    o.lr = 1e-3;
    o.distill.teacher = g.model;
    o.distill.alpha = 1.0;
    finetune(tm, d, o);
    EXPECT_LT(kd_of(tm), 0.5 * before);
}

}  // namespace
}  // namespace fwsvd::testing
