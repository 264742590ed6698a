// fwsvd-bench's main: Google Benchmark's, after printing the measured peak it reports against.
#include <cstdio>

#include "bench/bench_util.h"
#include "kernels/cpu.h"

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    std::printf(
        "fwsvd-bench: kernels %s; measured FP32 FMA peak %.1f GFLOP/s on 1 thread, %.1f on 2 "
        "(the peak%% counters use these)\n",
        fwsvd::kernels::isa_name(fwsvd::kernels::detected_isa()), fwsvd::bench::peak_gflops(1),
        fwsvd::bench::peak_gflops(2));
    if (fwsvd::bench::peak_gflops_bf16(1) > 0) {
        std::printf(
            "fwsvd-bench: measured bf16 dot-product (VDPBF16PS) peak %.1f GFLOP/s on 1 thread, "
            "%.1f on 2 (the bf16 peak%% counters)\n",
            fwsvd::bench::peak_gflops_bf16(1), fwsvd::bench::peak_gflops_bf16(2));
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
