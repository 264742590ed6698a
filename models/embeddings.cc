#include "models/embeddings.h"

#include <cstring>
#include "kernels/dropout.h"

#include "kernels/embedding.h"
#include "kernels/linear.h"
#include "kernels/splitmix.h"
#include "models/family.h"
#include "models/linear_ops.h"

namespace fwsvd {

const int32_t* position_ids(const ModelConfig& c, const Batch& batch,
                            std::vector<int32_t>& scratch) {
    if (c.model_family().positions == PositionIds::from_zero) return batch.pos_ids.data();
    const int32_t pad = int32_t(c.pad_token_id);
    scratch.resize(batch.ids.size());
    for (const kernels::SeqSpan& s : batch.seqs) {
        int32_t count = 0;
        for (int64_t i = s.offset; i < s.offset + s.len; ++i) {
            const bool real = batch.ids[size_t(i)] != pad;
            count += real ? 1 : 0;
            scratch[size_t(i)] = real ? pad + count : pad;
        }
    }
    return scratch.data();
}

void word_embeddings_forward(float* out, float* code, const int32_t* ids, const ModelParams& p,
                             int64_t n, int64_t e) {
    const int64_t r = p.word_emb_rank;
    for (int64_t i = 0; i < n; ++i) {
        std::memcpy(code + i * r, p.word_emb_a + int64_t(ids[i]) * r, size_t(r) * sizeof(float));
    }
    kernels::linear_forward(out, code, p.word_emb_b, nullptr, n, r, e);
}

void embeddings_forward(Activations& a, const ModelParams& p, const ModelConfig& c,
                        const Batch& batch, uint64_t seed) {
    const int64_t N = a.n, E = c.embedding_dim();
    a.positions = position_ids(c, batch, a.pos_ids);
    if (p.word_emb_rank > 0)
        word_embeddings_forward(a.emb_sum, a.emb_code, batch.ids.data(), p, N, E);
    kernels::embedding_forward(a.emb_sum, batch.ids.data(), a.positions, batch.type_ids.data(),
                               p.word_emb, p.pos_emb, p.type_emb, N, E);
    layernorm_rows(a.emb_ln, a.emb_mean, a.emb_rstd, a.emb_sum, p.emb_ln_gamma, p.emb_ln_beta, N, E,
                   float(c.layer_norm_eps));
    if (a.dropout) {
        kernels::dropout_forward(a.emb_out, a.emb_mask, a.emb_ln, N * E, a.p_hidden,
                                 kernels::splitmix64_derive(seed, 0), 0);
    }
    if (p.emb_proj.present()) linear_forward_any(a.x0, a.t_proj, a.emb_out, p.emb_proj, N);
}

void embeddings_backward(const ModelParams& g, const float* dx, const Activations& a,
                         const ModelParams& p, const ModelConfig& c, const Batch& batch, float* d_e,
                         float* d_e2, float* dt, const GradCtx& tok) {
    const int64_t N = a.n, E = c.embedding_dim();
    const float* d_out = dx;  // gradient of a.emb_out
    if (p.emb_proj.present()) {
        zero_floats(d_e2, N * E);
        linear_backward_any(d_e2, g.emb_proj, dx, a.emb_out, a.t_proj, dt, p.emb_proj, N, tok);
        d_out = d_e2;
    }
    const float* d_ln = d_out;
    if (a.dropout) {
        dropout_back(d_e, d_out, a.emb_mask, N * E, a.p_hidden);
        d_ln = d_e;
    }
    if (!g.word_emb && !g.word_emb_a && !g.word_emb_b && !g.pos_emb && !g.type_emb &&
        !g.emb_ln_gamma && !g.emb_ln_beta) {
        return;
    }
    float* d_sum = d_ln == d_e ? d_e2 : d_e;
    zero_floats(d_sum, N * E);
    layernorm_backward_any(d_sum, g.emb_ln_gamma, g.emb_ln_beta, d_ln, a.emb_sum, p.emb_ln_gamma,
                           a.emb_mean, a.emb_rstd, E, tok);
    if (p.word_emb_rank > 0) {
        // emb = code · Bᵀ: dB from the saved codes, d_code = d_sum · B, scattered into A's rows.
        const int64_t r = p.word_emb_rank;
        weight_grad(g.word_emb_b, d_sum, a.emb_code, E, r, tok);
        if (g.word_emb_a) {
            zero_floats(dt, N * r);
            kernels::linear_backward(dt, nullptr, nullptr, d_sum, a.emb_code, p.word_emb_b, N, r,
                                     E);
            embedding_grad(g.word_emb_a, batch.ids.data(), dt, r, tok);
        }
    } else {
        embedding_grad(g.word_emb, batch.ids.data(), d_sum, E, tok);
    }
    embedding_grad(g.pos_emb, a.positions, d_sum, E, tok);
    embedding_grad(g.type_emb, batch.type_ids.data(), d_sum, E, tok);
}

}  // namespace fwsvd
