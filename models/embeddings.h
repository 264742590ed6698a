// The embeddings in training form: x0 = proj(dropout(LN(word[ids] + pos[positions] +
// type[type_ids]))), the projection only where the family factorizes its embeddings (E -> H),
// token types only where it has them; and their backward.
#pragma once
#include <cstdint>
#include <vector>

#include "models/activations.h"
#include "models/batch.h"
#include "models/grad_ops.h"
#include "models/params.h"

namespace fwsvd {

// The position ids of the batch's tokens: batch.pos_ids (0, 1, ... in each sequence) for
// PositionIds::from_zero; for PositionIds::after_padding (RoBERTa), pad_token_id + 1 + the
// count of non-padding tokens so far in the sequence, and pad_token_id on padding tokens
// (transformers' create_position_ids_from_input_ids), computed into `scratch`.
const int32_t* position_ids(const ModelConfig& config, const Batch& batch,
                            std::vector<int32_t>& scratch);

// Word embeddings into out [n, E]: the rows of the dense table, or (factored) the rows of
// word_emb_a gathered into code [n, r] times word_emb_bᵀ; position and type embeddings are then
// added by kernels::embedding_forward.
void word_embeddings_forward(float* out, float* code, const int32_t* ids, const ModelParams& p,
                             int64_t n, int64_t e);

// Writes a.emb_* and a.x0 (a prepared for this batch); `seed` is the pass's dropout stream.
void embeddings_forward(Activations& a, const ModelParams& p, const ModelConfig& config,
                        const Batch& batch, uint64_t seed);

// dx [N, H]: the gradient of a.x0. d_e, d_e2: scratch [N, E]; dt: [N, max rank] (the word
// embeddings' rank included).
void embeddings_backward(const ModelParams& g, const float* dx, const Activations& a,
                         const ModelParams& p, const ModelConfig& config, const Batch& batch,
                         float* d_e, float* d_e2, float* dt, const GradCtx& ctx);

}  // namespace fwsvd
