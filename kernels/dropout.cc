// Inverted dropout driven by a counter-based generator: the uniform for element i of a call is a
// pure function of (seed, offset + i), so results do not depend on threads or call splitting.
#include "kernels/dropout.h"

#include "kernels/splitmix.h"

namespace fwsvd::kernels {

namespace {

// Element `counter` of the SplitMix64 stream whose state starts at mix64(seed): random access
// into the sequence the sequential generator would produce.
inline uint64_t random_bits(uint64_t seed, uint64_t counter) {
    return splitmix64_mix(splitmix64_mix(seed) + (counter + 1) * kSplitMixGamma);
}

inline double to_unit(uint64_t bits) {
    return double(bits >> 11) * 0x1.0p-53;
}  // [0, 1)

void dropout_forward_scalar(float* out, uint8_t* mask, const float* inp, int64_t n, float p,
                            uint64_t seed, uint64_t offset) {
    const double threshold = double(p);
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; ++i) {
        const bool keep = !(to_unit(random_bits(seed, offset + uint64_t(i))) < threshold);
        mask[i] = keep ? 1 : 0;
        out[i] = keep ? inp[i] * scale : 0.0f;
    }
}

void dropout_backward_scalar(float* dinp, const float* dout, const uint8_t* mask, int64_t n,
                             float p) {
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; ++i) {
        if (mask[i]) dinp[i] += dout[i] * scale;
    }
}

}  // namespace

double dropout_uniform(uint64_t seed, uint64_t counter) {
    return to_unit(random_bits(seed, counter));
}

void dropout_forward(float* out, uint8_t* mask, const float* inp, int64_t n, float p, uint64_t seed,
                     uint64_t offset) {
    dropout_forward_scalar(out, mask, inp, n, p, seed, offset);
}

void dropout_backward(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p) {
    dropout_backward_scalar(dinp, dout, mask, n, p);
}

}  // namespace fwsvd::kernels
