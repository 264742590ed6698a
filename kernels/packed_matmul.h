// Inference matmuls on weights packed once: out[m, n] = epilogue(inp[m, k] · W[n, k]ᵀ + bias),
// through oneDNN's matmul primitive with `format_tag::any` weights (its brgemm kernels' blocked
// layout) and the bias and epilogue fused into the primitive; for f32 on AVX2 CPUs without
// AVX-512, through fwsvd's own GEMM instead (F32Gemm below, kernels/sgemm_packed.h).
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
#include <optional>
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
// int8: the weights are quantised once when packed (symmetric, one scale per output channel),
// each call's input rows on the fly (asymmetric unsigned 8-bit, one scale and zero point per
// row, or one per call: Int8Scheme), oneDNN multiplies the codes (u8 x s8 -> s32) and
// kernels::dequantize_i32 applies the scales, the zero points' correction, the bias and the
// residual (then the GELU) in f32 (kernels/quantize.h).
enum class MatmulPrecision { f32, bf16, int8 };
const char* precision_name(MatmulPrecision p);
// The precision named "f32", "bf16" or "int8" (precision_name's names); false for any other.
bool parse_precision(const std::string& name, MatmulPrecision* out);
// Whether this CPU runs bf16 matmuls natively (AVX512_BF16). Elsewhere oneDNN emulates them at a
// fraction of the f32 speed (PackedMatmul still runs them; models/packed_model.h refuses).
bool bf16_matmul_supported();

// The codes of an int8 matmul. Without VNNI, x86 multiplies u8 x s8 bytes with VPMADDUBSW, which
// adds each pair of adjacent products into a saturating int16: two products of 255 and 127 make
// 64770 > 32767, and oneDNN 2.6's AVX2 int8 GEMM returns the clamped sum (its convolutions scale
// the weights by 1/2 on such CPUs for this reason; ONNX Runtime calls the same fix
// reduce_range, PyTorch's fbgemm narrows the activations). Sums stay exact when
// 2 · activation_max · weight_max <= 32767: 7-bit weights (weight_max 64) with 8-bit activations
// by default, as oneDNN and ONNX Runtime choose: a weight row's range is set by its own scale,
// while activation rows carry BERT's outlier features, so the activations keep the finer grid.
struct Int8Scheme {
    int weight_max = 127;      // weight codes in [-weight_max, weight_max], at most 127
    int activation_max = 255;  // activation codes 0..activation_max, at most 255
    bool per_tensor = false;   // one activation scale and zero point per call, not per row
};
// Whether this CPU has AVX2, which oneDNN's int8 GEMM kernels that fwsvd's int8 path was built
// and measured with need (models/packed_model.h falls back to f32 elsewhere).
bool int8_matmul_supported();
// Whether this CPU has VNNI dot products (AVX512_VNNI or AVX-VNNI).
bool int8_vnni();
// Whether oneDNN's u8 x s8 matmul keeps full 8-bit products exact on this CPU (VNNI), found
// once per process by running one on codes 255 and 127 and comparing with the exact sum.
bool int8_full_range_exact();
// The scheme for this CPU: 8-bit weights and activations where int8_full_range_exact(), else
// 7-bit weights (or, with reduce_activations, 7-bit activations and 8-bit weights).
Int8Scheme default_int8_scheme(bool reduce_activations = false);

// Which GEMM runs the f32 matmuls. onednn: oneDNN's matmul primitive (above). own: fwsvd's
// AVX2+FMA kernel on its own packed layout (kernels/sgemm_packed.h; needs AVX2+FMA, oneDNN
// otherwise), because oneDNN 2.6 has no brgemm f32 kernels for AVX2 and its fallback gemm runs
// well below the FMA peak there (bench/RESULTS.md). automatic: own on CPUs with AVX2+FMA and
// without AVX-512F, oneDNN elsewhere. bf16 and int8 matmuls always run oneDNN.
// The process default is automatic, or the environment variable FWSVD_F32_GEMM
// (onednn | own | auto), read once at the first f32 PackedMatmul (std::invalid_argument for
// another value); set_f32_gemm() replaces it (tests, benchmarks). A PackedMatmul keeps the GEMM
// chosen when it was created.
enum class F32Gemm { automatic, onednn, own };
F32Gemm f32_gemm();
void set_f32_gemm(F32Gemm gemm);
const char* f32_gemm_name(F32Gemm gemm);  // "auto", "onednn", "own"
// Whether an f32 PackedMatmul created now runs the own GEMM.
bool f32_gemm_own();

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
    // weight into oneDNN's blocked layout (a reorder) or the own GEMM's panels (f32_gemm_own()),
    // so the sources need not outlive this.
    // int8: `int8` gives the codes' ranges, default_int8_scheme() when absent
    // (std::invalid_argument when they could saturate on this CPU, see Int8Scheme, or when
    // k > 32768, where the int32 sums could overflow).
    PackedMatmul(const float* weight, const float* bias, int64_t n, int64_t k,
                 MatmulEpilogue epilogue, MatmulPrecision precision = MatmulPrecision::f32,
                 const std::optional<Int8Scheme>& int8 = std::nullopt);
    ~PackedMatmul();
    PackedMatmul(const PackedMatmul&) = delete;
    PackedMatmul& operator=(const PackedMatmul&) = delete;

    int64_t n() const { return n_; }
    int64_t k() const { return k_; }
    MatmulEpilogue epilogue() const { return epilogue_; }
    MatmulPrecision precision() const { return precision_; }
    const Int8Scheme& int8_scheme() const { return int8_; }
    // Whether this matmul runs fwsvd's own f32 GEMM (F32Gemm) rather than oneDNN.
    bool own_gemm() const;
    // Bytes of the packed weights (the blocked layout pads n and k to its blocks; int8: with the
    // per-channel scales and column sums).
    size_t packed_bytes() const;

    // out[m, n] (row stride n) = epilogue(inp[m, k] (row stride k) · Wᵀ + bias). Reads and
    // writes matmul_padded_rows(m) rows of inp and out (the own GEMM: only m rows). bf16: inp's
    // rows are rounded into the context's buffer first (on oneDNN's threads outside a parallel
    // region). int8: the first m rows of inp are quantised into the context's buffer (the padding
    // rows' codes are zeros) and the int32 products dequantised from another, split across the
    // threads as oneDNN's work is. Threads: oneDNN's (OpenMP), or for the own GEMM
    // omp_get_max_threads() outside a parallel region and the calling thread inside one.
    // Thread-safe with one MatmulContext per thread.
    void run(MatmulContext& ctx, float* out, const float* inp, int64_t m) const;

  private:
    void run_int8(MatmulContext& ctx, float* out, const float* inp, int64_t m) const;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int64_t n_, k_;
    MatmulEpilogue epilogue_;
    MatmulPrecision precision_;
    Int8Scheme int8_;
};

}  // namespace fwsvd::kernels
