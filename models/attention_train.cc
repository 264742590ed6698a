#include "models/attention_train.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "runtime/parallel.h"

namespace fwsvd {

void attention_dropout_forward(float* out, float* probs, float* probs_drop, uint8_t* mask,
                               const float* q, const float* k, const float* v,
                               const std::vector<kernels::SeqSpan>& seqs,
                               const kernels::AttentionShape& sh, float p, uint64_t seed) {
    const int64_t nh = sh.num_heads, hd = sh.head_dim;
    const float scale = 1.0f / std::sqrt(float(hd));
    parallel_for(int64_t(seqs.size()) * nh, 1, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
            const kernels::SeqSpan& s = seqs[size_t(item / nh)];
            const int64_t h = item % nh;
            const int64_t off = s.probs_offset + h * s.len * s.keys;
            const float* qh = q + s.offset * sh.ld_q + h * hd;
            const float* kh = k + s.offset * sh.ld_k + h * hd;
            const float* vh = v + s.offset * sh.ld_v + h * hd;
            // S = scale · Q Kᵀ  [len, keys]
            kernels::gemm(false, true, s.len, s.keys, hd, scale, qh, sh.ld_q, kh, sh.ld_k, 0.0f,
                          probs + off, s.keys);
            kernels::softmax_forward(probs + off, probs + off, s.len, s.keys);
            kernels::dropout_forward(probs_drop + off, mask + off, probs + off, s.len * s.keys, p,
                                     seed, uint64_t(off));
            // out = P_drop V  [len, hd]
            kernels::gemm(false, false, s.len, hd, s.keys, 1.0f, probs_drop + off, s.keys, vh,
                          sh.ld_v, 0.0f, out + s.offset * sh.ld_out + h * hd, sh.ld_out);
        }
    });
}

void attention_dropout_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                const float* k, const float* v, const float* probs,
                                const float* probs_drop, const uint8_t* mask,
                                const std::vector<kernels::SeqSpan>& seqs,
                                const kernels::AttentionShape& sh, float p) {
    const int64_t nh = sh.num_heads, hd = sh.head_dim;
    const float scale = 1.0f / std::sqrt(float(hd));
    int64_t max_lk = 0;
    for (const auto& s : seqs) max_lk = std::max(max_lk, s.len * s.keys);
    parallel_for(int64_t(seqs.size()) * nh, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> d_drop(static_cast<size_t>(max_lk));  // dL/dP_drop
        std::vector<float> d_p(static_cast<size_t>(max_lk));     // dL/dP
        std::vector<float> d_s(static_cast<size_t>(max_lk));     // dL/dS
        for (int64_t item = begin; item < end; ++item) {
            const kernels::SeqSpan& s = seqs[size_t(item / nh)];
            const int64_t h = item % nh;
            const int64_t off = s.probs_offset + h * s.len * s.keys;
            const int64_t lk = s.len * s.keys;
            const float* qh = q + s.offset * sh.ld_q + h * hd;
            const float* kh = k + s.offset * sh.ld_k + h * hd;
            const float* vh = v + s.offset * sh.ld_v + h * hd;
            const float* doh = dout + s.offset * sh.ld_out + h * hd;
            // dV += P_dropᵀ dO ; dP_drop = dO Vᵀ
            kernels::gemm(true, false, s.keys, hd, s.len, 1.0f, probs_drop + off, s.keys, doh,
                          sh.ld_out, 1.0f, dv + s.offset * sh.ld_v + h * hd, sh.ld_v);
            kernels::gemm(false, true, s.len, s.keys, hd, 1.0f, doh, sh.ld_out, vh, sh.ld_v, 0.0f,
                          d_drop.data(), s.keys);
            // dP = dropout'(dP_drop) ; dS = softmax'(dP)
            std::fill_n(d_p.data(), lk, 0.0f);
            std::fill_n(d_s.data(), lk, 0.0f);
            kernels::dropout_backward(d_p.data(), d_drop.data(), mask + off, lk, p);
            kernels::softmax_backward(d_s.data(), d_p.data(), probs + off, s.len, s.keys);
            // dQ += scale · dS K ; dK += scale · dSᵀ Q
            kernels::gemm(false, false, s.len, hd, s.keys, scale, d_s.data(), s.keys, kh, sh.ld_k,
                          1.0f, dq + s.offset * sh.ld_q + h * hd, sh.ld_q);
            kernels::gemm(true, false, s.keys, hd, s.len, scale, d_s.data(), s.keys, qh, sh.ld_q,
                          1.0f, dk + s.offset * sh.ld_k + h * hd, sh.ld_k);
        }
    });
}

}  // namespace fwsvd
