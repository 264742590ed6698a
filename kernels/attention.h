// Multi-head scaled dot-product self-attention over packed variable-length sequences.
//
// Tokens of all sequences are packed row after row (no padding rows between sequences).
// Sequence s owns rows [offset, offset + len). Its first `keys` rows are the keys and values
// every query of the sequence attends to (keys == len without padding; keys < len reproduces
// Hugging Face's right padding, where padded positions still produce outputs but are never
// attended to). Head h of a row is the column block [h*head_dim, (h+1)*head_dim).
// attention_forward also takes len < keys: rows [a, a + len) of a sequence's queries, with q and
// out shifted to row a - offset and the span keeping the sequence's offset and keys (a thread
// computing only its own rows of a sequence).
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

struct SeqSpan {
    int64_t offset;        // first row of the sequence in the packed [N, *] buffers
    int64_t len;           // number of rows (queries)
    int64_t keys;          // number of leading rows that are keys/values, 1 <= keys <= len
    int64_t probs_offset;  // where this sequence's saved probabilities [num_heads, len, keys] start
};

struct AttentionShape {
    int64_t num_heads;
    int64_t head_dim;
    int64_t ld_q, ld_k, ld_v;  // row strides of q, k, v (and of dq, dk, dv) in floats
    int64_t ld_out;            // row stride of out (and of dout)
};

// Fills seqs[i].probs_offset for num_seqs sequences and returns the total number of floats that
// saved probabilities need (Σ num_heads * len * keys).
int64_t attention_assign_probs_offsets(SeqSpan* seqs, int64_t num_seqs, int64_t num_heads);
// Floats of scratch one call needs: max(2 * max(len * keys), 64 * max(keys)) over the sequences
// it processes.
int64_t attention_scratch_size(const SeqSpan* seqs, int64_t num_seqs);

// Work items are i = seq * num_heads + head, processed for i in [item_begin, item_end); items are
// independent, so callers may split the range across threads (each thread its own scratch).
// For each item: P = softmax(Q Kᵀ / sqrt(head_dim)) [len, keys]; out = P V [len, head_dim].
// probs may be null (inference); otherwise P is saved at probs + probs_offset + head*len*keys.
void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       const SeqSpan* seqs, const AttentionShape& shape, int64_t item_begin,
                       int64_t item_end, float* scratch);
// Inference (no probabilities saved): item `item` as attention_forward computes it, while item
// `next` of the same seqs (< 0: none) is prefetched into L2 — for callers that hand out items
// one at a time and will probably run `next` after this one.
void attention_inference_item(float* out, const float* q, const float* k, const float* v,
                              const SeqSpan* seqs, const AttentionShape& shape, int64_t item,
                              int64_t next, float* scratch);
// Accumulates (+=) dq, dk, dv (strides ld_q, ld_k, ld_v) from dout (stride ld_out) and the
// probabilities saved by attention_forward. Rows of dk/dv at positions >= keys are untouched.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* probs, const SeqSpan* seqs,
                        const AttentionShape& shape, int64_t item_begin, int64_t item_end,
                        float* scratch);

template <typename T>
void attention_forward_ref(T* out, T* probs, const T* q, const T* k, const T* v,
                           const SeqSpan* seqs, const AttentionShape& shape, int64_t item_begin,
                           int64_t item_end, T* scratch);
template <typename T>
void attention_backward_ref(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                            const T* probs, const SeqSpan* seqs, const AttentionShape& shape,
                            int64_t item_begin, int64_t item_end, T* scratch);

}  // namespace fwsvd::kernels
