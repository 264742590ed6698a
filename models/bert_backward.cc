#include "models/bert_backward.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "kernels/activation.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/loss.h"
#include "models/attention_train.h"
#include "models/linear_ops.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {
namespace {

// Rows of one example: [offset, offset + len).
struct Span {
    int64_t offset;
    int64_t len;
};

struct Ctx {
    GradMode mode;
    const std::vector<Span>* spans;  // the examples' rows in the current buffers
};

void zero(float* p, int64_t n) {
    std::memset(p, 0, size_t(n) * sizeof(float));
}

// Weight gradient dW [out, in] of Y = X Wᵀ from dY [N, out] and X [N, in].
void weight_grad(float* g, const float* dy, const float* x, int64_t out, int64_t in,
                 const Ctx& ctx) {
    if (!g) return;
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum) {
        const int64_t n = spans.empty() ? 0 : spans.back().offset + spans.back().len;
        kernels::gemm(true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, g, in);
        return;
    }
    // Per example: G_b = dY_bᵀ X_b, g += G_b². Threads own disjoint rows of W.
    parallel_for(out, 16, [&](int64_t o0, int64_t o1) {
        std::vector<float> tile(static_cast<size_t>((o1 - o0) * in));
        for (const Span& s : spans) {
            kernels::gemm(true, false, o1 - o0, in, s.len, 1.0f, dy + s.offset * out + o0, out,
                          x + s.offset * in, in, 0.0f, tile.data(), in);
            kernels::square_accumulate(g + o0 * in, tile.data(), (o1 - o0) * in);
        }
    });
}

// Gradient of a per-column parameter added to every row (a bias): Σ_rows dY [N, c].
void rowsum_grad(float* g, const float* dy, int64_t c, const Ctx& ctx) {
    if (!g) return;
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum) {
        const int64_t n = spans.empty() ? 0 : spans.back().offset + spans.back().len;
        kernels::sum_rows_accumulate(g, dy, n, c);
        return;
    }
    std::vector<float> tmp(static_cast<size_t>(c));
    for (const Span& s : spans) {
        std::fill(tmp.begin(), tmp.end(), 0.0f);
        kernels::sum_rows_accumulate(tmp.data(), dy + s.offset * c, s.len, c);
        kernels::square_accumulate(g, tmp.data(), c);
    }
}

// Backward of out = linear(inp) for a dense or factored layer. dinp (+=) may be null.
// t: the saved inp·Aᵀ of a factored layer; dt: scratch [N, rank].
void linear_backward_any(float* dinp, const LinearParams& g, const float* dout, const float* inp,
                         const float* t, float* dt, const LinearParams& p, int64_t n,
                         const Ctx& ctx) {
    if (p.factored()) {
        zero(dt, n * p.rank);
        kernels::linear_backward(dt, nullptr, nullptr, dout, t, p.b, n, p.rank, p.out);
        weight_grad(g.b, dout, t, p.out, p.rank, ctx);
        rowsum_grad(g.bias, dout, p.out, ctx);
        weight_grad(g.a, dt, inp, p.rank, p.in, ctx);
        if (dinp) kernels::linear_backward(dinp, nullptr, nullptr, dt, inp, p.a, n, p.in, p.rank);
    } else {
        weight_grad(g.weight, dout, inp, p.out, p.in, ctx);
        rowsum_grad(g.bias, dout, p.out, ctx);
        if (dinp)
            kernels::linear_backward(dinp, nullptr, nullptr, dout, inp, p.weight, n, p.in, p.out);
    }
}

// LayerNorm backward: dinp += ..., and gamma/beta gradients by mode.
void layernorm_backward_any(float* dinp, float* dgamma, float* dbeta, const float* dout,
                            const float* inp, const float* gamma, const float* mean,
                            const float* rstd, int64_t c, const Ctx& ctx) {
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum || (!dgamma && !dbeta)) {
        const int64_t n = spans.empty() ? 0 : spans.back().offset + spans.back().len;
        parallel_for(n, 64, [&](int64_t b, int64_t e) {
            kernels::layernorm_backward(dinp + b * c, nullptr, nullptr, dout + b * c, inp + b * c,
                                        gamma, mean + b, rstd + b, e - b, c);
        });
        if (dgamma || dbeta) {
            kernels::layernorm_backward(nullptr, dgamma, dbeta, dout, inp, gamma, mean, rstd, n, c);
        }
        return;
    }
    std::vector<float> tg(static_cast<size_t>(c)), tb(static_cast<size_t>(c));
    for (const Span& s : spans) {
        std::fill(tg.begin(), tg.end(), 0.0f);
        std::fill(tb.begin(), tb.end(), 0.0f);
        kernels::layernorm_backward(dinp + s.offset * c, tg.data(), tb.data(), dout + s.offset * c,
                                    inp + s.offset * c, gamma, mean + s.offset, rstd + s.offset,
                                    s.len, c);
        if (dgamma) kernels::square_accumulate(dgamma, tg.data(), c);
        if (dbeta) kernels::square_accumulate(dbeta, tb.data(), c);
    }
}

// Embedding table gradient: rows[idx[i]] += dout[i]; per example, rows are summed within the
// example before squaring.
void embedding_grad(float* g, const int32_t* idx, const float* dout, int64_t h, const Ctx& ctx) {
    if (!g) return;
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum) {
        const int64_t n = spans.empty() ? 0 : spans.back().offset + spans.back().len;
        kernels::embedding_backward(g, nullptr, nullptr, dout, idx, idx, idx, n, h);
        return;
    }
    std::map<int32_t, std::vector<float>> rows;
    for (const Span& s : spans) {
        rows.clear();
        for (int64_t i = s.offset; i < s.offset + s.len; ++i) {
            auto& r = rows[idx[i]];
            if (r.empty()) r.assign(size_t(h), 0.0f);
            kernels::accumulate(r.data(), dout + i * h, h);
        }
        for (const auto& [id, r] : rows)
            kernels::square_accumulate(g + int64_t(id) * h, r.data(), h);
    }
}

void dropout_back(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p) {
    zero(dinp, n);
    kernels::dropout_backward(dinp, dout, mask, n, p);
}

}  // namespace

void bert_backward(const BertParams& g, const BertParams& p, const ParamLayout& layout,
                   const Batch& batch, const Activations& a, const Targets& targets,
                   const float* dlosses, GradMode mode, BackwardWorkspace& ws) {
    const BertConfig& c = layout.config();
    const int64_t N = a.n, B = a.b, H = c.hidden_size, I = c.intermediate_size, C = c.num_labels();
    const kernels::Activation act = activation_of(c.hidden_act);
    const kernels::AttentionShape shape{c.num_attention_heads, c.head_dim(), H, H, H, H};
    int64_t rmax = 1;
    for (const auto& e : layout.entries()) {
        if (e.kind == ParamKind::linear_factor)
            rmax = std::max(rmax, std::min(e.shape[0], e.shape[1]));
    }

    // Scratch: 8 [N, H], 2 [N, I], [N, rmax], head buffers.
    const int64_t nb = std::max(N, B);
    const int64_t need = 8 * N * H + 2 * N * I + nb * rmax + 4 * B * H + B * C + 64;
    if (int64_t(ws.buf.size()) < need) ws.buf.assign(size_t(need), 0.0f);
    float* next = ws.buf.data();
    auto take = [&](int64_t n) {
        float* r = next;
        next += n;
        return r;
    };
    float* dx = take(N * H);      // gradient of the current layer's output
    float* dx_in = take(N * H);   // gradient of the current layer's input
    float* d_res = take(N * H);   // gradient of a LayerNorm input
    float* d_drop = take(N * H);  // gradient before a dropout
    float* dq = take(N * H);
    float* dk = take(N * H);
    float* dv = take(N * H);
    float* d_ctx = take(N * H);
    float* d_inter = take(N * I);
    float* d_inter_pre = take(N * I);
    float* dt = take(nb * rmax);
    float* d_logits = take(B * C);
    float* d_pooled_drop = take(B * H);
    float* d_pooled = take(B * H);
    float* d_pooled_pre = take(B * H);
    float* d_cls = take(B * H);

    std::vector<Span> tok_spans, head_spans;
    for (const auto& s : a.seqs) tok_spans.push_back({s.offset, s.len});
    for (int64_t b = 0; b < B; ++b) head_spans.push_back({b, 1});
    const Ctx tok{mode, &tok_spans};
    const Ctx head{mode, &head_spans};

    // Loss and head.
    zero(d_logits, B * C);
    if (c.is_regression()) {
        kernels::mse_backward(d_logits, dlosses, a.logits, targets.values.data(), B);
    } else {
        kernels::cross_entropy_backward(d_logits, dlosses, a.probs, targets.classes.data(), B, C);
    }
    zero(d_pooled_drop, B * H);
    linear_backward_any(d_pooled_drop, g.classifier, d_logits, a.pooled_drop, a.t_cls, dt,
                        p.classifier, B, head);
    const float* dpool = d_pooled_drop;
    if (a.dropout) {
        dropout_back(d_pooled, d_pooled_drop, a.pooled_mask, B * H, a.p_cls);
        dpool = d_pooled;
    }
    zero(d_pooled_pre, B * H);
    kernels::activation_backward(kernels::Activation::tanh, d_pooled_pre, dpool, a.pooled_pre,
                                 B * H);
    zero(d_cls, B * H);
    linear_backward_any(d_cls, g.pooler, d_pooled_pre, a.cls, a.t_pool, dt, p.pooler, B, head);
    zero(dx, N * H);
    for (int64_t b = 0; b < B; ++b) {
        kernels::accumulate(dx + a.seqs[size_t(b)].offset * H, d_cls + b * H, H);
    }

    // Encoder layers in reverse.
    for (int64_t l = int64_t(a.layers.size()) - 1; l >= 0; --l) {
        const LayerActs& la = a.layers[size_t(l)];
        const LayerParams& lp = p.layers[size_t(l)];
        const LayerParams& lg = g.layers[size_t(l)];
        // x2 = LN(res2), res2 = dropout(ffn) + x1
        zero(d_res, N * H);
        layernorm_backward_any(d_res, lg.out_ln_gamma, lg.out_ln_beta, dx, la.res2, lp.out_ln_gamma,
                               la.ln2_mean, la.ln2_rstd, H, tok);
        const float* d_ffn = d_res;
        if (a.dropout) {
            dropout_back(d_drop, d_res, la.ffn_mask, N * H, a.p_hidden);
            d_ffn = d_drop;
        }
        std::memcpy(dx, d_res, size_t(N * H) * sizeof(float));  // now: gradient of x1
        zero(d_inter, N * I);
        linear_backward_any(d_inter, lg.out, d_ffn, la.inter, la.t_out, dt, lp.out, N, tok);
        zero(d_inter_pre, N * I);
        kernels::activation_backward(act, d_inter_pre, d_inter, la.inter_pre, N * I);
        linear_backward_any(dx, lg.inter, d_inter_pre, la.x1, la.t_inter, dt, lp.inter, N, tok);
        // x1 = LN(res1), res1 = dropout(ao) + inp
        zero(d_res, N * H);
        layernorm_backward_any(d_res, lg.attn_ln_gamma, lg.attn_ln_beta, dx, la.res1,
                               lp.attn_ln_gamma, la.ln1_mean, la.ln1_rstd, H, tok);
        const float* d_ao = d_res;
        if (a.dropout) {
            dropout_back(d_drop, d_res, la.ao_mask, N * H, a.p_hidden);
            d_ao = d_drop;
        }
        std::memcpy(dx_in, d_res, size_t(N * H) * sizeof(float));
        zero(d_ctx, N * H);
        linear_backward_any(d_ctx, lg.attn_out, d_ao, la.ctx, la.t_ao, dt, lp.attn_out, N, tok);
        zero(dq, N * H);
        zero(dk, N * H);
        zero(dv, N * H);
        if (a.p_attn > 0) {
            attention_dropout_backward(dq, dk, dv, d_ctx, la.q, la.k, la.v, la.probs, la.probs_drop,
                                       la.probs_mask, a.seqs, shape, a.p_attn);
        } else {
            attention_all_backward(dq, dk, dv, d_ctx, la.q, la.k, la.v, la.probs, a.seqs, shape);
        }
        linear_backward_any(dx_in, lg.query, dq, la.inp, la.tq, dt, lp.query, N, tok);
        linear_backward_any(dx_in, lg.key, dk, la.inp, la.tk, dt, lp.key, N, tok);
        linear_backward_any(dx_in, lg.value, dv, la.inp, la.tv, dt, lp.value, N, tok);
        std::swap(dx, dx_in);
    }

    // Embeddings: x0 = dropout(LN(word + pos + type)).
    const float* d_emb = dx;
    if (a.dropout) {
        dropout_back(d_drop, dx, a.emb_mask, N * H, a.p_hidden);
        d_emb = d_drop;
    }
    if (!g.word_emb && !g.pos_emb && !g.type_emb && !g.emb_ln_gamma && !g.emb_ln_beta) return;
    zero(d_res, N * H);
    layernorm_backward_any(d_res, g.emb_ln_gamma, g.emb_ln_beta, d_emb, a.emb_sum, p.emb_ln_gamma,
                           a.emb_mean, a.emb_rstd, H, tok);
    embedding_grad(g.word_emb, batch.ids.data(), d_res, H, tok);
    embedding_grad(g.pos_emb, batch.pos_ids.data(), d_res, H, tok);
    embedding_grad(g.type_emb, batch.type_ids.data(), d_res, H, tok);
}

}  // namespace fwsvd
