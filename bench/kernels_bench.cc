// Kernel benchmarks: packed GEMMs dense vs low-rank at BERT-base shapes, every kernel of the
// registry (kernels/kernel_list.inc) per ISA, and attention per ISA over sequence lengths (ref =
// the dnnl_sgemm-per-item path).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/kernel_table.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/packed_matmul.h"
#include "kernels/quantize.h"
#include "kernels/sgemm_packed.h"
#include "kernels/softmax.h"

namespace fwsvd::bench {
namespace {

namespace k = fwsvd::kernels;

std::vector<float> normal(size_t n, float stddev, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<float> d(0.0f, stddev);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
}

// Selects an ISA for one benchmark and restores it afterwards; an ISA this CPU lacks marks the
// benchmark skipped (ok() is false) rather than timing another one under its name.
class IsaScope {
  public:
    IsaScope(int64_t isa, benchmark::State& st) : saved_(k::active_isa()) {
        ok_ = isa <= int64_t(k::detected_isa());
        if (ok_) {
            k::set_isa(k::Isa(isa));
        } else {
            st.SkipWithError((std::string("this CPU has no ") + k::isa_name(k::Isa(isa))).c_str());
        }
    }
    ~IsaScope() { k::set_isa(saved_); }
    IsaScope(const IsaScope&) = delete;
    IsaScope& operator=(const IsaScope&) = delete;
    bool ok() const { return ok_; }

  private:
    k::Isa saved_;
    bool ok_ = false;
};

std::string isa_label(int64_t isa) {
    return k::isa_name(k::Isa(isa));
}

// out[m, n] = x[m, k] Wᵀ + b through PackedMatmul: dense (rank 0), or A [rank, k] then B
// [n, rank] (the factored layer's two GEMMs).
void BM_LinearPacked(benchmark::State& st) {
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2), rank = st.range(3);
    const int threads = int(st.range(4));
    set_threads(threads);
    const auto x = normal(size_t(k::matmul_padded_rows(m) * kk), 1.0f, 1);
    const auto bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(k::matmul_padded_rows(m) * n));
    std::vector<float> t(size_t(k::matmul_padded_rows(m) * std::max<int64_t>(rank, 1)));
    std::unique_ptr<k::PackedMatmul> a, w;
    if (rank == 0) {
        const auto wd = normal(size_t(n * kk), 0.02f, 3);
        w = std::make_unique<k::PackedMatmul>(wd.data(), bias.data(), n, kk,
                                              k::MatmulEpilogue::none);
    } else {
        const auto ad = normal(size_t(rank * kk), 0.02f, 4),
                   bd = normal(size_t(n * rank), 0.02f, 5);
        a = std::make_unique<k::PackedMatmul>(ad.data(), nullptr, rank, kk,
                                              k::MatmulEpilogue::none);
        w = std::make_unique<k::PackedMatmul>(bd.data(), bias.data(), n, rank,
                                              k::MatmulEpilogue::none);
    }
    k::MatmulContext ctx;
    auto run = [&] {
        if (a) {
            a->run(ctx, t.data(), x.data(), m);
            w->run(ctx, out.data(), t.data(), m);
        } else {
            w->run(ctx, out.data(), x.data(), m);
        }
    };
    run();
    const double flops = 2.0 * double(m) * (rank ? double(rank) * double(kk + n) : double(kk * n));
    FlopTimer timer(st, flops, threads);
    for (auto _ : st) {
        timer.start();
        run();
        timer.stop();
    }
}
BENCHMARK(BM_LinearPacked)
    ->ArgNames({"m", "k", "n", "rank", "threads"})
    ->ArgsProduct({{128}, {768}, {768, 3072}, {0, 32, 64, 128, 256}, {1, 2}})
    ->ArgsProduct({{128}, {3072}, {768}, {0, 32, 64, 128, 256}, {1, 2}})
    ->UseManualTime();

// One packed GEMM out[m, n] = x[m, k] Wᵀ + b on one thread: the shapes a thread runs on its
// 64-row block of a seq-128 batch on 2 threads in a rank-64 BERT-base (fused Q/K/V first
// factors k 768 -> 192, second factors 64 -> 768 / 3072, FFN first factors 768 / 3072 -> 64).
void BM_PackedGemm(benchmark::State& st) {
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2);
    set_threads(1);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto x = normal(size_t(rows * kk), 1.0f, 1), w = normal(size_t(n * kk), 0.02f, 3),
               bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(rows * n));
    k::MatmulContext ctx;
    // copies > 1: cycle through that many packed copies of W so that each call reads its
    // weights from beyond L2 (as the forward does: a layer's weights exceed L2): 8 copies stay
    // within this machine's L3 (at most 6.3 MB), 64 do not (up to 50 MB).
    std::vector<std::unique_ptr<k::PackedMatmul>> packed;
    for (int64_t c = 0; c < st.range(3); ++c)
        packed.push_back(std::make_unique<k::PackedMatmul>(w.data(), bias.data(), n, kk,
                                                           k::MatmulEpilogue::none));
    for (auto& p : packed) p->run(ctx, out.data(), x.data(), m);
    FlopTimer timer(st, 2.0 * double(m * kk * n), 1);
    size_t i = 0;
    for (auto _ : st) {
        const auto& p = *packed[i++ % packed.size()];
        timer.start();
        p.run(ctx, out.data(), x.data(), m);
        timer.stop();
    }
}
BENCHMARK(BM_PackedGemm)
    ->ArgNames({"m", "k", "n", "copies"})
    ->ArgsProduct({{64, 128}, {768}, {192, 64}, {1, 8, 64}})
    ->ArgsProduct({{64, 128}, {64}, {768, 3072}, {1, 8, 64}})
    ->ArgsProduct({{64, 128}, {3072}, {64}, {1, 8, 64}})
    ->UseManualTime();

// BERT-base's GEMMs at seq 128 (M = 128) in f32, bf16 and int8 (MatmulPrecision 0, 1, 2; the
// bf16 run includes rounding the input rows, the int8 run quantising them, the int32 products'
// scaling and the bias): dense Q/K/V 768 -> 2304, attention output 768 -> 768, FFN 768 -> 3072
// and 3072 -> 768; the rank-64 factors 768 -> 192, 64 -> 768 / 3072 and 3072 -> 64. int8 with
// per-tensor activations: precision 3.
void BM_PackedGemmPrecision(benchmark::State& st) {
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2);
    const int64_t precision = st.range(3);
    const bool bf16 = precision == 1, int8 = precision >= 2;
    const int threads = int(st.range(4));
    if (skip_without_bf16(st, bf16)) return;
    set_threads(threads);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto x = normal(size_t(rows * kk), 1.0f, 1), w = normal(size_t(n * kk), 0.02f, 3),
               bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(rows * n));
    k::MatmulContext ctx;
    k::Int8Scheme scheme = k::default_int8_scheme();
    scheme.per_tensor = precision == 3;
    const k::PackedMatmul p(w.data(), bias.data(), n, kk, k::MatmulEpilogue::none,
                            int8   ? k::MatmulPrecision::int8
                            : bf16 ? k::MatmulPrecision::bf16
                                   : k::MatmulPrecision::f32,
                            scheme);
    p.run(ctx, out.data(), x.data(), m);
    st.SetLabel(precision == 3 ? "int8 per-tensor" : k::precision_name(p.precision()));
    FlopTimer timer(st, 2.0 * double(m * kk * n), threads, bf16, int8);
    for (auto _ : st) {
        timer.start();
        p.run(ctx, out.data(), x.data(), m);
        timer.stop();
    }
}
BENCHMARK(BM_PackedGemmPrecision)
    ->ArgNames({"m", "k", "n", "precision", "threads"})
    ->ArgsProduct({{128}, {768}, {2304, 768, 3072}, {0, 1, 2, 3}, {1, 2}})
    ->ArgsProduct({{128}, {3072}, {768}, {0, 1, 2, 3}, {1, 2}})
    ->ArgsProduct({{128}, {768}, {192}, {0, 1, 2, 3}, {1, 2}})
    ->ArgsProduct({{128}, {64}, {768, 3072}, {0, 1, 2, 3}, {1, 2}})
    ->ArgsProduct({{128}, {3072}, {64}, {0, 1, 2, 3}, {1, 2}})
    ->UseManualTime();

// fwsvd's own f32 GEMM (kernels/sgemm_packed.h) against oneDNN's matmul, both through
// PackedMatmul (gemm 0: oneDNN, 1: own) with the epilogue the forward fuses (0 none, 1 GELU,
// 2 residual), on BERT-base's shapes at seq 128: dense Q/K/V 768 -> 2304, attention output
// 768 -> 768 (residual), FFN 768 -> 3072 (GELU) and 3072 -> 768 (residual); the rank-64 factors
// 768 -> 64, 64 -> 768, 3072 -> 64 and 64 -> 3072. "peak%" is the share of the measured FMA
// peak. Run with --benchmark_enable_random_interleaving=true to interleave the two.
void BM_F32Gemm(benchmark::State& st) {
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2);
    const auto epilogue = k::MatmulEpilogue(st.range(3));
    const int threads = int(st.range(4));
    const bool own = st.range(5) != 0;
    if (own && !k::sgemm_packed_supported()) {
        st.SkipWithError("this CPU lacks AVX2+FMA");
        return;
    }
    set_threads(threads);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto x = normal(size_t(rows * kk), 1.0f, 1), w = normal(size_t(n * kk), 0.02f, 3),
               bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(rows * n), 0.5f);
    k::MatmulContext ctx;
    const k::F32Gemm saved = k::f32_gemm();
    k::set_f32_gemm(own ? k::F32Gemm::own : k::F32Gemm::onednn);
    const k::PackedMatmul p(w.data(), bias.data(), n, kk, epilogue);
    k::set_f32_gemm(saved);
    const char* ep = epilogue == k::MatmulEpilogue::gelu_erf   ? " gelu"
                     : epilogue == k::MatmulEpilogue::residual ? " residual"
                                                               : "";
    st.SetLabel(std::string(p.own_gemm() ? "own" : "onednn") + ep);
    auto reset = [&] {  // the residual epilogue adds into out: keep its values bounded
        if (epilogue == k::MatmulEpilogue::residual) std::fill(out.begin(), out.end(), 0.5f);
    };
    p.run(ctx, out.data(), x.data(), m);
    FlopTimer timer(st, 2.0 * double(m * kk * n), threads);
    for (auto _ : st) {
        reset();
        timer.start();
        p.run(ctx, out.data(), x.data(), m);
        timer.stop();
    }
}
BENCHMARK(BM_F32Gemm)
    ->ArgNames({"m", "k", "n", "epilogue", "threads", "own"})
    ->ArgsProduct({{128}, {768}, {2304}, {0}, {1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {768}, {768}, {2}, {1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {768}, {3072}, {1}, {1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {3072}, {768}, {2}, {1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {768, 3072}, {64}, {0}, {1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {64}, {768, 3072}, {0}, {1, 2}, {0, 1}})
    ->UseManualTime();

// The int8 matmul's parts on one thread, M = 128: quantising the input rows (min_max +
// quantize_u8 per row), oneDNN's u8 x s8 -> s32 GEMM alone, and scaling the sums
// (dequantize_i32), for the shapes of BM_PackedGemmPrecision: where the int8 time goes.
void BM_Int8GemmParts(benchmark::State& st) {
    const int64_t m = 128, kk = st.range(0), n = st.range(1), part = st.range(2);
    set_threads(1);
    const auto x = normal(size_t(m * kk), 1.0f, 1);
    std::vector<uint8_t> codes(size_t(m * kk), 7);
    std::vector<int8_t> w(size_t(kk * n), 3);
    std::vector<int32_t> sums(size_t(m * n), 11), col_sum(size_t(n), 5), row_zero(size_t(m), 128);
    std::vector<float> out(size_t(m * n)), row_scale(size_t(m), 1e-2f), col_scale(size_t(n), 1e-3f);
    using dnnl::memory;
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const memory::desc src({m, kk}, memory::data_type::u8, memory::format_tag::ab);
    const memory::desc dst({m, n}, memory::data_type::s32, memory::format_tag::ab);
    const memory::desc any({kk, n}, memory::data_type::s8, memory::format_tag::any);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), engine);
    memory src_mem(src, engine, codes.data()), dst_mem(dst, engine, sums.data());
    memory plain(memory::desc({kk, n}, memory::data_type::s8, memory::format_tag::ab), engine,
                 w.data());
    memory weights(pd.weights_desc(), engine);
    dnnl::reorder(plain, weights).execute(stream, plain, weights);
    const dnnl::matmul gemm(pd);
    const auto body = [&] {
        if (part == 0) {
            for (int64_t r = 0; r < m; ++r) {
                float lo = 0, hi = 0;
                k::min_max(&lo, &hi, x.data() + r * kk, kk);
                const k::U8Params q = k::u8_params(lo, hi, 255.0f);
                k::quantize_u8(codes.data() + r * kk, x.data() + r * kk, kk, q.inv_scale, q.zero,
                               255.0f);
            }
        } else if (part == 1) {
            gemm.execute(
                stream,
                {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst_mem}});
            stream.wait();
        } else {
            k::dequantize_i32(out.data(), sums.data(), row_scale.data(), row_zero.data(),
                              col_scale.data(), col_sum.data(), col_scale.data(), m, n, 0);
        }
    };
    body();
    const char* names[] = {"quantise input", "u8s8 GEMM", "dequantise output"};
    st.SetLabel(std::string(names[part]) + " (" + pd.impl_info_str() + ")");
    FlopTimer timer(st, 2.0 * double(m * kk * n), 1, false, true);
    for (auto _ : st) {
        timer.start();
        body();
        timer.stop();
    }
}
BENCHMARK(BM_Int8GemmParts)
    ->ArgNames({"k", "n", "part"})
    ->ArgsProduct({{768}, {2304, 768, 3072, 192}, {0, 1, 2}})
    ->ArgsProduct({{3072}, {768, 64}, {0, 1, 2}})
    ->ArgsProduct({{64}, {768, 3072}, {0, 1, 2}})
    ->UseManualTime();

// A factored layer's two packed GEMMs, x [m, in] -> [m, r] -> [m, out], over every rank in steps
// of 4: where the time steps up as r grows is the rank multiple greedy and latency-budget rank
// allocation round to (compress --rank-multiple; docs/COMPRESSION.md).
void BM_FactoredRank(benchmark::State& st) {
    const int64_t m = st.range(0), in = st.range(1), out = st.range(2), r = st.range(3);
    const int threads = int(st.range(4));
    set_threads(threads);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto x = normal(size_t(rows * in), 1.0f, 1), a = normal(size_t(r * in), 0.02f, 3),
               b = normal(size_t(out * r), 0.02f, 4), bias = normal(size_t(out), 0.02f, 2);
    std::vector<float> t(size_t(rows * r)), y(size_t(rows * out));
    k::MatmulContext ctx;
    const k::PackedMatmul pa(a.data(), nullptr, r, in, k::MatmulEpilogue::none);
    const k::PackedMatmul pb(b.data(), bias.data(), out, r, k::MatmulEpilogue::none);
    pa.run(ctx, t.data(), x.data(), m);
    pb.run(ctx, y.data(), t.data(), m);
    FlopTimer timer(st, 2.0 * double(m * r * (in + out)), threads);
    for (auto _ : st) {
        timer.start();
        pa.run(ctx, t.data(), x.data(), m);
        pb.run(ctx, y.data(), t.data(), m);
        timer.stop();
    }
}
BENCHMARK(BM_FactoredRank)
    ->ArgNames({"m", "in", "out", "rank", "threads"})
    ->ArgsProduct({{128}, {256}, {1024}, benchmark::CreateDenseRange(4, 204, 4), {1}})
    ->ArgsProduct({{128}, {256}, {256}, benchmark::CreateDenseRange(4, 128, 4), {1}})
    ->UseManualTime();

// The same dense layer through dnnl_sgemm on the unpacked [out, in] weights (kernels::linear).
void BM_LinearSgemm(benchmark::State& st) {
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2);
    const int threads = int(st.range(3));
    set_threads(threads);
    const auto x = normal(size_t(m * kk), 1.0f, 1), w = normal(size_t(n * kk), 0.02f, 3),
               bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(m * n));
    FlopTimer timer(st, 2.0 * double(m * kk * n), threads);
    for (auto _ : st) {
        timer.start();
        k::linear_forward(out.data(), x.data(), w.data(), bias.data(), m, kk, n);
        timer.stop();
    }
}
BENCHMARK(BM_LinearSgemm)
    ->ArgNames({"m", "k", "n", "threads"})
    ->ArgsProduct({{128}, {768}, {768, 3072}, {1, 2}})
    ->ArgsProduct({{128}, {3072}, {768}, {1, 2}})
    ->UseManualTime();

// Varying M (rows = tokens of a batch): PackedMatmul (one packed brgemm primitive per bucket of
// rows) against a single oneDNN matmul with a run-time M (DNNL_RUNTIME_DIM_VAL; oneDNN 2.6 serves
// it with its plain-weight gemm:jit, no packing), both with the bias fused. policy 0: packed,
// 1: run-time M.
void BM_MatmulRows(benchmark::State& st) {
    using dnnl::memory;
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2);
    const bool runtime_m = st.range(3) != 0;
    const int threads = int(st.range(4));
    st.SetLabel(runtime_m ? "runtime-M gemm" : "packed, row buckets");
    set_threads(threads);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto x = normal(size_t(rows * kk), 1.0f, 1), w = normal(size_t(n * kk), 0.02f, 3),
               bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(rows * n));
    k::MatmulContext ctx;
    const k::PackedMatmul packed(w.data(), bias.data(), n, kk, k::MatmulEpilogue::none);
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const memory::desc src_rt({DNNL_RUNTIME_DIM_VAL, kk}, memory::data_type::f32,
                              memory::format_tag::ab);
    const memory::desc dst_rt({DNNL_RUNTIME_DIM_VAL, n}, memory::data_type::f32,
                              memory::format_tag::ab);
    const memory::desc w_md({kk, n}, memory::data_type::f32, memory::format_tag::ba);
    const memory::desc b_md({1, n}, memory::data_type::f32, memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_rt, w_md, b_md, dst_rt), engine);
    const dnnl::matmul prim(pd);
    memory src({{m, kk}, memory::data_type::f32, memory::format_tag::ab}, engine,
               const_cast<float*>(x.data()));
    memory dst({{m, n}, memory::data_type::f32, memory::format_tag::ab}, engine, out.data());
    memory wm(w_md, engine, const_cast<float*>(w.data())),
        bm(b_md, engine, const_cast<float*>(bias.data()));
    auto run = [&] {
        if (runtime_m) {
            prim.execute(stream, {{DNNL_ARG_SRC, src},
                                  {DNNL_ARG_WEIGHTS, wm},
                                  {DNNL_ARG_BIAS, bm},
                                  {DNNL_ARG_DST, dst}});
            stream.wait();
        } else {
            packed.run(ctx, out.data(), x.data(), m);
        }
    };
    run();
    FlopTimer timer(st, 2.0 * double(m * kk * n), threads);
    for (auto _ : st) {
        timer.start();
        run();
        timer.stop();
    }
}
BENCHMARK(BM_MatmulRows)
    ->ArgNames({"m", "k", "n", "runtime_m", "threads"})
    ->ArgsProduct({{37, 128, 300, 800}, {768}, {768}, {0, 1}, {1, 2}})
    ->UseManualTime();

// ---- the kernel registry ------------------------------------------------------------------------
// Every kernel of kernels/kernel_list.inc in every ISA this CPU runs, BM_Kernel/<kernel>/<isa>, on
// BERT-base shapes at seq 128, one thread. A kernel added to the list without a bench_<name>
// below does not compile. items/s counts the elements of the kernel's main operand.

// One kernel call on data allocated once, and the elements one call processes.
struct KernelCall {
    std::function<void()> call;
    int64_t items;
};

// Keeps `data` alive in the call, which runs body(data).
template <typename Data, typename Body>
KernelCall make_call(Data data, int64_t items, Body body) {
    auto d = std::make_shared<Data>(std::move(data));
    return {[d, body] { body(*d); }, items};
}

// The buffers of one call, v[0], v[1], ...
using Vecs = std::vector<std::vector<float>>;

KernelCall bench_add_forward(const k::KernelTable& t) {  // the residual add, [128, 768]
    const int64_t n = 128 * 768;
    return make_call(
        Vecs{normal(n, 1.0f, 1), normal(n, 1.0f, 2), std::vector<float>(n)}, n,
        [f = t.add_forward, n](Vecs& v) { f(v[2].data(), v[0].data(), v[1].data(), n); });
}

KernelCall bench_accumulate(const k::KernelTable& t) {  // a gradient sum, [128, 768]
    const int64_t n = 128 * 768;
    return make_call(Vecs{normal(n, 1.0f, 1), normal(n, 1.0f, 2)}, n,
                     [f = t.accumulate, n](Vecs& v) { f(v[1].data(), v[0].data(), n); });
}

KernelCall bench_square_accumulate(const k::KernelTable& t) {  // a [768, 768] Fisher square
    const int64_t n = 768 * 768;
    return make_call(Vecs{normal(n, 1e-3f, 1), std::vector<float>(n)}, n,
                     [f = t.square_accumulate, n](Vecs& v) { f(v[1].data(), v[0].data(), n); });
}

KernelCall bench_sum_rows_accumulate(const k::KernelTable& t) {  // the FFN bias gradient
    const int64_t rows = 128, cols = 3072;
    return make_call(Vecs{normal(rows * cols, 1.0f, 1), std::vector<float>(cols)}, rows * cols,
                     [f = t.sum_rows_accumulate, rows, cols](Vecs& v) {
                         f(v[1].data(), v[0].data(), rows, cols);
                     });
}

KernelCall bench_sum_head_blocks(const k::KernelTable& t) {  // merged V·O at rank 32, 12 heads
    const int64_t rows = 128, heads = 12, width = 32, block = 64, h = heads * block;
    return make_call(Vecs{normal(rows * h, 1.0f, 1), std::vector<float>(rows * width)},
                     rows * heads * width, [f = t.sum_head_blocks](Vecs& v) {
                         f(v[1].data(), v[0].data(), rows, heads, width, block, h, width);
                     });
}

KernelCall bench_activation_forward(
    const k::KernelTable& t) {  // exact GELU of the FFN, [128, 3072]
    const int64_t n = 128 * 3072;
    return make_call(Vecs{normal(n, 1.0f, 1), std::vector<float>(n)}, n,
                     [f = t.activation_forward, n](Vecs& v) {
                         f(k::Activation::gelu, v[1].data(), v[0].data(), n);
                     });
}

KernelCall bench_activation_backward(const k::KernelTable& t) {
    const int64_t n = 128 * 3072;
    return make_call(Vecs{normal(n, 1.0f, 1), normal(n, 1.0f, 2), std::vector<float>(n)}, n,
                     [f = t.activation_backward, n](Vecs& v) {
                         f(k::Activation::gelu, v[2].data(), v[1].data(), v[0].data(), n);
                     });
}

// The inference GELU (rational erf) on the same data, in place as the Session runs it.
KernelCall bench_gelu_inference_forward(const k::KernelTable& t) {
    const int64_t n = 128 * 3072;
    return make_call(Vecs{normal(n, 1.0f, 1)}, n, [f = t.gelu_inference_forward, n](Vecs& v) {
        f(v[0].data(), v[0].data(), n);
    });
}

KernelCall bench_layernorm_forward(const k::KernelTable& t) {  // [128, 768], statistics saved
    const int64_t rows = 128, cols = 768;
    return make_call(
        Vecs{normal(rows * cols, 1.0f, 1), normal(cols, 1.0f, 2), normal(cols, 1.0f, 3),
             std::vector<float>(rows * cols), std::vector<float>(2 * rows)},
        rows * cols, [f = t.layernorm_forward](Vecs& v) {
            f(v[3].data(), v[4].data(), v[4].data() + rows, v[0].data(), v[1].data(), v[2].data(),
              rows, cols, 1e-12f);
        });
}

KernelCall bench_layernorm_backward(const k::KernelTable& t) {
    const int64_t rows = 128, cols = 768;
    Vecs data{normal(rows * cols, 1.0f, 1), normal(cols, 1.0f, 2), normal(rows * cols, 1.0f, 3),
              std::vector<float>(rows * cols + 2 * cols), std::vector<float>(2 * rows)};
    k::layernorm_forward_ref<float>(data[3].data(), data[4].data(), data[4].data() + rows,
                                    data[0].data(), data[1].data(), data[1].data(), rows, cols,
                                    1e-12f);
    return make_call(std::move(data), rows * cols, [f = t.layernorm_backward](Vecs& v) {
        float* dinp = v[3].data();
        f(dinp, dinp + rows * cols, dinp + rows * cols + cols, v[2].data(), v[0].data(),
          v[1].data(), v[4].data(), v[4].data() + rows, rows, cols);
    });
}

KernelCall bench_softmax_forward(const k::KernelTable& t) {  // 12 heads' [128, 128] scores
    const int64_t rows = 12 * 128, cols = 128;
    return make_call(Vecs{normal(rows * cols, 3.0f, 1), std::vector<float>(rows * cols)},
                     rows * cols,
                     [f = t.softmax_forward](Vecs& v) { f(v[1].data(), v[0].data(), rows, cols); });
}

KernelCall bench_softmax_backward(const k::KernelTable& t) {
    const int64_t rows = 12 * 128, cols = 128;
    Vecs data{normal(rows * cols, 3.0f, 1), normal(rows * cols, 1.0f, 2),
              std::vector<float>(rows * cols)};
    k::softmax_forward_ref<float>(data[0].data(), data[0].data(), rows, cols);
    return make_call(std::move(data), rows * cols, [f = t.softmax_backward](Vecs& v) {
        f(v[2].data(), v[1].data(), v[0].data(), rows, cols);
    });
}

// One sequence of 128 tokens, 12 heads of 64, Q/K/V interleaved as the fused QKV GEMM writes
// them; items/s counts (query, key) pairs of all heads.
struct AttentionData {
    static constexpr int64_t kSeq = 128, kHeads = 12, kDim = 64, kH = kHeads * kDim;
    k::SeqSpan span{0, kSeq, kSeq, 0};
    k::AttentionShape shape{kHeads, kDim, 3 * kH, 3 * kH, 3 * kH, kH};
    std::vector<float> qkv = normal(size_t(kSeq * 3 * kH), 1.0f, 1);
    std::vector<float> out = std::vector<float>(size_t(kSeq * kH));
    std::vector<float> dqkv = std::vector<float>(size_t(kSeq * 3 * kH));
    std::vector<float> probs = std::vector<float>(size_t(kHeads * kSeq * kSeq));
    std::vector<float> scratch = std::vector<float>(size_t(k::attention_scratch_size(&span, 1)));
    const float* q() const { return qkv.data(); }
    const float* kp() const { return qkv.data() + kH; }
    const float* v() const { return qkv.data() + 2 * kH; }
    static constexpr int64_t kPairs = kHeads * kSeq * kSeq;
};

KernelCall bench_attention_forward(const k::KernelTable& t) {  // training: probabilities saved
    return make_call(AttentionData{}, AttentionData::kPairs,
                     [f = t.attention_forward](AttentionData& a) {
                         f(a.out.data(), a.probs.data(), a.q(), a.kp(), a.v(), &a.span, a.shape, 0,
                           AttentionData::kHeads, a.scratch.data());
                     });
}

KernelCall bench_attention_inference_item(const k::KernelTable& t) {  // every head, one by one
    return make_call(AttentionData{}, AttentionData::kPairs,
                     [f = t.attention_inference_item](AttentionData& a) {
                         for (int64_t i = 0; i < AttentionData::kHeads; ++i) {
                             f(a.out.data(), a.q(), a.kp(), a.v(), &a.span, a.shape, i,
                               i + 1 < AttentionData::kHeads ? i + 1 : -1, a.scratch.data());
                         }
                     });
}

KernelCall bench_attention_backward(const k::KernelTable& t) {
    AttentionData data;
    k::attention_forward_ref<float>(data.out.data(), data.probs.data(), data.q(), data.kp(),
                                    data.v(), &data.span, data.shape, 0, AttentionData::kHeads,
                                    data.scratch.data());
    return make_call(
        std::move(data), AttentionData::kPairs, [f = t.attention_backward](AttentionData& a) {
            float* d = a.dqkv.data();
            f(d, d + AttentionData::kH, d + 2 * AttentionData::kH, a.out.data(), a.q(), a.kp(),
              a.v(), a.probs.data(), &a.span, a.shape, 0, AttentionData::kHeads, a.scratch.data());
        });
}

KernelCall bench_f32_to_bf16(const k::KernelTable& t) {  // a [128, 3072] activation
    const int64_t n = 128 * 3072;
    auto in = std::make_shared<std::vector<float>>(normal(n, 1.0f, 1));
    auto out = std::make_shared<std::vector<uint16_t>>(size_t(n));
    return {[f = t.f32_to_bf16, in, out, n] { f(out->data(), in->data(), n); }, n};
}

KernelCall bench_min_max(const k::KernelTable& t) {  // a [128, 768] GEMM input
    const int64_t n = 128 * 768;
    auto in = std::make_shared<std::vector<float>>(normal(n, 1.0f, 1));
    return {[f = t.min_max, in, n] {
                float lo = 0, hi = 0;
                f(&lo, &hi, in->data(), n);
                benchmark::DoNotOptimize(lo + hi);
            },
            n};
}

KernelCall bench_quantize_u8(const k::KernelTable& t) {  // a [128, 768] GEMM input
    const int64_t n = 128 * 768;
    auto in = std::make_shared<std::vector<float>>(normal(n, 1.0f, 1));
    auto out = std::make_shared<std::vector<uint8_t>>(size_t(n));
    return {
        [f = t.quantize_u8, in, out, n] { f(out->data(), in->data(), n, 30.0f, 128.0f, 255.0f); },
        n};
}

KernelCall bench_dequantize_i32(const k::KernelTable& t) {  // a [128, 3072] GEMM output + bias
    const int64_t rows = 128, n = 3072;
    auto acc = std::make_shared<std::vector<int32_t>>(size_t(rows * n), 12345);
    auto col_sum = std::make_shared<std::vector<int32_t>>(size_t(n), -77);
    auto row_zero = std::make_shared<std::vector<int32_t>>(size_t(rows), 128);
    auto row_scale = std::make_shared<std::vector<float>>(normal(size_t(rows), 1.0f, 2));
    auto col_scale = std::make_shared<std::vector<float>>(normal(size_t(n), 1.0f, 3));
    auto bias = std::make_shared<std::vector<float>>(normal(size_t(n), 1.0f, 4));
    auto out = std::make_shared<std::vector<float>>(size_t(rows * n));
    return {
        [f = t.dequantize_i32, acc, col_sum, row_zero, row_scale, col_scale, bias, out, rows, n] {
            f(out->data(), acc->data(), row_scale->data(), row_zero->data(), col_scale->data(),
              col_sum->data(), bias->data(), rows, n, 0);
        },
        rows * n};
}

struct KernelBench {
    const char* name;
    KernelCall (*make)(const k::KernelTable& t);
};

const KernelBench kKernelBenches[] = {
#define FWSVD_KERNEL(name, ref, params, args) {#name, &bench_##name},
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};

// With `isa` active (nested dispatch, e.g. the softmax of attention's gemm path, runs it too).
void run_kernel(benchmark::State& st, const KernelBench& bench, k::Isa isa) {
    IsaScope scope(int64_t(isa), st);
    if (!scope.ok()) return;
    set_threads(1);
    st.SetLabel(k::isa_name(isa));
    const KernelCall c = bench.make(k::kernel_table(isa));
    c.call();
    for (auto _ : st) {
        c.call();
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(st.iterations() * c.items);
}

// Registered at start-up, for the ISAs this CPU runs.
const bool kKernelBenchesRegistered = [] {
    for (const KernelBench& bench : kKernelBenches) {
        for (int isa = 0; isa <= int(k::detected_isa()); ++isa) {
            const std::string name =
                std::string("BM_Kernel/") + bench.name + "/" + k::isa_name(k::Isa(isa));
            benchmark::RegisterBenchmark(name.c_str(), run_kernel, bench, k::Isa(isa));
        }
    }
    return true;
}();

// One sequence of `seq` tokens, 12 heads of 64, Q/K/V interleaved as the fused QKV GEMM writes
// them; one thread; inference (no probabilities saved); ref = the gemm path (dnnl_sgemm per
// item + softmax). queries < seq: the first `queries` rows against all seq keys, as one of the
// threads of a parallel forward runs its own rows (Session::attention_rows).
void BM_Attention(benchmark::State& st) {
    const int64_t seq = st.range(0), heads = 12, d = 64, h = heads * d;
    const int64_t queries = st.range(2) > 0 ? st.range(2) : seq;
    IsaScope isa(st.range(1), st);
    if (!isa.ok()) return;
    st.SetLabel(st.range(1) == 0 ? "gemm" : isa_label(st.range(1)));
    set_threads(1);
    const auto qkv = normal(size_t(seq * 3 * h), 1.0f, 1);
    std::vector<float> out(size_t(seq * h));
    const k::SeqSpan span{0, queries, seq, 0};
    const k::AttentionShape shape{heads, d, 3 * h, 3 * h, 3 * h, h};
    std::vector<float> scratch(size_t(k::attention_scratch_size(&span, 1)));
    FlopTimer timer(st, 4.0 * double(queries * seq * d * heads), 1);
    for (auto _ : st) {
        timer.start();
        k::attention_forward(out.data(), nullptr, qkv.data(), qkv.data() + h, qkv.data() + 2 * h,
                             &span, shape, 0, heads, scratch.data());
        timer.stop();
    }
}
BENCHMARK(BM_Attention)
    ->ArgNames({"seq", "isa", "queries"})
    ->ArgsProduct({{32, 128, 512}, {0, 1, 2}, {0}})
    ->ArgsProduct({{128}, {1, 2}, {64}})
    ->UseManualTime();

void BM_FmaPeak(benchmark::State& st) {
    const int threads = int(st.range(0));
    for (auto _ : st) benchmark::DoNotOptimize(peak_gflops(threads));
    st.counters["GFLOP/s"] = peak_gflops(threads);
}
BENCHMARK(BM_FmaPeak)->ArgName("threads")->Arg(1)->Arg(2)->Iterations(1);

}  // namespace
}  // namespace fwsvd::bench
