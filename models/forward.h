// The forward pass in training form, for every family: embeddings, encoder layers, head, each
// saving what the backward needs (models/embeddings.h, encoder_layer.h, head.h). Inference
// uses Session (models/session.h), which keeps nothing it does not need.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "models/activations.h"
#include "models/batch.h"
#include "models/params.h"

namespace fwsvd {

struct ForwardOptions {
    bool dropout = false;  // training mode: dropout as Hugging Face applies it
    uint64_t seed = 0;     // dropout stream; use a different value per step
    bool head = true;      // run the classification head (false: encoder only)
};

kernels::Activation activation_of(const std::string& hidden_act);

// Runs embeddings, encoder and (optionally) the head, saving activations in acts (prepared here
// for this batch).
void model_forward(const ModelParams& params, const ParamLayout& layout, const Batch& batch,
                   Activations& acts, const ForwardOptions& options);

// Per-example losses into acts.losses (cross-entropy, or squared error for regression) and
// their mean, which is what transformers reports as the loss.
double model_loss(const ParamLayout& layout, Activations& acts, const Targets& targets);

}  // namespace fwsvd
