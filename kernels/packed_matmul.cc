// PackedMatmul: oneDNN matmul primitives (bias + post-op fused) over weights reordered once into
// the layout the primitive asked for, one primitive per bucket of rows, shared process-wide.
#include "kernels/packed_matmul.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "kernels/convert.h"
#include "kernels/quantize.h"
#include "kernels/sgemm_packed.h"

namespace fwsvd::kernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

// Calls with more rows run in chunks of this many.
constexpr int64_t kChunkRows = 1024;

int64_t round_up(int64_t a, int64_t b) {
    return (a + b - 1) / b * b;
}

// The rows a primitive is created for, for 1 <= m <= kChunkRows: exact up to 16 rows (single
// short sequences), then rounded up to 8, 16, 64 rows: at most 7 rows or 1/8 wasted, 62 buckets.
int64_t bucket_rows(int64_t m) {
    if (m <= 16) return m;
    if (m <= 128) return round_up(m, 8);
    if (m <= 512) return round_up(m, 16);
    return round_up(m, 64);
}

dnnl::engine& cpu_engine() {
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

dnnl::primitive_attr make_attr(MatmulEpilogue epilogue) {
    dnnl::post_ops ops;
    switch (epilogue) {
        case MatmulEpilogue::none:
            break;
        case MatmulEpilogue::gelu_erf:
            ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
            break;
        case MatmulEpilogue::residual:
            ops.append_sum(1.0f);
            break;
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    // The caller's MatmulContext provides the scratchpad: threads never share one.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

// One primitive: a shape at a bucket of rows.
struct Entry {
    dnnl::matmul prim;
    memory::desc src_md, dst_md, scratch_md;
    size_t scratch_bytes = 0;
};

// Every primitive of one shape (k, n, epilogue, bias), by rows and threads (a primitive splits
// its work for the thread count it was created under). Entries are created under the mutex and
// never removed (at most 62 + 1 per shape and thread count), so references to them stay valid.
struct ShapePrimitives {
    int64_t k = 0, n = 0;
    MatmulEpilogue epilogue = MatmulEpilogue::none;
    MatmulPrecision precision = MatmulPrecision::f32;
    bool bias = false;
    memory::desc weights_md;  // the packed layout: every entry is created for it
    std::mutex mutex;
    std::map<std::pair<int64_t, int>, std::unique_ptr<Entry>> by_rows;

    memory::desc bias_md() const {
        return bias ? memory::desc({1, n}, Dt::f32, Tag::ab) : memory::desc();
    }

    // int8: u8 codes x s8 codes -> s32 sums (no bias, no post-op: dequantize_i32 adds them).
    Dt input_type() const {
        return precision == MatmulPrecision::bf16   ? Dt::bf16
               : precision == MatmulPrecision::int8 ? Dt::u8
                                                    : Dt::f32;
    }
    Dt weight_type() const { return precision == MatmulPrecision::int8 ? Dt::s8 : input_type(); }
    Dt output_type() const { return precision == MatmulPrecision::int8 ? Dt::s32 : Dt::f32; }

    dnnl::matmul::primitive_desc make_pd(int64_t rows, const memory::desc& weights) const {
        const memory::desc src({rows, k}, input_type(), Tag::ab);
        const memory::desc dst({rows, n}, output_type(), Tag::ab);
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias_md(), dst),
                                            make_attr(epilogue), cpu_engine());
    }

    const Entry& get(int64_t rows, int threads) {
        std::lock_guard<std::mutex> lock(mutex);
        const std::pair<int64_t, int> key{rows, threads};
        auto it = by_rows.find(key);
        if (it != by_rows.end()) return *it->second;
        // The weights are given in the packed layout (not `any`), so every bucket's primitive
        // reads the one packed copy; oneDNN's brgemm matmul keeps that layout for every M.
        // oneDNN plans a primitive's work split for dnnl_get_max_threads() (OpenMP's) at
        // creation and, run inside a parallel region, executes it on the calling thread alone:
        // a primitive for one thread must be planned for one, or that thread does only its share.
        struct OneThread {
            int saved = omp_get_max_threads();
            bool set;
            explicit OneThread(bool on) : set(on && saved != 1) {
                if (set) omp_set_num_threads(1);
            }
            ~OneThread() {
                if (set) omp_set_num_threads(saved);
            }
        } one_thread(threads == 1);
        auto pd = make_pd(rows, weights_md);
        auto e = std::make_unique<Entry>();
        e->prim = dnnl::matmul(pd);
        e->src_md = pd.src_desc();
        e->dst_md = pd.dst_desc();
        e->scratch_md = pd.scratchpad_desc();
        e->scratch_bytes = e->scratch_md.get_size();
        return *by_rows.emplace(key, std::move(e)).first->second;
    }
};

std::shared_ptr<ShapePrimitives> shape_primitives(int64_t k, int64_t n, MatmulEpilogue epilogue,
                                                  bool bias, MatmulPrecision precision) {
    static std::mutex mutex;
    static std::map<std::tuple<int64_t, int64_t, int, bool, int>, std::shared_ptr<ShapePrimitives>>
        registry;
    std::lock_guard<std::mutex> lock(mutex);
    auto& slot = registry[{k, n, int(epilogue), bias, int(precision)}];
    if (!slot) {
        auto s = std::make_shared<ShapePrimitives>();
        s->k = k;
        s->n = n;
        s->epilogue = epilogue;
        s->bias = bias;
        s->precision = precision;
        // The layout oneDNN wants for these weights, asked with a typical row count.
        const memory::desc any({k, n}, s->weight_type(), Tag::any);
        s->weights_md = s->make_pd(128, any).weights_desc();
        slot = std::move(s);
    }
    return slot;
}

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

}  // namespace

const char* precision_name(MatmulPrecision p) {
    switch (p) {
        case MatmulPrecision::bf16:
            return "bf16";
        case MatmulPrecision::int8:
            return "int8";
        case MatmulPrecision::f32:
            break;
    }
    return "f32";
}

bool parse_precision(const std::string& name, MatmulPrecision* out) {
    for (MatmulPrecision p : {MatmulPrecision::f32, MatmulPrecision::bf16, MatmulPrecision::int8}) {
        if (name == precision_name(p)) {
            *out = p;
            return true;
        }
    }
    return false;
}

bool bf16_matmul_supported() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}

bool int8_matmul_supported() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool int8_vnni() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni");
}

namespace {

// One u8 x s8 -> s32 matmul of codes 255 and 127 (k = 64: 32 pairs of products of 32385 each),
// through the same primitive kind PackedMatmul runs, against the exact sum.
bool probe_full_range() {
    const int64_t m = 16, k = 64, n = 64;
    dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    const memory::desc src({m, k}, Dt::u8, Tag::ab), dst({m, n}, Dt::s32, Tag::ab);
    const memory::desc any({k, n}, Dt::s8, Tag::any);
    dnnl::primitive_attr attr;
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), attr, engine);
    std::vector<uint8_t> a(size_t(m * k), 255);
    std::vector<int8_t> w(size_t(k * n), 127);
    std::vector<int32_t> c(size_t(m * n), 0);
    memory src_mem(src, engine, a.data()), dst_mem(dst, engine, c.data());
    memory plain(memory::desc({k, n}, Dt::s8, Tag::ab), engine, w.data());
    memory weights(pd.weights_desc(), engine);
    dnnl::reorder(plain, weights).execute(stream, plain, weights);
    dnnl::matmul(pd).execute(
        stream, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst_mem}});
    stream.wait();
    const int32_t exact = 255 * 127 * int32_t(k);
    return std::all_of(c.begin(), c.end(), [&](int32_t v) { return v == exact; });
}

}  // namespace

bool int8_full_range_exact() {
    static const bool exact = [] {
        try {
            return probe_full_range();
        } catch (const dnnl::error&) {
            return false;  // assume the narrow sums: 7-bit codes are exact everywhere
        }
    }();
    return exact;
}

Int8Scheme default_int8_scheme(bool reduce_activations) {
    Int8Scheme s;
    if (!int8_full_range_exact()) {
        // 2 · 255 · 64 = 32640 and 2 · 127 · 127 = 32258: both <= 32767.
        if (reduce_activations) {
            s.activation_max = 127;
        } else {
            s.weight_max = 64;
        }
    }
    return s;
}

namespace {

std::atomic<int> g_f32_gemm{-1};  // -1 until first use, then an F32Gemm

F32Gemm f32_gemm_from_env() {
    const char* v = std::getenv("FWSVD_F32_GEMM");
    if (!v || !*v) return F32Gemm::automatic;
    for (F32Gemm g : {F32Gemm::automatic, F32Gemm::onednn, F32Gemm::own}) {
        if (std::string(v) == f32_gemm_name(g)) return g;
    }
    throw std::invalid_argument(std::string("FWSVD_F32_GEMM: '") + v +
                                "' is not one of onednn, own, auto");
}

}  // namespace

F32Gemm f32_gemm() {
    int v = g_f32_gemm.load(std::memory_order_relaxed);
    if (v < 0) {
        int expected = -1;
        v = int(f32_gemm_from_env());
        // A concurrent set_f32_gemm() wins over this lazy initialisation.
        if (!g_f32_gemm.compare_exchange_strong(expected, v, std::memory_order_relaxed)) {
            v = expected;
        }
    }
    return F32Gemm(v);
}

void set_f32_gemm(F32Gemm gemm) {
    g_f32_gemm.store(int(gemm), std::memory_order_relaxed);
}

const char* f32_gemm_name(F32Gemm gemm) {
    switch (gemm) {
        case F32Gemm::onednn:
            return "onednn";
        case F32Gemm::own:
            return "own";
        case F32Gemm::automatic:
            break;
    }
    return "auto";
}

bool f32_gemm_own() {
    if (!sgemm_packed_supported()) return false;
    switch (f32_gemm()) {
        case F32Gemm::onednn:
            return false;
        case F32Gemm::own:
            return true;
        case F32Gemm::automatic:
            break;
    }
    __builtin_cpu_init();
    return !__builtin_cpu_supports("avx512f");
}

int64_t matmul_padded_rows(int64_t m) {
    if (m <= 0) return 0;
    const int64_t full = m / kChunkRows * kChunkRows;
    const int64_t rest = m - full;
    return full + (rest > 0 ? bucket_rows(rest) : 0);
}

struct MatmulContext::Impl {
    dnnl::stream stream{cpu_engine()};
    std::unique_ptr<void, FreeDeleter> scratch;
    size_t scratch_bytes = 0;
    std::unique_ptr<void, FreeDeleter> input16;  // bf16 matmuls' rounded input rows
    size_t input16_bytes = 0;
    // int8 matmuls: the input's codes [rows, k], its rows' scales and zero points [rows] and the
    // products [rows, n].
    std::unique_ptr<void, FreeDeleter> codes, row_scale, row_zero, sums;
    size_t codes_bytes = 0, row_scale_bytes = 0, row_zero_bytes = 0, sums_bytes = 0;
    // Memory handles per primitive, re-pointed at each call's buffers (no allocation once made).
    struct Handles {
        memory src, dst, scratch;
    };
    std::unordered_map<const Entry*, Handles> handles;

    Handles& handles_for(const Entry& e) {
        auto it = handles.find(&e);
        if (it != handles.end()) return it->second;
        Handles h{memory(e.src_md, cpu_engine(), DNNL_MEMORY_NONE),
                  memory(e.dst_md, cpu_engine(), DNNL_MEMORY_NONE),
                  memory(e.scratch_md, cpu_engine(), DNNL_MEMORY_NONE)};
        return handles.emplace(&e, std::move(h)).first->second;
    }

    static void* grow(std::unique_ptr<void, FreeDeleter>& buf, size_t& have, size_t bytes) {
        if (bytes > have) {
            const size_t size = round_up(int64_t(bytes), 4096);
            buf.reset(std::aligned_alloc(4096, size));
            if (!buf) throw std::bad_alloc();
            have = size;
        }
        return buf.get();
    }
    void* scratch_of(size_t bytes) { return grow(scratch, scratch_bytes, bytes); }
    uint16_t* input16_of(int64_t elems) {
        return static_cast<uint16_t*>(grow(input16, input16_bytes, size_t(elems) * 2));
    }
    uint8_t* codes_of(int64_t elems) {
        return static_cast<uint8_t*>(grow(codes, codes_bytes, size_t(elems)));
    }
    float* row_scale_of(int64_t rows) {
        return static_cast<float*>(grow(row_scale, row_scale_bytes, size_t(rows) * 4));
    }
    int32_t* row_zero_of(int64_t rows) {
        return static_cast<int32_t*>(grow(row_zero, row_zero_bytes, size_t(rows) * 4));
    }
    int32_t* sums_of(int64_t elems) {
        return static_cast<int32_t*>(grow(sums, sums_bytes, size_t(elems) * 4));
    }
};

MatmulContext::MatmulContext() : impl_(std::make_unique<Impl>()) {}
MatmulContext::~MatmulContext() = default;

struct PackedMatmul::Impl {
    std::shared_ptr<ShapePrimitives> shape;
    memory weights;           // packed [k, n] in shape->weights_md
    std::vector<float> bias;  // [n]
    memory bias_mem;          // f32 and bf16: the bias fused into the primitive
    // int8: per output channel j, the weights' scale and the sum of its codes.
    std::vector<float> col_scale;  // [n]
    std::vector<int32_t> col_sum;  // [n]
    // The own f32 GEMM: W in sgemm_pack_weights' panels [sgemm_packed_floats(n, k)] (no
    // oneDNN primitive then).
    std::unique_ptr<float, FreeDeleter> own_packed;
};

namespace {

// Symmetric per-channel codes of W [n, k]: scale[j] = max_i |W[j, i]| / wmax, codes rounded to
// nearest even, and each channel's code sum.
void quantize_weights(std::vector<int8_t>& codes, std::vector<float>& scale,
                      std::vector<int32_t>& sum, const float* w, int64_t n, int64_t k, int wmax) {
    codes.resize(size_t(n * k));
    scale.assign(size_t(n), 0.0f);
    sum.assign(size_t(n), 0);
    for (int64_t j = 0; j < n; ++j) {
        const float* row = w + j * k;
        float amax = 0.0f;
        for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(row[i]));
        const float inv = amax > 0.0f ? float(wmax) / amax : 0.0f;
        scale[size_t(j)] = amax / float(wmax);
        int32_t s = 0;
        for (int64_t i = 0; i < k; ++i) {
            float q = std::clamp(std::nearbyint(row[i] * inv), -float(wmax), float(wmax));
            if (std::isnan(q)) q = 0.0f;  // a non-finite weight (the model load refuses them)
            codes[size_t(j * k + i)] = int8_t(q);
            s += int32_t(q);
        }
        sum[size_t(j)] = s;
    }
}

}  // namespace

PackedMatmul::PackedMatmul(const float* weight, const float* bias, int64_t n, int64_t k,
                           MatmulEpilogue epilogue, MatmulPrecision precision,
                           const std::optional<Int8Scheme>& scheme)
    : impl_(std::make_unique<Impl>()), n_(n), k_(k), epilogue_(epilogue), precision_(precision) {
    const bool q8 = precision == MatmulPrecision::int8;
    // The probe behind default_int8_scheme() runs for int8 matmuls only.
    if (scheme) {
        int8_ = *scheme;
    } else if (q8) {
        int8_ = default_int8_scheme();
    }
    const Int8Scheme& int8 = int8_;
    if (precision == MatmulPrecision::f32 && f32_gemm_own()) {
        const size_t bytes = size_t(std::max<int64_t>(1, sgemm_packed_floats(n, k))) * 4;
        impl_->own_packed.reset(
            static_cast<float*>(std::aligned_alloc(64, size_t(round_up(int64_t(bytes), 64)))));
        if (!impl_->own_packed) throw std::bad_alloc();
        sgemm_pack_weights(impl_->own_packed.get(), weight, n, k);
        if (bias) impl_->bias.assign(bias, bias + n);
        return;
    }
    dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    impl_->shape = q8 ? shape_primitives(k, n, MatmulEpilogue::none, false, precision)
                      : shape_primitives(k, n, epilogue, bias != nullptr, precision);
    impl_->weights = memory(impl_->shape->weights_md, engine);
    if (q8) {
        // Programming errors (models/packed_model.h passes default_int8_scheme's codes).
        const std::string codes_desc = "activations 0.." + std::to_string(int8.activation_max) +
                                       ", weights +-" + std::to_string(int8.weight_max);
        if (int8.weight_max < 1 || int8.weight_max > 127 || int8.activation_max < 1 ||
            int8.activation_max > 255) {
            throw std::invalid_argument("PackedMatmul: int8 code ranges out of bounds (" +
                                        codes_desc + ")");
        }
        if (!int8_full_range_exact() && 2 * int8.weight_max * int8.activation_max > 32767) {
            throw std::invalid_argument("PackedMatmul: int8 codes (" + codes_desc +
                                        ") would saturate this CPU's 16-bit pair sums (no VNNI)");
        }
        // The int32 sums and the zero points' correction stay below 2 · 255 · 127 · k < 2^31.
        if (k > 32768) {
            throw std::invalid_argument("PackedMatmul: int8 inner dimension " + std::to_string(k) +
                                        " exceeds 32768");
        }
        std::vector<int8_t> codes;
        quantize_weights(codes, impl_->col_scale, impl_->col_sum, weight, n, k, int8.weight_max);
        memory plain(memory::desc({k, n}, Dt::s8, Tag::ba), engine, codes.data());
        dnnl::reorder(plain, impl_->weights).execute(stream, plain, impl_->weights);
        stream.wait();
        if (bias) impl_->bias.assign(bias, bias + n);
        return;
    }
    // W [n, k] row-major is the [k, n] matrix in `ba` order; reorder it into the packed layout
    // (for bf16, oneDNN's reorder rounds each weight to nearest even).
    memory plain(memory::desc({k, n}, Dt::f32, Tag::ba), engine, const_cast<float*>(weight));
    dnnl::reorder(plain, impl_->weights).execute(stream, plain, impl_->weights);
    stream.wait();
    if (bias) {
        impl_->bias.assign(bias, bias + n);
        impl_->bias_mem = memory(impl_->shape->bias_md(), engine, impl_->bias.data());
    }
}

PackedMatmul::~PackedMatmul() = default;

bool PackedMatmul::own_gemm() const {
    return impl_->own_packed != nullptr;
}

size_t PackedMatmul::packed_bytes() const {
    if (own_gemm()) return size_t(sgemm_packed_floats(n_, k_)) * sizeof(float);
    return impl_->shape->weights_md.get_size() +
           impl_->col_scale.size() * (sizeof(float) + sizeof(int32_t));
}

namespace {

// f(begin, end) over the rows [0, rows), split into contiguous pieces across up to `threads`
// OpenMP threads when each gets at least 2^15 elements (rows of row_elems), else on this thread.
template <typename F>
void split_rows(int threads, int64_t rows, int64_t row_elems, F&& f) {
    constexpr int64_t kMinPerThread = int64_t(1) << 15;
    const int64_t team = std::min<int64_t>(
        {int64_t(threads), rows, std::max<int64_t>(1, rows * row_elems / kMinPerThread)});
    if (team > 1) {
#pragma omp parallel num_threads(int(team))
        {
            const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
            f(rows * t / nt, rows * (t + 1) / nt);
        }
    } else {
        f(0, rows);
    }
}

// Rows [b, e) of inp [*, k] to codes, each with its own range (per_row) or with p.
void quantize_rows(uint8_t* codes, float* row_scale, int32_t* row_zero, const float* inp, int64_t b,
                   int64_t e, int64_t k, float qmax, const U8Params* p) {
    for (int64_t r = b; r < e; ++r) {
        const float* x = inp + r * k;
        U8Params row;
        if (p) {
            row = *p;
        } else {
            float lo = INFINITY, hi = -INFINITY;
            min_max(&lo, &hi, x, k);
            row = u8_params(lo, hi, qmax);
        }
        quantize_u8(codes + r * k, x, k, row.inv_scale, row.zero, qmax);
        row_scale[r] = row.scale;
        row_zero[r] = int32_t(row.zero);
    }
}

}  // namespace

void PackedMatmul::run(MatmulContext& ctx, float* out, const float* inp, int64_t m) const {
    if (precision_ == MatmulPrecision::int8) {
        run_int8(ctx, out, inp, m);
        return;
    }
    // oneDNN (OpenMP build) runs on omp_get_max_threads(), 1 inside a parallel region.
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (own_gemm()) {
        sgemm_packed(out, inp, impl_->own_packed.get(),
                     impl_->bias.empty() ? nullptr : impl_->bias.data(), m, n_, k_, epilogue_,
                     threads);
        return;
    }
    MatmulContext::Impl& c = *ctx.impl_;
    uint16_t* inp16 = nullptr;
    if (precision_ == MatmulPrecision::bf16) {
        const int64_t elems = matmul_padded_rows(m) * k_;
        inp16 = c.input16_of(elems);
        // Rounding is memory-bound; split it only when there is enough of it.
        constexpr int64_t kMinPerThread = int64_t(1) << 15;
        const int64_t team =
            std::min<int64_t>(threads, std::max<int64_t>(1, elems / kMinPerThread));
        if (team > 1) {
#pragma omp parallel num_threads(int(team))
            {
                const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
                // 64-element pieces: whole cache lines of the output per thread.
                const int64_t begin = elems * t / nt / 64 * 64;
                const int64_t end = t + 1 == nt ? elems : elems * (t + 1) / nt / 64 * 64;
                f32_to_bf16(inp16 + begin, inp + begin, end - begin);
            }
        } else {
            f32_to_bf16(inp16, inp, elems);
        }
    }
    for (int64_t r0 = 0; r0 < m; r0 += kChunkRows) {
        const int64_t rows = m - r0 < kChunkRows ? m - r0 : kChunkRows;
        const Entry& e = impl_->shape->get(bucket_rows(rows), threads);
        MatmulContext::Impl::Handles& h = c.handles_for(e);
        if (inp16) {
            h.src.set_data_handle(inp16 + r0 * k_);
        } else {
            h.src.set_data_handle(const_cast<float*>(inp + r0 * k_));
        }
        h.dst.set_data_handle(out + r0 * n_);
        h.scratch.set_data_handle(c.scratch_of(e.scratch_bytes));
        // The C API with a stack array: dnnl.hpp's execute builds a std::vector per call.
        dnnl_exec_arg_t args[5] = {
            {DNNL_ARG_SRC, h.src.get()},
            {DNNL_ARG_WEIGHTS, impl_->weights.get()},
            {DNNL_ARG_DST, h.dst.get()},
            {DNNL_ARG_SCRATCHPAD, h.scratch.get()},
            {DNNL_ARG_BIAS, impl_->bias_mem ? impl_->bias_mem.get() : nullptr}};
        const int nargs = impl_->bias_mem ? 5 : 4;
        dnnl::error::wrap_c_api(dnnl_primitive_execute(e.prim.get(), c.stream.get(), nargs, args),
                                "PackedMatmul::run: could not execute the matmul");
    }
    dnnl::error::wrap_c_api(dnnl_stream_wait(c.stream.get()), "PackedMatmul::run: stream wait");
}

void PackedMatmul::run_int8(MatmulContext& ctx, float* out, const float* inp, int64_t m) const {
    MatmulContext::Impl& c = *ctx.impl_;
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    const int64_t mp = matmul_padded_rows(m);
    uint8_t* codes = c.codes_of(mp * k_);
    float* row_scale = c.row_scale_of(mp);
    int32_t* row_zero = c.row_zero_of(mp);
    int32_t* sums = c.sums_of(mp * n_);
    const float qmax = float(int8_.activation_max);
    // The input's codes; the padding rows' are zeros (their products are not read).
    if (int8_.per_tensor) {
        float lo = INFINITY, hi = -INFINITY;
        min_max(&lo, &hi, inp, m * k_);
        const U8Params p = u8_params(lo, hi, qmax);
        split_rows(threads, m, k_, [&](int64_t b, int64_t e) {
            quantize_rows(codes, row_scale, row_zero, inp, b, e, k_, qmax, &p);
        });
    } else {
        split_rows(threads, m, k_, [&](int64_t b, int64_t e) {
            quantize_rows(codes, row_scale, row_zero, inp, b, e, k_, qmax, nullptr);
        });
    }
    std::memset(codes + m * k_, 0, size_t((mp - m) * k_));
    for (int64_t r0 = 0; r0 < m; r0 += kChunkRows) {
        const int64_t rows = m - r0 < kChunkRows ? m - r0 : kChunkRows;
        const Entry& e = impl_->shape->get(bucket_rows(rows), threads);
        MatmulContext::Impl::Handles& h = c.handles_for(e);
        h.src.set_data_handle(codes + r0 * k_);
        h.dst.set_data_handle(sums + r0 * n_);
        h.scratch.set_data_handle(c.scratch_of(e.scratch_bytes));
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, h.src.get()},
                                   {DNNL_ARG_WEIGHTS, impl_->weights.get()},
                                   {DNNL_ARG_DST, h.dst.get()},
                                   {DNNL_ARG_SCRATCHPAD, h.scratch.get()}};
        dnnl::error::wrap_c_api(dnnl_primitive_execute(e.prim.get(), c.stream.get(), 4, args),
                                "PackedMatmul::run: could not execute the int8 matmul");
    }
    dnnl::error::wrap_c_api(dnnl_stream_wait(c.stream.get()), "PackedMatmul::run: stream wait");
    // Scales, zero points, bias and residual, then the GELU on the same rows while they are in
    // cache (fwsvd's inference GELU: oneDNN's erf post-op is not available on int32 sums).
    const float* bias = impl_->bias.empty() ? nullptr : impl_->bias.data();
    const int accumulate = epilogue_ == MatmulEpilogue::residual ? 1 : 0;
    split_rows(threads, m, n_, [&](int64_t b, int64_t e) {
        constexpr int64_t kBlock = 8;
        for (int64_t r = b; r < e; r += kBlock) {
            const int64_t cnt = std::min(kBlock, e - r);
            dequantize_i32(out + r * n_, sums + r * n_, row_scale + r, row_zero + r,
                           impl_->col_scale.data(), impl_->col_sum.data(), bias, cnt, n_,
                           accumulate);
            if (epilogue_ == MatmulEpilogue::gelu_erf) {
                gelu_inference_forward(out + r * n_, out + r * n_, cnt * n_);
            }
        }
    });
}

}  // namespace fwsvd::kernels
