// The inference form of a Model: every linear layer's weights packed once for oneDNN's matmul
// (kernels/packed_matmul.h), Q/K/V fused, biases and epilogues (GELU, residual add) attached to
// the GEMM that produces each output, and the per-head merges of factored layers. A layer group
// shared by several layers (ALBERT) is packed once. Built once per model and shared by every
// Session of it (PackedModel::of); immutable afterwards, so threads may share it.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kernels/activation.h"
#include "kernels/packed_matmul.h"
#include "models/batch.h"
#include "models/model.h"

namespace fwsvd {

// A dense or factored linear layer y = epilogue(x Wᵀ + b): dense W [out, in] in `w`, or
// factored t = x Aᵀ in `a` ([rank, in], no bias) then y = epilogue(t Bᵀ + b) in `w` ([out, rank]).
struct PackedLinear {
    int64_t in = 0, out = 0, rank = 0;  // rank 0: dense
    std::unique_ptr<kernels::PackedMatmul> a;
    std::unique_ptr<kernels::PackedMatmul> w;
    bool factored() const { return rank > 0; }
};

// How a layer computes Q, K and V from its input x [N, H].
enum class QkvForm {
    fused_dense,    // one GEMM on [Wq; Wk; Wv] [3H, H] (+ [bq; bk; bv]) into qkv [N, 3H]
    fused_factors,  // one GEMM on [Aq; Ak; Av] [rq + rk + rv, H] into t [N, rq + rk + rv], then
                    // each third's B (+ bias) into q, k, v [N, H]
    separate,       // dense and factored mixed: three PackedLinears into q, k, v [N, H]
};

struct PackedLayer {
    QkvForm qkv_form = QkvForm::separate;
    std::unique_ptr<kernels::PackedMatmul> qkv;               // fused_dense [3H, H]; fused_factors
                                                              // [rq + rk + rv, H]
    std::array<std::unique_ptr<kernels::PackedMatmul>, 3> b;  // fused_factors: Bq, Bk, Bv
    std::array<int64_t, 3> ranks{};                           // fused_factors: rq, rk, rv
    std::array<PackedLinear, 3> qkv_separate;                 // separate
    PackedLinear attn_out;  // epilogue: residual (adds into the residual stream)
    // Value and output projections merged per head (PackedOptions::merge_value_output):
    // b[2] holds, for each head h, A_o,h B_v,h [r_o, r_v] in rows [h · d, h · d + r_o) (rows up
    // to (h + 1) · d zero), so that the "values" are W_h = T_v (A_o,h B_v,h)ᵀ, and attention
    // gives P_h W_h = (P_h V_h) A_o,hᵀ, whose sum over the heads (kernels::sum_head_blocks) is the
    // output projection's middle t [N, r_o]; attn_out then holds only B_o (a null), its bias
    // b_o + B_o A_o b_v (the softmax rows sum to 1, so b_v passes through attention unchanged).
    // Saves the A_o GEMM (2 · N · H · r_o) at no extra cost when r_o <= d.
    bool value_output_merged = false;
    // Query and key merged per head (PackedOptions::merge_query_key): b[0] holds, for each
    // head h, B_k,hᵀ B_q,h [r_k, r_q] in rows [h · d, h · d + r_k) (the rest zero) with bias
    // B_k,hᵀ b_q,h, and b[1] is null: the "keys" of every head are T_k itself (the key factor's
    // middle, copied into each head's block), since (Q_h K_hᵀ) differs from
    // (T_q B_q,hᵀ B_k,h + 1 b_q,hᵀ B_k,h) T_kᵀ only by terms constant along each query's row
    // (T_q B_q,hᵀ b_k,h and b_q,h · b_k,h), which the softmax cancels. Saves the B_k GEMM
    // (2 · N · H · r_k) for a copy of N · H floats when r_k <= d.
    bool query_key_merged = false;
    PackedLinear inter;  // epilogue: gelu_erf when PackedModel::gelu_fused, else none
    PackedLinear out;    // epilogue: residual

    // FLOPs (2 per multiply-add) of the layer's GEMMs as packed: Q/K/V on `rows_qkv` rows, the
    // rest on `rows_rest` (the last layer runs past its Q/K/V for the [CLS] rows only), without
    // the GEMMs the merges remove (value/output: A_o; query/key: B_k). Attention not counted.
    double gemm_flops(const LayerParams& lp, int64_t rows_qkv, int64_t rows_rest) const;
};

struct PackedOptions {
    // Session::forward runs the whole encoder in one OpenMP parallel region, each thread on its
    // own rows, when no encoder layer's linear weights exceed this many bytes (0: never); larger
    // layers keep oneDNN's own split of each GEMM, which reads every weight once instead of once
    // per thread (fwsvd-bench BM_BertRegion; bench/RESULTS.md records which sizes gain).
    size_t region_max_layer_bytes = size_t(10) << 20;
    // An exact-GELU hidden_act as oneDNN's eltwise_gelu_erf post-op of the intermediate GEMM
    // (true) or as fwsvd's inference GELU (kernels::gelu_inference_forward, a rational erf at a
    // third of the cost) over the GEMM's output (false). Unset: the post-op for models whose
    // layers exceed region_max_layer_bytes, the kernel otherwise (fwsvd-bench BM_BertGelu,
    // bench/RESULTS.md).
    std::optional<bool> fuse_gelu;
    // Merge each layer's value and output projections per head (PackedLayer::
    // value_output_merged) where Q/K/V are factored (one GEMM for their first factors) and the
    // output projection is factored at a rank no larger than the head size.
    bool merge_value_output = true;
    // Merge each layer's query and key per head (PackedLayer::query_key_merged) where Q/K/V are
    // factored (one GEMM for their first factors) and the key's rank is at most the head size.
    bool merge_query_key = true;
    // The type every encoder linear layer multiplies in (kernels::MatmulPrecision): f32 (the
    // default) is HF-exact; bf16 rounds weights once at packing and activations at each GEMM's
    // input, accumulating in f32 (attention, LayerNorm, GELU, the head and the embedding
    // projection stay f32): faster GEMMs on CPUs with AVX512_BF16, refused (Error) on others.
    // Its effect on task scores is measured per model (bench/RESULTS.md), not assumed.
    kernels::MatmulPrecision precision = kernels::MatmulPrecision::f32;
    // int8 only (kernels::Int8Scheme; the head and the embedding projection stay f32, as do
    // attention, LayerNorm and the embeddings):
    struct Int8 {
        // One activation scale per GEMM call instead of per row (measured: bench/RESULTS.md).
        bool per_tensor = false;
        // Where the CPU's int8 pair sums would saturate (no VNNI, kernels::Int8Scheme): 7-bit
        // activation codes and 8-bit weights instead of the default 7-bit weights.
        bool reduce_activations = false;
        // Factored layers: the rank-r middle t = x Aᵀ goes back to f32 and the second factor
        // (B, and the per-head merged matrices built from B factors) multiplies in f32, instead of
        // t being re-quantised per row for an int8 B.
        bool middle_f32 = false;
        // An ECMAScript regular expression: encoder linear layers whose Hugging Face prefix
        // (e.g. bert.encoder.layer.3.output.dense) it matches anywhere stay f32. A GEMM fused from
        // several layers (Q/K/V, the per-head merges) stays f32 when any of them matches. Error
        // when it matches no layer. Empty: none.
        std::string skip;
    } int8;
};

class PackedModel {
  public:
    // The packed form of `model`, built on first request and shared while any holder keeps it
    // (one per model and precision per process). Thread-safe. Options apply when it is built.
    static std::shared_ptr<const PackedModel> of(std::shared_ptr<const Model> model,
                                                 const PackedOptions& options = {});
    // A fresh packed form not shared with anyone (benchmarks comparing options).
    static std::shared_ptr<const PackedModel> build(std::shared_ptr<const Model> model,
                                                    const PackedOptions& options);

    const Model& model() const { return *model_; }
    const std::shared_ptr<const Model>& shared_model() const { return model_; }
    // The encoder's layers: layer l runs the packed group groups()[config.group_of_layer(l)].
    int64_t num_layers() const { return int64_t(layer_of_.size()); }
    const PackedLayer& layer(int64_t l) const { return groups_[layer_of_[size_t(l)]]; }
    const std::vector<PackedLayer>& groups() const { return groups_; }
    // The E -> H projection after the embeddings (absent: w null).
    const PackedLinear& emb_proj() const { return emb_proj_; }
    // Factored word embeddings' second factor, code [n, r] -> [n, E] (absent: w null).
    const PackedLinear& word_emb_b() const { return word_emb_b_; }
    const PackedLinear& head_dense() const { return head_dense_; }
    const PackedLinear& classifier() const { return classifier_; }
    kernels::Activation activation() const { return act_; }
    kernels::Activation head_activation() const { return head_act_; }
    kernels::MatmulPrecision precision() const { return precision_; }
    // int8: the codes' ranges every int8 GEMM uses, and how many of the encoder's GEMMs
    // (PackedMatmuls, shared layer groups once) multiply in int8 and in f32.
    const kernels::Int8Scheme& int8_scheme() const { return int8_scheme_; }
    int64_t int8_gemms() const { return int8_gemms_; }
    int64_t f32_gemms() const { return f32_gemms_; }
    // Why the requested precision was not used (int8 on a CPU without AVX2: f32 instead), for
    // the tools to print; empty otherwise.
    const std::string& precision_note() const { return precision_note_; }
    bool gelu_fused() const { return gelu_fused_; }
    // Whether Session::forward may run the encoder in one parallel region (see
    // PackedOptions::region_max_layer_bytes).
    bool one_region() const { return one_region_; }
    // Widest factored middle t [N, width] any GEMM needs (0 for a dense model).
    int64_t max_middle() const { return max_middle_; }
    // Bytes of all packed weights.
    size_t packed_bytes() const { return packed_bytes_; }
    // Bytes of the largest encoder layer's linear weights as stored (fp32 in·out, or
    // rank·(in + out) factored).
    size_t max_layer_bytes() const { return max_layer_bytes_; }

  private:
    PackedModel() = default;
    std::shared_ptr<const Model> model_;
    std::vector<PackedLayer> groups_;
    std::vector<size_t> layer_of_;  // [L] index into groups_
    PackedLinear emb_proj_, word_emb_b_, head_dense_, classifier_;
    kernels::Activation act_ = kernels::Activation::gelu;
    kernels::Activation head_act_ = kernels::Activation::tanh;
    bool gelu_fused_ = false;
    bool one_region_ = false;
    kernels::MatmulPrecision precision_ = kernels::MatmulPrecision::f32;
    kernels::Int8Scheme int8_scheme_;
    int64_t int8_gemms_ = 0, f32_gemms_ = 0;
    std::string precision_note_;
    int64_t max_middle_ = 0;
    size_t packed_bytes_ = 0;
    size_t max_layer_bytes_ = 0;
};

// FLOPs (2 per multiply-add) of Session::forward on a batch, counted from the shapes: every
// linear layer as packed (PackedLayer::gemm_flops; the embedding projection on all N rows, the
// head on the B first rows) and attention's two matmuls (2 · 2 · len · keys · head_dim per
// sequence and head), the last layer past its Q/K/V for the first rows only (one query per
// sequence), as Session::forward runs it. Element-wise work (LayerNorm, softmax, GELU, the
// merged layers' head sums and key copies) is not counted.
double forward_flops(const PackedModel& packed, const Batch& batch);

}  // namespace fwsvd
