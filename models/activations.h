// Saved activations of a training-mode forward pass (llm.c style: one allocation, named
// pointers), sized for one batch and reused while batches fit.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "models/batch.h"
#include "models/encoder_layer.h"
#include "models/params.h"

namespace fwsvd {

struct Activations {
    int64_t n = 0;  // tokens
    int64_t b = 0;  // sequences
    bool dropout = false;
    float p_hidden = 0, p_attn = 0, p_cls = 0;  // dropout rates the forward used
    std::vector<kernels::SeqSpan> seqs;         // [B] with probs offsets
    int64_t probs_floats = 0;
    std::vector<int32_t> pos_ids;        // [N] position ids where the family numbers them itself
    const int32_t* positions = nullptr;  // [N] the position ids the forward used

    float* emb_code = nullptr;    // [N, r] the gathered rows of factored word embeddings
    float* emb_sum = nullptr;     // [N, E] word + position (+ type) embeddings
    float* emb_mean = nullptr;    // [N]
    float* emb_rstd = nullptr;    // [N]
    float* emb_ln = nullptr;      // [N, E] after LayerNorm
    uint8_t* emb_mask = nullptr;  // [N, E]
    float* emb_out = nullptr;     // [N, E] after dropout (emb_ln without dropout)
    float* t_proj = nullptr;      // [N, r] factored embedding projection's middle
    float* x0 = nullptr;          // [N, H] hidden_states[0]: emb_out, or its E -> H projection
    std::vector<LayerActs> layers;
    float* cls = nullptr;            // [B, H] final hidden state of each sequence's first row
    uint8_t* cls_mask = nullptr;     // [B, H] dropout before the head's dense (RoBERTa)
    float* cls_drop = nullptr;       // [B, H] its output (cls when there is none)
    float* t_pool = nullptr;         // [B, r]
    float* pooled_pre = nullptr;     // [B, H] head dense before its activation
    float* pooled = nullptr;         // [B, H] after it
    uint8_t* pooled_mask = nullptr;  // [B, H]
    float* pooled_drop = nullptr;    // [B, H] after the classifier's dropout
    float* t_cls = nullptr;          // [B, r]
    float* logits = nullptr;         // [B, C]
    float* probs = nullptr;          // [B, C] softmax (classification) for the loss
    float* losses = nullptr;         // [B] per-example loss

    // The per-layer settings of this pass (sizes, sequences, dropout), set by prepare.
    LayerRun run;

    // Sizes the buffers for this batch (reusing memory when it fits) and sets the pointers.
    void prepare(const ModelConfig& config, const ModelParams& params, const Batch& batch,
                 bool with_dropout);
    // The final hidden states [N, H].
    const float* last_hidden() const { return layers.empty() ? x0 : layers.back().x2; }

  private:
    std::vector<float> fbuf_;
    std::vector<uint8_t> mbuf_;
};

}  // namespace fwsvd
