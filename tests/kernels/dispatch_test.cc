// The kernel registry against the scalar twins: every kernel of kernels/kernel_list.inc, in every
// ISA table this CPU runs (kernel_table), on sizes around the 8- and 16-float vector widths and
// on random ones. The list drives the cases: a kernel added to it without a check_<name> below
// does not compile. Then the dispatching entry points: they call the active ISA's table, and
// each passes its check.
// This is the test the AVX2 / AVX-512 variants are held to.
//
// Tolerances (normwise relative, max |fast - ref| / max |ref|):
//   kExact  0     plain adds (IEEE addition is the same in every variant)
//   kRound  1e-6  a rounding or two apart (FMA vs separate multiply-add, two adds vs one)
//   kReduce 1e-5  float reductions, GEMMs (oneDNN), transcendental approximations vs the
//                 double-accumulating ref
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/kernel_table.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"
#include "kernels/softmax.h"
#include "tests/kernels/kernel_test_util.h"

namespace fwsvd::kernels {
// gtest prints a test parameter's ISA by name.
void PrintTo(Isa isa, std::ostream* os) {
    *os << isa_name(isa);
}
}  // namespace fwsvd::kernels

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

constexpr double kExact = 0.0;
constexpr double kRound = 1e-6;
constexpr double kReduce = 1e-5;

const k::Activation kActivations[] = {k::Activation::gelu, k::Activation::gelu_tanh,
                                      k::Activation::relu, k::Activation::silu,
                                      k::Activation::tanh};
const int64_t kRows[] = {1, 3, 5};

// Vector lengths: around the 8- and 16-float widths, then three random ones.
std::vector<int64_t> lengths(Rng& rng) {
    std::vector<int64_t> n = {1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1029};
    for (int i = 0; i < 3; ++i) n.push_back(rng.index(1, 3000));
    return n;
}

// Row widths: the same idea, BERT's 768 among them, then two random ones.
std::vector<int64_t> widths(Rng& rng) {
    std::vector<int64_t> c = {1, 7, 8, 16, 17, 33, 64, 100, 768, 1029};
    for (int i = 0; i < 2; ++i) c.push_back(rng.index(2, 1100));
    return c;
}

std::string shape_tag(int64_t rows, int64_t cols) {
    return "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
}

// Floats past the n a kernel may write, filled with a sentinel that must survive.
constexpr int64_t kGuard = 17;
constexpr float kSentinel = 7.25f;

// n floats followed by the guard.
std::vector<float> guarded(int64_t n) {
    return std::vector<float>(size_t(n + kGuard), kSentinel);
}

// Checks the guard and drops it.
void expect_guard_and_trim(std::vector<float>& v, int64_t n) {
    for (int64_t i = n; i < n + kGuard; ++i) {
        if (v[size_t(i)] != kSentinel) {
            ADD_FAILURE() << "wrote past the end (index " << i << " of " << n << ")";
            break;
        }
    }
    v.resize(size_t(n));
}

// An ISA's entry that is the scalar twin itself has nothing to be compared with.
#define SKIP_IF_TWIN(entry, twin) \
    if ((entry) == &twin) GTEST_SKIP() << "this entry is the scalar twin itself"

// ---- elementwise.h ------------------------------------------------------------------------------

void check_add_forward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.add_forward, k::add_forward_ref<float>);
    for (int64_t n : lengths(rng)) {
        SCOPED_TRACE("n=" + std::to_string(n));
        const auto a = rng.vec<float>(n), b = rng.vec<float>(n);
        std::vector<float> got = guarded(n), want(n);
        t.add_forward(got.data(), a.data(), b.data(), n);
        k::add_forward_ref<float>(want.data(), a.data(), b.data(), n);
        expect_guard_and_trim(got, n);
        EXPECT_LE(rel_diff(got, want), kExact);
    }
}

void check_accumulate(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.accumulate, k::accumulate_ref<float>);
    for (int64_t n : lengths(rng)) {
        SCOPED_TRACE("n=" + std::to_string(n));
        const auto src = rng.vec<float>(n);
        std::vector<float> got = guarded(n);
        const auto start = rng.vec<float>(n);
        std::copy(start.begin(), start.end(), got.begin());
        auto want = start;
        t.accumulate(got.data(), src.data(), n);
        k::accumulate_ref<float>(want.data(), src.data(), n);
        expect_guard_and_trim(got, n);
        EXPECT_LE(rel_diff(got, want), kExact);
    }
}

void check_square_accumulate(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.square_accumulate, k::square_accumulate_ref<float>);
    for (int64_t n : lengths(rng)) {
        SCOPED_TRACE("n=" + std::to_string(n));
        const auto src = rng.vec<float>(n);
        std::vector<float> got = guarded(n);
        const auto start = rng.vec<float>(n);
        std::copy(start.begin(), start.end(), got.begin());
        auto want = start;
        t.square_accumulate(got.data(), src.data(), n);
        k::square_accumulate_ref<float>(want.data(), src.data(), n);
        expect_guard_and_trim(got, n);
        EXPECT_LE(rel_diff(got, want), kRound);
    }
}

void check_sum_rows_accumulate(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.sum_rows_accumulate, k::sum_rows_accumulate_ref<float>);
    for (int64_t rows : {1, 3, 5, 200}) {
        for (int64_t cols : widths(rng)) {
            SCOPED_TRACE(shape_tag(rows, cols));
            const auto src = rng.vec<float>(rows * cols);
            std::vector<float> got = guarded(cols);
            const auto start = rng.vec<float>(cols);
            std::copy(start.begin(), start.end(), got.begin());
            auto want = start;
            t.sum_rows_accumulate(got.data(), src.data(), rows, cols);
            k::sum_rows_accumulate_ref<float>(want.data(), src.data(), rows, cols);
            expect_guard_and_trim(got, cols);
            EXPECT_LE(rel_diff(got, want), kReduce);
        }
    }
}

// Head blocks of width <= block inside rows wider than heads · block, bit for bit.
void check_sum_head_blocks(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.sum_head_blocks, k::sum_head_blocks_ref<float>);
    std::vector<std::pair<int64_t, int64_t>> shapes = {{64, 64}, {5, 16}, {33, 40}};
    const int64_t random_block = rng.index(1, 100);
    shapes.push_back({rng.index(1, random_block), random_block});
    for (int64_t heads : {1, 4, 12}) {
        for (auto [width, block] : shapes) {
            SCOPED_TRACE("heads=" + std::to_string(heads) + " width=" + std::to_string(width) +
                         " block=" + std::to_string(block));
            const int64_t rows = 7, ld_in = heads * block + 3, ld_out = width + 2;
            const auto in = rng.vec<float>(rows * ld_in);
            auto got = rng.vec<float>(rows * ld_out);
            auto want = got;
            t.sum_head_blocks(got.data(), in.data(), rows, heads, width, block, ld_in, ld_out);
            k::sum_head_blocks_ref<float>(want.data(), in.data(), rows, heads, width, block, ld_in,
                                          ld_out);
            EXPECT_EQ(got, want);
        }
    }
}

// ---- activation.h -------------------------------------------------------------------------------

// Wide range: saturation of tanh/erf and large negative silu inputs included.
void check_activation_forward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.activation_forward, k::activation_forward_ref<float>);
    for (k::Activation act : kActivations) {
        SCOPED_TRACE("act=" + std::to_string(int(act)));
        for (int64_t n : lengths(rng)) {
            SCOPED_TRACE("n=" + std::to_string(n));
            const auto inp = rng.vec<float>(n, -12.0, 12.0);
            std::vector<float> got = guarded(n), want(n);
            t.activation_forward(act, got.data(), inp.data(), n);
            k::activation_forward_ref<float>(act, want.data(), inp.data(), n);
            expect_guard_and_trim(got, n);
            EXPECT_LE(rel_diff(got, want), kReduce);
        }
    }
}

void check_activation_backward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.activation_backward, k::activation_backward_ref<float>);
    for (k::Activation act : kActivations) {
        SCOPED_TRACE("act=" + std::to_string(int(act)));
        for (int64_t n : lengths(rng)) {
            SCOPED_TRACE("n=" + std::to_string(n));
            const auto inp = rng.vec<float>(n, -12.0, 12.0), dout = rng.vec<float>(n);
            std::vector<float> got = guarded(n);
            const auto start = rng.vec<float>(n);
            std::copy(start.begin(), start.end(), got.begin());
            auto want = start;
            t.activation_backward(act, got.data(), dout.data(), inp.data(), n);
            k::activation_backward_ref<float>(act, want.data(), dout.data(), inp.data(), n);
            expect_guard_and_trim(got, n);
            EXPECT_LE(rel_diff(got, want), kReduce);
        }
    }
}

// Against the twin (the same rational formula in float); in place equals out of place.
void check_gelu_inference_forward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.gelu_inference_forward, k::gelu_inference_forward_ref<float>);
    for (int64_t n : lengths(rng)) {
        SCOPED_TRACE("n=" + std::to_string(n));
        const auto inp = rng.vec<float>(n, -12.0, 12.0);
        std::vector<float> got = guarded(n), want(n);
        t.gelu_inference_forward(got.data(), inp.data(), n);
        k::gelu_inference_forward_ref<float>(want.data(), inp.data(), n);
        expect_guard_and_trim(got, n);
        EXPECT_LE(rel_diff(got, want), kRound);
        auto inout = inp;
        t.gelu_inference_forward(inout.data(), inout.data(), n);
        EXPECT_EQ(inout, got) << "in place";
    }
}

// ---- layernorm.h --------------------------------------------------------------------------------

void check_layernorm_forward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.layernorm_forward, k::layernorm_forward_ref<float>);
    const float eps = 1e-12f;
    for (int64_t rows : kRows) {
        for (int64_t cols : widths(rng)) {
            SCOPED_TRACE(shape_tag(rows, cols));
            const auto inp = rng.vec<float>(rows * cols, 1.0, 3.0);
            const auto gamma = rng.vec<float>(cols, 0.5, 1.5), beta = rng.vec<float>(cols);
            std::vector<float> got = guarded(rows * cols), want(rows * cols);
            std::vector<float> mean_got(rows), mean_want(rows), rstd_got(rows), rstd_want(rows);
            t.layernorm_forward(got.data(), mean_got.data(), rstd_got.data(), inp.data(),
                                gamma.data(), beta.data(), rows, cols, eps);
            k::layernorm_forward_ref<float>(want.data(), mean_want.data(), rstd_want.data(),
                                            inp.data(), gamma.data(), beta.data(), rows, cols, eps);
            expect_guard_and_trim(got, rows * cols);
            EXPECT_LE(rel_diff(got, want), kReduce) << "out";
            EXPECT_LE(rel_diff(mean_got, mean_want), kReduce) << "mean";
            if (cols > 1) {  // one column: var = 0, rstd = 1/sqrt(eps) either way
                EXPECT_LE(rel_diff(rstd_got, rstd_want), kReduce) << "rstd";
            }
            // Without statistics, and in place: the same output.
            auto inout = inp;
            t.layernorm_forward(inout.data(), nullptr, nullptr, inout.data(), gamma.data(),
                                beta.data(), rows, cols, eps);
            EXPECT_EQ(inout, got) << "in place, no statistics";
        }
    }
}

void check_layernorm_backward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.layernorm_backward, k::layernorm_backward_ref<float>);
    for (int64_t rows : kRows) {
        for (int64_t cols : widths(rng)) {
            SCOPED_TRACE(shape_tag(rows, cols));
            const auto inp = rng.vec<float>(rows * cols, 1.0, 3.0);
            const auto gamma = rng.vec<float>(cols, 0.5, 1.5), beta = rng.vec<float>(cols);
            std::vector<float> out(rows * cols), mean(rows), rstd(rows);
            k::layernorm_forward_ref<float>(out.data(), mean.data(), rstd.data(), inp.data(),
                                            gamma.data(), beta.data(), rows, cols, 1e-12f);
            const auto dout = rng.vec<float>(rows * cols);
            auto dinp_got = rng.vec<float>(rows * cols), dg_got = rng.vec<float>(cols),
                 db_got = rng.vec<float>(cols);
            auto dinp_want = dinp_got, dg_want = dg_got, db_want = db_got;
            t.layernorm_backward(dinp_got.data(), dg_got.data(), db_got.data(), dout.data(),
                                 inp.data(), gamma.data(), mean.data(), rstd.data(), rows, cols);
            k::layernorm_backward_ref<float>(dinp_want.data(), dg_want.data(), db_want.data(),
                                             dout.data(), inp.data(), gamma.data(), mean.data(),
                                             rstd.data(), rows, cols);
            EXPECT_LE(rel_diff(dinp_got, dinp_want), kReduce) << "dinp";
            EXPECT_LE(rel_diff(dg_got, dg_want), kReduce) << "dgamma";
            EXPECT_LE(rel_diff(db_got, db_want), kReduce) << "dbeta";
            // Null gradients are skipped, the others still accumulate.
            const auto dg_before = dg_got;
            t.layernorm_backward(dinp_got.data(), dg_got.data(), nullptr, dout.data(), inp.data(),
                                 gamma.data(), mean.data(), rstd.data(), rows, cols);
            k::layernorm_backward_ref<float>(dinp_want.data(), dg_want.data(), nullptr, dout.data(),
                                             inp.data(), gamma.data(), mean.data(), rstd.data(),
                                             rows, cols);
            EXPECT_LE(rel_diff(dinp_got, dinp_want), kReduce) << "dinp, no dbeta";
            EXPECT_LE(rel_diff(dg_got, dg_want), kReduce) << "dgamma, no dbeta";
            t.layernorm_backward(nullptr, nullptr, db_got.data(), dout.data(), inp.data(),
                                 gamma.data(), mean.data(), rstd.data(), rows, cols);
            k::layernorm_backward_ref<float>(nullptr, nullptr, db_want.data(), dout.data(),
                                             inp.data(), gamma.data(), mean.data(), rstd.data(),
                                             rows, cols);
            EXPECT_LE(rel_diff(db_got, db_want), kReduce) << "dbeta only";
            EXPECT_LE(rel_diff(dg_got, dg_want), kReduce) << "dgamma untouched";
        }
    }
}

// ---- softmax.h ----------------------------------------------------------------------------------

void check_softmax_forward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.softmax_forward, k::softmax_forward_ref<float>);
    for (int64_t rows : kRows) {
        for (int64_t cols : widths(rng)) {
            SCOPED_TRACE(shape_tag(rows, cols));
            const auto inp = rng.vec<float>(rows * cols, -8.0, 8.0);
            std::vector<float> got = guarded(rows * cols), want(rows * cols);
            t.softmax_forward(got.data(), inp.data(), rows, cols);
            k::softmax_forward_ref<float>(want.data(), inp.data(), rows, cols);
            expect_guard_and_trim(got, rows * cols);
            EXPECT_LE(rel_diff(got, want), kReduce);
        }
    }
}

void check_softmax_backward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.softmax_backward, k::softmax_backward_ref<float>);
    for (int64_t rows : kRows) {
        for (int64_t cols : widths(rng)) {
            SCOPED_TRACE(shape_tag(rows, cols));
            const auto inp = rng.vec<float>(rows * cols, -8.0, 8.0);
            std::vector<float> probs(rows * cols);
            k::softmax_forward_ref<float>(probs.data(), inp.data(), rows, cols);
            const auto dout = rng.vec<float>(rows * cols);
            auto got = rng.vec<float>(rows * cols);
            auto want = got;
            t.softmax_backward(got.data(), dout.data(), probs.data(), rows, cols);
            k::softmax_backward_ref<float>(want.data(), dout.data(), probs.data(), rows, cols);
            EXPECT_LE(rel_diff(got, want), kReduce);
        }
    }
}

// ---- attention.h --------------------------------------------------------------------------------

struct AttnSetup {
    std::vector<k::SeqSpan> seqs;
    k::AttentionShape shape{};
    int64_t rows = 0, c = 0, probs_size = 0, scratch_size = 0, items = 0;
    std::vector<float> qkv, dout;
    const float* q() const { return qkv.data(); }
    const float* kp() const { return qkv.data() + c; }
    const float* v() const { return qkv.data() + 2 * c; }
};

// Sequences of the given (len, keys), packed as BERT's fused QKV output [rows, 3C + 3] and
// dout [rows, C + 5].
AttnSetup make_attention(Rng& rng, int64_t num_heads, int64_t head_dim,
                         const std::vector<std::pair<int64_t, int64_t>>& lens) {
    AttnSetup s;
    for (const auto& [len, keys] : lens) {
        s.seqs.push_back({s.rows, len, keys, 0});
        s.rows += len;
    }
    s.c = num_heads * head_dim;
    s.shape.num_heads = num_heads;
    s.shape.head_dim = head_dim;
    s.shape.ld_q = s.shape.ld_k = s.shape.ld_v = 3 * s.c + 3;
    s.shape.ld_out = s.c + 5;
    const int64_t num_seqs = int64_t(s.seqs.size());
    s.probs_size = k::attention_assign_probs_offsets(s.seqs.data(), num_seqs, num_heads);
    s.scratch_size = k::attention_scratch_size(s.seqs.data(), num_seqs);
    s.items = num_seqs * num_heads;
    s.qkv = rng.vec<float>(s.rows * s.shape.ld_q, -2.0, 2.0);
    s.dout = rng.vec<float>(s.rows * s.shape.ld_out);
    return s;
}

// Random short sequences (1..20 rows, 1..len keys) for heads {1, 2, 3} of narrow widths, then
// sequences crossing the fused variants' tiles (keys by 16..64, rows by 4, Kᵀ / Vᵀ tiles of up
// to 128 columns on the stack), padded (keys < len) or not, with heads at and beyond that width
// (129 takes the gemm path) and a random width.
std::vector<AttnSetup> attention_cases(Rng& rng) {
    std::vector<AttnSetup> cases;
    for (int64_t num_heads : {1, 2, 3}) {
        for (int64_t head_dim : {1, 7, 16, 17, 33, 64}) {
            std::vector<std::pair<int64_t, int64_t>> lens;
            for (int i = 0; i < 3; ++i) {
                const int64_t len = rng.index(1, 20);
                lens.push_back({len, rng.index(1, len)});
            }
            cases.push_back(make_attention(rng, num_heads, head_dim, lens));
        }
    }
    const std::vector<std::pair<int64_t, int64_t>> long_lens = {
        {150, 150}, {67, 40}, {64, 64}, {33, 17}, {1, 1}, {130, 129}, {5, 2}};
    const std::vector<int64_t> head_dims = {16, 40, 64, 80, 128, 129, rng.index(1, 140)};
    for (int64_t head_dim : head_dims) {
        cases.push_back(make_attention(rng, 2, head_dim, long_lens));
    }
    return cases;
}

std::string attention_tag(const AttnSetup& s) {
    return "heads=" + std::to_string(s.shape.num_heads) +
           " head_dim=" + std::to_string(s.shape.head_dim) + " rows=" + std::to_string(s.rows);
}

// out's pad columns [C, ld_out) still hold the sentinel.
void expect_pad_columns_untouched(const AttnSetup& s, const std::vector<float>& out) {
    for (int64_t i = 0; i < s.rows; ++i) {
        for (int64_t j = s.c; j < s.shape.ld_out; ++j) {
            if (out[size_t(i * s.shape.ld_out + j)] != kSentinel) {
                ADD_FAILURE() << "pad column written at row " << i << " column " << j;
                return;
            }
        }
    }
}

// Training (probabilities saved) against the twin; inference (probs null) and items split over
// two calls give the training output.
void check_attention_forward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.attention_forward, k::attention_forward_ref<float>);
    for (const AttnSetup& s : attention_cases(rng)) {
        SCOPED_TRACE(attention_tag(s));
        std::vector<float> scratch(s.scratch_size), scratch_ref(s.scratch_size);
        std::vector<float> out(s.rows * s.shape.ld_out, kSentinel), out_ref = out;
        std::vector<float> probs(s.probs_size), probs_ref(s.probs_size);
        t.attention_forward(out.data(), probs.data(), s.q(), s.kp(), s.v(), s.seqs.data(), s.shape,
                            0, s.items, scratch.data());
        k::attention_forward_ref<float>(out_ref.data(), probs_ref.data(), s.q(), s.kp(), s.v(),
                                        s.seqs.data(), s.shape, 0, s.items, scratch_ref.data());
        EXPECT_LE(rel_diff(out, out_ref), kReduce) << "out";
        EXPECT_LE(rel_diff(probs, probs_ref), kReduce) << "probs";
        expect_pad_columns_untouched(s, out);

        std::vector<float> out_inf(out.size(), kSentinel);
        const int64_t mid = s.items / 2;
        t.attention_forward(out_inf.data(), nullptr, s.q(), s.kp(), s.v(), s.seqs.data(), s.shape,
                            0, mid, scratch.data());
        t.attention_forward(out_inf.data(), nullptr, s.q(), s.kp(), s.v(), s.seqs.data(), s.shape,
                            mid, s.items, scratch.data());
        EXPECT_LE(rel_diff(out_inf, out), kRound) << "inference, split in two calls";
    }
}

// One item at a time, prefetching another (or none): the twin's output, and bit for bit the
// same table's inference forward.
void check_attention_inference_item(const k::KernelTable& t, Rng& rng) {
    for (const AttnSetup& s : attention_cases(rng)) {
        SCOPED_TRACE(attention_tag(s));
        std::vector<float> scratch(s.scratch_size), scratch_ref(s.scratch_size);
        std::vector<float> out(s.rows * s.shape.ld_out, kSentinel), out_ref = out, out_fwd = out;
        for (int64_t item = s.items - 1; item >= 0; --item) {
            const int64_t next = item % 3 == 0 ? -1 : (item + 1) % s.items;
            t.attention_inference_item(out.data(), s.q(), s.kp(), s.v(), s.seqs.data(), s.shape,
                                       item, next, scratch.data());
        }
        k::attention_forward_ref<float>(out_ref.data(), nullptr, s.q(), s.kp(), s.v(),
                                        s.seqs.data(), s.shape, 0, s.items, scratch_ref.data());
        EXPECT_LE(rel_diff(out, out_ref), kReduce);
        expect_pad_columns_untouched(s, out);
        t.attention_forward(out_fwd.data(), nullptr, s.q(), s.kp(), s.v(), s.seqs.data(), s.shape,
                            0, s.items, scratch.data());
        EXPECT_EQ(out, out_fwd) << "against attention_forward of the same ISA";
    }
}

void check_attention_backward(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.attention_backward, k::attention_backward_ref<float>);
    for (const AttnSetup& s : attention_cases(rng)) {
        SCOPED_TRACE(attention_tag(s));
        std::vector<float> scratch(s.scratch_size), scratch_ref(s.scratch_size);
        // Probabilities from the entry's own forward: both backwards read the same ones.
        std::vector<float> out(s.rows * s.shape.ld_out), probs(s.probs_size);
        t.attention_forward(out.data(), probs.data(), s.q(), s.kp(), s.v(), s.seqs.data(), s.shape,
                            0, s.items, scratch.data());
        std::vector<float> dqkv = rng.vec<float>(s.qkv.size());
        std::vector<float> dqkv_ref = dqkv;
        t.attention_backward(dqkv.data(), dqkv.data() + s.c, dqkv.data() + 2 * s.c, s.dout.data(),
                             s.q(), s.kp(), s.v(), probs.data(), s.seqs.data(), s.shape, 0, s.items,
                             scratch.data());
        k::attention_backward_ref<float>(
            dqkv_ref.data(), dqkv_ref.data() + s.c, dqkv_ref.data() + 2 * s.c, s.dout.data(), s.q(),
            s.kp(), s.v(), probs.data(), s.seqs.data(), s.shape, 0, s.items, scratch_ref.data());
        EXPECT_LE(rel_diff(dqkv, dqkv_ref), kReduce);
    }
}

// ---- convert.h ----------------------------------------------------------------------------------

float from_bits(uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// Bit-equal to the twin, with ties, NaNs, infinities, subnormals and signed zeros among the
// random values.
void check_f32_to_bf16(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.f32_to_bf16, k::f32_to_bf16_ref);
    const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x7fc00001u, 0xff800001u,
                                0x7f800000u, 0x00018000u, 0x80000000u, 0x7f7fffffu};
    for (int64_t n : lengths(rng)) {
        SCOPED_TRACE("n=" + std::to_string(n));
        std::vector<float> in = rng.vec<float>(n);
        for (int64_t i = 0; i < n; i += 3) in[size_t(i)] = from_bits(special[size_t(i / 3) % 8]);
        std::vector<uint16_t> want(static_cast<size_t>(n)), got(size_t(n) + 1, 0xabcd);
        t.f32_to_bf16(got.data(), in.data(), n);
        k::f32_to_bf16_ref(want.data(), in.data(), n);
        EXPECT_EQ(got[size_t(n)], 0xabcd) << "wrote past the end";
        got.resize(size_t(n));
        EXPECT_EQ(got, want);
    }
}

// ---- quantize.h ---------------------------------------------------------------------------------

// Bit-equal to the twin (min and max are exact), with NaNs among the values (ignored), starting
// from a given range and from an empty one.
void check_min_max(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.min_max, k::min_max_ref);
    const float inf = std::numeric_limits<float>::infinity();
    for (int64_t n : lengths(rng)) {
        SCOPED_TRACE("n=" + std::to_string(n));
        std::vector<float> in = rng.vec<float>(n, -3.0, 2.0);
        if (n > 4) in[size_t(n / 2)] = std::numeric_limits<float>::quiet_NaN();
        for (auto [lo0, hi0] : {std::pair<float, float>{inf, -inf}, {-0.5f, 0.25f}}) {
            float lo = lo0, hi = hi0, lo_ref = lo0, hi_ref = hi0;
            t.min_max(&lo, &hi, in.data(), n);
            k::min_max_ref(&lo_ref, &hi_ref, in.data(), n);
            EXPECT_EQ(lo, lo_ref);
            EXPECT_EQ(hi, hi_ref);
            EXPECT_FALSE(std::isnan(lo) || std::isnan(hi));
        }
    }
}

// Bit-equal to the twin, with ties (x · inv_scale = m + 0.5), values beyond both ends of the
// codes, NaNs and infinities among the random values; for 8-bit and 7-bit codes.
void check_quantize_u8(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.quantize_u8, k::quantize_u8_ref);
    const float special[] = {2.5f,
                             -2.5f,
                             3.5f,
                             1e9f,
                             -1e9f,
                             std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::infinity(),
                             -0.0f};
    for (float qmax : {255.0f, 127.0f}) {
        for (int64_t n : lengths(rng)) {
            SCOPED_TRACE("n=" + std::to_string(n) + " qmax=" + std::to_string(qmax));
            std::vector<float> in = rng.vec<float>(n, -4.0, 4.0);
            for (int64_t i = 0; i < n; i += 5) in[size_t(i)] = special[size_t(i / 5) % 8];
            const k::U8Params p = k::u8_params(-4.0f, 4.0f, qmax);
            // inv_scale 1 makes the ties exact; then the real parameters.
            for (auto [inv, zero] : {std::pair<float, float>{1.0f, 3.0f}, {p.inv_scale, p.zero}}) {
                std::vector<uint8_t> want(static_cast<size_t>(n)), got(size_t(n) + 1, 0xab);
                t.quantize_u8(got.data(), in.data(), n, inv, zero, qmax);
                k::quantize_u8_ref(want.data(), in.data(), n, inv, zero, qmax);
                EXPECT_EQ(got[size_t(n)], 0xab) << "wrote past the end";
                got.resize(size_t(n));
                EXPECT_EQ(got, want);
            }
        }
    }
}

// Bit-equal to the twin (the same operations in the same order), with and without bias and
// accumulation, on rows of widths around the vector widths.
void check_dequantize_i32(const k::KernelTable& t, Rng& rng) {
    SKIP_IF_TWIN(t.dequantize_i32, k::dequantize_i32_ref);
    for (int64_t rows : kRows) {
        for (int64_t n : widths(rng)) {
            SCOPED_TRACE(shape_tag(rows, n));
            std::vector<int32_t> acc(size_t(rows * n)), col_sum(static_cast<size_t>(n)),
                row_zero(static_cast<size_t>(rows));
            for (auto& v : acc) v = int32_t(rng.index(-5000000, 5000000));
            for (auto& v : col_sum) v = int32_t(rng.index(-20000, 20000));
            for (auto& v : row_zero) v = int32_t(rng.index(0, 255));
            const auto row_scale = rng.vec<float>(size_t(rows), 1e-3, 1e-1);
            const auto col_scale = rng.vec<float>(size_t(n), 1e-4, 1e-2);
            const auto bias = rng.vec<float>(size_t(n));
            const auto init = rng.vec<float>(size_t(rows * n));
            for (const float* b : {bias.data(), static_cast<const float*>(nullptr)}) {
                for (int accumulate : {0, 1}) {
                    std::vector<float> got = guarded(rows * n), want = init;
                    std::copy(init.begin(), init.end(), got.begin());
                    t.dequantize_i32(got.data(), acc.data(), row_scale.data(), row_zero.data(),
                                     col_scale.data(), col_sum.data(), b, rows, n, accumulate);
                    k::dequantize_i32_ref(want.data(), acc.data(), row_scale.data(),
                                          row_zero.data(), col_scale.data(), col_sum.data(), b,
                                          rows, n, accumulate);
                    expect_guard_and_trim(got, rows * n);
                    EXPECT_EQ(got, want)
                        << "bias=" << (b != nullptr) << " accumulate=" << accumulate;
                }
            }
        }
    }
}

#undef SKIP_IF_TWIN

// ---- the registry -------------------------------------------------------------------------------

struct KernelCheck {
    const char* name;
    void (*check)(const k::KernelTable& t, Rng& rng);
};

// One check per kernel of the list, in its order.
const KernelCheck kChecks[] = {
#define FWSVD_KERNEL(name, ref, params, args) {#name, &check_##name},
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};
constexpr int kNumKernels = int(sizeof kChecks / sizeof kChecks[0]);

// The dispatching entry points of the public headers, as a table.
const k::KernelTable kEntryPoints = {
#define FWSVD_KERNEL(name, ref, params, args) .name = &k::name,
#include "kernels/kernel_list.inc"
#undef FWSVD_KERNEL
};

const k::Isa kIsas[] = {k::Isa::ref, k::Isa::avx2, k::Isa::avx512};

using KernelIsa = std::tuple<int, k::Isa>;

std::string case_name(const ::testing::TestParamInfo<KernelIsa>& info) {
    return std::string(kChecks[std::get<0>(info.param)].name) + "_" +
           k::isa_name(std::get<1>(info.param));
}

std::string kernel_name(const ::testing::TestParamInfo<int>& info) {
    return kChecks[info.param].name;
}

uint64_t case_seed(int index, k::Isa isa) {
    return 1000 + 10 * uint64_t(index) + uint64_t(isa);
}

class KernelRegistry : public ::testing::TestWithParam<KernelIsa> {
  private:
    IsaGuard guard_;
};

// The ISA's table entry against the scalar twin, with that ISA active (nested dispatch, e.g. the
// softmax of attention's gemm path, runs it too).
TEST_P(KernelRegistry, VariantMatchesTwin) {
    const auto [index, isa] = GetParam();
    if (int(isa) > int(k::detected_isa())) GTEST_SKIP() << "this CPU has no " << k::isa_name(isa);
    k::set_isa(isa);
    const uint64_t seed = case_seed(index, isa);
    SCOPED_TRACE("seed=" + std::to_string(seed));
    Rng rng(seed);
    kChecks[index].check(k::kernel_table(isa), rng);
}

INSTANTIATE_TEST_SUITE_P(Kernels, KernelRegistry,
                         ::testing::Combine(::testing::Range(0, kNumKernels),
                                            ::testing::ValuesIn(kIsas)),
                         case_name);

// The dispatching entry points call the table of the active ISA, whichever set_isa chose.
TEST(KernelEntryPoints, CallTheActiveTable) {
    IsaGuard guard;
    for (k::Isa isa : runnable_isas()) {
        k::set_isa(isa);
        EXPECT_EQ(&k::active_table(), &k::kernel_table(isa)) << k::isa_name(isa);
    }
}

class KernelEntryPoint : public ::testing::TestWithParam<int> {};

// Each public entry point, with the detected ISA active, passes the check: its arguments reach
// the variant in order. (The entry points are the same code for every ISA.)
TEST_P(KernelEntryPoint, MatchesTwin) {
    const int index = GetParam();
    IsaGuard guard;
    k::set_isa(k::detected_isa());
    const uint64_t seed = case_seed(index, k::detected_isa());
    SCOPED_TRACE("seed=" + std::to_string(seed));
    Rng rng(seed);
    kChecks[index].check(kEntryPoints, rng);
}

INSTANTIATE_TEST_SUITE_P(Kernels, KernelEntryPoint, ::testing::Range(0, kNumKernels), kernel_name);

// ---- beyond the twins: the kernels' own contracts, through the entry points ---------------------

// float -> bfloat16: the ref's rounding on known values.
TEST(KernelDispatch, Bf16Rounding) {
    EXPECT_EQ(k::f32_to_bf16_one(1.0f), 0x3f80);
    EXPECT_EQ(k::f32_to_bf16_one(-2.0f), 0xc000);
    EXPECT_EQ(k::f32_to_bf16_one(from_bits(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(k::f32_to_bf16_one(from_bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(k::f32_to_bf16_one(from_bits(0x3f808001u)), 0x3f81);  // above the tie
    EXPECT_EQ(k::f32_to_bf16_one(from_bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to infinity
    EXPECT_EQ(k::f32_to_bf16_one(-std::numeric_limits<float>::infinity()), 0xff80);
    EXPECT_EQ(k::f32_to_bf16_one(from_bits(0x7f800001u)), 0x7fc0);  // signalling NaN -> quiet
    EXPECT_EQ(k::f32_to_bf16_one(from_bits(0x00018000u)), 0x0002);  // subnormal tie to even
    EXPECT_EQ(k::bf16_to_f32(0x3f82), from_bits(0x3f820000u));
    const float in[3] = {1.0f, from_bits(0x3f818000u), from_bits(0x7f800001u)};
    uint16_t twin[3];
    k::f32_to_bf16_ref(twin, in, 3);
    EXPECT_EQ(twin[0], 0x3f80);
    EXPECT_EQ(twin[1], 0x3f82);
    EXPECT_EQ(twin[2], 0x7fc0);
}

// Element by element, not normwise: the vector transcendentals (erf, tanh, exp) against the
// double-precision ref on a fine grid. 1e-6 relative is ~16 ulp; the absolute floor covers the
// deep negative tails, where the ref's own 1 + erf / 1 + tanh cancels in double. gelu_tanh's
// forward gets 4e-6: x σ(2u) in float carries the rounding of u (2u = −14 at x = −4.6) into
// e^{−2u}.
TEST(KernelDispatch, ActivationsElementwiseAccuracy) {
    std::vector<float> x;
    for (int i = -10000; i <= 10000; ++i) x.push_back(float(i) * 1e-3f);
    const int64_t n = int64_t(x.size());
    const std::vector<double> xd(x.begin(), x.end());
    for_each_isa([&] {
        for (k::Activation act : kActivations) {
            SCOPED_TRACE("act=" + std::to_string(int(act)));
            std::vector<float> y(n), dy(n, 0.0f);
            std::vector<double> ref(n), dref(n, 0.0), ones(n, 1.0);
            const std::vector<float> onesf(n, 1.0f);
            k::activation_forward(act, y.data(), x.data(), n);
            k::activation_forward_ref<double>(act, ref.data(), xd.data(), n);
            k::activation_backward(act, dy.data(), onesf.data(), x.data(), n);
            k::activation_backward_ref<double>(act, dref.data(), ones.data(), xd.data(), n);
            int bad = 0, dbad = 0;
            for (int64_t i = 0; i < n; ++i) {
                const double rel = act == k::Activation::gelu_tanh ? 4e-6 : 1e-6;
                if (std::abs(y[i] - ref[i]) > rel * std::abs(ref[i]) + 1e-12 && bad++ < 3) {
                    ADD_FAILURE() << "forward at x=" << x[i] << ": " << y[i] << " vs " << ref[i];
                }
                if (std::abs(dy[i] - dref[i]) > 1e-6 * std::max(1.0, std::abs(dref[i])) &&
                    dbad++ < 3) {
                    ADD_FAILURE() << "backward at x=" << x[i] << ": " << dy[i] << " vs " << dref[i];
                }
            }
        }
    });
}

// The inference GELU against the exact double formula element by element on a fine grid within
// its contract, 2e-6 · max(1, |x|) absolute (a rational erf, not the few-ulp relative accuracy
// of activation_forward's gelu). Special values: NaN stays NaN, -inf gives 0, +inf gives +inf.
TEST(KernelDispatch, GeluInference) {
    std::vector<float> x;
    for (int i = -200000; i <= 200000; ++i) x.push_back(float(i) * 1e-4f);
    const int64_t n = int64_t(x.size());
    const std::vector<double> xd(x.begin(), x.end());
    std::vector<double> exact(static_cast<size_t>(n));
    k::activation_forward_ref<double>(k::Activation::gelu, exact.data(), xd.data(), n);
    for_each_isa([&] {
        std::vector<float> y(static_cast<size_t>(n));
        k::gelu_inference_forward(y.data(), x.data(), n);
        double worst = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double err = std::abs(double(y[i]) - exact[i]) / std::max(1.0, std::abs(xd[i]));
            worst = std::max(worst, err);
        }
        EXPECT_LE(worst, 2e-6);
        const float inf = std::numeric_limits<float>::infinity();
        const float special[3] = {std::numeric_limits<float>::quiet_NaN(), -inf, inf};
        float out[3];
        k::gelu_inference_forward(out, special, 3);
        EXPECT_TRUE(std::isnan(out[0]));
        EXPECT_EQ(out[1], 0.0f);
        EXPECT_EQ(out[2], inf);
    });
}

// linear_* run oneDNN for every ISA, and the registry's add_forward (bias) and
// sum_rows_accumulate (bias gradient) of the active one.
TEST(KernelDispatch, Linear) {
    Rng rng(104);
    for_each_isa([&] {
        for (int64_t n : {1, 5, 17}) {
            for (int64_t c_in : {1, 7, 33, 100}) {
                for (int64_t c_out : {1, 8, 17, 64}) {
                    SCOPED_TRACE("n=" + std::to_string(n) + " c_in=" + std::to_string(c_in) +
                                 " c_out=" + std::to_string(c_out));
                    const auto inp = rng.vec<float>(n * c_in), w = rng.vec<float>(c_out * c_in),
                               bias = rng.vec<float>(c_out);
                    std::vector<float> got(n * c_out), want(n * c_out);
                    for (const float* bp : {bias.data(), static_cast<const float*>(nullptr)}) {
                        k::linear_forward(got.data(), inp.data(), w.data(), bp, n, c_in, c_out);
                        k::linear_forward_ref<float>(want.data(), inp.data(), w.data(), bp, n, c_in,
                                                     c_out);
                        EXPECT_LE(rel_diff(got, want), kReduce) << "linear_forward";
                    }
                    const auto dout = rng.vec<float>(n * c_out);
                    auto di_got = rng.vec<float>(n * c_in), dw_got = rng.vec<float>(c_out * c_in),
                         db_got = rng.vec<float>(c_out);
                    auto di_want = di_got, dw_want = dw_got, db_want = db_got;
                    k::linear_backward(di_got.data(), dw_got.data(), db_got.data(), dout.data(),
                                       inp.data(), w.data(), n, c_in, c_out);
                    k::linear_backward_ref<float>(di_want.data(), dw_want.data(), db_want.data(),
                                                  dout.data(), inp.data(), w.data(), n, c_in,
                                                  c_out);
                    EXPECT_LE(rel_diff(di_got, di_want), kReduce) << "linear_backward dinp";
                    EXPECT_LE(rel_diff(dw_got, dw_want), kReduce) << "linear_backward dweight";
                    EXPECT_LE(rel_diff(db_got, db_want), kReduce) << "linear_backward dbias";
                    // Null gradients are skipped, the others still accumulate.
                    const auto dw_before = dw_got;
                    k::linear_backward(di_got.data(), nullptr, nullptr, dout.data(), inp.data(),
                                       w.data(), n, c_in, c_out);
                    k::linear_backward_ref<float>(di_want.data(), nullptr, nullptr, dout.data(),
                                                  inp.data(), w.data(), n, c_in, c_out);
                    EXPECT_LE(rel_diff(di_got, di_want), kReduce) << "linear_backward dinp only";
                    EXPECT_EQ(dw_got, dw_before);
                }
            }
        }
    });
}

}  // namespace
}  // namespace fwsvd::testing
