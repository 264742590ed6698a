#include "models/session.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "models/embeddings.h"
#include "models/linear_ops.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {

namespace {

std::shared_ptr<const PackedModel> packed_of(std::shared_ptr<const Model> model,
                                             const PackedOptions& options) {
    FWSVD_CHECK(model != nullptr, "Session: null model");
    return PackedModel::of(std::move(model), options);
}

// y = epilogue(x Wᵀ + b) for n rows of a dense or factored layer; t holds the factored middle.
void run_linear(kernels::MatmulContext& ctx, const PackedLinear& l, float* out, float* t,
                const float* inp, int64_t n) {
    FWSVD_CHECK(l.a || !l.factored(), "run_linear: a factored layer without its first factor");
    if (l.factored()) {
        l.a->run(ctx, t, inp, n);
        l.w->run(ctx, out, t, n);
    } else {
        l.w->run(ctx, out, inp, n);
    }
}

// The intermediate layer's activation over n floats in place, where the GEMM did not fuse it:
// fwsvd's inference GELU for exact GELU, the training kernels' activation otherwise.
void intermediate_activation(const PackedModel& packed, float* inter, int64_t n) {
    if (packed.activation() == kernels::Activation::gelu) {
        kernels::gelu_inference_forward(inter, inter, n);
    } else {
        kernels::activation_forward(packed.activation(), inter, inter, n);
    }
}

// f(first row, row count) over rows [r0, r0 + count) of `row_floats` floats each, split across
// threads outside a parallel region (row_grain), on this thread inside one.
template <typename F>
void row_wise(int64_t r0, int64_t count, int64_t row_floats, F&& f) {
    parallel_for(count, row_grain(row_floats), [&](int64_t b, int64_t e) { f(r0 + b, e - b); });
}

// LayerNorm in place of rows [0, n) of x [n, c].
void layernorm_in_place(float* x, const float* gamma, const float* beta, int64_t n, int64_t c,
                        float eps) {
    row_wise(0, n, c, [&](int64_t b, int64_t cnt) {
        kernels::layernorm_forward(x + b * c, nullptr, nullptr, x + b * c, gamma, beta, cnt, c,
                                   eps);
    });
}

}  // namespace

Session::Buffer::~Buffer() {
    release();
}

void Session::Buffer::release() {
    if (map_) munmap(map_, map_bytes_);
    map_ = nullptr;
    map_bytes_ = 0;
    data_ = nullptr;
    size_ = 0;
}

void Session::Buffer::reserve(int64_t n) {
    if (n <= size_) return;
    // Batches that grow a little at a time (predict_logits sorts by length) remap a few times,
    // not at every batch.
    n = std::max(n, size_ + size_ / 2);
    release();
    constexpr size_t kPage = 4096, kHuge = size_t(2) << 20;
    const size_t bytes = (size_t(n) * sizeof(float) + kPage - 1) / kPage * kPage;
    const bool huge = bytes >= kHuge;
    const size_t map_bytes = huge ? bytes + kHuge : bytes;
    void* map =
        mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) throw std::bad_alloc();
    auto* p = static_cast<char*>(map);
    if (huge) {
        p += (kHuge - reinterpret_cast<uintptr_t>(p) % kHuge) % kHuge;
        madvise(p, bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages if refused
    }
    map_ = map;
    map_bytes_ = map_bytes;
    data_ = reinterpret_cast<float*>(p);
    size_ = int64_t(bytes / sizeof(float));
}

Session::Session(std::shared_ptr<const Model> model, const PackedOptions& options)
    : Session(packed_of(std::move(model), options)) {}

Session::Session(std::shared_ptr<const PackedModel> packed) : packed_(std::move(packed)) {
    FWSVD_CHECK(packed_ != nullptr, "Session: null packed model");
    model_ = packed_->shared_model();
}

void Session::reserve(int64_t rows, int64_t seq_rows, int64_t attention_scratch) {
    const ModelConfig& c = model_->config();
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const int64_t middle = std::max<int64_t>(packed_->max_middle(), 1);
    if (rows > cap_rows_) {
        x_.reserve(rows * H);
        if (packed_->emb_proj().w) emb_.reserve(rows * c.embedding_dim());
        qkv_.reserve(rows * 3 * H);
        ctx_buf_.reserve(rows * H);
        inter_.reserve(rows * I);
        t_.reserve(rows * middle);
        t_split_.reserve(rows * middle);
        cap_rows_ = rows;
    }
    if (seq_rows > cap_seq_rows_) {
        cls_.reserve(seq_rows * H);
        cls_ctx_.reserve(seq_rows * H);
        pooled_.reserve(seq_rows * H);
        out_.reserve(seq_rows * std::max<int64_t>(c.num_labels(), 1));
        t_.reserve(seq_rows * middle);
        cap_seq_rows_ = seq_rows;
    }
    if (attention_scratch > cap_scratch_) {
        scratch_.reserve(attention_scratch);
        cap_scratch_ = attention_scratch;
    }
}

Session::QkvBlocks Session::qkv_blocks(int64_t layer, int team) {
    const int64_t H = model_->config().hidden_size, Nc = rows_;
    QkvBlocks b;
    // Q, K, V: interleaved rows of one GEMM, or three [Nc, H] blocks.
    b.q = team > 1 && layer % 2 == 1 ? qkv_odd_.data() : qkv_.data();
    b.k = b.q + Nc * H;
    b.v = b.q + 2 * Nc * H;
    b.shape = shape_;
    if (packed_->layer(layer).qkv_form == QkvForm::fused_dense) {
        b.k = b.q + H;
        b.v = b.q + 2 * H;
        b.shape.ld_q = b.shape.ld_k = b.shape.ld_v = 3 * H;
    }
    return b;
}

void Session::embed(kernels::MatmulContext& mm, const Batch& batch, int64_t r0, int64_t n,
                    int64_t np) {
    const ModelConfig& c = model_->config();
    const ModelParams& p = model_->params();
    const int64_t E = c.embedding_dim(), H = c.hidden_size;
    const PackedLinear& proj = packed_->emb_proj();
    float* e = proj.w ? emb_.data() : x_.data();
    float* t_mid = t_.data() + r0 * std::max<int64_t>(packed_->max_middle(), 1);
    if (p.word_emb_rank > 0) {
        // Factored word embeddings: the rows' codes, then one GEMM by the second factor.
        const int64_t r = p.word_emb_rank;
        row_wise(r0, n, r, [&](int64_t b, int64_t cnt) {
            for (int64_t i = b; i < b + cnt; ++i) {
                std::memcpy(t_mid + (i - r0) * r, p.word_emb_a + int64_t(batch.ids[size_t(i)]) * r,
                            size_t(r) * sizeof(float));
            }
        });
        run_linear(mm, packed_->word_emb_b(), e + r0 * E, nullptr, t_mid, n);
    }
    row_wise(r0, n, E, [&](int64_t b, int64_t cnt) {
        kernels::embedding_forward(e + b * E, batch.ids.data() + b, positions_ + b,
                                   batch.type_ids.data() + b, p.word_emb, p.pos_emb, p.type_emb,
                                   cnt, E);
    });
    layernorm_in_place(e + r0 * E, p.emb_ln_gamma, p.emb_ln_beta, np, E, float(c.layer_norm_eps));
    if (proj.w) run_linear(mm, proj, x_.data() + r0 * H, t_mid, e + r0 * E, n);
}

void Session::qkv(kernels::MatmulContext& mm, const PackedLayer& pl, const QkvBlocks& blocks,
                  const RowBlock& rows, int64_t r0) {
    const int64_t H = model_->config().hidden_size, Nc = rows_;
    const int64_t n = rows.n, np = rows.np;
    float* q = blocks.q;
    float* k = blocks.k;
    float* v = blocks.v;
    switch (pl.qkv_form) {
        case QkvForm::fused_dense:
            pl.qkv->run(mm, q + r0 * 3 * H, rows.x, n);
            break;
        case QkvForm::fused_factors: {
            // t [rows, rq + rk + rv] = x [Aq; Ak; Av]ᵀ, split into contiguous [Nc, r] blocks
            // (oneDNN's packed kernels take dense sources only), then each B.
            const int64_t r3 = pl.ranks[0] + pl.ranks[1] + pl.ranks[2];
            pl.qkv->run(mm, rows.t, rows.x, n);
            float* parts[3] = {t_split_.data(), t_split_.data() + Nc * pl.ranks[0],
                               t_split_.data() + Nc * (pl.ranks[0] + pl.ranks[1])};
            const int64_t cols[3] = {0, pl.ranks[0], pl.ranks[0] + pl.ranks[1]};
            // Query and key merged: T_k is every head's keys (the rest of each head's block
            // zero).
            const int64_t rk = pl.ranks[1], d = blocks.shape.head_dim;
            row_wise(r0, np, r3, [&](int64_t b, int64_t cnt) {
                for (int64_t i = b; i < b + cnt; ++i) {
                    const float* src = rows.t + (i - r0) * r3;
                    for (size_t j = 0; j < 3; ++j) {
                        if (j == 1 && pl.query_key_merged) continue;
                        std::memcpy(parts[j] + i * pl.ranks[j], src + cols[j],
                                    size_t(pl.ranks[j]) * sizeof(float));
                    }
                    if (!pl.query_key_merged) continue;
                    for (int64_t h = 0; h < blocks.shape.num_heads; ++h) {
                        float* kh = k + i * H + h * d;
                        std::memcpy(kh, src + cols[1], size_t(rk) * sizeof(float));
                        std::memset(kh + rk, 0, size_t(d - rk) * sizeof(float));
                    }
                }
            });
            float* dst[3] = {q, k, v};
            for (size_t j = 0; j < 3; ++j) {
                if (j == 1 && pl.query_key_merged) continue;
                pl.b[j]->run(mm, dst[j] + r0 * H, parts[j] + r0 * pl.ranks[j], n);
            }
            break;
        }
        case QkvForm::separate:
            run_linear(mm, pl.qkv_separate[0], q + r0 * H, rows.t, rows.x, n);
            run_linear(mm, pl.qkv_separate[1], k + r0 * H, rows.t, rows.x, n);
            run_linear(mm, pl.qkv_separate[2], v + r0 * H, rows.t, rows.x, n);
            break;
    }
}

void Session::post_attention(kernels::MatmulContext& mm, const PackedLayer& pl,
                             const LayerParams& lp, const RowBlock& rows) {
    const ModelConfig& c = model_->config();
    const int64_t H = c.hidden_size, I = c.intermediate_size, n = rows.n, np = rows.np;
    const float eps = float(c.layer_norm_eps);
    // x = LayerNorm(ctx Wᵀ + b + x): bias and residual in the GEMM, then LayerNorm.
    if (pl.value_output_merged) {
        // ctx holds P_h W_h per head: their sum is the output projection's middle.
        const int64_t ro = pl.attn_out.rank;
        row_wise(0, np, H, [&](int64_t b, int64_t cnt) {
            kernels::sum_head_blocks(rows.t + b * ro, rows.ctx + b * H, cnt, shape_.num_heads, ro,
                                     shape_.head_dim, H, ro);
        });
        pl.attn_out.w->run(mm, rows.x, rows.t, n);
    } else {
        run_linear(mm, pl.attn_out, rows.x, rows.t, rows.ctx, n);
    }
    layernorm_in_place(rows.x, lp.attn_ln_gamma, lp.attn_ln_beta, np, H, eps);
    run_linear(mm, pl.inter, rows.inter, rows.t, rows.x, n);
    if (!packed_->gelu_fused()) {
        row_wise(0, np, I, [&](int64_t b, int64_t cnt) {
            intermediate_activation(*packed_, rows.inter + b * I, cnt * I);
        });
    }
    run_linear(mm, pl.out, rows.x, rows.t, rows.inter, n);
    layernorm_in_place(rows.x, lp.out_ln_gamma, lp.out_ln_beta, np, H, eps);
}

void Session::cls_last_layer(int team) {
    const ModelConfig& c = model_->config();
    FWSVD_CHECK(packed_->num_layers() > 0, "Session: the model has no encoder layer");
    const int64_t l = packed_->num_layers() - 1;
    const int64_t B = int64_t(seqs_.size()), Bp = kernels::matmul_padded_rows(B);
    const int64_t H = c.hidden_size;
    const QkvBlocks qkv = qkv_blocks(l, team);
    // Each sequence's first query against all its keys, into its row of ctx.
    cls_seqs_.resize(seqs_.size());
    for (size_t b = 0; b < seqs_.size(); ++b) {
        cls_seqs_[b] = kernels::SeqSpan{seqs_[b].offset, 1, seqs_[b].keys, 0};
    }
    float* ctx = ctx_buf_.data();
    attention_all(ctx, nullptr, qkv.q, qkv.k, qkv.v, cls_seqs_, qkv.shape, scratch_.data(),
                  scratch_per_thread_);
    // The first rows of ctx and of the residual stream, gathered into [Bp, H] blocks; padding
    // rows zeroed, so that the GEMMs and LayerNorms below see finite rows.
    float* cls = cls_.data();
    float* cls_ctx = cls_ctx_.data();
    const float* x = x_.data();
    for (int64_t b = 0; b < B; ++b) {
        const int64_t row = seqs_[size_t(b)].offset;
        std::memcpy(cls + b * H, x + row * H, size_t(H) * sizeof(float));
        std::memcpy(cls_ctx + b * H, ctx + row * H, size_t(H) * sizeof(float));
    }
    std::memset(cls + B * H, 0, size_t((Bp - B) * H) * sizeof(float));
    std::memset(cls_ctx + B * H, 0, size_t((Bp - B) * H) * sizeof(float));
    post_attention(*ctxs_[0], packed_->layer(l), model_->params().layers[size_t(l)],
                   RowBlock{cls, cls_ctx, inter_.data(), t_.data(), B, Bp});
}

void Session::encoder(const Batch& batch, int t, int team, TeamErrors& errors) {
    const ModelConfig& c = model_->config();
    const ModelParams& p = model_->params();
    const int64_t N = batch.tokens(), H = c.hidden_size, I = c.intermediate_size;
    kernels::MatmulContext& mm = *ctxs_[size_t(t)];
    // This thread's rows [r0, r0 + n); GEMMs read and write rows up to r0 + np. A team of one
    // runs all rows.
    const RowSplit split = team > 1 ? row_split(N, t, team) : RowSplit{0, N, rows_};
    const int64_t r0 = split.begin, n = split.end - split.begin, np = split.extent - split.begin;
    const RowBlock rows{x_.data() + r0 * H,
                        ctx_buf_.data() + r0 * H,
                        inter_.data() + r0 * I,
                        t_.data() + r0 * std::max<int64_t>(packed_->max_middle(), 1),
                        n,
                        np};
    errors.run([&] { embed(mm, batch, r0, n, np); });
    const int64_t L = packed_->num_layers();
    for (int64_t l = 0; l < L; ++l) {
        const PackedLayer& pl = packed_->layer(l);
        const QkvBlocks blocks = qkv_blocks(l, team);
        errors.run([&] { qkv(mm, pl, blocks, rows, r0); });
        // The last layer's remaining work concerns only the first rows (cls_last_layer).
        if (l + 1 == L) break;
        // Attention reads every row's keys and values: after this barrier, the only one of the
        // layer. In a team, each thread then takes its own query rows (all heads), so that it
        // writes only its rows of ctx; the next layer's Q/K/V go to the other qkv buffer, which
        // no thread reads before every thread has passed this barrier again.
        team_barrier(team);
        errors.run([&] {
            float* ctx = ctx_buf_.data();
            if (team > 1) {
                shared_attention_.run(ctx, blocks.q, blocks.k, blocks.v, blocks.shape, seqs_, N, l,
                                      t, team, scratch_.data() + t * scratch_per_thread_, errors);
            } else {
                attention_all(ctx, nullptr, blocks.q, blocks.k, blocks.v, seqs_, blocks.shape,
                              scratch_.data(), scratch_per_thread_);
            }
        });
        // From here to the next layer's barrier each thread reads and writes only its rows.
        errors.run([&] { post_attention(mm, pl, p.layers[size_t(l)], rows); });
    }
}

void Session::forward(const Batch& batch, float* logits) {
    const ModelConfig& c = model_->config();
    FWSVD_CHECK(model_->has_classifier() && model_->has_head_dense(),
                "Session: the model has no classification head");
    const int64_t N = batch.tokens(), B = batch.size(), H = c.hidden_size, C = c.num_labels();
    if (B == 0) return;
    // GEMMs run on padded row counts (kernels/packed_matmul.h).
    const int64_t Bp = kernels::matmul_padded_rows(B);
    seqs_.assign(batch.seqs.begin(), batch.seqs.end());
    positions_ = position_ids(c, batch, pos_ids_);
    const int64_t num_seqs = int64_t(seqs_.size());
    scratch_per_thread_ = kernels::attention_scratch_size(seqs_.data(), num_seqs);
    shape_ = kernels::AttentionShape{c.num_attention_heads, c.head_dim(), H, H, H, H};
    // One parallel region for the whole encoder when every thread gets enough rows: one
    // barrier per layer (before attention) instead of a fork-join per GEMM and row-wise kernel.
    const bool region = packed_->one_region() && !omp_in_parallel();
    const int threads = region ? num_threads() : 1;
    const int team = int(std::max<int64_t>(1, std::min<int64_t>(threads, N / kMinRowsPerThread)));
    rows_ = rows_capacity(N, team);
    const int scratch_slices = std::max(team, attention_threads(seqs_, shape_));
    reserve(rows_, Bp, scratch_slices * scratch_per_thread_);
    while (ctxs_.size() < size_t(team)) ctxs_.push_back(std::make_unique<kernels::MatmulContext>());
    if (team > 1 && rows_ > cap_qkv_odd_) {
        qkv_odd_.reserve(rows_ * 3 * H);
        cap_qkv_odd_ = rows_;
    }
    if (team > 1) shared_attention_.reset(team);
    TeamErrors errors;
    int team_run = 1;  // the team that ran: qkv_blocks of the last layer depend on it
    if (team > 1) {
#pragma omp parallel num_threads(team)
        {
            // A smaller team than asked (thread limits) splits the rows among the threads it has.
            if (omp_get_thread_num() == 0) team_run = omp_get_num_threads();
            encoder(batch, omp_get_thread_num(), omp_get_num_threads(), errors);
        }
    } else {
        encoder(batch, 0, 1, errors);
    }
    if (errors.first) std::rethrow_exception(errors.first);
    cls_last_layer(team_run);
    // The head on the first rows.
    kernels::MatmulContext& mm = *ctxs_[0];
    float* t = t_.data();
    const float* cls = cls_.data();
    float* pooled = pooled_.data();
    run_linear(mm, packed_->head_dense(), pooled, t, cls, B);
    kernels::activation_forward(packed_->head_activation(), pooled, pooled, Bp * H);
    run_linear(mm, packed_->classifier(), out_.data(), t, pooled, B);
    std::memcpy(logits, out_.data(), size_t(B * C) * sizeof(float));
}

std::vector<float> Session::logits(const Batch& batch) {
    std::vector<float> out(size_t(batch.size() * model_->config().num_labels()));
    forward(batch, out.data());
    return out;
}

Prediction make_prediction(const ModelConfig& c, const float* logits) {
    Prediction pr;
    const int64_t C = c.num_labels();
    pr.logits.assign(logits, logits + C);
    if (c.is_regression()) {
        pr.score = logits[0];
        return pr;
    }
    double mx = *std::max_element(logits, logits + C);
    double sum = 0;
    pr.probabilities.resize(size_t(C));
    for (int64_t j = 0; j < C; ++j) sum += std::exp(double(logits[j]) - mx);
    for (int64_t j = 0; j < C; ++j) {
        pr.probabilities[size_t(j)] = float(std::exp(double(logits[j]) - mx) / sum);
    }
    pr.label_id = std::max_element(logits, logits + C) - logits;
    return pr;
}

}  // namespace fwsvd
