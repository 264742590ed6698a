#include "models/activations.h"

#include <algorithm>

namespace fwsvd {

void Activations::prepare(const ParamLayout& layout, const Batch& batch, bool with_dropout) {
    const BertConfig& c = layout.config();
    const int64_t H = c.hidden_size, I = c.intermediate_size, C = c.num_labels();
    n = batch.tokens();
    b = batch.size();
    dropout = with_dropout;
    seqs = batch.seqs;
    probs_floats = kernels::attention_assign_probs_offsets(seqs.data(), b, c.num_attention_heads);

    // First pass records (pointer, size) requests; then one allocation serves them all.
    std::vector<std::pair<float**, int64_t>> freq;
    std::vector<std::pair<uint8_t**, int64_t>> mreq;
    auto f = [&](float** p, int64_t size) { freq.emplace_back(p, size); };
    auto m = [&](uint8_t** p, int64_t size) {
        if (with_dropout) {
            mreq.emplace_back(p, size);
        } else {
            *p = nullptr;
        }
    };
    auto rank = [&](const std::string& prefix) { return layout.rank(prefix); };
    auto ft = [&](float** p, const std::string& prefix, int64_t rows) {
        int64_t r = rank(prefix);
        if (r > 0) {
            f(p, rows * r);
        } else {
            *p = nullptr;
        }
    };

    f(&emb_sum, n * H);
    f(&emb_mean, n);
    f(&emb_rstd, n);
    f(&emb_ln, n * H);
    m(&emb_mask, n * H);
    if (with_dropout) f(&x0, n * H);
    layers.assign(size_t(c.num_hidden_layers), LayerActs{});
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        LayerActs& a = layers[size_t(l)];
        const auto lin = encoder_linear_prefixes(l);
        f(&a.q, n * H);
        f(&a.k, n * H);
        f(&a.v, n * H);
        ft(&a.tq, lin[0], n);
        ft(&a.tk, lin[1], n);
        ft(&a.tv, lin[2], n);
        f(&a.probs, probs_floats);
        if (with_dropout) {
            f(&a.probs_drop, probs_floats);
        } else {
            a.probs_drop = nullptr;
        }
        m(&a.probs_mask, probs_floats);
        f(&a.ctx, n * H);
        ft(&a.t_ao, lin[3], n);
        f(&a.ao, n * H);
        m(&a.ao_mask, n * H);
        f(&a.res1, n * H);
        f(&a.ln1_mean, n);
        f(&a.ln1_rstd, n);
        f(&a.x1, n * H);
        ft(&a.t_inter, lin[4], n);
        f(&a.inter_pre, n * I);
        f(&a.inter, n * I);
        ft(&a.t_out, lin[5], n);
        f(&a.ffn, n * H);
        m(&a.ffn_mask, n * H);
        f(&a.res2, n * H);
        f(&a.ln2_mean, n);
        f(&a.ln2_rstd, n);
        f(&a.x2, n * H);
    }
    f(&cls, b * H);
    ft(&t_pool, "bert.pooler.dense", b);
    f(&pooled_pre, b * H);
    f(&pooled, b * H);
    m(&pooled_mask, b * H);
    if (with_dropout) f(&pooled_drop, b * H);
    ft(&t_cls, "classifier", b);
    f(&logits, b * std::max<int64_t>(C, 1));
    f(&probs, b * std::max<int64_t>(C, 1));
    f(&losses, b);

    int64_t total = 0;
    for (auto& [p, size] : freq) total += (size + 15) / 16 * 16;
    int64_t mtotal = 0;
    for (auto& [p, size] : mreq) mtotal += (size + 63) / 64 * 64;
    if (int64_t(fbuf_.size()) < total + 16) fbuf_.assign(size_t(total + 16), 0.0f);
    if (int64_t(mbuf_.size()) < mtotal) mbuf_.assign(size_t(mtotal), 0);
    // Align the float base to 64 bytes.
    float* base = fbuf_.data();
    while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
    int64_t off = 0;
    for (auto& [p, size] : freq) {
        *p = base + off;
        off += (size + 15) / 16 * 16;
    }
    off = 0;
    for (auto& [p, size] : mreq) {
        *p = mbuf_.data() + off;
        off += (size + 63) / 64 * 64;
    }
    if (!with_dropout) {
        x0 = emb_ln;
        pooled_drop = pooled;
    }
    const float* prev = x0;
    for (auto& a : layers) {
        a.inp = prev;
        prev = a.x2;
    }
}

}  // namespace fwsvd
