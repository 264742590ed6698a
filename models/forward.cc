#include "models/forward.h"

#include "kernels/loss.h"
#include "models/embeddings.h"
#include "models/encoder_layer.h"
#include "models/head.h"
#include "runtime/error.h"

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

void model_forward(const ModelParams& p, const ParamLayout& layout, const Batch& batch,
                   Activations& a, const ForwardOptions& opt) {
    const ModelConfig& c = layout.config();
    a.prepare(c, p, batch, opt.dropout);
    a.p_hidden = opt.dropout ? float(c.hidden_dropout_prob) : 0.0f;
    a.p_attn = opt.dropout ? float(c.attention_probs_dropout_prob) : 0.0f;
    a.p_cls = opt.dropout ? float(c.classifier_dropout.value_or(c.hidden_dropout_prob)) : 0.0f;
    LayerRun& run = a.run;
    run.eps = float(c.layer_norm_eps);
    run.act = activation_of(c.hidden_act);
    run.shape = kernels::AttentionShape{c.num_attention_heads, c.head_dim(),  c.hidden_size,
                                        c.hidden_size,         c.hidden_size, c.hidden_size};
    run.p_hidden = a.p_hidden;
    run.p_attn = a.p_attn;
    run.seed = opt.seed;

    embeddings_forward(a, p, c, batch, opt.seed);
    for (size_t l = 0; l < a.layers.size(); ++l) {
        layer_forward(a.layers[l], p.layers[l], run, int64_t(l));
    }
    if (opt.head) head_forward(a, p, c, opt.seed);
}

double model_loss(const ParamLayout& layout, Activations& a, const Targets& t) {
    const ModelConfig& c = layout.config();
    const int64_t C = c.num_labels();
    if (c.is_regression()) {
        FWSVD_CHECK(int64_t(t.values.size()) == a.b, "model_loss: ", t.values.size(),
                    " regression targets for ", a.b, " examples");
        FWSVD_CHECK(C == 1, "regression needs one output");
        kernels::mse_forward(a.losses, a.logits, t.values.data(), a.b);
    } else {
        FWSVD_CHECK(int64_t(t.classes.size()) == a.b, "model_loss: ", t.classes.size(),
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
