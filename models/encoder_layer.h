// One encoder layer in training form: the post-LayerNorm transformer layer every family shares,
//   x1 = LN(dropout(attn_out(attention(q(x), k(x), v(x)))) + x)
//   x2 = LN(dropout(out(act(inter(x1)))) + x1)
// with every activation its backward needs saved (LayerActs), and its backward beside it.
// Inference runs the same steps from packed weights (models/session.cc).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "models/grad_ops.h"
#include "models/params.h"

namespace fwsvd {

// Buffer requests served later from one allocation (llm.c style): a pass first records
// (pointer, size) pairs, then Activations::prepare places them.
struct ActsRequests {
    bool masks_on = false;  // dropout masks are wanted
    std::vector<std::pair<float**, int64_t>> floats;
    std::vector<std::pair<uint8_t**, int64_t>> masks;
    void f(float** p, int64_t n) { floats.emplace_back(p, n); }
    // A buffer only when `wanted`, else *p = null.
    void f_if(float** p, bool wanted, int64_t n) {
        if (wanted) {
            f(p, n);
        } else {
            *p = nullptr;
        }
    }
    void m(uint8_t** p, int64_t n) {
        if (masks_on) {
            masks.emplace_back(p, n);
        } else {
            *p = nullptr;
        }
    }
};

struct LayerActs {
    const float* inp = nullptr;     // [N, H] layer input (the previous layer's x2 or x0)
    float* q = nullptr;             // [N, H]
    float* k = nullptr;             // [N, H]
    float* v = nullptr;             // [N, H]
    float* tq = nullptr;            // [N, rq] x·Aᵀ of a factored query (else null)
    float* tk = nullptr;            // [N, rk]
    float* tv = nullptr;            // [N, rv]
    float* probs = nullptr;         // [Σ nh·len·keys] attention probabilities before dropout
    float* probs_drop = nullptr;    // [Σ nh·len·keys] after dropout (training with dropout)
    uint8_t* probs_mask = nullptr;  // [Σ nh·len·keys] attention dropout mask
    float* ctx = nullptr;           // [N, H] attention output, heads concatenated
    float* t_ao = nullptr;          // [N, r] factored attention output dense
    float* ao = nullptr;            // [N, H] attention output dense, before dropout
    uint8_t* ao_mask = nullptr;     // [N, H] dropout mask (null without dropout)
    float* res1 = nullptr;          // [N, H] dropout(ao) + inp
    float* ln1_mean = nullptr;      // [N]
    float* ln1_rstd = nullptr;      // [N]
    float* x1 = nullptr;            // [N, H] attention block output
    float* t_inter = nullptr;       // [N, r]
    float* inter_pre = nullptr;     // [N, I] intermediate dense, before the activation
    float* inter = nullptr;         // [N, I] activated
    float* t_out = nullptr;         // [N, r]
    float* ffn = nullptr;           // [N, H] output dense, before dropout
    uint8_t* ffn_mask = nullptr;    // [N, H]
    float* res2 = nullptr;          // [N, H] dropout(ffn) + x1
    float* ln2_mean = nullptr;      // [N]
    float* ln2_rstd = nullptr;      // [N]
    float* x2 = nullptr;            // [N, H] layer output
};

// The saved activation each linear role of the layer reads (what a compression method's input
// statistics are taken over, compressor/stats.h): query, key and value read the layer input,
// the attention output projection the attention context, the intermediate dense the attention
// block's output x1, the output dense the activated intermediate.
enum class LayerInput { layer_input, context, attention_output, intermediate };
LayerInput layer_input_of(Role role);
const char* layer_input_name(LayerInput input);
// Its rows in a layer's saved activations ([N, H], or [N, I] for the intermediate).
const float* layer_input_rows(const LayerActs& la, LayerInput input);

// What every layer of one pass shares: sizes, the batch's sequences, dropout.
struct LayerRun {
    int64_t n = 0;  // tokens
    int64_t hidden = 0, intermediate = 0;
    float eps = 0;
    kernels::Activation act = kernels::Activation::gelu;
    kernels::AttentionShape shape{};
    const std::vector<kernels::SeqSpan>* seqs = nullptr;  // with probs offsets
    int64_t probs_floats = 0;
    bool dropout = false;                  // training mode: masks are drawn and saved
    bool attention_output_dropout = true;  // the family drops the attention output too
    float p_hidden = 0, p_attn = 0;        // dropout rates (0 without dropout)
    uint64_t seed = 0;                     // the pass's dropout stream
};

// Records the buffers of layer `lp`'s activations for a pass of `run`.
void layer_acts_request(LayerActs& la, const LayerParams& lp, const LayerRun& run,
                        ActsRequests& req);

// Layer `layer` forward on la.inp, saving everything into la.
void layer_forward(LayerActs& la, const LayerParams& lp, const LayerRun& run, int64_t layer);

// Scratch gradients of one layer's backward (all [N, H] unless said).
struct LayerGradScratch {
    float* d_res;   // a LayerNorm input's gradient
    float* d_drop;  // before a dropout
    float* dq;
    float* dk;
    float* dv;
    float* d_ctx;
    float* d_inter;      // [N, I]
    float* d_inter_pre;  // [N, I]
    float* dt;           // [N, max rank] factored middles
};

// Backward of layer_forward: *dx holds the gradient of la.x2 on entry and that of la.inp on
// exit (the two buffers swap); parameter gradients are accumulated into lg by ctx's mode.
void layer_backward(const LayerParams& lg, float** dx, float** dx_in, const LayerActs& la,
                    const LayerParams& lp, const LayerRun& run, const LayerGradScratch& s,
                    const GradCtx& ctx);

}  // namespace fwsvd
