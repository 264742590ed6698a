// Multi-head self-attention over packed variable-length sequences: per (sequence, head) item,
// P = softmax(Q Kᵀ / √d) and out = P V; the backward goes through dP and dS.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/isa_variants.h"
#include "kernels/softmax.h"

namespace fwsvd::kernels {

int64_t attention_assign_probs_offsets(SeqSpan* seqs, int64_t num_seqs, int64_t num_heads) {
    int64_t total = 0;
    for (int64_t s = 0; s < num_seqs; ++s) {
        seqs[s].probs_offset = total;
        total += num_heads * seqs[s].len * seqs[s].keys;
    }
    return total;
}

int64_t attention_scratch_size(const SeqSpan* seqs, int64_t num_seqs) {
    int64_t most = 0, keys = 0;
    for (int64_t s = 0; s < num_seqs; ++s) {
        most = std::max(most, seqs[s].len * seqs[s].keys);
        keys = std::max(keys, seqs[s].keys);
    }
    return std::max(2 * most, keys * kAttentionSimdMaxQueryTile);
}

namespace {

// One work item resolved to element offsets: rows of its sequence, columns of its head.
struct Item {
    int64_t len, keys, head_dim;
    int64_t q_off, k_off, v_off, out_off;  // element offsets of row 0 / column h*head_dim
    int64_t probs_off;                     // offset of this head's [len, keys] probabilities
};

Item resolve(const SeqSpan* seqs, const AttentionShape& shape, int64_t item) {
    const int64_t s = item / shape.num_heads;
    const int64_t h = item % shape.num_heads;
    const SeqSpan& sp = seqs[s];
    const int64_t col = h * shape.head_dim;
    return Item{sp.len,
                sp.keys,
                shape.head_dim,
                sp.offset * shape.ld_q + col,
                sp.offset * shape.ld_k + col,
                sp.offset * shape.ld_v + col,
                sp.offset * shape.ld_out + col,
                sp.probs_offset + h * sp.len * sp.keys};
}

}  // namespace

// ---- float path on gemm (oneDNN picks its own ISA): what Isa::ref runs, and every ISA for heads
// wider than kAttentionSimdMaxHeadDim ------------------------------------------------------------

void attention_forward_gemm(float* out, float* probs, const float* q, const float* k,
                            const float* v, const SeqSpan* seqs, const AttentionShape& shape,
                            int64_t item_begin, int64_t item_end, float* scratch) {
    const float scale = float(1.0 / std::sqrt(double(shape.head_dim)));
    for (int64_t item = item_begin; item < item_end; ++item) {
        const Item it = resolve(seqs, shape, item);
        float* p = probs ? probs + it.probs_off : scratch;  // [len, keys]
        // S[len, keys] = scale · Q[len, d] · K[keys, d]ᵀ
        gemm(false, true, it.len, it.keys, it.head_dim, scale, q + it.q_off, shape.ld_q,
             k + it.k_off, shape.ld_k, 0.0f, p, it.keys);
        softmax_forward(p, p, it.len, it.keys);
        // out[len, d] = P[len, keys] · V[keys, d]
        gemm(false, false, it.len, it.head_dim, it.keys, 1.0f, p, it.keys, v + it.v_off, shape.ld_v,
             0.0f, out + it.out_off, shape.ld_out);
    }
}

void attention_backward_gemm(float* dq, float* dk, float* dv, const float* dout, const float* q,
                             const float* k, const float* v, const float* probs,
                             const SeqSpan* seqs, const AttentionShape& shape, int64_t item_begin,
                             int64_t item_end, float* scratch) {
    const float scale = float(1.0 / std::sqrt(double(shape.head_dim)));
    for (int64_t item = item_begin; item < item_end; ++item) {
        const Item it = resolve(seqs, shape, item);
        const int64_t lk = it.len * it.keys;
        const float* p = probs + it.probs_off;  // [len, keys]
        float* dp = scratch;                    // [len, keys]
        float* ds = scratch + lk;               // [len, keys]
        // dV[keys, d] += P[len, keys]ᵀ · dO[len, d]
        gemm(true, false, it.keys, it.head_dim, it.len, 1.0f, p, it.keys, dout + it.out_off,
             shape.ld_out, 1.0f, dv + it.v_off, shape.ld_v);
        // dP[len, keys] = dO[len, d] · V[keys, d]ᵀ
        gemm(false, true, it.len, it.keys, it.head_dim, 1.0f, dout + it.out_off, shape.ld_out,
             v + it.v_off, shape.ld_v, 0.0f, dp, it.keys);
        // dS = P ⊙ (dP − rowsum(dP ⊙ P))
        std::fill(ds, ds + lk, 0.0f);
        softmax_backward(ds, dp, p, it.len, it.keys);
        // dQ[len, d] += scale · dS[len, keys] · K[keys, d]
        gemm(false, false, it.len, it.head_dim, it.keys, scale, ds, it.keys, k + it.k_off,
             shape.ld_k, 1.0f, dq + it.q_off, shape.ld_q);
        // dK[keys, d] += scale · dS[len, keys]ᵀ · Q[len, d]
        gemm(true, false, it.keys, it.head_dim, it.len, scale, ds, it.keys, q + it.q_off,
             shape.ld_q, 1.0f, dk + it.k_off, shape.ld_k);
    }
}

void attention_inference_item_gemm(float* out, const float* q, const float* k, const float* v,
                                   const SeqSpan* seqs, const AttentionShape& shape, int64_t item,
                                   int64_t next, float* scratch) {
    attention_forward_gemm(out, nullptr, q, k, v, seqs, shape, item, item + 1, scratch);
}

// The dispatching float entry points are defined in kernel_table.cc from kernel_list.inc.

// ---- scalar twins ------------------------------------------------------------------------------

template <typename T>
void attention_forward_ref(T* out, T* probs, const T* q, const T* k, const T* v,
                           const SeqSpan* seqs, const AttentionShape& shape, int64_t item_begin,
                           int64_t item_end, T* scratch) {
    const double scale = 1.0 / std::sqrt(double(shape.head_dim));
    std::vector<double> row;  // one row of scores, then of probabilities, in double
    for (int64_t item = item_begin; item < item_end; ++item) {
        const Item it = resolve(seqs, shape, item);
        const int64_t d = it.head_dim;
        T* p = probs ? probs + it.probs_off : scratch;  // [len, keys]
        row.resize(static_cast<std::size_t>(it.keys));
        for (int64_t i = 0; i < it.len; ++i) {
            const T* qi = q + it.q_off + i * shape.ld_q;
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < it.keys; ++j) {
                const T* kj = k + it.k_off + j * shape.ld_k;
                double acc = 0;
                for (int64_t c = 0; c < d; ++c) acc += double(qi[c]) * double(kj[c]);
                row[j] = acc * scale;
                mx = std::max(mx, row[j]);
            }
            double sum = 0;
            for (int64_t j = 0; j < it.keys; ++j) {
                row[j] = std::exp(row[j] - mx);
                sum += row[j];
            }
            for (int64_t j = 0; j < it.keys; ++j) {
                row[j] /= sum;
                p[i * it.keys + j] = T(row[j]);
            }
            T* oi = out + it.out_off + i * shape.ld_out;
            for (int64_t c = 0; c < d; ++c) {
                double acc = 0;
                for (int64_t j = 0; j < it.keys; ++j) {
                    acc += row[j] * double(v[it.v_off + j * shape.ld_v + c]);
                }
                oi[c] = T(acc);
            }
        }
    }
}

template <typename T>
void attention_backward_ref(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                            const T* probs, const SeqSpan* seqs, const AttentionShape& shape,
                            int64_t item_begin, int64_t item_end, T* scratch) {
    const double scale = 1.0 / std::sqrt(double(shape.head_dim));
    for (int64_t item = item_begin; item < item_end; ++item) {
        const Item it = resolve(seqs, shape, item);
        const int64_t d = it.head_dim, len = it.len, keys = it.keys;
        const T* p = probs + it.probs_off;  // [len, keys]
        T* dp = scratch;                    // [len, keys]
        T* ds = scratch + len * keys;       // [len, keys]
        auto dO = [&](int64_t i, int64_t c) {
            return double(dout[it.out_off + i * shape.ld_out + c]);
        };
        // dV[keys, d] += Pᵀ dO
        for (int64_t j = 0; j < keys; ++j) {
            T* dvj = dv + it.v_off + j * shape.ld_v;
            for (int64_t c = 0; c < d; ++c) {
                double acc = 0;
                for (int64_t i = 0; i < len; ++i) acc += double(p[i * keys + j]) * dO(i, c);
                dvj[c] = T(double(dvj[c]) + acc);
            }
        }
        // dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P))
        for (int64_t i = 0; i < len; ++i) {
            double dot = 0;
            for (int64_t j = 0; j < keys; ++j) {
                const T* vj = v + it.v_off + j * shape.ld_v;
                double acc = 0;
                for (int64_t c = 0; c < d; ++c) acc += dO(i, c) * double(vj[c]);
                dp[i * keys + j] = T(acc);
                dot += acc * double(p[i * keys + j]);
            }
            for (int64_t j = 0; j < keys; ++j) {
                ds[i * keys + j] = T(double(p[i * keys + j]) * (double(dp[i * keys + j]) - dot));
            }
        }
        // dQ[len, d] += scale · dS K
        for (int64_t i = 0; i < len; ++i) {
            T* dqi = dq + it.q_off + i * shape.ld_q;
            for (int64_t c = 0; c < d; ++c) {
                double acc = 0;
                for (int64_t j = 0; j < keys; ++j) {
                    acc += double(ds[i * keys + j]) * double(k[it.k_off + j * shape.ld_k + c]);
                }
                dqi[c] = T(double(dqi[c]) + scale * acc);
            }
        }
        // dK[keys, d] += scale · dSᵀ Q (rows >= keys are not keys and get nothing)
        for (int64_t j = 0; j < keys; ++j) {
            T* dkj = dk + it.k_off + j * shape.ld_k;
            for (int64_t c = 0; c < d; ++c) {
                double acc = 0;
                for (int64_t i = 0; i < len; ++i) {
                    acc += double(ds[i * keys + j]) * double(q[it.q_off + i * shape.ld_q + c]);
                }
                dkj[c] = T(double(dkj[c]) + scale * acc);
            }
        }
    }
}

template void attention_forward_ref<float>(float*, float*, const float*, const float*, const float*,
                                           const SeqSpan*, const AttentionShape&, int64_t, int64_t,
                                           float*);
template void attention_forward_ref<double>(double*, double*, const double*, const double*,
                                            const double*, const SeqSpan*, const AttentionShape&,
                                            int64_t, int64_t, double*);
template void attention_backward_ref<float>(float*, float*, float*, const float*, const float*,
                                            const float*, const float*, const float*,
                                            const SeqSpan*, const AttentionShape&, int64_t, int64_t,
                                            float*);
template void attention_backward_ref<double>(double*, double*, double*, const double*,
                                             const double*, const double*, const double*,
                                             const double*, const SeqSpan*, const AttentionShape&,
                                             int64_t, int64_t, double*);

}  // namespace fwsvd::kernels
