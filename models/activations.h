// Saved activations of a training-mode forward pass (llm.c style: one allocation, named
// pointers), sized for one batch and reused while batches fit.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "models/batch.h"
#include "models/bert_params.h"

namespace fwsvd {

struct LayerActs {
    const float* inp = nullptr;     // [N, H] layer input (the previous layer's x2 or x0)
    float* q = nullptr;             // [N, H]
    float* k = nullptr;             // [N, H]
    float* v = nullptr;             // [N, H]
    float* tq = nullptr;            // [N, rq] x·Aᵀ of a factored query (else null)
    float* tk = nullptr;            // [N, rk]
    float* tv = nullptr;            // [N, rv]
    float* probs = nullptr;         // [Σ nh·len·keys] attention probabilities before dropout
    float* probs_drop = nullptr;    // [Σ nh·len·keys] after dropout (training with dropout)
    uint8_t* probs_mask = nullptr;  // [Σ nh·len·keys] attention dropout mask
    float* ctx = nullptr;           // [N, H] attention output, heads concatenated
    float* t_ao = nullptr;          // [N, r] factored attention output dense
    float* ao = nullptr;            // [N, H] attention output dense, before dropout
    uint8_t* ao_mask = nullptr;     // [N, H] dropout mask (null without dropout)
    float* res1 = nullptr;          // [N, H] dropout(ao) + inp
    float* ln1_mean = nullptr;      // [N]
    float* ln1_rstd = nullptr;      // [N]
    float* x1 = nullptr;            // [N, H] attention block output
    float* t_inter = nullptr;       // [N, r]
    float* inter_pre = nullptr;     // [N, I] intermediate dense, before the activation
    float* inter = nullptr;         // [N, I] activated
    float* t_out = nullptr;         // [N, r]
    float* ffn = nullptr;           // [N, H] output dense, before dropout
    uint8_t* ffn_mask = nullptr;    // [N, H]
    float* res2 = nullptr;          // [N, H] dropout(ffn) + x1
    float* ln2_mean = nullptr;      // [N]
    float* ln2_rstd = nullptr;      // [N]
    float* x2 = nullptr;            // [N, H] layer output
};

struct Activations {
    int64_t n = 0;  // tokens
    int64_t b = 0;  // sequences
    bool dropout = false;
    float p_hidden = 0, p_attn = 0, p_cls = 0;  // dropout rates the forward used
    std::vector<kernels::SeqSpan> seqs;         // [B] with probs offsets
    int64_t probs_floats = 0;

    float* emb_sum = nullptr;     // [N, H] word + position + type embeddings
    float* emb_mean = nullptr;    // [N]
    float* emb_rstd = nullptr;    // [N]
    float* emb_ln = nullptr;      // [N, H] after LayerNorm
    uint8_t* emb_mask = nullptr;  // [N, H]
    float* x0 = nullptr;          // [N, H] after dropout: hidden_states[0]
    std::vector<LayerActs> layers;
    float* cls = nullptr;            // [B, H] final hidden state of each [CLS] row
    float* t_pool = nullptr;         // [B, r]
    float* pooled_pre = nullptr;     // [B, H] pooler dense before tanh
    float* pooled = nullptr;         // [B, H] after tanh
    uint8_t* pooled_mask = nullptr;  // [B, H]
    float* pooled_drop = nullptr;    // [B, H] after the classifier's dropout
    float* t_cls = nullptr;          // [B, r]
    float* logits = nullptr;         // [B, C]
    float* probs = nullptr;          // [B, C] softmax (classification) for the loss
    float* losses = nullptr;         // [B] per-example loss

    // Sizes the buffers for this batch (reusing memory when it fits) and sets the pointers.
    void prepare(const ParamLayout& layout, const Batch& batch, bool with_dropout);
    // The final hidden states [N, H].
    const float* last_hidden() const { return layers.empty() ? x0 : layers.back().x2; }

  private:
    std::vector<float> fbuf_;
    std::vector<uint8_t> mbuf_;
};

}  // namespace fwsvd
