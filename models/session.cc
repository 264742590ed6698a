#include "models/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "models/bert_forward.h"
#include "models/linear_ops.h"
#include "runtime/error.h"

namespace fwsvd {

Session::Session(std::shared_ptr<const BertModel> model) : model_(std::move(model)) {
    FWSVD_CHECK(model_ != nullptr, "Session: null model");
}

void Session::reserve(int64_t tokens, int64_t seqs) {
    const BertConfig& c = model_->config();
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    if (tokens > cap_tokens_) {
        int64_t r = 0;
        for (const auto& e : model_->layout().entries()) {
            if (e.kind == ParamKind::linear_factor && e.name.size() > 9 &&
                e.name.compare(e.name.size() - 9, 9, ".weight_a") == 0) {
                r = std::max(r, e.shape[0]);
            }
        }
        for (auto* v : {&x_, &q_, &k_, &v_, &ctx_, &tmp_}) v->resize(size_t(tokens * H));
        inter_.resize(size_t(tokens * I));
        t_.resize(size_t(std::max<int64_t>(tokens, seqs) * std::max<int64_t>(r, 1)));
        cap_tokens_ = tokens;
    }
    if (seqs > cap_seqs_) {
        cls_.resize(size_t(seqs * H));
        pooled_.resize(size_t(seqs * H));
        cap_seqs_ = seqs;
    }
}

void Session::forward(const Batch& batch, float* logits) {
    const BertConfig& c = model_->config();
    const BertParams& p = model_->params();
    FWSVD_CHECK(model_->has_classifier(), "Session: the model has no classifier");
    const int64_t N = batch.tokens(), B = batch.size(), H = c.hidden_size,
                  I = c.intermediate_size;
    const float eps = float(c.layer_norm_eps);
    reserve(N, B);
    seqs_ = batch.seqs;
    const kernels::Activation act = activation_of(c.hidden_act);
    const kernels::AttentionShape shape{c.num_attention_heads, c.head_dim(), H, H, H, H};

    float* x = x_.data();
    kernels::embedding_forward(tmp_.data(), batch.ids.data(), batch.pos_ids.data(),
                               batch.type_ids.data(), p.word_emb, p.pos_emb, p.type_emb, N, H);
    layernorm_rows(x, nullptr, nullptr, tmp_.data(), p.emb_ln_gamma, p.emb_ln_beta, N, H, eps);
    for (const LayerParams& lp : p.layers) {
        linear_forward_any(q_.data(), t_.data(), x, lp.query, N);
        linear_forward_any(k_.data(), t_.data(), x, lp.key, N);
        linear_forward_any(v_.data(), t_.data(), x, lp.value, N);
        attention_all(ctx_.data(), nullptr, q_.data(), k_.data(), v_.data(), seqs_, shape);
        linear_forward_any(tmp_.data(), t_.data(), ctx_.data(), lp.attn_out, N);
        kernels::add_layernorm_forward(x, tmp_.data(), x, lp.attn_ln_gamma, lp.attn_ln_beta, N, H,
                                       eps);
        linear_forward_any(inter_.data(), t_.data(), x, lp.inter, N);
        kernels::activation_forward(act, inter_.data(), inter_.data(), N * I);
        linear_forward_any(tmp_.data(), t_.data(), inter_.data(), lp.out, N);
        kernels::add_layernorm_forward(x, tmp_.data(), x, lp.out_ln_gamma, lp.out_ln_beta, N, H,
                                       eps);
    }
    for (int64_t b = 0; b < B; ++b) {
        std::memcpy(cls_.data() + b * H, x + seqs_[size_t(b)].offset * H,
                    size_t(H) * sizeof(float));
    }
    linear_forward_any(pooled_.data(), t_.data(), cls_.data(), p.pooler, B);
    kernels::activation_forward(kernels::Activation::tanh, pooled_.data(), pooled_.data(), B * H);
    linear_forward_any(logits, t_.data(), pooled_.data(), p.classifier, B);
}

std::vector<float> Session::logits(const Batch& batch) {
    std::vector<float> out(size_t(batch.size() * model_->config().num_labels()));
    forward(batch, out.data());
    return out;
}

Prediction make_prediction(const BertConfig& c, const float* logits) {
    Prediction pr;
    const int64_t C = c.num_labels();
    pr.logits.assign(logits, logits + C);
    if (c.is_regression()) {
        pr.score = logits[0];
        return pr;
    }
    double mx = *std::max_element(logits, logits + C);
    double sum = 0;
    pr.probabilities.resize(size_t(C));
    for (int64_t j = 0; j < C; ++j) sum += std::exp(double(logits[j]) - mx);
    for (int64_t j = 0; j < C; ++j) {
        pr.probabilities[size_t(j)] = float(std::exp(double(logits[j]) - mx) / sum);
    }
    pr.label_id = std::max_element(logits, logits + C) - logits;
    return pr;
}

}  // namespace fwsvd
