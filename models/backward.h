// The backward pass: the forward's steps in reverse (head, encoder layers, embeddings), each beside
// its forward in models/head.cc, encoder_layer.cc and embeddings.cc. Gradients are accumulated
// (+=) into a ModelParams bound to a gradient buffer; zero it explicitly between steps.
//
// Two modes (models/grad_ops.h). sum: the gradient of Σ_b dloss[b]·loss[b] (finetuning: dloss =
// 1/B gives the gradient of the mean loss). per_example_squares: for every example b, the
// gradient g_b of dloss[b]·loss[b] alone, and target += g_b ⊙ g_b (the empirical Fisher's
// numerator). Weight gradients of linear layers come from saved activations and output gradients
// (G_b = Σ_{t∈b} dY_tᵀ X_t), so one batched pass serves all examples. per_example_squares squares
// each use's gradient separately, so it is refused for layouts with shared parameters (whose
// per-example gradient is summed over the uses before squaring: run sum mode one example at a
// time, as compute_fisher does).
#pragma once
#include <cstdint>
#include <vector>

#include "models/activations.h"
#include "models/batch.h"
#include "models/grad_ops.h"
#include "models/params.h"

namespace fwsvd {

// Scratch buffers of the backward, reused across calls.
struct BackwardWorkspace {
    std::vector<float> buf;
};

// Gradients of further loss terms on the model's outputs (distillation: training/distill.h),
// added to what the targets' losses give. A null pointer adds nothing.
struct OutputGrads {
    const float* d_logits = nullptr;  // [B, C] into the logits
    const float* d_hidden = nullptr;  // [N, H] into the final hidden states
};

// grads: pointers bound to a buffer laid out like params (ParamLayout::bind). A null pointer in
// grads skips that parameter (e.g. Fisher of linear layers only). dlosses[b] weighs example b's
// loss (acts.losses must come from model_loss with the same targets). extra: gradients of other
// loss terms on the outputs, backpropagated with the targets' (in per_example_squares mode each
// example's rows belong to that example's gradient).
void model_backward(const ModelParams& grads, const ModelParams& params, const ParamLayout& layout,
                    const Batch& batch, const Activations& acts, const Targets& targets,
                    const float* dlosses, GradMode mode, BackwardWorkspace& ws,
                    const OutputGrads& extra = {});

}  // namespace fwsvd
