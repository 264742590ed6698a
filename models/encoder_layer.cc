#include "models/encoder_layer.h"

#include <cstring>

#include "kernels/activation.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/splitmix.h"
#include "models/attention_train.h"
#include "models/linear_ops.h"

namespace fwsvd {

namespace {

// Dropout streams of layer l's sites, as they were numbered when the layers were written inline.
uint64_t attention_seed(uint64_t seed, int64_t l) {
    return kernels::splitmix64_derive(seed, 500000 + uint64_t(l));
}
uint64_t attn_out_seed(uint64_t seed, int64_t l) {
    return kernels::splitmix64_derive(seed, 1 + 2 * uint64_t(l));
}
uint64_t ffn_seed(uint64_t seed, int64_t l) {
    return kernels::splitmix64_derive(seed, 2 + 2 * uint64_t(l));
}

bool attn_out_dropped(const LayerRun& run) {
    return run.dropout && run.attention_output_dropout;
}

}  // namespace

LayerInput layer_input_of(Role role) {
    switch (role) {
        case Role::attn_out:
            return LayerInput::context;
        case Role::inter:
            return LayerInput::attention_output;
        case Role::out:
            return LayerInput::intermediate;
        default:
            return LayerInput::layer_input;
    }
}

const char* layer_input_name(LayerInput input) {
    switch (input) {
        case LayerInput::layer_input:
            return "layer_input";
        case LayerInput::context:
            return "context";
        case LayerInput::attention_output:
            return "attention_output";
        case LayerInput::intermediate:
            return "intermediate";
    }
    return "?";
}

const float* layer_input_rows(const LayerActs& la, LayerInput input) {
    switch (input) {
        case LayerInput::layer_input:
            return la.inp;
        case LayerInput::context:
            return la.ctx;
        case LayerInput::attention_output:
            return la.x1;
        case LayerInput::intermediate:
            return la.inter;
    }
    return nullptr;
}

void layer_acts_request(LayerActs& a, const LayerParams& lp, const LayerRun& run,
                        ActsRequests& req) {
    const int64_t n = run.n, H = run.hidden, I = run.intermediate;
    auto t = [&](float** p, const LinearParams& l) { req.f_if(p, l.factored(), n * l.rank); };
    req.f(&a.q, n * H);
    req.f(&a.k, n * H);
    req.f(&a.v, n * H);
    t(&a.tq, lp.query);
    t(&a.tk, lp.key);
    t(&a.tv, lp.value);
    req.f(&a.probs, run.probs_floats);
    req.f_if(&a.probs_drop, run.dropout, run.probs_floats);
    req.m(&a.probs_mask, run.probs_floats);
    req.f(&a.ctx, n * H);
    t(&a.t_ao, lp.attn_out);
    req.f(&a.ao, n * H);
    if (attn_out_dropped(run)) {
        req.m(&a.ao_mask, n * H);
    } else {
        a.ao_mask = nullptr;
    }
    req.f(&a.res1, n * H);
    req.f(&a.ln1_mean, n);
    req.f(&a.ln1_rstd, n);
    req.f(&a.x1, n * H);
    t(&a.t_inter, lp.inter);
    req.f(&a.inter_pre, n * I);
    req.f(&a.inter, n * I);
    t(&a.t_out, lp.out);
    req.f(&a.ffn, n * H);
    req.m(&a.ffn_mask, n * H);
    req.f(&a.res2, n * H);
    req.f(&a.ln2_mean, n);
    req.f(&a.ln2_rstd, n);
    req.f(&a.x2, n * H);
}

void layer_forward(LayerActs& la, const LayerParams& lp, const LayerRun& run, int64_t l) {
    const int64_t N = run.n, H = run.hidden, I = run.intermediate;
    linear_forward_any(la.q, la.tq, la.inp, lp.query, N);
    linear_forward_any(la.k, la.tk, la.inp, lp.key, N);
    linear_forward_any(la.v, la.tv, la.inp, lp.value, N);
    if (run.p_attn > 0) {
        attention_dropout_forward(la.ctx, la.probs, la.probs_drop, la.probs_mask, la.q, la.k, la.v,
                                  *run.seqs, run.shape, run.p_attn, attention_seed(run.seed, l));
    } else {
        attention_all(la.ctx, la.probs, la.q, la.k, la.v, *run.seqs, run.shape);
    }
    linear_forward_any(la.ao, la.t_ao, la.ctx, lp.attn_out, N);
    const float* ao = la.ao;
    if (attn_out_dropped(run)) {
        kernels::dropout_forward(la.res1, la.ao_mask, la.ao, N * H, run.p_hidden,
                                 attn_out_seed(run.seed, l), 0);
        ao = la.res1;
    }
    kernels::add_forward(la.res1, ao, la.inp, N * H);
    layernorm_rows(la.x1, la.ln1_mean, la.ln1_rstd, la.res1, lp.attn_ln_gamma, lp.attn_ln_beta, N,
                   H, run.eps);
    linear_forward_any(la.inter_pre, la.t_inter, la.x1, lp.inter, N);
    kernels::activation_forward(run.act, la.inter, la.inter_pre, N * I);
    linear_forward_any(la.ffn, la.t_out, la.inter, lp.out, N);
    const float* ffn = la.ffn;
    if (run.dropout) {
        kernels::dropout_forward(la.res2, la.ffn_mask, la.ffn, N * H, run.p_hidden,
                                 ffn_seed(run.seed, l), 0);
        ffn = la.res2;
    }
    kernels::add_forward(la.res2, ffn, la.x1, N * H);
    layernorm_rows(la.x2, la.ln2_mean, la.ln2_rstd, la.res2, lp.out_ln_gamma, lp.out_ln_beta, N, H,
                   run.eps);
}

void layer_backward(const LayerParams& lg, float** dx_io, float** dx_in_io, const LayerActs& la,
                    const LayerParams& lp, const LayerRun& run, const LayerGradScratch& s,
                    const GradCtx& tok) {
    const int64_t N = run.n, H = run.hidden, I = run.intermediate;
    float* dx = *dx_io;
    float* dx_in = *dx_in_io;
    // x2 = LN(res2), res2 = dropout(ffn) + x1
    zero_floats(s.d_res, N * H);
    layernorm_backward_any(s.d_res, lg.out_ln_gamma, lg.out_ln_beta, dx, la.res2, lp.out_ln_gamma,
                           la.ln2_mean, la.ln2_rstd, H, tok);
    const float* d_ffn = s.d_res;
    if (run.dropout) {
        dropout_back(s.d_drop, s.d_res, la.ffn_mask, N * H, run.p_hidden);
        d_ffn = s.d_drop;
    }
    std::memcpy(dx, s.d_res, size_t(N * H) * sizeof(float));  // now: gradient of x1
    zero_floats(s.d_inter, N * I);
    linear_backward_any(s.d_inter, lg.out, d_ffn, la.inter, la.t_out, s.dt, lp.out, N, tok);
    zero_floats(s.d_inter_pre, N * I);
    kernels::activation_backward(run.act, s.d_inter_pre, s.d_inter, la.inter_pre, N * I);
    linear_backward_any(dx, lg.inter, s.d_inter_pre, la.x1, la.t_inter, s.dt, lp.inter, N, tok);
    // x1 = LN(res1), res1 = dropout(ao) + inp
    zero_floats(s.d_res, N * H);
    layernorm_backward_any(s.d_res, lg.attn_ln_gamma, lg.attn_ln_beta, dx, la.res1,
                           lp.attn_ln_gamma, la.ln1_mean, la.ln1_rstd, H, tok);
    const float* d_ao = s.d_res;
    if (attn_out_dropped(run)) {
        dropout_back(s.d_drop, s.d_res, la.ao_mask, N * H, run.p_hidden);
        d_ao = s.d_drop;
    }
    std::memcpy(dx_in, s.d_res, size_t(N * H) * sizeof(float));
    zero_floats(s.d_ctx, N * H);
    linear_backward_any(s.d_ctx, lg.attn_out, d_ao, la.ctx, la.t_ao, s.dt, lp.attn_out, N, tok);
    zero_floats(s.dq, N * H);
    zero_floats(s.dk, N * H);
    zero_floats(s.dv, N * H);
    if (run.p_attn > 0) {
        attention_dropout_backward(s.dq, s.dk, s.dv, s.d_ctx, la.q, la.k, la.v, la.probs,
                                   la.probs_drop, la.probs_mask, *run.seqs, run.shape, run.p_attn);
    } else {
        attention_all_backward(s.dq, s.dk, s.dv, s.d_ctx, la.q, la.k, la.v, la.probs, *run.seqs,
                               run.shape);
    }
    linear_backward_any(dx_in, lg.query, s.dq, la.inp, la.tq, s.dt, lp.query, N, tok);
    linear_backward_any(dx_in, lg.key, s.dk, la.inp, la.tk, s.dt, lp.key, N, tok);
    linear_backward_any(dx_in, lg.value, s.dv, la.inp, la.tv, s.dt, lp.value, N, tok);
    std::swap(*dx_io, *dx_in_io);
}

}  // namespace fwsvd
