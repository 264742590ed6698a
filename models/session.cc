#include "models/session.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>

#include <sys/mman.h>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "models/linear_ops.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {

namespace {

std::shared_ptr<const PackedBert> packed_of(std::shared_ptr<const BertModel> model,
                                            const PackedBertOptions& options) {
    FWSVD_CHECK(model != nullptr, "Session: null model");
    return PackedBert::of(std::move(model), options);
}

// Row-wise work is split across threads only in pieces of at least this many floats: a fork-join
// costs microseconds on an idle machine and a scheduler time slice when the other core is busy,
// while a LayerNorm of 128 x 768 floats takes ~15 us on one core.
constexpr int64_t kMinParallelFloats = int64_t(1) << 17;

int64_t row_grain(int64_t row_floats) {
    return std::max<int64_t>(1, kMinParallelFloats / std::max<int64_t>(row_floats, 1));
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
void intermediate_activation(const PackedBert& packed, float* inter, int64_t n) {
    if (packed.activation() == kernels::Activation::gelu) {
        kernels::gelu_inference_forward(inter, inter, n);
    } else {
        kernels::activation_forward(packed.activation(), inter, inter, n);
    }
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

Session::Session(std::shared_ptr<const BertModel> model, const PackedBertOptions& options)
    : Session(packed_of(std::move(model), options)) {}

Session::Session(std::shared_ptr<const PackedBert> packed) : packed_(std::move(packed)) {
    FWSVD_CHECK(packed_ != nullptr, "Session: null packed model");
    model_ = packed_->shared_model();
}

void Session::reserve(int64_t rows, int64_t seq_rows, int64_t attention_scratch) {
    const BertConfig& c = model_->config();
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const int64_t middle = std::max<int64_t>(packed_->max_middle(), 1);
    if (rows > cap_rows_) {
        x_.reserve(rows * H);
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

namespace {

// With PackedBert::one_region, the encoder runs in one parallel region when every thread gets at
// least this many rows; else on this thread, oneDNN and the row-wise kernels forking their own
// teams.
constexpr int64_t kMinRowsPerThread = 16;

int64_t round_up(int64_t a, int64_t b) {
    return (a + b - 1) / b * b;
}

// The rows thread t of a team owns: [begin, end) of the batch's n rows. Every boundary but n is
// a multiple of 16 (64 for pieces of more than 512 rows), so that a GEMM over a thread's rows
// runs on exactly them (matmul_padded_rows(end - begin) == end - begin) and writes no row of the
// next thread; only the thread owning row n - 1 writes padding rows, below `extent`.
struct RowSplit {
    int64_t begin = 0, end = 0, extent = 0;
};

RowSplit row_split(int64_t n, int t, int team) {
    const int64_t g = n / team + 16 <= 512 ? 16 : 64;
    auto boundary = [&](int i) { return i >= team ? n : std::min(n, round_up(n * i / team, g)); };
    RowSplit r;
    r.begin = boundary(t);
    r.end = boundary(t + 1);
    r.extent = r.end < n ? r.end : r.begin + kernels::matmul_padded_rows(n - r.begin);
    return r;
}

// Rows the buffers need for any team of up to `max_team` threads over n rows.
int64_t rows_capacity(int64_t n, int max_team) {
    int64_t rows = kernels::matmul_padded_rows(n);
    for (int team = 2; team <= max_team; ++team) {
        for (int t = 0; t < team; ++t) rows = std::max(rows, row_split(n, t, team).extent);
    }
    return rows;
}

void barrier(int team) {
    if (team > 1) {
#pragma omp barrier
    }
}

}  // namespace

// The first exception thrown by any thread of a team, rethrown after the parallel region (an
// exception may not leave one). A thread that failed skips its remaining steps but still meets
// every barrier, so that the others do not wait forever.
struct Session::TeamErrors {
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::exception_ptr first;

    template <typename F>
    void run(F&& f) {
        if (failed.load(std::memory_order_relaxed)) return;
        try {
            f();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!first) first = std::current_exception();
            failed = true;
        }
    }
};

namespace {

// The attention work of one thread's block of query rows [begin, end): the sequences it meets,
// one part each (the block's rows of that sequence), times the heads. Unit i is part i / heads
// (the first_seq + (i / heads)-th sequence), head i % heads.
struct BlockUnits {
    size_t first_seq = 0;
    int64_t parts = 0;
    int64_t begin = 0, end = 0;
};

BlockUnits block_units(const std::vector<kernels::SeqSpan>& seqs, const RowSplit& r) {
    BlockUnits u;
    u.begin = r.begin;
    u.end = r.end;
    const auto first = std::partition_point(
        seqs.begin(), seqs.end(),
        [&](const kernels::SeqSpan& s) { return s.offset + s.len <= r.begin; });
    const auto last = std::partition_point(
        first, seqs.end(), [&](const kernels::SeqSpan& s) { return s.offset < r.end; });
    u.first_seq = size_t(first - seqs.begin());
    u.parts = r.end > r.begin ? int64_t(last - first) : 0;
    return u;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

}  // namespace

void Session::attention_shared(float* ctx, const float* q, const float* k, const float* v,
                               const kernels::AttentionShape& shape, int64_t N, int64_t layer,
                               int t, int team, const TeamErrors& errors) {
    const int64_t heads = shape.num_heads;
    float* scratch = scratch_.data() + t * scratch_per_thread_;
    // Claims of thread u's units in layer l are numbered [l · U_u, (l + 1) · U_u) (the counters
    // run on over the layers of a forward), so that no reset is needed between layers.
    auto claim = [&](int u, int64_t units) -> int64_t {
        std::atomic<int64_t>& c = attn_counters_[size_t(u) * kCounterStride];
        const int64_t limit = (layer + 1) * units;
        int64_t i = c.load(std::memory_order_relaxed);
        while (i < limit) {
            if (c.compare_exchange_weak(i, i + 1, std::memory_order_relaxed))
                return i - layer * units;
        }
        return -1;
    };
    int64_t own_units = 0;
    for (int step = 0; step < team; ++step) {
        // Own units first, then whatever the other threads have not claimed yet: a core that is
        // ahead takes over part of a slower one's attention instead of waiting for it at the next
        // barrier (the two vCPUs of the development machine differ by 10-15% at times).
        const int u = (t + step) % team;
        const BlockUnits bu = block_units(seqs_, row_split(N, u, team));
        const int64_t units = bu.parts * heads;
        if (step == 0) own_units = units;
        for (int64_t unit; (unit = claim(u, units)) >= 0;) {
            const kernels::SeqSpan& s = seqs_[bu.first_seq + size_t(unit / heads)];
            const int64_t h = unit % heads;
            const int64_t a = std::max(bu.begin, s.offset), b = std::min(bu.end, s.offset + s.len);
            // Queries [a, b) of the sequence against all its keys: q and ctx shifted to row a, the
            // span keeping the sequence's offset for k and v (len < keys is fine for inference).
            const kernels::SeqSpan part{s.offset, b - a, s.keys, 0};
            kernels::attention_inference_item(ctx + (a - s.offset) * shape.ld_out,
                                              q + (a - s.offset) * shape.ld_q, k, v, &part, shape,
                                              h, h + 1 < heads ? h + 1 : -1, scratch);
            attn_counters_[size_t(u) * kCounterStride + kCounterDone].fetch_add(
                1, std::memory_order_release);
        }
    }
    // This thread's rows of ctx are complete once all its units are, whoever ran them.
    const int64_t target = (layer + 1) * own_units;
    const std::atomic<int64_t>& done = attn_counters_[size_t(t) * kCounterStride + kCounterDone];
    while (done.load(std::memory_order_acquire) < target) {
        if (errors.failed.load(std::memory_order_relaxed)) return;
        cpu_relax();
    }
}

Session::QkvBlocks Session::qkv_blocks(size_t layer, int team) {
    const int64_t H = model_->config().hidden_size, Nc = rows_;
    QkvBlocks b;
    // Q, K, V: interleaved rows of one GEMM, or three [Nc, H] blocks.
    b.q = team > 1 && layer % 2 == 1 ? qkv_odd_.data() : qkv_.data();
    b.k = b.q + Nc * H;
    b.v = b.q + 2 * Nc * H;
    b.shape = shape_;
    if (packed_->layers()[layer].qkv_form == QkvForm::fused_dense) {
        b.k = b.q + H;
        b.v = b.q + 2 * H;
        b.shape.ld_q = b.shape.ld_k = b.shape.ld_v = 3 * H;
    }
    return b;
}

void Session::cls_last_layer(int team) {
    const BertConfig& c = model_->config();
    FWSVD_CHECK(!packed_->layers().empty(), "Session: the model has no encoder layer");
    const size_t l = packed_->layers().size() - 1;
    const PackedLayer& pl = packed_->layers()[l];
    const LayerParams& lp = model_->params().layers[l];
    const int64_t B = int64_t(seqs_.size()), Bp = kernels::matmul_padded_rows(B);
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const float eps = float(c.layer_norm_eps);
    kernels::MatmulContext& mm = *ctxs_[0];
    const QkvBlocks qkv = qkv_blocks(l, team);
    // Each sequence's first query against all its keys, into its row of ctx.
    cls_seqs_.resize(seqs_.size());
    for (size_t b = 0; b < seqs_.size(); ++b) {
        cls_seqs_[b] = kernels::SeqSpan{seqs_[b].offset, 1, seqs_[b].keys, 0};
    }
    float* ctx = ctx_buf_.data();
    attention_all(ctx, nullptr, qkv.q, qkv.k, qkv.v, cls_seqs_, qkv.shape, scratch_.data(),
                  scratch_per_thread_);
    // The [CLS] rows of ctx and of the residual stream, gathered into [Bp, H] blocks; padding
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
    float* t = t_.data();
    float* inter = inter_.data();
    if (pl.value_output_merged) {
        kernels::sum_head_blocks(t, cls_ctx, Bp, c.num_attention_heads, pl.attn_out.rank,
                                 c.head_dim(), H, pl.attn_out.rank);
        pl.attn_out.w->run(mm, cls, t, B);
    } else {
        run_linear(mm, pl.attn_out, cls, t, cls_ctx, B);
    }
    kernels::layernorm_forward(cls, nullptr, nullptr, cls, lp.attn_ln_gamma, lp.attn_ln_beta, Bp, H,
                               eps);
    run_linear(mm, pl.inter, inter, t, cls, B);
    if (!packed_->gelu_fused()) intermediate_activation(*packed_, inter, Bp * I);
    run_linear(mm, pl.out, cls, t, inter, B);
    kernels::layernorm_forward(cls, nullptr, nullptr, cls, lp.out_ln_gamma, lp.out_ln_beta, Bp, H,
                               eps);
}

void Session::encoder(const Batch& batch, int t, int team, TeamErrors& errors) {
    const BertConfig& c = model_->config();
    const BertParams& p = model_->params();
    const int64_t N = batch.tokens(), H = c.hidden_size, I = c.intermediate_size;
    const int64_t Nc = rows_;
    const float eps = float(c.layer_norm_eps);
    kernels::MatmulContext& mm = *ctxs_[size_t(t)];
    // This thread's rows [r0, r0 + n); GEMMs read and write rows up to r0 + np, and the row-wise
    // kernels normalise those padding rows too, so that whatever they hold stays bounded from
    // call to call. A team of one runs all rows.
    const RowSplit rows = team > 1 ? row_split(N, t, team) : RowSplit{0, N, Nc};
    const int64_t r0 = rows.begin, n = rows.end - rows.begin, np = rows.extent - rows.begin;
    // Row-wise work over this thread's rows (a team of one: split by parallel_for).
    auto row_wise = [&](int64_t count, int64_t row_floats, auto&& f) {
        parallel_for(count, row_grain(row_floats), [&](int64_t b, int64_t e) { f(r0 + b, e - b); });
    };
    float* x = x_.data();
    float* ctx = ctx_buf_.data();
    float* inter = inter_.data();
    float* t_mid = t_.data() + r0 * std::max<int64_t>(packed_->max_middle(), 1);
    auto layernorm = [&](const float* gamma, const float* beta) {
        row_wise(np, H, [&](int64_t b, int64_t cnt) {
            kernels::layernorm_forward(x + b * H, nullptr, nullptr, x + b * H, gamma, beta, cnt, H,
                                       eps);
        });
    };
    errors.run([&] {
        row_wise(n, H, [&](int64_t b, int64_t cnt) {
            kernels::embedding_forward(x + b * H, batch.ids.data() + b, batch.pos_ids.data() + b,
                                       batch.type_ids.data() + b, p.word_emb, p.pos_emb, p.type_emb,
                                       cnt, H);
        });
        layernorm(p.emb_ln_gamma, p.emb_ln_beta);
    });
    const size_t L = packed_->layers().size();
    for (size_t l = 0; l < L; ++l) {
        const PackedLayer& pl = packed_->layers()[l];
        const LayerParams& lp = p.layers[l];
        const QkvBlocks qkv = qkv_blocks(l, team);
        float* q = qkv.q;
        float* k = qkv.k;
        float* v = qkv.v;
        const kernels::AttentionShape& shape = qkv.shape;
        errors.run([&] {
            switch (pl.qkv_form) {
                case QkvForm::fused_dense:
                    pl.qkv->run(mm, q + r0 * 3 * H, x + r0 * H, n);
                    break;
                case QkvForm::fused_factors: {
                    // t [rows, rq + rk + rv] = x [Aq; Ak; Av]ᵀ, split into contiguous [Nc, r]
                    // blocks (oneDNN's packed kernels take dense sources only), then each B.
                    const int64_t r3 = pl.ranks[0] + pl.ranks[1] + pl.ranks[2];
                    pl.qkv->run(mm, t_mid, x + r0 * H, n);
                    float* parts[3] = {t_split_.data(), t_split_.data() + Nc * pl.ranks[0],
                                       t_split_.data() + Nc * (pl.ranks[0] + pl.ranks[1])};
                    const int64_t cols[3] = {0, pl.ranks[0], pl.ranks[0] + pl.ranks[1]};
                    // Query and key merged: T_k is every head's keys (the rest of each head's
                    // block zero).
                    const int64_t rk = pl.ranks[1], d = shape.head_dim;
                    row_wise(np, r3, [&](int64_t b, int64_t cnt) {
                        for (int64_t i = b; i < b + cnt; ++i) {
                            const float* src = t_mid + (i - r0) * r3;
                            for (size_t j = 0; j < 3; ++j) {
                                if (j == 1 && pl.query_key_merged) continue;
                                std::memcpy(parts[j] + i * pl.ranks[j], src + cols[j],
                                            size_t(pl.ranks[j]) * sizeof(float));
                            }
                            if (!pl.query_key_merged) continue;
                            for (int64_t h = 0; h < shape.num_heads; ++h) {
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
                    run_linear(mm, pl.qkv_separate[0], q + r0 * H, t_mid, x + r0 * H, n);
                    run_linear(mm, pl.qkv_separate[1], k + r0 * H, t_mid, x + r0 * H, n);
                    run_linear(mm, pl.qkv_separate[2], v + r0 * H, t_mid, x + r0 * H, n);
                    break;
            }
        });
        // The last layer's remaining work concerns only the [CLS] rows (cls_last_layer).
        if (l + 1 == L) break;
        // Attention reads every row's keys and values: after this barrier, the only one of the
        // layer. In a team, each thread then takes its own query rows (all heads), so that it
        // writes only its rows of ctx; the next layer's Q/K/V go to the other qkv buffer, which
        // no thread reads before every thread has passed this barrier again.
        barrier(team);
        errors.run([&] {
            if (team > 1) {
                attention_shared(ctx, q, k, v, shape, N, int64_t(l), t, team, errors);
            } else {
                attention_all(ctx, nullptr, q, k, v, seqs_, shape, scratch_.data(),
                              scratch_per_thread_);
            }
        });
        // From here to the next layer's barrier each thread reads and writes only its rows.
        errors.run([&] {
            // x = LayerNorm(ctx Wᵀ + b + x): bias and residual in the GEMM, then LayerNorm.
            if (pl.value_output_merged) {
                // ctx holds P_h W_h per head: their sum is the output projection's middle.
                const int64_t ro = pl.attn_out.rank;
                row_wise(np, H, [&](int64_t b, int64_t cnt) {
                    kernels::sum_head_blocks(t_mid + (b - r0) * ro, ctx + b * H, cnt,
                                             shape.num_heads, ro, shape.head_dim, H, ro);
                });
                pl.attn_out.w->run(mm, x + r0 * H, t_mid, n);
            } else {
                run_linear(mm, pl.attn_out, x + r0 * H, t_mid, ctx + r0 * H, n);
            }
            layernorm(lp.attn_ln_gamma, lp.attn_ln_beta);
            run_linear(mm, pl.inter, inter + r0 * I, t_mid, x + r0 * H, n);
            if (!packed_->gelu_fused()) {
                row_wise(np, I, [&](int64_t b, int64_t cnt) {
                    intermediate_activation(*packed_, inter + b * I, cnt * I);
                });
            }
            run_linear(mm, pl.out, x + r0 * H, t_mid, inter + r0 * I, n);
            layernorm(lp.out_ln_gamma, lp.out_ln_beta);
        });
    }
}

void Session::forward(const Batch& batch, float* logits) {
    const BertConfig& c = model_->config();
    FWSVD_CHECK(model_->has_classifier(), "Session: the model has no classifier");
    FWSVD_CHECK(model_->has_pooler(), "Session: the model has no pooler");
    const int64_t N = batch.tokens(), B = batch.size(), H = c.hidden_size, C = c.num_labels();
    if (B == 0) return;
    // GEMMs run on padded row counts (kernels/packed_matmul.h).
    const int64_t Bp = kernels::matmul_padded_rows(B);
    seqs_.assign(batch.seqs.begin(), batch.seqs.end());
    const int64_t num_seqs = int64_t(seqs_.size());
    scratch_per_thread_ = kernels::attention_scratch_size(seqs_.data(), num_seqs);
    shape_ = kernels::AttentionShape{c.num_attention_heads, c.head_dim(), H, H, H, H};
    // One parallel region for the whole encoder when every thread gets enough rows: one
    // barrier per layer (before attention) instead of a fork-join per GEMM and row-wise kernel
    // (~10 per layer: a quarter of a factored model's time on 2 threads went to them).
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
    if (team > 1) {
        if (size_t(team) * kCounterStride > attn_counters_size_) {
            attn_counters_size_ = size_t(team) * kCounterStride;
            attn_counters_ = std::make_unique<std::atomic<int64_t>[]>(attn_counters_size_);
        }
        for (size_t i = 0; i < attn_counters_size_; ++i) attn_counters_[i] = 0;
    }
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
    kernels::MatmulContext& mm = *ctxs_[0];
    float* t = t_.data();
    const float* cls = cls_.data();
    float* pooled = pooled_.data();
    run_linear(mm, packed_->pooler(), pooled, t, cls, B);
    kernels::activation_forward(kernels::Activation::tanh, pooled, pooled, Bp * H);
    run_linear(mm, packed_->classifier(), out_.data(), t, pooled, B);
    std::memcpy(logits, out_.data(), size_t(B * C) * sizeof(float));
}

std::vector<float> Session::logits(const Batch& batch) {
    std::vector<float> out(size_t(batch.size() * model_->config().num_labels()));
    forward(batch, out.data());
    return out;
}

double forward_flops(const PackedBert& packed, const Batch& batch) {
    const BertModel& model = packed.model();
    const BertConfig& c = model.config();
    const BertParams& p = model.params();
    auto linear = [](const LinearParams& l, int64_t rows) {
        const double macs =
            l.factored() ? double(l.rank) * double(l.in + l.out) : double(l.in) * double(l.out);
        return 2.0 * double(rows) * macs;
    };
    const int64_t N = batch.tokens(), B = batch.size();
    double flops = 0;
    for (size_t i = 0; i < p.layers.size(); ++i) {
        const LayerParams& lp = p.layers[i];
        // The last layer: Q/K/V on every row, the rest on the B [CLS] rows only.
        const bool last = i + 1 == p.layers.size();
        for (const LinearParams* l : {&lp.query, &lp.key, &lp.value}) flops += linear(*l, N);
        if (packed.layers()[i].query_key_merged) {  // no B_k GEMM
            flops -= 2.0 * double(N) * double(lp.key.rank * lp.key.out);
        }
        for (const LinearParams* l : {&lp.attn_out, &lp.inter, &lp.out}) {
            flops += linear(*l, last ? B : N);
        }
        if (packed.layers()[i].value_output_merged) {  // no A_o GEMM
            flops -= 2.0 * double(last ? B : N) * double(lp.attn_out.rank * lp.attn_out.in);
        }
        for (const kernels::SeqSpan& s : batch.seqs) {
            const double queries = last ? 1.0 : double(s.len);
            flops += 4.0 * queries * double(s.keys) * double(c.hidden_size);
        }
    }
    if (model.has_pooler()) flops += linear(p.pooler, B);
    if (model.has_classifier()) flops += linear(p.classifier, B);
    return flops;
}

Prediction make_prediction(const BertConfig& c, const float* logits) {
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
