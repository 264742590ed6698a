// Inference: a per-thread workspace over a shared, immutable BertModel and its packed weights
// (models/packed_bert.h, built once per model and shared by all its Sessions). A Session is not
// thread-safe; create one per thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/packed_matmul.h"
#include "models/batch.h"
#include "models/bert_model.h"
#include "models/packed_bert.h"

namespace fwsvd {

class Session {
  public:
    // The model's packed form shared per model and precision (PackedBert::of; the options other
    // than precision apply only if this Session is the first to pack it).
    explicit Session(std::shared_ptr<const BertModel> model, const PackedBertOptions& options = {});
    // A Session over a given packed form (benchmarks comparing PackedBertOptions).
    explicit Session(std::shared_ptr<const PackedBert> packed);

    // logits[B, C] of the batch (eval mode). The batch must fit the model (Batch::validate).
    // Sequences are packed row after row (no padding rows); attention runs per sequence.
    // Allocates only when a batch is larger than any before (the workspace grows).
    void forward(const Batch& batch, float* logits);
    std::vector<float> logits(const Batch& batch);
    const BertModel& model() const { return *model_; }
    const PackedBert& packed() const { return *packed_; }

  private:
    // Scratch floats in fresh anonymous memory (zero-filled by the kernel, page aligned; 2 MiB
    // transparent huge pages for buffers of 2 MiB and more: a tenth of the page faults of a
    // growing workspace, and fewer TLB misses). reserve() remaps, dropping the contents, only
    // when n exceeds the size, with 1.5x headroom.
    class Buffer {
      public:
        Buffer() = default;
        ~Buffer();
        Buffer(const Buffer&) = delete;
        Buffer& operator=(const Buffer&) = delete;
        float* data() const { return data_; }
        int64_t size() const { return size_; }
        void reserve(int64_t n);

      private:
        void release();
        void* map_ = nullptr;
        size_t map_bytes_ = 0;
        float* data_ = nullptr;
        int64_t size_ = 0;
    };

    void reserve(int64_t rows, int64_t seq_rows, int64_t attention_scratch);
    // The embeddings and every encoder layer for thread `t` of a team of `team` (1: the whole
    // batch on this thread, oneDNN and the row-wise kernels forking their own threads).
    struct TeamErrors;
    // Layer `layer`'s attention in a team: thread t runs the (sequence part, head) units of its
    // own query rows, then claims the other threads' remaining units, then waits until all units
    // of its rows are done (by whichever thread), so that its rows of ctx are complete.
    void attention_shared(float* ctx, const float* q, const float* k, const float* v,
                          const kernels::AttentionShape& shape, int64_t N, int64_t layer, int t,
                          int team, const TeamErrors& errors);
    // The embeddings, every encoder layer but the last, and the last layer's Q/K/V, for thread
    // `t` of a team of `team`.
    void encoder(const Batch& batch, int t, int team, TeamErrors& errors);
    // The rest of the last layer for the [CLS] rows only, into cls_ (on this thread, oneDNN and
    // attention forking their own threads): the logits read nothing else of the last layer, so
    // its attention for the other queries, its output projection, FFN and LayerNorms on the
    // other rows would be dead work. Keys and values still come from every row.
    void cls_last_layer(int team);
    // Layer `layer`'s Q/K/V blocks in qkv_ (or qkv_odd_) and the attention shape reading them.
    struct QkvBlocks {
        float* q;
        float* k;
        float* v;
        kernels::AttentionShape shape;
    };
    QkvBlocks qkv_blocks(size_t layer, int team);
    std::shared_ptr<const BertModel> model_;
    std::shared_ptr<const PackedBert> packed_;
    std::vector<std::unique_ptr<kernels::MatmulContext>> ctxs_;  // one per thread of a team
    // Row capacities: Nc >= matmul_padded_rows of the tokens and of each thread's last rows
    // (RowSplit in session.cc), Bp = matmul_padded_rows of the sequences.
    int64_t cap_rows_ = 0, cap_seq_rows_ = 0, cap_scratch_ = 0, cap_qkv_odd_ = 0;
    int64_t rows_ = 0;  // Nc of the current batch: the stride of the q, k, v blocks
    Buffer x_;          // [Nc, H] residual stream
    Buffer qkv_;        // [Nc, 3H] fused Q|K|V rows, or q, k, v as three [Nc, H] blocks
    Buffer qkv_odd_;    // [Nc, 3H] the same for odd layers in a parallel region (a thread may
                        // compute layer l + 1's Q/K/V while another still reads layer l's)
    Buffer ctx_buf_;    // [Nc, H] attention output
    Buffer inter_;      // [Nc, I]
    Buffer t_;          // [Nc, max middle] factored layers' x·Aᵀ
    Buffer t_split_;    // [Nc, max middle] fused Q/K/V factors' middles, one [Nc, r] block each
    Buffer cls_;        // [Bp, H] the [CLS] rows of the residual stream in the last layer
    Buffer cls_ctx_;    // [Bp, H] their attention output in the last layer
    Buffer pooled_;     // [Bp, H]
    Buffer out_;        // [Bp, C]
    Buffer scratch_;    // attention, one slice per thread
    // attention_shared's counters: thread u's claimed units at u · kCounterStride, its done
    // units kCounterDone further (another cache line); zeroed at each forward.
    static constexpr size_t kCounterStride = 16, kCounterDone = 8;
    std::unique_ptr<std::atomic<int64_t>[]> attn_counters_;
    size_t attn_counters_size_ = 0;
    int64_t scratch_per_thread_ = 0;
    kernels::AttentionShape shape_{};
    std::vector<kernels::SeqSpan> seqs_;
    std::vector<kernels::SeqSpan> cls_seqs_;  // the last layer's [CLS] queries
};

// FLOPs (2 per multiply-add) of Session::forward on a batch, counted from the shapes: every
// linear layer as stored (dense in·out or factored rank·(in + out) per row; pooler and
// classifier on the B [CLS] rows) and attention's two matmuls (2 · 2 · len · keys · head_dim per
// sequence and head), the last layer past its Q/K/V for the [CLS] rows only (one query per
// sequence), as Session::forward runs it; a layer whose value and output projections are merged
// (PackedLayer::value_output_merged) without the output projection's first factor, one whose
// query and key are merged (query_key_merged) without the key's second factor. Element-wise
// work (LayerNorm, softmax, GELU, the merged layers' head sums and key copies) is not counted.
double forward_flops(const PackedBert& packed, const Batch& batch);

// Probabilities (softmax of logits, classification) and the arg-max label of one example.
struct Prediction {
    int64_t label_id = 0;
    std::vector<float> logits;         // [C]
    std::vector<float> probabilities;  // [C]; empty for regression
    double score = 0;                  // regression output
};
Prediction make_prediction(const BertConfig& config, const float* logits);

}  // namespace fwsvd
