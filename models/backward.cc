#include "models/backward.h"

#include <algorithm>

#include "kernels/elementwise.h"
#include "models/embeddings.h"
#include "models/encoder_layer.h"
#include "models/head.h"
#include "runtime/error.h"

namespace fwsvd {

void model_backward(const ModelParams& g, const ModelParams& p, const ParamLayout& layout,
                    const Batch& batch, const Activations& a, const Targets& targets,
                    const float* dlosses, GradMode mode, BackwardWorkspace& ws,
                    const OutputGrads& extra) {
    FWSVD_CHECK(mode == GradMode::sum || !layout.has_shared(),
                "per-example squared gradients of shared parameters need the sum over their uses "
                "first: run the backward in sum mode one example at a time");
    const ModelConfig& c = layout.config();
    const int64_t N = a.n, B = a.b, H = c.hidden_size, I = c.intermediate_size, C = c.num_labels();
    const int64_t W = std::max(H, c.embedding_dim());  // the widest row of the embeddings' side
    int64_t rmax = std::max<int64_t>(1, p.word_emb_rank);
    for (const auto& e : layout.entries()) {
        if (e.kind == ParamKind::linear_factor)
            rmax = std::max(rmax, std::min(e.shape[0], e.shape[1]));
    }

    // Scratch: 8 [N, W], 2 [N, I], [N, rmax], head buffers.
    const int64_t nb = std::max(N, B);
    const int64_t need = 8 * N * W + 2 * N * I + nb * rmax + 4 * B * H + B * C + 64;
    if (int64_t(ws.buf.size()) < need) ws.buf.assign(size_t(need), 0.0f);
    float* next = ws.buf.data();
    auto take = [&](int64_t n) {
        float* r = next;
        next += n;
        return r;
    };
    float* dx = take(N * W);     // gradient of the current layer's output
    float* dx_in = take(N * W);  // gradient of the current layer's input
    LayerGradScratch ls;
    ls.d_res = take(N * W);
    ls.d_drop = take(N * W);
    ls.dq = take(N * W);
    ls.dk = take(N * W);
    ls.dv = take(N * W);
    ls.d_ctx = take(N * W);
    ls.d_inter = take(N * I);
    ls.d_inter_pre = take(N * I);
    ls.dt = take(nb * rmax);
    HeadGradScratch hs;
    hs.d_logits = take(B * C);
    hs.d_pooled_drop = take(B * H);
    hs.d_pooled = take(B * H);
    hs.d_pooled_pre = take(B * H);
    hs.d_cls = take(B * H);
    hs.dt = ls.dt;

    std::vector<Span> tok_spans, head_spans;
    for (const auto& s : a.seqs) tok_spans.push_back({s.offset, s.len});
    for (int64_t b = 0; b < B; ++b) head_spans.push_back({b, 1});
    const GradCtx tok{mode, &tok_spans};
    const GradCtx head{mode, &head_spans};

    head_backward(g, dx, a, p, c, targets, dlosses, hs, head, extra.d_logits);
    if (extra.d_hidden) kernels::accumulate(dx, extra.d_hidden, N * H);
    for (int64_t l = int64_t(a.layers.size()) - 1; l >= 0; --l) {
        layer_backward(g.layers[size_t(l)], &dx, &dx_in, a.layers[size_t(l)], p.layers[size_t(l)],
                       a.run, ls, tok);
    }
    embeddings_backward(g, dx, a, p, c, batch, ls.d_res, ls.d_drop, ls.dt, tok);
}

}  // namespace fwsvd
