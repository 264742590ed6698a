// Instruction-set detection (CPUID through GCC's __builtin_cpu_supports) and the active variant.
#include "kernels/cpu.h"

#include <atomic>

namespace fwsvd::kernels {

namespace {

Isa detect() {
    __builtin_cpu_init();
    // libgcc also checks XCR0, so these are false when the OS does not save the wider registers.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        return Isa::avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
    return Isa::ref;
}

// -1 until first use, then the Isa value the dispatching kernels use.
std::atomic<int> g_active{-1};

}  // namespace

Isa detected_isa() {
    static const Isa detected = detect();
    return detected;
}

Isa active_isa() {
    int v = g_active.load(std::memory_order_relaxed);
    if (v < 0) {
        int expected = -1;
        v = static_cast<int>(detected_isa());
        // A concurrent set_isa() wins over this lazy initialisation.
        if (!g_active.compare_exchange_strong(expected, v, std::memory_order_relaxed)) v = expected;
    }
    return static_cast<Isa>(v);
}

void set_isa(Isa isa) {
    int want = static_cast<int>(isa);
    int best = static_cast<int>(detected_isa());
    if (want > best) want = best;
    if (want < 0) want = 0;
    g_active.store(want, std::memory_order_relaxed);
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::ref:
            return "ref";
        case Isa::avx2:
            return "avx2";
        case Isa::avx512:
            return "avx512";
    }
    return "unknown";
}

}  // namespace fwsvd::kernels
