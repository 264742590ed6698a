// Inference: a per-thread workspace over a shared, immutable Model and its packed weights
// (models/packed_model.h, built once per model and shared by all its Sessions). A Session is not
// thread-safe; create one per thread.
//
// The forward runs the training form's steps (models/embeddings.h, encoder_layer.h, head.h) from
// packed weights: embeddings (+ projection), per layer Q/K/V, attention and post_attention
// (output projection + residual, LayerNorm, FFN, LayerNorm), then the head on the first row of
// each sequence. Models with small layers run the encoder in one parallel region, each thread on
// its own rows (models/team.h); the last layer past its Q/K/V runs for the first rows only.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/packed_matmul.h"
#include "models/batch.h"
#include "models/model.h"
#include "models/packed_model.h"
#include "models/team.h"

namespace fwsvd {

class Session {
  public:
    // The model's packed form shared per model and precision (PackedModel::of; the options other
    // than precision apply only if this Session is the first to pack it).
    explicit Session(std::shared_ptr<const Model> model, const PackedOptions& options = {});
    // A Session over a given packed form (benchmarks comparing PackedOptions).
    explicit Session(std::shared_ptr<const PackedModel> packed);

    // logits[B, C] of the batch (eval mode). The batch must fit the model (Batch::validate).
    // Sequences are packed row after row (no padding rows); attention runs per sequence.
    // Allocates only when a batch is larger than any before (the workspace grows).
    void forward(const Batch& batch, float* logits);
    std::vector<float> logits(const Batch& batch);
    const Model& model() const { return *model_; }
    const PackedModel& packed() const { return *packed_; }

  private:
    // Scratch floats in fresh anonymous memory (zero-filled by the kernel, page aligned; 2 MiB
    // transparent huge pages for buffers of 2 MiB and more: fewer page faults of a growing
    // workspace, and fewer TLB misses). reserve() remaps, dropping the contents, only when n
    // exceeds the size, with 1.5x headroom.
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

    // Rows [0, n) of a block of the residual stream and the buffers beside it, pointers at its
    // first row: GEMMs run on n rows and write up to np (their padded count), row-wise kernels
    // normalise all np rows so that whatever the padding rows hold stays bounded.
    struct RowBlock {
        float* x;      // [np, H] residual stream
        float* ctx;    // [np, H] attention output
        float* inter;  // [np, I]
        float* t;      // [np, max middle] factored middles
        int64_t n, np;
    };
    // Layer `layer`'s Q/K/V blocks in qkv_ (or qkv_odd_) and the attention shape reading them.
    struct QkvBlocks {
        float* q;
        float* k;
        float* v;
        kernels::AttentionShape shape;
    };

    void reserve(int64_t rows, int64_t seq_rows, int64_t attention_scratch);
    QkvBlocks qkv_blocks(int64_t layer, int team);
    // The embeddings of rows [r0, r0 + n) into x (x_e first when they are projected).
    void embed(kernels::MatmulContext& mm, const Batch& batch, int64_t r0, int64_t n, int64_t np);
    // Q/K/V of a block of rows (first row r0) of layer `layer`.
    void qkv(kernels::MatmulContext& mm, const PackedLayer& pl, const QkvBlocks& blocks,
             const RowBlock& rows, int64_t r0);
    // After attention: x = LN(attn_out(ctx) + x), x = LN(out(act(inter(x))) + x) on the block.
    void post_attention(kernels::MatmulContext& mm, const PackedLayer& pl, const LayerParams& lp,
                        const RowBlock& rows);
    // The embeddings, every encoder layer but the last, and the last layer's Q/K/V, for thread
    // `t` of a team of `team` (1: the whole batch on this thread, oneDNN and the row-wise kernels
    // forking their own threads).
    void encoder(const Batch& batch, int t, int team, TeamErrors& errors);
    // The rest of the last layer for the first (CLS) rows only, into cls_: the logits read
    // nothing else of the last layer, so its attention for the other queries, its output
    // projection, FFN and LayerNorms on the other rows would be dead work. Keys and values still
    // come from every row.
    void cls_last_layer(int team);

    std::shared_ptr<const Model> model_;
    std::shared_ptr<const PackedModel> packed_;
    std::vector<std::unique_ptr<kernels::MatmulContext>> ctxs_;  // one per thread of a team
    // Row capacities: Nc >= matmul_padded_rows of the tokens and of each thread's last rows
    // (RowSplit), Bp = matmul_padded_rows of the sequences.
    int64_t cap_rows_ = 0, cap_seq_rows_ = 0, cap_scratch_ = 0, cap_qkv_odd_ = 0;
    int64_t rows_ = 0;  // Nc of the current batch: the stride of the q, k, v blocks
    Buffer x_;          // [Nc, H] residual stream
    Buffer emb_;        // [Nc, E] embeddings before their projection (projected families)
    Buffer qkv_;        // [Nc, 3H] fused Q|K|V rows, or q, k, v as three [Nc, H] blocks
    Buffer qkv_odd_;    // [Nc, 3H] the same for odd layers in a parallel region (a thread may
                        // compute layer l + 1's Q/K/V while another still reads layer l's)
    Buffer ctx_buf_;    // [Nc, H] attention output
    Buffer inter_;      // [Nc, I]
    Buffer t_;          // [Nc, max middle] factored layers' x·Aᵀ
    Buffer t_split_;    // [Nc, max middle] fused Q/K/V factors' middles, one [Nc, r] block each
    Buffer cls_;        // [Bp, H] the first rows of the residual stream in the last layer
    Buffer cls_ctx_;    // [Bp, H] their attention output in the last layer
    Buffer pooled_;     // [Bp, H]
    Buffer out_;        // [Bp, C]
    Buffer scratch_;    // attention, one slice per thread
    SharedAttention shared_attention_;
    int64_t scratch_per_thread_ = 0;
    kernels::AttentionShape shape_{};
    std::vector<kernels::SeqSpan> seqs_;
    std::vector<kernels::SeqSpan> cls_seqs_;  // the last layer's first-row queries
    std::vector<int32_t> pos_ids_;            // [N] where the family numbers positions itself
    const int32_t* positions_ = nullptr;      // [N] the batch's position ids
};

// Probabilities (softmax of logits, classification) and the arg-max label of one example.
struct Prediction {
    int64_t label_id = 0;
    std::vector<float> logits;         // [C]
    std::vector<float> probabilities;  // [C]; empty for regression
    double score = 0;                  // regression output
};
Prediction make_prediction(const ModelConfig& config, const float* logits);

}  // namespace fwsvd
