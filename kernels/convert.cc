// float -> bfloat16 rounding: dispatching entry point and scalar twin.
#include "kernels/convert.h"

#include "kernels/cpu.h"
#include "kernels/isa_variants.h"

namespace fwsvd::kernels {

void f32_to_bf16(uint16_t* out, const float* in, int64_t n) {
    switch (active_isa()) {
        case Isa::avx512:
            return f32_to_bf16_avx512(out, in, n);
        case Isa::avx2:
            return f32_to_bf16_avx2(out, in, n);
        case Isa::ref:
            break;
    }
    f32_to_bf16_ref(out, in, n);
}

void f32_to_bf16_ref(uint16_t* out, const float* in, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16_one(in[i]);
}

}  // namespace fwsvd::kernels
