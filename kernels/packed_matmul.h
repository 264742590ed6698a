// Inference matmuls on weights packed once: out[m, n] = epilogue(inp[m, k] · W[n, k]ᵀ + bias),
// through oneDNN's matmul primitive with `format_tag::any` weights (its brgemm kernels' blocked
// layout) and the bias and epilogue fused into the primitive.
//
// Why an object in kernels/: the packed copy of W is the one piece of state an inference GEMM
// needs, and it is model-agnostic; models/packed_model.h builds one per linear layer at load.
//
// Rows: oneDNN's packed-weight kernels need M fixed at primitive creation (oneDNN 2.6 gives a
// run-time M only to its plain-weight gemm, slower: bench/RESULTS.md), and creating a primitive
// costs far more than running one. So a call with m rows runs on matmul_padded_rows(m) rows: up to
// 1024 rows in buckets (exact to 16, then 8, 16, 64 rows wide), beyond in 1024-row chunks. A shape
// (k, n, epilogue, bias) keeps one primitive per bucket and OpenMP thread count, created on first
// use and shared by every PackedMatmul and thread of the process; the weights are passed at
// execution.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace fwsvd::kernels {

// What the matmul does after adding the bias (oneDNN post-ops).
enum class MatmulEpilogue {
    none,
    gelu_erf,  // out = gelu(acc + bias), oneDNN's eltwise_gelu_erf
    residual,  // out = acc + bias + out: out holds the residual on entry (oneDNN's sum post-op)
};

// The type the matmul multiplies in. f32: HF-exact arithmetic. bf16: the weights are rounded to
// bfloat16 once when packed and each call's input rows when it runs (kernels::f32_to_bf16), the
// products accumulate in f32 and the output, bias and epilogue stay f32: oneDNN's AVX512_BF16
// kernels (VDPBF16PS) run about twice the f32 FLOP rate on CPUs that have them, at a relative
// rounding error of about 2^-9 per input.
enum class MatmulPrecision { f32, bf16 };
const char* precision_name(MatmulPrecision p);
// The precision named "f32" or "bf16" (precision_name's names); false for any other name.
bool parse_precision(const std::string& name, MatmulPrecision* out);
// Whether this CPU runs bf16 matmuls natively (AVX512_BF16). Elsewhere oneDNN emulates them at a
// fraction of the f32 speed (PackedMatmul still runs them; models/packed_model.h refuses).
bool bf16_matmul_supported();

// Rows a call with m rows reads from inp and writes to out (>= m; rows >= m of the result hold
// unspecified, finite-if-inputs-are values). Buffers passed to PackedMatmul::run must have them.
int64_t matmul_padded_rows(int64_t m);

// Per-thread execution state: a oneDNN stream, the scratchpad (grown on the first use of a
// larger primitive, then reused) and memory handles. Not thread-safe: one per thread / Session.
class MatmulContext {
  public:
    MatmulContext();
    ~MatmulContext();
    MatmulContext(const MatmulContext&) = delete;
    MatmulContext& operator=(const MatmulContext&) = delete;

  private:
    friend class PackedMatmul;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class PackedMatmul {
  public:
    // weight [n, k] row-major (PyTorch's [out, in]) and bias [n] (may be null) are copied: the
    // weight into oneDNN's blocked layout (a reorder), so the sources need not outlive this.
    PackedMatmul(const float* weight, const float* bias, int64_t n, int64_t k,
                 MatmulEpilogue epilogue, MatmulPrecision precision = MatmulPrecision::f32);
    ~PackedMatmul();
    PackedMatmul(const PackedMatmul&) = delete;
    PackedMatmul& operator=(const PackedMatmul&) = delete;

    int64_t n() const { return n_; }
    int64_t k() const { return k_; }
    MatmulEpilogue epilogue() const { return epilogue_; }
    MatmulPrecision precision() const { return precision_; }
    // Bytes of the packed weights (the blocked layout pads n and k to its blocks).
    size_t packed_bytes() const;

    // out[m, n] (row stride n) = epilogue(inp[m, k] (row stride k) · Wᵀ + bias). Reads and
    // writes matmul_padded_rows(m) rows of inp and out. bf16: inp's rows are rounded into the
    // context's buffer first (on oneDNN's threads outside a parallel region). Threads: oneDNN's
    // (OpenMP). Thread-safe with one MatmulContext per thread.
    void run(MatmulContext& ctx, float* out, const float* inp, int64_t m) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int64_t n_, k_;
    MatmulEpilogue epilogue_;
    MatmulPrecision precision_;
};

}  // namespace fwsvd::kernels
