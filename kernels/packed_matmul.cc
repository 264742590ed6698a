// PackedMatmul: oneDNN matmul primitives (bias + post-op fused) over weights reordered once into
// the layout the primitive asked for, one primitive per bucket of rows, shared process-wide.
#include "kernels/packed_matmul.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/convert.h"

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

    Dt input_type() const { return precision == MatmulPrecision::bf16 ? Dt::bf16 : Dt::f32; }

    dnnl::matmul::primitive_desc make_pd(int64_t rows, const memory::desc& weights) const {
        const memory::desc src({rows, k}, input_type(), Tag::ab);
        const memory::desc dst({rows, n}, Dt::f32, Tag::ab);
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
        const memory::desc any({k, n}, s->input_type(), Tag::any);
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
    return p == MatmulPrecision::bf16 ? "bf16" : "f32";
}

bool parse_precision(const std::string& name, MatmulPrecision* out) {
    for (MatmulPrecision p : {MatmulPrecision::f32, MatmulPrecision::bf16}) {
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
};

MatmulContext::MatmulContext() : impl_(std::make_unique<Impl>()) {}
MatmulContext::~MatmulContext() = default;

struct PackedMatmul::Impl {
    std::shared_ptr<ShapePrimitives> shape;
    memory weights;           // packed [k, n] in shape->weights_md
    std::vector<float> bias;  // [n]
    memory bias_mem;
};

PackedMatmul::PackedMatmul(const float* weight, const float* bias, int64_t n, int64_t k,
                           MatmulEpilogue epilogue, MatmulPrecision precision)
    : impl_(std::make_unique<Impl>()), n_(n), k_(k), epilogue_(epilogue), precision_(precision) {
    impl_->shape = shape_primitives(k, n, epilogue, bias != nullptr, precision);
    dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    // W [n, k] row-major is the [k, n] matrix in `ba` order; reorder it into the packed layout
    // (for bf16, oneDNN's reorder rounds each weight to nearest even).
    memory plain(memory::desc({k, n}, Dt::f32, Tag::ba), engine, const_cast<float*>(weight));
    impl_->weights = memory(impl_->shape->weights_md, engine);
    dnnl::reorder(plain, impl_->weights).execute(stream, plain, impl_->weights);
    stream.wait();
    if (bias) {
        impl_->bias.assign(bias, bias + n);
        impl_->bias_mem = memory(impl_->shape->bias_md(), engine, impl_->bias.data());
    }
}

PackedMatmul::~PackedMatmul() = default;

size_t PackedMatmul::packed_bytes() const {
    return impl_->shape->weights_md.get_size();
}

void PackedMatmul::run(MatmulContext& ctx, float* out, const float* inp, int64_t m) const {
    MatmulContext::Impl& c = *ctx.impl_;
    // oneDNN (OpenMP build) runs on omp_get_max_threads(), 1 inside a parallel region.
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
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

}  // namespace fwsvd::kernels
