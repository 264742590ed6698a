// Instruction-set selection for the kernels: detected once from CPUID, overridable for tests.
#pragma once

namespace fwsvd::kernels {

enum class Isa { ref = 0, avx2 = 1, avx512 = 2 };

// The best variant this CPU supports (AVX-512 needs F+BW+DQ+VL; AVX2 needs AVX2+FMA).
Isa detected_isa();
// The variant the dispatching kernels use now: detected_isa() unless set_isa() lowered it.
Isa active_isa();
// Forces a variant (tests and benchmarks). Asking for more than detected_isa() clamps to it.
// Not thread-safe with respect to running kernels: call it before work starts.
void set_isa(Isa isa);
const char* isa_name(Isa isa);

}  // namespace fwsvd::kernels
