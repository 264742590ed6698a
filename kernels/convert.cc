// float -> bfloat16 rounding: the scalar twin.
#include "kernels/convert.h"

namespace fwsvd::kernels {

// The dispatching f32_to_bf16 is defined in kernel_table.cc from kernel_list.inc.

void f32_to_bf16_ref(uint16_t* out, const float* in, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16_one(in[i]);
}

}  // namespace fwsvd::kernels
