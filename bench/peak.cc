// The measured FMA peak and the GFLOP/s reporting shared by the benchmarks.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "bench/bench_util.h"
#include "kernels/cpu.h"
#include "kernels/packed_matmul.h"
#include "runtime/parallel.h"

namespace fwsvd::bench {

void set_threads(int threads) {
    set_num_threads(threads);
}

namespace {

// Best of 15 runs of `loop` on `threads` threads, in GFLOP/s.
double best_rate(int threads, double (*loop)(int64_t)) {
    const int64_t iters = 2000000;  // ~10 ms per thread at ~200 GFLOP/s
    double best = 0;
    for (int trial = 0; trial < 15; ++trial) {
        double flops = 0;
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
        flops += loop(iters);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, flops / s * 1e-9);
    }
    return best;
}

// measure(threads), computed once per (cache, thread count) in this process.
double measured_once(std::map<int, double>& cache, int threads, double (*measure)(int)) {
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(threads);
    return it != cache.end() ? it->second : cache[threads] = measure(threads);
}

}  // namespace

double peak_gflops(int threads) {
    static std::map<int, double> cache;
    return measured_once(cache, threads, [](int n) {
        const bool avx512 = kernels::detected_isa() == kernels::Isa::avx512;
        return best_rate(n, avx512 ? fma_loop_avx512 : fma_loop_avx2);
    });
}

double peak_gflops_bf16(int threads) {
    static std::map<int, double> cache;
    return measured_once(cache, threads, [](int n) {
        return kernels::bf16_matmul_supported() ? best_rate(n, dpbf16_loop_avx512) : 0.0;
    });
}

double peak_gops_int8(int threads) {
    static std::map<int, double> cache;
    return measured_once(cache, threads, [](int n) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512vnni") ? best_rate(n, dpbusd_loop_avx512)
                                                    : best_rate(n, maddubs_loop_avx2);
    });
}

bool skip_without_bf16(benchmark::State& state, bool bf16) {
    if (!bf16 || kernels::bf16_matmul_supported()) return false;
    state.SkipWithError("this CPU lacks AVX512_BF16");
    return true;
}

FlopTimer::~FlopTimer() {
    if (seconds_ <= 0) return;
    const double gflops = flops_ * double(state_.iterations()) / seconds_ * 1e-9;
    state_.counters["GFLOP/s"] = gflops;
    state_.counters["peak%"] = 100.0 * gflops / peak_gflops(threads_);
    if (bf16_) {
        const double peak = peak_gflops_bf16(threads_);
        if (peak > 0) state_.counters["bf16 peak%"] = 100.0 * gflops / peak;
    }
    if (int8_) state_.counters["int8 peak%"] = 100.0 * gflops / peak_gops_int8(threads_);
    state_.counters["threads"] = threads_;
}

}  // namespace fwsvd::bench
