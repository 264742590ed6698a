// Kernel benchmarks: packed GEMMs dense vs low-rank at BERT-base shapes, the row-wise kernels
// per ISA, and attention per ISA (ref = the dnnl_sgemm-per-item path).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/packed_matmul.h"
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

// Selects an ISA for one benchmark (clamped to what the CPU runs) and restores it afterwards.
class IsaScope {
  public:
    explicit IsaScope(int64_t isa) : saved_(k::active_isa()) { k::set_isa(k::Isa(isa)); }
    ~IsaScope() { k::set_isa(saved_); }
    bool ok() const { return int(k::active_isa()) >= 0; }

  private:
    k::Isa saved_;
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

// BERT-base's GEMMs at seq 128 (M = 128) in f32 and bf16 (MatmulPrecision; the bf16 run includes
// rounding the input rows): dense Q/K/V 768 -> 2304, attention output 768 -> 768, FFN 768 ->
// 3072 and 3072 -> 768; the rank-64 factors 768 -> 192, 64 -> 768 / 3072 and 3072 -> 64.
void BM_PackedGemmPrecision(benchmark::State& st) {
    const int64_t m = st.range(0), kk = st.range(1), n = st.range(2);
    const bool bf16 = st.range(3) != 0;
    const int threads = int(st.range(4));
    if (skip_without_bf16(st, bf16)) return;
    set_threads(threads);
    const int64_t rows = k::matmul_padded_rows(m);
    const auto x = normal(size_t(rows * kk), 1.0f, 1), w = normal(size_t(n * kk), 0.02f, 3),
               bias = normal(size_t(n), 0.02f, 2);
    std::vector<float> out(size_t(rows * n));
    k::MatmulContext ctx;
    const k::PackedMatmul p(w.data(), bias.data(), n, kk, k::MatmulEpilogue::none,
                            bf16 ? k::MatmulPrecision::bf16 : k::MatmulPrecision::f32);
    p.run(ctx, out.data(), x.data(), m);
    st.SetLabel(bf16 ? "bf16" : "f32");
    FlopTimer timer(st, 2.0 * double(m * kk * n), threads, bf16);
    for (auto _ : st) {
        timer.start();
        p.run(ctx, out.data(), x.data(), m);
        timer.stop();
    }
}
BENCHMARK(BM_PackedGemmPrecision)
    ->ArgNames({"m", "k", "n", "bf16", "threads"})
    ->ArgsProduct({{128}, {768}, {2304, 768, 3072}, {0, 1}, {1, 2}})
    ->ArgsProduct({{128}, {3072}, {768}, {0, 1}, {1, 2}})
    ->ArgsProduct({{128}, {768}, {192}, {0, 1}, {1, 2}})
    ->ArgsProduct({{128}, {64}, {768, 3072}, {0, 1}, {1, 2}})
    ->ArgsProduct({{128}, {3072}, {64}, {0, 1}, {1, 2}})
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

void BM_LayerNorm(benchmark::State& st) {
    const int64_t rows = st.range(0), cols = st.range(1);
    IsaScope isa(st.range(2));
    st.SetLabel(isa_label(st.range(2)));
    const auto x = normal(size_t(rows * cols), 1.0f, 1), g = normal(size_t(cols), 1.0f, 2),
               b = normal(size_t(cols), 1.0f, 3);
    std::vector<float> out(x.size());
    for (auto _ : st) {
        k::layernorm_forward(out.data(), nullptr, nullptr, x.data(), g.data(), b.data(), rows, cols,
                             1e-12f);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_LayerNorm)->ArgNames({"rows", "cols", "isa"})->ArgsProduct({{128}, {768}, {0, 1, 2}});

void BM_Gelu(benchmark::State& st) {
    const int64_t rows = st.range(0), cols = st.range(1);
    IsaScope isa(st.range(2));
    st.SetLabel(isa_label(st.range(2)));
    const auto x = normal(size_t(rows * cols), 1.0f, 1);
    std::vector<float> y(x.size());
    for (auto _ : st) {
        k::activation_forward(k::Activation::gelu, y.data(), x.data(), rows * cols);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_Gelu)->ArgNames({"rows", "cols", "isa"})->ArgsProduct({{128}, {3072}, {0, 1, 2}});

// The inference GELU (rational erf) on the same data, in place as the Session runs it.
void BM_GeluInference(benchmark::State& st) {
    const int64_t rows = st.range(0), cols = st.range(1);
    IsaScope isa(st.range(2));
    st.SetLabel(isa_label(st.range(2)));
    const auto x = normal(size_t(rows * cols), 1.0f, 1);
    std::vector<float> y(x.size());
    for (auto _ : st) {
        y = x;
        k::gelu_inference_forward(y.data(), y.data(), rows * cols);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_GeluInference)
    ->ArgNames({"rows", "cols", "isa"})
    ->ArgsProduct({{128}, {3072}, {0, 1, 2}});

void BM_Softmax(benchmark::State& st) {
    const int64_t rows = st.range(0), cols = st.range(1);
    IsaScope isa(st.range(2));
    st.SetLabel(isa_label(st.range(2)));
    const auto x = normal(size_t(rows * cols), 3.0f, 1);
    std::vector<float> y(x.size());
    for (auto _ : st) {
        k::softmax_forward(y.data(), x.data(), rows, cols);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_Softmax)
    ->ArgNames({"rows", "cols", "isa"})
    ->ArgsProduct({{12 * 128}, {128}, {0, 1, 2}});

// One sequence of `seq` tokens, 12 heads of 64, Q/K/V interleaved as the fused QKV GEMM writes
// them; one thread; inference (no probabilities saved); ref = the gemm path (dnnl_sgemm per
// item + softmax). queries < seq: the first `queries` rows against all seq keys, as one of the
// threads of a parallel forward runs its own rows (Session::attention_rows).
void BM_Attention(benchmark::State& st) {
    const int64_t seq = st.range(0), heads = 12, d = 64, h = heads * d;
    const int64_t queries = st.range(2) > 0 ? st.range(2) : seq;
    IsaScope isa(st.range(1));
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
