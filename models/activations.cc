#include "models/activations.h"

#include <algorithm>

#include "models/family.h"

namespace fwsvd {

void Activations::prepare(const ModelConfig& c, const ModelParams& p, const Batch& batch,
                          bool with_dropout) {
    const int64_t H = c.hidden_size, E = c.embedding_dim(), C = c.num_labels();
    n = batch.tokens();
    b = batch.size();
    dropout = with_dropout;
    seqs = batch.seqs;
    probs_floats = kernels::attention_assign_probs_offsets(seqs.data(), b, c.num_attention_heads);
    run = LayerRun{};
    run.n = n;
    run.hidden = H;
    run.intermediate = c.intermediate_size;
    run.seqs = &seqs;
    run.probs_floats = probs_floats;
    run.dropout = with_dropout;
    run.attention_output_dropout = c.model_family().attention_output_dropout;

    // First the (pointer, size) requests; then one allocation serves them all.
    ActsRequests req;
    req.masks_on = with_dropout;
    const bool proj = p.emb_proj.present();
    req.f_if(&emb_code, p.word_emb_rank > 0, n * p.word_emb_rank);
    req.f(&emb_sum, n * E);
    req.f(&emb_mean, n);
    req.f(&emb_rstd, n);
    req.f(&emb_ln, n * E);
    req.m(&emb_mask, n * E);
    req.f_if(&emb_out, with_dropout, n * E);
    req.f_if(&t_proj, proj && p.emb_proj.factored(), n * p.emb_proj.rank);
    req.f_if(&x0, proj, n * H);
    layers.assign(p.layers.size(), LayerActs{});
    for (size_t l = 0; l < layers.size(); ++l) layer_acts_request(layers[l], p.layers[l], run, req);
    const bool drop_cls = with_dropout && c.model_family().head.dropout_before_dense;
    req.f(&cls, b * H);
    if (drop_cls) {
        req.m(&cls_mask, b * H);
    } else {
        cls_mask = nullptr;
    }
    req.f_if(&cls_drop, drop_cls, b * H);
    req.f_if(&t_pool, p.head_dense.factored(), b * p.head_dense.rank);
    req.f(&pooled_pre, b * H);
    req.f(&pooled, b * H);
    req.m(&pooled_mask, b * H);
    req.f_if(&pooled_drop, with_dropout, b * H);
    req.f_if(&t_cls, p.classifier.factored(), b * p.classifier.rank);
    req.f(&logits, b * std::max<int64_t>(C, 1));
    req.f(&probs, b * std::max<int64_t>(C, 1));
    req.f(&losses, b);

    int64_t total = 0;
    for (auto& [ptr, size] : req.floats) total += (size + 15) / 16 * 16;
    int64_t mtotal = 0;
    for (auto& [ptr, size] : req.masks) mtotal += (size + 63) / 64 * 64;
    if (int64_t(fbuf_.size()) < total + 16) fbuf_.assign(size_t(total + 16), 0.0f);
    if (int64_t(mbuf_.size()) < mtotal) mbuf_.assign(size_t(mtotal), 0);
    // Align the float base to 64 bytes.
    float* base = fbuf_.data();
    while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
    int64_t off = 0;
    for (auto& [ptr, size] : req.floats) {
        *ptr = base + off;
        off += (size + 15) / 16 * 16;
    }
    off = 0;
    for (auto& [ptr, size] : req.masks) {
        *ptr = mbuf_.data() + off;
        off += (size + 63) / 64 * 64;
    }
    if (!with_dropout) {
        emb_out = emb_ln;
        pooled_drop = pooled;
    }
    if (!drop_cls) cls_drop = cls;
    if (!proj) x0 = emb_out;
    const float* prev = x0;
    for (auto& a : layers) {
        a.inp = prev;
        prev = a.x2;
    }
}

}  // namespace fwsvd
