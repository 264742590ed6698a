// Fine-tuning with the hand-written backward pass: AdamW as transformers' Trainer uses it (no
// weight decay on biases and LayerNorm, linear warm-up then linear decay, gradient clipping to
// norm 1), dropout on, batches packed without padding. Works on dense and factored models alike
// (the factors A and B are trained).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/encoded_data.h"
#include "models/model.h"
#include "models/session.h"
#include "runtime/dist.h"
#include "training/distill.h"

namespace fwsvd {

struct FinetuneOptions {
    int64_t epochs = 3;
    double lr = 1e-4;
    int64_t batch = 32;
    double warmup_ratio = 0.06;
    double weight_decay = 0.01;
    double max_grad_norm = 1.0;  // 0: no clipping
    double adam_beta1 = 0.9;
    double adam_beta2 = 0.999;
    double adam_eps = 1e-8;
    uint64_t seed = 0;
    int64_t max_steps = 0;   // > 0: stop after this many optimizer steps
    DistillOptions distill;  // with a teacher: distillation (training/distill.h)
};

struct EpochReport {
    int64_t epoch = 0;
    int64_t steps = 0;      // optimizer steps so far
    double train_loss = 0;  // mean training loss over the epoch (with distillation: combined)
    double first_loss = 0;  // mean loss of the epoch's first 10 steps
    double last_loss = 0;   // mean loss of the epoch's last 10 steps
    double dev_value = 0;   // primary dev metric (with FinetuneCallbacks::evaluate_dev)
    std::map<std::string, double> dev_metrics;
    double seconds = 0;
};

// A trainable copy of a model: config, layout and one flat buffer of parameters.
struct TrainableModel {
    ModelConfig config;
    ParamLayout layout;
    Tensor flat;  // [layout.total_floats()]
};

// Starts from a loaded model. num_labels > 0 gives the model a fresh classification head with
// that many labels (1: regression) initialised as transformers does (normal(0,
// initializer_range) weights, zero biases), adding a pooler when the checkpoint has none; it is
// required when the checkpoint has no classifier. seed drives the initialisation.
TrainableModel make_trainable(const Model& model, int64_t num_labels, uint64_t seed);

// A dev-set score of the model being trained: the primary metric's value and every metric
// (the application layer's metric choice, app/task.h).
struct DevScore {
    double value = 0;
    std::map<std::string, double> metrics;
};

struct FinetuneCallbacks {
    std::function<void(int64_t epoch, int64_t steps_in_epoch)> epoch_begin;
    std::function<void(double loss, double lr)> step_end;
    std::function<void(const EpochReport&)> epoch_end;
    // Scores the model after each epoch (a Session over the current weights); may be empty.
    std::function<DevScore(Session& session)> evaluate_dev;
};

// Trains in place. Returns one report per epoch.
// Data-parallel with a distributed comm: every rank holds all of `train` and the same model;
// each step's batch is split into consecutive parts, one per rank, whose gradients are summed
// over the ranks (in rank order) before the same clipping and AdamW step on every rank, so the
// ranks keep identical weights and optimizer state (checked at the end). With dropout off this
// is the one-process step up to the order of float sums; dropout draws differ, as each rank
// draws its own masks (seeded by step and by where its part starts in the batch).
std::vector<EpochReport> finetune(TrainableModel& model, const EncodedData& train,
                                  const FinetuneOptions& options,
                                  const FinetuneCallbacks& callbacks = {}, Comm* comm = nullptr);

// The learning rate of step t (0-based) of total with `warmup` warm-up steps: linear warm-up
// from 0, then linear decay to 0 (transformers' get_linear_schedule_with_warmup).
double linear_schedule_lr(double lr, int64_t t, int64_t warmup, int64_t total);

}  // namespace fwsvd
