// Conversions between float and bfloat16 (the upper half of an IEEE single: 8 exponent bits, 7
// mantissa bits), for the bf16 inference matmuls (kernels/packed_matmul.h).
#pragma once
#include <cstdint>
#include <cstring>

namespace fwsvd::kernels {

// out[i] = in[i] rounded to bfloat16, to nearest with ties to even; infinities stay infinities,
// NaNs stay NaNs (quiet), subnormals round like any other value. Bit-equal in every variant.
void f32_to_bf16(uint16_t* out, const float* in, int64_t n);

// One value, the ref's rounding.
inline uint16_t f32_to_bf16_one(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // quiet NaN
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float bf16_to_f32(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

void f32_to_bf16_ref(uint16_t* out, const float* in, int64_t n);

}  // namespace fwsvd::kernels
