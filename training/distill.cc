#include "training/distill.h"

#include <cmath>

#include "kernels/loss.h"
#include "models/forward.h"
#include "runtime/error.h"

namespace fwsvd {

void check_distill(const DistillOptions& o, const ModelConfig& s) {
    FWSVD_CHECK(o.teacher != nullptr, "distillation needs a teacher model");
    const std::string dir = o.teacher->dir().string();
    FWSVD_CHECK(o.alpha >= 0 && o.alpha <= 1, "--kd-alpha ", o.alpha, " is not in [0, 1]");
    FWSVD_CHECK(o.temperature > 0 && std::isfinite(o.temperature), "--temperature ", o.temperature,
                " is not a positive number");
    FWSVD_CHECK(o.hidden_weight >= 0 && std::isfinite(o.hidden_weight), "--kd-hidden ",
                o.hidden_weight, " is not a non-negative number");
    const ModelConfig& t = o.teacher->config();
    FWSVD_CHECK(o.teacher->has_classifier(), dir, ": the teacher has no classification head");
    FWSVD_CHECK(t.model_type == s.model_type, dir, ": the teacher is a ", t.model_family().name,
                " model and the student a ", s.model_family().name,
                " model: distillation needs one family");
    FWSVD_CHECK(t.num_labels() == s.num_labels(), dir, ": the teacher has ", t.num_labels(),
                " labels and the student ", s.num_labels(), ": distillation needs the same task");
    FWSVD_CHECK(t.vocab_size == s.vocab_size, dir, ": the teacher's vocabulary has ", t.vocab_size,
                " tokens and the student's ", s.vocab_size, ": distillation needs one tokenizer");
    FWSVD_CHECK(o.hidden_weight == 0 || t.hidden_size == s.hidden_size, dir,
                ": --kd-hidden needs the same hidden size, the teacher has ", t.hidden_size,
                " and the student ", s.hidden_size);
}

Distiller::Distiller(const DistillOptions& o, const ModelConfig& student)
    : o_(o), student_(student) {
    check_distill(o_, student_);
}

double Distiller::step(const Batch& batch, const Activations& s, float scale,
                       std::vector<float>& dlosses, OutputGrads& out) {
    const Model& teacher = *o_.teacher;
    const int64_t B = s.b, N = s.n, C = student_.num_labels(), H = student_.hidden_size;
    batch.validate(teacher.config(), teacher.dir().c_str());
    ForwardOptions fo;  // no dropout: the teacher in eval mode
    model_forward(teacher.params(), teacher.layout(), batch, teacher_acts_, fo);
    const float* zt = teacher_acts_.logits;

    kd_losses_.assign(size_t(B), 0.0f);
    kd_weights_.assign(size_t(B), float(o_.alpha) * scale);
    d_logits_.assign(size_t(B * C), 0.0f);
    if (student_.is_regression()) {
        kernels::mse_forward(kd_losses_.data(), s.logits, zt, B);
        kernels::mse_backward(d_logits_.data(), kd_weights_.data(), s.logits, zt, B);
    } else {
        const float t = float(o_.temperature);
        kernels::kd_forward(kd_losses_.data(), s.logits, zt, B, C, t);
        kernels::kd_backward(d_logits_.data(), kd_weights_.data(), s.logits, zt, B, C, t);
    }
    // The task's weight: exactly `scale` when alpha is 0, as in plain fine-tuning.
    dlosses.assign(size_t(B), float(1.0 - o_.alpha) * scale);
    out.d_logits = d_logits_.data();
    out.d_hidden = nullptr;

    std::vector<double> hidden(size_t(B), 0.0);
    if (o_.hidden_weight > 0) {
        d_hidden_.assign(size_t(N * H), 0.0f);
        const float* hs = s.last_hidden();
        const float* ht = teacher_acts_.last_hidden();
        for (int64_t b = 0; b < B; ++b) {
            const int64_t begin = s.seqs[size_t(b)].offset * H;
            const int64_t count = s.seqs[size_t(b)].len * H;
            const double g = o_.hidden_weight * double(scale) * 2.0 / double(count);
            double sq = 0;
            for (int64_t i = begin; i < begin + count; ++i) {
                const double d = double(hs[i]) - double(ht[i]);
                sq += d * d;
                d_hidden_[size_t(i)] = float(g * d);
            }
            hidden[size_t(b)] = sq / double(count);
        }
        out.d_hidden = d_hidden_.data();
    }

    double sum = 0;
    for (int64_t b = 0; b < B; ++b) {
        sum += (1.0 - o_.alpha) * double(s.losses[b]) + o_.alpha * double(kd_losses_[size_t(b)]) +
               o_.hidden_weight * hidden[size_t(b)];
    }
    return B > 0 ? sum / double(B) : 0.0;
}

}  // namespace fwsvd
