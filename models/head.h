// The classification head in training form, on each sequence's first row h of the final hidden
// states: logits = classifier(dropout(act(dense(h')))), h' = dropout(h) where the family drops h
// too (models/family.h, HeadSpec); and its backward.
#pragma once
#include <cstdint>

#include "models/activations.h"
#include "models/grad_ops.h"
#include "models/params.h"

namespace fwsvd {

// Writes a.cls .. a.logits (a prepared for this batch); `seed` is the pass's dropout stream.
void head_forward(Activations& a, const ModelParams& p, const ModelConfig& config, uint64_t seed);

// Scratch [B, H] buffers (4) and [B, C] (1) of the head's backward.
struct HeadGradScratch {
    float* d_logits;       // [B, C]
    float* d_pooled_drop;  // [B, H]
    float* d_pooled;       // [B, H]
    float* d_pooled_pre;   // [B, H]
    float* d_cls;          // [B, H]
    float* dt;             // [B, max rank]
};

// From the losses' gradients dlosses [B] (a.losses from model_loss with these targets), plus
// extra_dlogits [B, C] when not null (other loss terms on the logits), to the gradient of the
// final hidden states, accumulated into dx [N, H] (zeroed here first).
void head_backward(const ModelParams& g, float* dx, const Activations& a, const ModelParams& p,
                   const ModelConfig& config, const Targets& targets, const float* dlosses,
                   const HeadGradScratch& s, const GradCtx& ctx,
                   const float* extra_dlogits = nullptr);

}  // namespace fwsvd
