#include "models/grad_ops.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "runtime/parallel.h"

namespace fwsvd {

void zero_floats(float* p, int64_t n) {
    std::memset(p, 0, size_t(n) * sizeof(float));
}

void weight_grad(float* g, const float* dy, const float* x, int64_t out, int64_t in,
                 const GradCtx& ctx) {
    if (!g) return;
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum) {
        kernels::gemm(true, false, out, in, ctx.rows(), 1.0f, dy, out, x, in, 1.0f, g, in);
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

void rowsum_grad(float* g, const float* dy, int64_t c, const GradCtx& ctx) {
    if (!g) return;
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum) {
        kernels::sum_rows_accumulate(g, dy, ctx.rows(), c);
        return;
    }
    std::vector<float> tmp(static_cast<size_t>(c));
    for (const Span& s : spans) {
        std::fill(tmp.begin(), tmp.end(), 0.0f);
        kernels::sum_rows_accumulate(tmp.data(), dy + s.offset * c, s.len, c);
        kernels::square_accumulate(g, tmp.data(), c);
    }
}

void linear_backward_any(float* dinp, const LinearParams& g, const float* dout, const float* inp,
                         const float* t, float* dt, const LinearParams& p, int64_t n,
                         const GradCtx& ctx) {
    if (p.factored()) {
        zero_floats(dt, n * p.rank);
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

void layernorm_backward_any(float* dinp, float* dgamma, float* dbeta, const float* dout,
                            const float* inp, const float* gamma, const float* mean,
                            const float* rstd, int64_t c, const GradCtx& ctx) {
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum || (!dgamma && !dbeta)) {
        const int64_t n = ctx.rows();
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

void embedding_grad(float* g, const int32_t* idx, const float* dout, int64_t h,
                    const GradCtx& ctx) {
    if (!g) return;
    const std::vector<Span>& spans = *ctx.spans;
    if (ctx.mode == GradMode::sum) {
        kernels::embedding_backward(g, nullptr, nullptr, dout, idx, idx, idx, ctx.rows(), h);
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
    zero_floats(dinp, n);
    kernels::dropout_backward(dinp, dout, mask, n, p);
}

}  // namespace fwsvd
