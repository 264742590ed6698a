// Shared pieces of the benchmarks: thread control, the measured FMA peak, GFLOP/s counters,
// random BERT models built in memory and random batches.
#pragma once
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/batch.h"
#include "models/model.h"

namespace fwsvd::bench {

// Sets the OpenMP (and oneDNN) thread count for the benchmark that follows.
void set_threads(int threads);

// Single-precision FMA peak of `threads` cores in GFLOP/s, measured once per thread count in
// this process (best of several short runs of independent FMA chains at the widest ISA).
double peak_gflops(int threads);
// The FMA loop: `iters` iterations of 16 independent vector FMA chains; returns FLOPs done.
double fma_loop_avx512(int64_t iters);
double fma_loop_avx2(int64_t iters);
// The bf16 dot-product peak (VDPBF16PS, 64 FLOPs an instruction) of `threads` cores in GFLOP/s,
// 0 on CPUs without AVX512_BF16; its loop.
double peak_gflops_bf16(int threads);
// For a benchmark case that asks for bf16 on a CPU without AVX512_BF16: marks it skipped and
// returns true.
bool skip_without_bf16(benchmark::State& state, bool bf16);
double dpbf16_loop_avx512(int64_t iters);
// The int8 dot-product peak of `threads` cores in GOP/s (2 operations per u8 x s8
// multiply-add): VPDPBUSD on CPUs with AVX512_VNNI, else VPMADDUBSW + VPMADDWD + VPADDD (AVX2);
// its loops.
double peak_gops_int8(int threads);
double dpbusd_loop_avx512(int64_t iters);
double maddubs_loop_avx2(int64_t iters);

// Times the loop body itself (wall clock, steady_clock) and reports, once the loop ends,
// GFLOP/s = flops_per_iter · iterations / seconds and its share of peak_gflops(threads).
class FlopTimer {
  public:
    // bf16: also report the share of peak_gflops_bf16(threads) ("bf16 peak%"); int8: of
    // peak_gops_int8(threads) ("int8 peak%").
    FlopTimer(benchmark::State& state, double flops_per_iter, int threads, bool bf16 = false,
              bool int8 = false)
        : state_(state), flops_(flops_per_iter), threads_(threads), bf16_(bf16), int8_(int8) {}
    ~FlopTimer();
    // Wrap each iteration's work: start() before, stop() after.
    void start() { t0_ = std::chrono::steady_clock::now(); }
    void stop() {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        seconds_ += s;
        state_.SetIterationTime(s);
    }

  private:
    benchmark::State& state_;
    double flops_;
    int threads_;
    bool bf16_;
    bool int8_;
    double seconds_ = 0;
    std::chrono::steady_clock::time_point t0_;
};

// BERT-base shape (12 layers, hidden 768, 12 heads, FFN 3072, GELU, 2 labels) and BERT-mini's.
ModelConfig bert_base_config();
// A model with normal(0, 0.02) weights (LayerNorm gammas 1), every encoder linear layer
// factored at `rank` (0: dense), fixed seed.
std::shared_ptr<const Model> random_bert(const ModelConfig& config, int64_t rank,
                                         uint64_t seed = 7);
// `batch` sequences of `seq` random ids (fixed seed).
Batch random_batch(const ModelConfig& config, int64_t seq, int64_t batch, uint64_t seed = 1234);

}  // namespace fwsvd::bench
