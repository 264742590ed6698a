#include "models/session.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "kernels/activation.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "models/linear_ops.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {

namespace {

std::shared_ptr<const PackedBert> packed_of(std::shared_ptr<const BertModel> model) {
    FWSVD_CHECK(model != nullptr, "Session: null model");
    return PackedBert::of(std::move(model));
}

// Row-wise work is split across threads only in pieces of at least this many floats: a fork-join
// costs microseconds on an idle machine and a scheduler time slice when the other core is busy,
// while a LayerNorm of 128 x 768 floats takes ~15 us on one core.
constexpr int64_t kMinParallelFloats = int64_t(1) << 17;

int64_t row_grain(int64_t row_floats) {
    return std::max<int64_t>(1, kMinParallelFloats / std::max<int64_t>(row_floats, 1));
}

// x[rows, c] = LayerNorm(x) in place.
void layernorm_inplace(float* x, const float* gamma, const float* beta, int64_t rows, int64_t c,
                       float eps) {
    parallel_for(rows, row_grain(c), [&](int64_t b, int64_t e) {
        kernels::layernorm_forward(x + b * c, nullptr, nullptr, x + b * c, gamma, beta, e - b, c,
                                   eps);
    });
}

// y = epilogue(x Wᵀ + b) for n rows of a dense or factored layer; t holds the factored middle.
void run_linear(kernels::MatmulContext& ctx, const PackedLinear& l, float* out, float* t,
                const float* inp, int64_t n) {
    if (l.factored()) {
        l.a->run(ctx, t, inp, n);
        l.w->run(ctx, out, t, n);
    } else {
        l.w->run(ctx, out, inp, n);
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

Session::Session(std::shared_ptr<const BertModel> model) : Session(packed_of(std::move(model))) {}

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

void Session::forward(const Batch& batch, float* logits) {
    const BertConfig& c = model_->config();
    const BertParams& p = model_->params();
    FWSVD_CHECK(model_->has_classifier(), "Session: the model has no classifier");
    FWSVD_CHECK(model_->has_pooler(), "Session: the model has no pooler");
    const int64_t N = batch.tokens(), B = batch.size(), H = c.hidden_size, I = c.intermediate_size,
                  C = c.num_labels();
    if (B == 0) return;
    const float eps = float(c.layer_norm_eps);
    // GEMMs run on padded row counts (kernels/packed_matmul.h); the row-wise kernels normalise
    // the padding rows too, so that whatever they hold stays bounded from call to call.
    const int64_t Np = kernels::matmul_padded_rows(N), Bp = kernels::matmul_padded_rows(B);
    seqs_.assign(batch.seqs.begin(), batch.seqs.end());
    const int64_t num_seqs = int64_t(seqs_.size());
    const int64_t scratch_per_thread = kernels::attention_scratch_size(seqs_.data(), num_seqs);
    kernels::AttentionShape shape{c.num_attention_heads, c.head_dim(), H, H, H, H};
    reserve(Np, Bp, attention_threads(seqs_, shape) * scratch_per_thread);

    float* x = x_.data();
    float* ctx = ctx_buf_.data();
    float* inter = inter_.data();
    float* t = t_.data();
    parallel_for(N, row_grain(H), [&](int64_t b, int64_t e) {
        kernels::embedding_forward(x + b * H, batch.ids.data() + b, batch.pos_ids.data() + b,
                                   batch.type_ids.data() + b, p.word_emb, p.pos_emb, p.type_emb,
                                   e - b, H);
    });
    layernorm_inplace(x, p.emb_ln_gamma, p.emb_ln_beta, Np, H, eps);
    for (size_t l = 0; l < packed_->layers().size(); ++l) {
        const PackedLayer& pl = packed_->layers()[l];
        const LayerParams& lp = p.layers[l];
        // Q, K, V: interleaved rows of one GEMM, or three [Np, H] blocks.
        float* q = qkv_.data();
        float* k = q + Np * H;
        float* v = q + 2 * Np * H;
        shape.ld_q = shape.ld_k = shape.ld_v = H;
        switch (pl.qkv_form) {
            case QkvForm::fused_dense:
                pl.qkv->run(ctx_, q, x, N);
                k = q + H;
                v = q + 2 * H;
                shape.ld_q = shape.ld_k = shape.ld_v = 3 * H;
                break;
            case QkvForm::fused_factors: {
                // t [Np, rq + rk + rv] = x [Aq; Ak; Av]ᵀ, split into contiguous [Np, r] blocks
                // (oneDNN's packed kernels take dense sources only), then each B.
                const int64_t r3 = pl.ranks[0] + pl.ranks[1] + pl.ranks[2];
                pl.qkv->run(ctx_, t, x, N);
                float* parts[3] = {t_split_.data(), t_split_.data() + Np * pl.ranks[0],
                                   t_split_.data() + Np * (pl.ranks[0] + pl.ranks[1])};
                const int64_t cols[3] = {0, pl.ranks[0], pl.ranks[0] + pl.ranks[1]};
                parallel_for(Np, row_grain(r3), [&](int64_t b, int64_t e) {
                    for (int64_t i = b; i < e; ++i) {
                        for (int j = 0; j < 3; ++j) {
                            std::memcpy(parts[j] + i * pl.ranks[size_t(j)], t + i * r3 + cols[j],
                                        size_t(pl.ranks[size_t(j)]) * sizeof(float));
                        }
                    }
                });
                float* dst[3] = {q, k, v};
                for (int j = 0; j < 3; ++j) pl.b[size_t(j)]->run(ctx_, dst[j], parts[j], N);
                break;
            }
            case QkvForm::separate:
                run_linear(ctx_, pl.qkv_separate[0], q, t, x, N);
                run_linear(ctx_, pl.qkv_separate[1], k, t, x, N);
                run_linear(ctx_, pl.qkv_separate[2], v, t, x, N);
                break;
        }
        attention_all(ctx, nullptr, q, k, v, seqs_, shape, scratch_.data(), scratch_per_thread);
        // x = LayerNorm(ctx Wᵀ + b + x): bias and residual in the GEMM, then LayerNorm in place.
        run_linear(ctx_, pl.attn_out, x, t, ctx, N);
        layernorm_inplace(x, lp.attn_ln_gamma, lp.attn_ln_beta, Np, H, eps);
        run_linear(ctx_, pl.inter, inter, t, x, N);
        if (!packed_->gelu_fused()) {
            parallel_for(Np, row_grain(I), [&](int64_t b, int64_t e) {
                kernels::activation_forward(packed_->activation(), inter + b * I, inter + b * I,
                                            (e - b) * I);
            });
        }
        run_linear(ctx_, pl.out, x, t, inter, N);
        layernorm_inplace(x, lp.out_ln_gamma, lp.out_ln_beta, Np, H, eps);
    }
    float* cls = cls_.data();
    for (int64_t b = 0; b < B; ++b) {
        std::memcpy(cls + b * H, x + seqs_[size_t(b)].offset * H, size_t(H) * sizeof(float));
    }
    float* pooled = pooled_.data();
    run_linear(ctx_, packed_->pooler(), pooled, t, cls, B);
    kernels::activation_forward(kernels::Activation::tanh, pooled, pooled, Bp * H);
    run_linear(ctx_, packed_->classifier(), out_.data(), t, pooled, B);
    std::memcpy(logits, out_.data(), size_t(B * C) * sizeof(float));
}

std::vector<float> Session::logits(const Batch& batch) {
    std::vector<float> out(size_t(batch.size() * model_->config().num_labels()));
    forward(batch, out.data());
    return out;
}

double forward_flops(const BertModel& model, const Batch& batch) {
    const BertConfig& c = model.config();
    const BertParams& p = model.params();
    auto linear = [](const LinearParams& l, int64_t rows) {
        const double macs =
            l.factored() ? double(l.rank) * double(l.in + l.out) : double(l.in) * double(l.out);
        return 2.0 * double(rows) * macs;
    };
    const int64_t N = batch.tokens(), B = batch.size();
    double flops = 0;
    for (const LayerParams& lp : p.layers) {
        for (const LinearParams* l :
             {&lp.query, &lp.key, &lp.value, &lp.attn_out, &lp.inter, &lp.out}) {
            flops += linear(*l, N);
        }
        for (const kernels::SeqSpan& s : batch.seqs) {
            flops += 4.0 * double(s.len) * double(s.keys) * double(c.hidden_size);
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
