// SplitMix64 (Steele, Lea, Flood 2014): the seeded, platform-independent random bits behind
// dropout, shuffling, sampling and seed derivation. Header-only; every function is pure.
#pragma once

#include <cstdint>

namespace fwsvd::kernels {

inline constexpr uint64_t kSplitMixGamma = 0x9E3779B97F4A7C15ull;  // the Weyl increment

// SplitMix64's output function: a bijective 64-bit mixer.
inline uint64_t splitmix64_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The next value of the sequential generator whose state is `state`.
inline uint64_t splitmix64_next(uint64_t& state) {
    return splitmix64_mix(state += kSplitMixGamma);
}

// A seed derived from (seed, stream): distinct streams give unrelated seeds.
inline uint64_t splitmix64_derive(uint64_t seed, uint64_t stream) {
    return splitmix64_mix(seed + kSplitMixGamma * (stream + 1));
}

}  // namespace fwsvd::kernels
