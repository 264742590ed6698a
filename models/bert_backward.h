// The BERT backward pass: the forward's steps in reverse, each layer's backward beside its
// forward. Gradients are accumulated (+=) into a BertParams bound to a gradient buffer; zero it
// explicitly between steps.
//
// Two modes. sum: the gradient of Σ_b dloss[b]·loss[b] (finetuning: dloss = 1/B gives the
// gradient of the mean loss). per_example_squares: for every example b, the gradient g_b of
// dloss[b]·loss[b] alone, and target += g_b ⊙ g_b (the empirical Fisher's numerator). Weight
// gradients of linear layers come from saved activations and output gradients
// (G_b = Σ_{t∈b} dY_tᵀ X_t), so one batched pass serves all examples.
#pragma once
#include <cstdint>
#include <vector>

#include "models/activations.h"
#include "models/batch.h"
#include "models/bert_forward.h"
#include "models/bert_params.h"

namespace fwsvd {

enum class GradMode { sum, per_example_squares };

// Scratch buffers of the backward, reused across calls.
struct BackwardWorkspace {
    std::vector<float> buf;
};

// grads: pointers bound to a buffer laid out like params (ParamLayout::bind). A null pointer in
// grads skips that parameter (e.g. Fisher of linear layers only). dlosses[b] weighs example b's
// loss (acts.losses must come from bert_loss with the same targets).
void bert_backward(const BertParams& grads, const BertParams& params, const ParamLayout& layout,
                   const Batch& batch, const Activations& acts, const Targets& targets,
                   const float* dlosses, GradMode mode, BackwardWorkspace& ws);

}  // namespace fwsvd
