// The three tables of kernel_list.inc and the dispatching entry points that call through them.
#include "kernels/kernel_table.h"

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/isa_variants.h"
#include "kernels/layernorm.h"
#include "kernels/quantize.h"
#include "kernels/softmax.h"

namespace fwsvd::kernels {

namespace {

constexpr KernelTable kRefTable = {
#define FWSVD_KERNEL(name, ref, params, args) .name = &ref,
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};

constexpr KernelTable kAvx2Table = {
#define FWSVD_KERNEL(name, ref, params, args) .name = &name##_avx2,
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};

constexpr KernelTable kAvx512Table = {
#define FWSVD_KERNEL(name, ref, params, args) .name = &name##_avx512,
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};

// Indexed by Isa.
constexpr const KernelTable* kTables[] = {&kRefTable, &kAvx2Table, &kAvx512Table};
static_assert(int(Isa::ref) == 0 && int(Isa::avx2) == 1 && int(Isa::avx512) == 2);

// What active_table() returns, internal so that the entry points inline it (a shared library's
// exported function could be interposed, so GCC does not inline active_table() itself).
inline const KernelTable& current_table() {
    return *kTables[int(active_isa())];
}

}  // namespace

const KernelTable& kernel_table(Isa isa) {
    return *kTables[int(isa)];
}

const KernelTable& active_table() {
    return current_table();
}

// ---- dispatching entry points (declared in the ops' public headers) -----------------------------

#define FWSVD_KERNEL(name, ref, params, args) \
    void name params {                        \
        current_table().name args;            \
    }
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL

}  // namespace fwsvd::kernels
