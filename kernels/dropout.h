// Inverted dropout with a counter-based random stream: element i of a call with (seed, offset)
// is dropped iff uniform(seed, offset + i) < p, independent of threads and call splitting.
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// mask[i] = 1 if kept; out[i] = mask[i] ? inp[i] / (1 - p) : 0. out may alias inp. 0 <= p < 1.
void dropout_forward(float* out, uint8_t* mask, const float* inp, int64_t n, float p, uint64_t seed,
                     uint64_t offset);
// dinp[i] += mask[i] ? dout[i] / (1 - p) : 0.
void dropout_backward(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p);
// The uniform [0, 1) number dropout compares with p (exposed for tests).
double dropout_uniform(uint64_t seed, uint64_t counter);

}  // namespace fwsvd::kernels
