// Gradient steps shared by the backward passes of the embeddings, the encoder layer and the head:
// linear, LayerNorm and embedding-table gradients in the two modes of models/backward.h (the
// gradient of a weighted sum of losses, or each example's squared gradient added up).
#pragma once
#include <cstdint>
#include <vector>

#include "models/params.h"

namespace fwsvd {

enum class GradMode { sum, per_example_squares };

// Rows of one example in the current buffers: [offset, offset + len).
struct Span {
    int64_t offset;
    int64_t len;
};

struct GradCtx {
    GradMode mode;
    const std::vector<Span>* spans;  // the examples' rows
    int64_t rows() const { return spans->empty() ? 0 : spans->back().offset + spans->back().len; }
};

void zero_floats(float* p, int64_t n);

// Weight gradient dW [out, in] of Y = X Wᵀ from dY [N, out] and X [N, in]; g may be null (skip).
void weight_grad(float* g, const float* dy, const float* x, int64_t out, int64_t in,
                 const GradCtx& ctx);
// Gradient of a per-column parameter added to every row (a bias): Σ_rows dY [N, c].
void rowsum_grad(float* g, const float* dy, int64_t c, const GradCtx& ctx);

// Backward of out = linear(inp) for a dense or factored layer. dinp (+=) may be null.
// t: the saved inp·Aᵀ of a factored layer; dt: scratch [N, rank].
void linear_backward_any(float* dinp, const LinearParams& g, const float* dout, const float* inp,
                         const float* t, float* dt, const LinearParams& p, int64_t n,
                         const GradCtx& ctx);

// LayerNorm backward: dinp += ..., and gamma/beta gradients (each may be null) by mode.
void layernorm_backward_any(float* dinp, float* dgamma, float* dbeta, const float* dout,
                            const float* inp, const float* gamma, const float* mean,
                            const float* rstd, int64_t c, const GradCtx& ctx);

// Embedding table gradient: rows[idx[i]] += dout[i]; per example, rows are summed within the
// example before squaring. g may be null.
void embedding_grad(float* g, const int32_t* idx, const float* dout, int64_t h, const GradCtx& ctx);

// dinp = dropout_backward(dout) (dinp zeroed first).
void dropout_back(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p);

}  // namespace fwsvd
