#include "models/head.h"

#include <cstring>

#include "kernels/activation.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/splitmix.h"
#include "models/family.h"
#include "models/linear_ops.h"
#include "runtime/error.h"

namespace fwsvd {

namespace {

// Dropout streams of the head's sites.
constexpr uint64_t kSiteClassifier = 1000000;
constexpr uint64_t kSiteBeforeDense = 1000001;

}  // namespace

void head_forward(Activations& a, const ModelParams& p, const ModelConfig& c, uint64_t seed) {
    FWSVD_CHECK(p.head_dense.present() && p.classifier.present(),
                "the model has no classification head");
    const int64_t H = c.hidden_size;
    const HeadSpec& head = c.model_family().head;
    const float* last = a.last_hidden();
    for (int64_t b = 0; b < a.b; ++b) {
        std::memcpy(a.cls + b * H, last + a.seqs[size_t(b)].offset * H, size_t(H) * sizeof(float));
    }
    if (a.cls_mask) {
        kernels::dropout_forward(a.cls_drop, a.cls_mask, a.cls, a.b * H, a.p_cls,
                                 kernels::splitmix64_derive(seed, kSiteBeforeDense), 0);
    }
    linear_forward_any(a.pooled_pre, a.t_pool, a.cls_drop, p.head_dense, a.b);
    kernels::activation_forward(head.activation, a.pooled, a.pooled_pre, a.b * H);
    if (a.dropout) {
        kernels::dropout_forward(a.pooled_drop, a.pooled_mask, a.pooled, a.b * H, a.p_cls,
                                 kernels::splitmix64_derive(seed, kSiteClassifier), 0);
    }
    linear_forward_any(a.logits, a.t_cls, a.pooled_drop, p.classifier, a.b);
}

void head_backward(const ModelParams& g, float* dx, const Activations& a, const ModelParams& p,
                   const ModelConfig& c, const Targets& targets, const float* dlosses,
                   const HeadGradScratch& s, const GradCtx& head, const float* extra_dlogits) {
    const int64_t N = a.n, B = a.b, H = c.hidden_size, C = c.num_labels();
    zero_floats(s.d_logits, B * C);
    if (c.is_regression()) {
        kernels::mse_backward(s.d_logits, dlosses, a.logits, targets.values.data(), B);
    } else {
        kernels::cross_entropy_backward(s.d_logits, dlosses, a.probs, targets.classes.data(), B, C);
    }
    if (extra_dlogits) kernels::accumulate(s.d_logits, extra_dlogits, B * C);
    zero_floats(s.d_pooled_drop, B * H);
    linear_backward_any(s.d_pooled_drop, g.classifier, s.d_logits, a.pooled_drop, a.t_cls, s.dt,
                        p.classifier, B, head);
    const float* dpool = s.d_pooled_drop;
    if (a.dropout) {
        dropout_back(s.d_pooled, s.d_pooled_drop, a.pooled_mask, B * H, a.p_cls);
        dpool = s.d_pooled;
    }
    zero_floats(s.d_pooled_pre, B * H);
    kernels::activation_backward(c.model_family().head.activation, s.d_pooled_pre, dpool,
                                 a.pooled_pre, B * H);
    zero_floats(s.d_cls, B * H);
    linear_backward_any(s.d_cls, g.head_dense, s.d_pooled_pre, a.cls_drop, a.t_pool, s.dt,
                        p.head_dense, B, head);
    const float* dcls = s.d_cls;
    if (a.cls_mask) {
        // d_pooled_drop is free again: the gradient before the first dropout.
        dropout_back(s.d_pooled_drop, s.d_cls, a.cls_mask, B * H, a.p_cls);
        dcls = s.d_pooled_drop;
    }
    zero_floats(dx, N * H);
    for (int64_t b = 0; b < B; ++b) {
        kernels::accumulate(dx + a.seqs[size_t(b)].offset * H, dcls + b * H, H);
    }
}

}  // namespace fwsvd
