// The BERT forward pass in training form: every activation the backward needs is saved.
// Inference uses Session (models/session.h), which keeps nothing it does not need.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "models/activations.h"
#include "models/batch.h"
#include "models/bert_params.h"

namespace fwsvd {

struct ForwardOptions {
    bool dropout = false;  // training mode: dropout as Hugging Face applies it
    uint64_t seed = 0;     // dropout stream; use a different value per step
    bool head = true;      // run pooler and classifier (false: encoder only)
};

// Per-example targets: class ids (classification) or values (regression).
struct Targets {
    std::vector<int32_t> classes;  // [B]
    std::vector<float> values;     // [B]
};

kernels::Activation activation_of(const std::string& hidden_act);

// Runs embeddings, encoder and (optionally) pooler + classifier, saving activations in acts
// (prepared here for this batch).
void bert_forward(const BertParams& params, const ParamLayout& layout, const Batch& batch,
                  Activations& acts, const ForwardOptions& options);

// Per-example losses into acts.losses (cross-entropy, or squared error for regression) and
// their mean, which is what transformers reports as the loss.
double bert_loss(const ParamLayout& layout, Activations& acts, const Targets& targets);

}  // namespace fwsvd
