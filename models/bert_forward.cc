#include "models/bert_forward.h"

#include <cstring>

#include "kernels/attention.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/loss.h"
#include "kernels/splitmix.h"
#include "models/attention_train.h"
#include "models/linear_ops.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {

kernels::Activation activation_of(const std::string& a) {
    using kernels::Activation;
    if (a == "gelu") return Activation::gelu;
    if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast") {
        return Activation::gelu_tanh;
    }
    if (a == "relu") return Activation::relu;
    if (a == "silu" || a == "swish") return Activation::silu;
    if (a == "tanh") return Activation::tanh;
    throw Error(str_cat("unsupported hidden_act '", a, "'"));
}

namespace {

// Dropout stream of one site (embedding, layer l attention output / FFN output, classifier).
uint64_t site_seed(uint64_t seed, uint64_t site) {
    return kernels::splitmix64_derive(seed, site);
}

}  // namespace

void bert_forward(const BertParams& p, const ParamLayout& layout, const Batch& batch,
                  Activations& a, const ForwardOptions& opt) {
    const BertConfig& c = layout.config();
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const float eps = float(c.layer_norm_eps);
    const float p_hidden = opt.dropout ? float(c.hidden_dropout_prob) : 0.0f;
    const float p_cls =
        opt.dropout ? float(c.classifier_dropout.value_or(c.hidden_dropout_prob)) : 0.0f;
    const float p_attn = opt.dropout ? float(c.attention_probs_dropout_prob) : 0.0f;
    a.prepare(layout, batch, opt.dropout);
    a.p_hidden = p_hidden;
    a.p_attn = p_attn;
    a.p_cls = p_cls;
    const int64_t N = a.n;
    const kernels::Activation act = activation_of(c.hidden_act);

    kernels::embedding_forward(a.emb_sum, batch.ids.data(), batch.pos_ids.data(),
                               batch.type_ids.data(), p.word_emb, p.pos_emb, p.type_emb, N, H);
    layernorm_rows(a.emb_ln, a.emb_mean, a.emb_rstd, a.emb_sum, p.emb_ln_gamma, p.emb_ln_beta, N, H,
                   eps);
    if (opt.dropout) {
        kernels::dropout_forward(a.x0, a.emb_mask, a.emb_ln, N * H, p_hidden,
                                 site_seed(opt.seed, 0), 0);
    }

    const kernels::AttentionShape shape{c.num_attention_heads, c.head_dim(), H, H, H, H};
    for (size_t l = 0; l < a.layers.size(); ++l) {
        const LayerParams& lp = p.layers[l];
        LayerActs& la = a.layers[l];
        linear_forward_any(la.q, la.tq, la.inp, lp.query, N);
        linear_forward_any(la.k, la.tk, la.inp, lp.key, N);
        linear_forward_any(la.v, la.tv, la.inp, lp.value, N);
        if (p_attn > 0) {
            attention_dropout_forward(la.ctx, la.probs, la.probs_drop, la.probs_mask, la.q, la.k,
                                      la.v, a.seqs, shape, p_attn, site_seed(opt.seed, 500000 + l));
        } else {
            attention_all(la.ctx, la.probs, la.q, la.k, la.v, a.seqs, shape);
        }
        linear_forward_any(la.ao, la.t_ao, la.ctx, lp.attn_out, N);
        const float* ao = la.ao;
        if (opt.dropout) {
            kernels::dropout_forward(la.res1, la.ao_mask, la.ao, N * H, p_hidden,
                                     site_seed(opt.seed, 1 + 2 * l), 0);
            ao = la.res1;
        }
        kernels::add_forward(la.res1, ao, la.inp, N * H);
        layernorm_rows(la.x1, la.ln1_mean, la.ln1_rstd, la.res1, lp.attn_ln_gamma, lp.attn_ln_beta,
                       N, H, eps);
        linear_forward_any(la.inter_pre, la.t_inter, la.x1, lp.inter, N);
        kernels::activation_forward(act, la.inter, la.inter_pre, N * I);
        linear_forward_any(la.ffn, la.t_out, la.inter, lp.out, N);
        const float* ffn = la.ffn;
        if (opt.dropout) {
            kernels::dropout_forward(la.res2, la.ffn_mask, la.ffn, N * H, p_hidden,
                                     site_seed(opt.seed, 2 + 2 * l), 0);
            ffn = la.res2;
        }
        kernels::add_forward(la.res2, ffn, la.x1, N * H);
        layernorm_rows(la.x2, la.ln2_mean, la.ln2_rstd, la.res2, lp.out_ln_gamma, lp.out_ln_beta, N,
                       H, eps);
    }
    if (!opt.head) return;
    FWSVD_CHECK(p.pooler.bias && p.classifier.bias, "the model has no pooler/classifier head");
    const float* last = a.last_hidden();
    for (int64_t b = 0; b < a.b; ++b) {
        std::memcpy(a.cls + b * H, last + a.seqs[size_t(b)].offset * H, size_t(H) * sizeof(float));
    }
    linear_forward_any(a.pooled_pre, a.t_pool, a.cls, p.pooler, a.b);
    kernels::activation_forward(kernels::Activation::tanh, a.pooled, a.pooled_pre, a.b * H);
    if (opt.dropout) {
        kernels::dropout_forward(a.pooled_drop, a.pooled_mask, a.pooled, a.b * H, p_cls,
                                 site_seed(opt.seed, 1000000), 0);
    }
    linear_forward_any(a.logits, a.t_cls, a.pooled_drop, p.classifier, a.b);
}

double bert_loss(const ParamLayout& layout, Activations& a, const Targets& t) {
    const BertConfig& c = layout.config();
    const int64_t C = c.num_labels();
    if (c.is_regression()) {
        FWSVD_CHECK(int64_t(t.values.size()) == a.b, "bert_loss: ", t.values.size(),
                    " regression targets for ", a.b, " examples");
        FWSVD_CHECK(C == 1, "regression needs one output");
        kernels::mse_forward(a.losses, a.logits, t.values.data(), a.b);
    } else {
        FWSVD_CHECK(int64_t(t.classes.size()) == a.b, "bert_loss: ", t.classes.size(),
                    " labels for ", a.b, " examples");
        for (int32_t y : t.classes) {
            FWSVD_CHECK(y >= 0 && y < C, "label ", y, " is not a class id below ", C);
        }
        kernels::cross_entropy_forward(a.losses, a.probs, a.logits, t.classes.data(), a.b, C);
    }
    double sum = 0;
    for (int64_t b = 0; b < a.b; ++b) sum += a.losses[b];
    return a.b > 0 ? sum / double(a.b) : 0.0;
}

}  // namespace fwsvd
