// Distillation of a teacher (say the dense task model) into the model being fine-tuned (a
// compressed one): per example,
//   loss = alpha · kd + (1 - alpha) · task + w · hidden, where
//   kd     = T² KL(softmax(z_teacher / T) || softmax(z_student / T))   classification,
//          = (z_student - z_teacher)²                                 regression (one output);
//   hidden = the mean over the example's tokens and features of (h_student - h_teacher)², h the
//            final encoder hidden states (w > 0 only when the hidden sizes agree).
// The teacher runs the training forward without dropout (eval mode) on the student's batch; its
// gradients enter the student's backward through OutputGrads (models/backward.h).
#pragma once
#include <memory>
#include <vector>

#include "models/activations.h"
#include "models/backward.h"
#include "models/model.h"

namespace fwsvd {

struct DistillOptions {
    std::shared_ptr<const Model> teacher;  // null: plain fine-tuning
    double alpha = 0.5;                    // weight of kd, in [0, 1]; 1 - alpha on the task loss
    double temperature = 2.0;              // T > 0
    double hidden_weight = 0.0;            // w >= 0
};

// Throws Error (naming the teacher's folder) when the options are out of range or the teacher
// cannot teach a student with this config: another family, number of labels, vocabulary size,
// or (with w > 0) hidden size.
void check_distill(const DistillOptions& options, const ModelConfig& student);

// The distillation loss of a batch, with buffers reused from batch to batch.
class Distiller {
  public:
    // Checks the options (check_distill).
    Distiller(const DistillOptions& options, const ModelConfig& student);

    // After the student's model_forward and model_loss on `batch` (acts.losses: the task
    // losses): runs the teacher on the same batch and returns the mean of the combined losses
    // over its examples. For the gradient of Σ_b scale · loss_b it sets dlosses [B] (the task
    // losses' weights, for model_backward) and `out` (pointers into this object, valid until
    // the next call).
    double step(const Batch& batch, const Activations& student, float scale,
                std::vector<float>& dlosses, OutputGrads& out);

  private:
    DistillOptions o_;
    ModelConfig student_;
    Activations teacher_acts_;
    std::vector<float> kd_losses_;   // [B]
    std::vector<float> kd_weights_;  // [B]
    std::vector<float> d_logits_;    // [B, C]
    std::vector<float> d_hidden_;    // [N, H]
};

}  // namespace fwsvd
