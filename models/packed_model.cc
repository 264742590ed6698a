#include "models/packed_model.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
// GCC 12 reports false -Wmaybe-uninitialized inside libstdc++'s <regex> under
// -fsanitize=address (GCC bug 105562); the headers' code is exempted, ours is not.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <set>
#include <string>
#include <vector>

#include "models/family.h"
#include "models/forward.h"
#include "runtime/error.h"

namespace fwsvd {

namespace {

using kernels::MatmulEpilogue;
using kernels::MatmulPrecision;
using kernels::PackedMatmul;

PackedLinear pack_linear(const LinearParams& p, MatmulEpilogue epilogue, const char* what,
                         MatmulPrecision pr) {
    PackedLinear out;
    out.in = p.in;
    out.out = p.out;
    out.rank = p.rank;
    if (p.factored()) {
        FWSVD_CHECK(p.a && p.b, what, ": factored layer without its weight_a / weight_b");
        out.a =
            std::make_unique<PackedMatmul>(p.a, nullptr, p.rank, p.in, MatmulEpilogue::none, pr);
        out.w = std::make_unique<PackedMatmul>(p.b, p.bias, p.out, p.rank, epilogue, pr);
    } else {
        FWSVD_CHECK(p.weight, what, ": linear layer without its weight");
        out.w = std::make_unique<PackedMatmul>(p.weight, p.bias, p.out, p.in, epilogue, pr);
    }
    return out;
}

// The precision of each encoder GEMM (PackedOptions::int8: --int8-skip, the factored middle)
// and the GEMMs' counts by precision.
struct Packer {
    MatmulPrecision model = MatmulPrecision::f32;
    kernels::Int8Scheme scheme;
    bool middle_f32 = false;
    std::optional<std::regex> skip;
    std::set<std::string> skipped;  // the prefixes skip matched

    // A GEMM computed from the layers `prefixes`; `second`: a second factor, or a matrix built
    // from one (the per-head merges).
    MatmulPrecision precision(const std::vector<std::string>& prefixes, bool second) {
        if (model != MatmulPrecision::int8) return model;
        bool f32_layer = second && middle_f32;
        for (const std::string& prefix : prefixes) {
            if (skip && std::regex_search(prefix, *skip)) {
                skipped.insert(prefix);
                f32_layer = true;
            }
        }
        return f32_layer ? MatmulPrecision::f32 : MatmulPrecision::int8;
    }
    std::unique_ptr<PackedMatmul> make(const float* w, const float* b, int64_t n, int64_t k,
                                       MatmulEpilogue e, MatmulPrecision pr) const {
        return std::make_unique<PackedMatmul>(w, b, n, k, e, pr, scheme);
    }
};

// An encoder linear layer named `prefix`: dense, or its two factors (the second under
// `middle_f32`).
PackedLinear pack_encoder_linear(const LinearParams& p, MatmulEpilogue epilogue, const char* what,
                                 const std::string& prefix, Packer& pk) {
    PackedLinear out;
    out.in = p.in;
    out.out = p.out;
    out.rank = p.rank;
    if (p.factored()) {
        FWSVD_CHECK(p.a && p.b, what, ": factored layer without its weight_a / weight_b");
        out.a = pk.make(p.a, nullptr, p.rank, p.in, MatmulEpilogue::none,
                        pk.precision({prefix}, false));
        out.w = pk.make(p.b, p.bias, p.out, p.rank, epilogue, pk.precision({prefix}, true));
    } else {
        FWSVD_CHECK(p.weight, what, ": linear layer without its weight");
        out.w = pk.make(p.weight, p.bias, p.out, p.in, epilogue, pk.precision({prefix}, false));
    }
    return out;
}

// Every PackedMatmul of a packed layer.
std::vector<const PackedMatmul*> matmuls_of(const PackedLayer& l) {
    std::vector<const PackedMatmul*> out = {l.qkv.get(), l.b[0].get(), l.b[1].get(), l.b[2].get()};
    for (const PackedLinear* p : {&l.qkv_separate[0], &l.qkv_separate[1], &l.qkv_separate[2],
                                  &l.attn_out, &l.inter, &l.out}) {
        out.push_back(p->a.get());
        out.push_back(p->w.get());
    }
    out.erase(std::remove(out.begin(), out.end(), nullptr), out.end());
    return out;
}

size_t bytes_of(const PackedLinear& l) {
    return (l.a ? l.a->packed_bytes() : 0) + (l.w ? l.w->packed_bytes() : 0);
}

// Rows of each source stacked into one [Σ rows, cols] matrix (biases: one [Σ n] vector; a null
// bias counts as zeros).
std::vector<float> stack_rows(const std::array<const float*, 3>& parts,
                              const std::array<int64_t, 3>& rows, int64_t cols) {
    std::vector<float> out;
    for (size_t i = 0; i < 3; ++i) {
        if (parts[i]) {
            out.insert(out.end(), parts[i], parts[i] + rows[i] * cols);
        } else {
            out.resize(out.size() + size_t(rows[i] * cols), 0.0f);
        }
    }
    return out;
}

// The Hugging Face prefixes of layer group g's linear layers, by role.
struct LayerNames {
    std::string query, key, value, attn_out, inter, out;
};

void pack_qkv(PackedLayer& layer, const LayerParams& lp, const LayerNames& names, Packer& pk) {
    const std::array<const LinearParams*, 3> ps = {&lp.query, &lp.key, &lp.value};
    const std::vector<std::string> qkv_names = {names.query, names.key, names.value};
    const int64_t h = lp.query.in;
    const bool all_dense = !ps[0]->factored() && !ps[1]->factored() && !ps[2]->factored();
    const bool all_factored = ps[0]->factored() && ps[1]->factored() && ps[2]->factored();
    if (all_dense) {
        // [Wq; Wk; Wv] [3H, H] and [bq; bk; bv]: one GEMM, q/k/v interleaved per row.
        layer.qkv_form = QkvForm::fused_dense;
        const std::vector<float> w =
            stack_rows({ps[0]->weight, ps[1]->weight, ps[2]->weight}, {h, h, h}, h);
        const std::vector<float> b =
            stack_rows({ps[0]->bias, ps[1]->bias, ps[2]->bias}, {h, h, h}, 1);
        layer.qkv = pk.make(w.data(), b.data(), 3 * h, h, MatmulEpilogue::none,
                            pk.precision(qkv_names, false));
    } else if (all_factored) {
        // [Aq; Ak; Av] [rq + rk + rv, H]: one GEMM for the three first factors.
        layer.qkv_form = QkvForm::fused_factors;
        layer.ranks = {ps[0]->rank, ps[1]->rank, ps[2]->rank};
        const std::vector<float> a = stack_rows({ps[0]->a, ps[1]->a, ps[2]->a}, layer.ranks, h);
        const int64_t r3 = layer.ranks[0] + layer.ranks[1] + layer.ranks[2];
        layer.qkv =
            pk.make(a.data(), nullptr, r3, h, MatmulEpilogue::none, pk.precision(qkv_names, false));
        for (size_t i = 0; i < 3; ++i) {
            layer.b[i] = pk.make(ps[i]->b, ps[i]->bias, ps[i]->out, ps[i]->rank,
                                 MatmulEpilogue::none, pk.precision({qkv_names[i]}, true));
        }
    } else {
        layer.qkv_form = QkvForm::separate;
        const char* what[3] = {"query", "key", "value"};
        for (size_t i = 0; i < 3; ++i) {
            layer.qkv_separate[i] =
                pack_encoder_linear(*ps[i], MatmulEpilogue::none, what[i], qkv_names[i], pk);
        }
    }
}

// PackedLayer::value_output_merged: b[2] <- per head A_o,h B_v,h, attn_out <- B_o with the
// folded bias. Products in double.
void merge_value_output(PackedLayer& layer, const LayerParams& lp, int64_t heads, int64_t d,
                        const LayerNames& names, Packer& pk) {
    const LinearParams& v = lp.value;
    const LinearParams& o = lp.attn_out;
    const int64_t H = v.out, rv = v.rank, ro = o.rank;
    FWSVD_CHECK(heads * d == H && o.in == H && o.out == H && ro <= d && v.b && o.a && o.b,
                "merge_value_output: unexpected shapes");
    std::vector<float> w(size_t(H * rv), 0.0f);  // [H, rv]
    std::vector<double> acc(static_cast<size_t>(rv));
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t j = 0; j < ro; ++j) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t c = 0; c < d; ++c) {
                const double a = o.a[j * H + h * d + c];
                const float* bv = v.b + (h * d + c) * rv;
                for (int64_t k = 0; k < rv; ++k) acc[size_t(k)] += a * double(bv[k]);
            }
            float* row = w.data() + (h * d + j) * rv;
            for (int64_t k = 0; k < rv; ++k) row[k] = float(acc[size_t(k)]);
        }
    }
    // b_o + B_o (A_o b_v).
    std::vector<double> ab(size_t(ro), 0.0);
    if (v.bias) {
        for (int64_t j = 0; j < ro; ++j) {
            for (int64_t m = 0; m < H; ++m) ab[size_t(j)] += double(o.a[j * H + m]) * v.bias[m];
        }
    }
    std::vector<float> bias(static_cast<size_t>(H));
    for (int64_t i = 0; i < H; ++i) {
        double s = o.bias ? double(o.bias[i]) : 0.0;
        for (int64_t j = 0; j < ro; ++j) s += double(o.b[i * ro + j]) * ab[size_t(j)];
        bias[size_t(i)] = float(s);
    }
    layer.b[2] = pk.make(w.data(), nullptr, H, rv, MatmulEpilogue::none,
                         pk.precision({names.value, names.attn_out}, true));
    layer.attn_out = PackedLinear{};
    layer.attn_out.in = H;
    layer.attn_out.out = H;
    layer.attn_out.rank = ro;
    layer.attn_out.w = pk.make(o.b, bias.data(), H, ro, MatmulEpilogue::residual,
                               pk.precision({names.attn_out}, true));
    layer.value_output_merged = true;
}

// PackedLayer::query_key_merged: b[0] <- per head B_k,hᵀ B_q,h with bias B_k,hᵀ b_q,h, b[1]
// dropped. Products in double.
void merge_query_key(PackedLayer& layer, const LayerParams& lp, int64_t heads, int64_t d,
                     const LayerNames& names, Packer& pk) {
    const LinearParams& q = lp.query;
    const LinearParams& k = lp.key;
    const int64_t H = q.out, rq = q.rank, rk = k.rank;
    FWSVD_CHECK(heads * d == H && k.out == H && rk <= d && q.b && k.b,
                "merge_query_key: unexpected shapes");
    std::vector<float> w(static_cast<size_t>(H * rq), 0.0f);  // [H, rq]
    std::vector<float> bias(static_cast<size_t>(H), 0.0f);
    std::vector<double> acc(static_cast<size_t>(rq));
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t j = 0; j < rk; ++j) {
            std::fill(acc.begin(), acc.end(), 0.0);
            double b = 0;
            for (int64_t c = 0; c < d; ++c) {
                const double bk = k.b[(h * d + c) * rk + j];
                const float* bq = q.b + (h * d + c) * rq;
                for (int64_t m = 0; m < rq; ++m) acc[size_t(m)] += bk * double(bq[m]);
                if (q.bias) b += bk * double(q.bias[h * d + c]);
            }
            float* row = w.data() + (h * d + j) * rq;
            for (int64_t m = 0; m < rq; ++m) row[m] = float(acc[size_t(m)]);
            bias[size_t(h * d + j)] = float(b);
        }
    }
    layer.b[0] = pk.make(w.data(), bias.data(), H, rq, MatmulEpilogue::none,
                         pk.precision({names.query, names.key}, true));
    layer.b[1].reset();
    layer.query_key_merged = true;
}

}  // namespace

std::shared_ptr<const PackedModel> PackedModel::build(std::shared_ptr<const Model> model,
                                                      const PackedOptions& options) {
    FWSVD_CHECK(model != nullptr, "PackedModel: null model");
    MatmulPrecision pr = options.precision;
    FWSVD_CHECK(pr != MatmulPrecision::bf16 || kernels::bf16_matmul_supported(),
                "bf16 inference needs a CPU with AVX512_BF16 (this one would emulate it, slower "
                "than f32): use f32");
    FWSVD_CHECK(pr == MatmulPrecision::int8 || options.int8.skip.empty(),
                "--int8-skip applies to int8 inference only (--precision int8)");
    std::shared_ptr<PackedModel> pb(new PackedModel());
    if (pr == MatmulPrecision::int8 && !kernels::int8_matmul_supported()) {
        pr = MatmulPrecision::f32;
        pb->precision_note_ =
            "int8 inference needs AVX2 (oneDNN's int8 GEMM kernels); this CPU lacks it, so the "
            "model runs in f32";
    }
    pb->precision_ = pr;
    Packer pk;
    pk.model = pr;
    pk.middle_f32 = options.int8.middle_f32;
    if (pr == MatmulPrecision::int8) {
        pk.scheme = kernels::default_int8_scheme(options.int8.reduce_activations);
        pk.scheme.per_tensor = options.int8.per_tensor;
        if (!options.int8.skip.empty()) {
            try {
                pk.skip.emplace(options.int8.skip, std::regex::ECMAScript);
            } catch (const std::regex_error& e) {
                throw Error(str_cat("--int8-skip: '", options.int8.skip,
                                    "' is not a regular expression: ", e.what()),
                            ErrorKind::usage);
            }
        }
    }
    pb->int8_scheme_ = pk.scheme;
    const ModelConfig& c = model->config();
    const ModelParams& p = model->params();
    pb->act_ = activation_of(c.hidden_act);
    pb->head_act_ = c.model_family().head.activation;
    // One packed layer per layer group: the groups' parameters are those of their first layer.
    std::vector<const LayerParams*> groups;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const size_t g = size_t(c.group_of_layer(l));
        if (g == groups.size()) groups.push_back(&p.layers[size_t(l)]);
        pb->layer_of_.push_back(g);
    }
    for (const LayerParams* lp : groups) {
        size_t floats = 0;
        for (const LinearParams* l : lp->linears()) floats += size_t(l->weight_count());
        pb->max_layer_bytes_ = std::max(pb->max_layer_bytes_, floats * sizeof(float));
    }
    pb->one_region_ = pb->max_layer_bytes_ <= options.region_max_layer_bytes;
    pb->gelu_fused_ =
        options.fuse_gelu.value_or(!pb->one_region_) && pb->act_ == kernels::Activation::gelu;
    const MatmulEpilogue inter_epilogue =
        pb->gelu_fused_ ? MatmulEpilogue::gelu_erf : MatmulEpilogue::none;
    size_t bytes = 0;
    int64_t middle = 0;
    if (p.word_emb_rank > 0) {
        // Once per token, f32 as the embeddings: B [E, r] as a linear layer r -> E.
        LinearParams b;
        b.in = p.word_emb_rank;
        b.out = c.embedding_dim();
        b.weight = p.word_emb_b;
        pb->word_emb_b_ =
            pack_linear(b, MatmulEpilogue::none, "word embeddings", MatmulPrecision::f32);
        bytes += bytes_of(pb->word_emb_b_);
        middle = std::max(middle, p.word_emb_rank);
    }
    if (p.emb_proj.present()) {
        // Once per token, like the head: f32 always.
        pb->emb_proj_ = pack_linear(p.emb_proj, MatmulEpilogue::none, "embedding projection",
                                    MatmulPrecision::f32);
        bytes += bytes_of(pb->emb_proj_);
        middle = std::max(middle, pb->emb_proj_.rank);
        model->release_weight_pages(p.emb_proj);
    }
    const Family& family = c.model_family();
    for (size_t g = 0; g < groups.size(); ++g) {
        const LayerParams& lp = *groups[g];
        const auto name = [&](Role role) { return family.tensor_name(role, int64_t(g)); };
        const LayerNames names{name(Role::query),    name(Role::key),   name(Role::value),
                               name(Role::attn_out), name(Role::inter), name(Role::out)};
        PackedLayer layer;
        pack_qkv(layer, lp, names, pk);
        if (options.merge_query_key && layer.qkv_form == QkvForm::fused_factors &&
            lp.key.rank <= c.head_dim()) {
            merge_query_key(layer, lp, c.num_attention_heads, c.head_dim(), names, pk);
        }
        if (options.merge_value_output && layer.qkv_form == QkvForm::fused_factors &&
            lp.attn_out.factored() && lp.attn_out.rank <= c.head_dim()) {
            merge_value_output(layer, lp, c.num_attention_heads, c.head_dim(), names, pk);
        } else {
            layer.attn_out = pack_encoder_linear(lp.attn_out, MatmulEpilogue::residual,
                                                 "attention output", names.attn_out, pk);
        }
        layer.inter =
            pack_encoder_linear(lp.inter, inter_epilogue, "intermediate", names.inter, pk);
        layer.out = pack_encoder_linear(lp.out, MatmulEpilogue::residual, "output", names.out, pk);
        for (const PackedMatmul* mm : matmuls_of(layer)) {
            ++(mm->precision() == MatmulPrecision::int8 ? pb->int8_gemms_ : pb->f32_gemms_);
        }
        if (layer.qkv) bytes += layer.qkv->packed_bytes();
        for (const auto& b : layer.b) bytes += b ? b->packed_bytes() : 0;
        for (const auto& l : layer.qkv_separate) {
            bytes += bytes_of(l);
            middle = std::max(middle, l.rank);
        }
        if (layer.qkv_form == QkvForm::fused_factors) {
            middle = std::max(middle, layer.ranks[0] + layer.ranks[1] + layer.ranks[2]);
        }
        for (const PackedLinear* l : {&layer.attn_out, &layer.inter, &layer.out}) {
            bytes += bytes_of(*l);
            middle = std::max(middle, l->rank);
        }
        pb->groups_.push_back(std::move(layer));
        // The packed copies are what the forward reads from now on.
        for (const LinearParams* l : lp.linears()) model->release_weight_pages(*l);
    }
    if (model->has_head_dense()) {
        // The head runs on the [CLS] rows only: f32 always.
        pb->head_dense_ =
            pack_linear(p.head_dense, MatmulEpilogue::none, "head dense", MatmulPrecision::f32);
        bytes += bytes_of(pb->head_dense_);
        middle = std::max(middle, pb->head_dense_.rank);
    }
    if (model->has_classifier()) {
        pb->classifier_ =
            pack_linear(p.classifier, MatmulEpilogue::none, "classifier", MatmulPrecision::f32);
        bytes += bytes_of(pb->classifier_);
        middle = std::max(middle, pb->classifier_.rank);
    }
    if (pk.skip && pk.skipped.empty()) {
        throw Error(str_cat("--int8-skip: '", options.int8.skip,
                            "' matches no encoder linear layer (their names look like ",
                            family.tensor_name(Role::inter, 0), ")"),
                    ErrorKind::usage);
    }
    pb->max_middle_ = middle;
    pb->packed_bytes_ = bytes;
    pb->model_ = std::move(model);
    return pb;
}

std::shared_ptr<const PackedModel> PackedModel::of(std::shared_ptr<const Model> model,
                                                   const PackedOptions& options) {
    FWSVD_CHECK(model != nullptr, "PackedModel: null model");
    // Keyed by the model's address (and the precision): a live PackedModel holds its model, so the
    // address cannot be reused by another model while the entry can still be locked.
    static std::mutex mutex;
    static std::map<std::pair<const Model*, std::string>, std::weak_ptr<const PackedModel>>
        registry;
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = registry.begin(); it != registry.end();) {
        it = it->second.expired() ? registry.erase(it) : std::next(it);
    }
    // One packed form per precision and, for int8, per choice of its options.
    std::string key = kernels::precision_name(options.precision);
    if (options.precision == MatmulPrecision::int8) {
        const PackedOptions::Int8& o = options.int8;
        key += str_cat("|", o.per_tensor, o.reduce_activations, o.middle_f32, "|", o.skip);
    }
    std::weak_ptr<const PackedModel>& slot = registry[{model.get(), key}];
    if (auto existing = slot.lock()) return existing;
    // Built under the lock: a second Session of the same model waits for this one's packing
    // instead of packing again.
    std::shared_ptr<const PackedModel> built = build(std::move(model), options);
    slot = built;
    return built;
}

}  // namespace fwsvd

namespace fwsvd {

namespace {

double linear_flops(const LinearParams& l, int64_t rows) {
    return 2.0 * double(rows) * double(l.weight_count());
}

}  // namespace

double PackedLayer::gemm_flops(const LayerParams& lp, int64_t rows_qkv, int64_t rows_rest) const {
    double flops = 0;
    for (const LinearParams* l : {&lp.query, &lp.key, &lp.value})
        flops += linear_flops(*l, rows_qkv);
    if (query_key_merged) {  // no B_k GEMM
        flops -= 2.0 * double(rows_qkv) * double(lp.key.rank * lp.key.out);
    }
    for (const LinearParams* l : {&lp.attn_out, &lp.inter, &lp.out}) {
        flops += linear_flops(*l, rows_rest);
    }
    if (value_output_merged) {  // no A_o GEMM
        flops -= 2.0 * double(rows_rest) * double(lp.attn_out.rank * lp.attn_out.in);
    }
    return flops;
}

double forward_flops(const PackedModel& packed, const Batch& batch) {
    const Model& model = packed.model();
    const ModelConfig& c = model.config();
    const ModelParams& p = model.params();
    const int64_t N = batch.tokens(), B = batch.size(), L = packed.num_layers();
    double flops = 0;
    if (p.word_emb_rank > 0) {
        flops += 2.0 * double(N) * double(p.word_emb_rank) * double(c.embedding_dim());
    }
    if (p.emb_proj.present()) flops += linear_flops(p.emb_proj, N);
    for (int64_t i = 0; i < L; ++i) {
        // The last layer: Q/K/V on every row, the rest on the B [CLS] rows only.
        const bool last = i + 1 == L;
        flops += packed.layer(i).gemm_flops(p.layers[size_t(i)], N, last ? B : N);
        for (const kernels::SeqSpan& s : batch.seqs) {
            const double queries = last ? 1.0 : double(s.len);
            flops += 4.0 * queries * double(s.keys) * double(c.hidden_size);
        }
    }
    if (model.has_head_dense()) flops += linear_flops(p.head_dense, B);
    if (model.has_classifier()) flops += linear_flops(p.classifier, B);
    return flops;
}

}  // namespace fwsvd
