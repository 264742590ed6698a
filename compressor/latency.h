// Latency of the encoder's linear layers as the runtime runs them: each dense layer is one packed
// GEMM x [m, in] -> [m, out] (kernels::PackedMatmul, what models/packed_model.h builds), a
// factored one two, [m, in] -> [m, r] -> [m, out]. --latency-ratio budgets the sum of these
// times over the encoder (a shared layer counted once per use), measured on this CPU at
// m = --seq rows (one sequence) and --threads threads. The per-head merges of PackedModel, the
// attention, LayerNorm and GELU are not in it: the ratio is of linear-layer time.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

namespace fwsvd {

class GemmTimer {
  public:
    virtual ~GemmTimer() = default;
    // Microseconds of one GEMM [rows, k] x [n, k]ᵀ.
    virtual double micros(int64_t k, int64_t n) = 0;
    virtual int64_t rows() const = 0;
    virtual int threads() const = 0;
};

// Times PackedMatmul runs (random weights and inputs, f32) at `rows` rows on `threads` OpenMP
// threads (0: the current count), each shape once (cached): the minimum over 5 trials of the
// mean time of enough runs to last 2 ms, after a warm-up.
std::unique_ptr<GemmTimer> measured_gemm_timer(int64_t rows, int threads);

// Microseconds of a layer [out, in] at `rank` (0: dense).
double layer_micros(GemmTimer& timer, int64_t in, int64_t out, int64_t rank);

}  // namespace fwsvd
