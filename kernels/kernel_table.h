// The kernel registry: one table of function pointers per ISA (ref, avx2, avx512), each built
// from the one list of kernels in kernel_list.inc. The dispatching entry points of the public
// headers call through active_table(); tests and benchmarks walk the same list over every table.
#pragma once
#include <cstdint>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/cpu.h"

namespace fwsvd::kernels {

// One function pointer per kernel of kernel_list.inc, named and typed as its entry point.
struct KernelTable {
#define FWSVD_KERNEL(name, ref, params, args) void(*name) params;
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};

// The variants of one ISA. Entries of an ISA above detected_isa() must not be called (they
// would fault on an illegal instruction).
const KernelTable& kernel_table(Isa isa);
// The table the dispatching entry points call: kernel_table(active_isa()).
const KernelTable& active_table();

}  // namespace fwsvd::kernels
