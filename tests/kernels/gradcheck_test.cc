// Finite-difference checks of every backward kernel, in double precision on the _ref<double> twins.
// Each test: L = Σ out ⊙ R with random R; backward with dout = R into pre-filled buffers (so +=
// is verified); what it added must equal central differences of L. Tolerance: kGradTol (1e-6,
// normwise relative) with step kFdStep (1e-6), see grad_check.h.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/dropout.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "kernels/loss.h"
#include "kernels/softmax.h"
#include "tests/kernels/grad_check.h"

namespace fwsvd::testing {
namespace {

namespace k = fwsvd::kernels;

// ---- linear ------------------------------------------------------------------------------------

TEST(KernelGrad, Linear) {
    Rng rng(1);
    for (bool with_bias : {true, false}) {
        SCOPED_TRACE(with_bias ? "bias" : "no bias");
        const int64_t n = 5, c_in = 7, c_out = 4;
        auto inp = rng.vec(n * c_in);
        auto weight = rng.vec(c_out * c_in);
        auto bias = rng.vec(c_out);
        const auto r = rng.vec(n * c_out);
        std::vector<double> out(n * c_out);
        auto loss = [&] {
            k::linear_forward_ref<double>(out.data(), inp.data(), weight.data(),
                                          with_bias ? bias.data() : nullptr, n, c_in, c_out);
            return dot(out, r);
        };
        GradBuffer dinp(inp.size(), rng), dweight(weight.size(), rng), dbias(bias.size(), rng);
        k::linear_backward_ref<double>(dinp.data(), dweight.data(),
                                       with_bias ? dbias.data() : nullptr, r.data(), inp.data(),
                                       weight.data(), n, c_in, c_out);
        check_grad("dinp", inp, dinp.added(), loss);
        check_grad("dweight", weight, dweight.added(), loss);
        if (with_bias) check_grad("dbias", bias, dbias.added(), loss);
        if (!with_bias) {
            EXPECT_EQ(dbias.values(), dbias.prefill()) << "null dbias was written";
        }
    }
}

TEST(KernelGrad, LinearNullGradientsAreSkipped) {
    Rng rng(2);
    const int64_t n = 3, c_in = 5, c_out = 6;
    auto inp = rng.vec(n * c_in);
    auto weight = rng.vec(c_out * c_in);
    auto bias = rng.vec(c_out);
    const auto r = rng.vec(n * c_out);
    std::vector<double> out(n * c_out);
    auto loss = [&] {
        k::linear_forward_ref<double>(out.data(), inp.data(), weight.data(), bias.data(), n, c_in,
                                      c_out);
        return dot(out, r);
    };
    // Only dweight requested.
    GradBuffer dweight(weight.size(), rng);
    k::linear_backward_ref<double>(nullptr, dweight.data(), nullptr, r.data(), inp.data(),
                                   weight.data(), n, c_in, c_out);
    check_grad("dweight alone", weight, dweight.added(), loss);
    // Only dinp and dbias requested.
    GradBuffer dinp(inp.size(), rng), dbias(bias.size(), rng);
    k::linear_backward_ref<double>(dinp.data(), nullptr, dbias.data(), r.data(), inp.data(),
                                   weight.data(), n, c_in, c_out);
    check_grad("dinp without dweight", inp, dinp.added(), loss);
    check_grad("dbias without dweight", bias, dbias.added(), loss);
}

// ---- layernorm ---------------------------------------------------------------------------------

TEST(KernelGrad, LayerNorm) {
    Rng rng(3);
    for (int64_t c : {3, 9, 33}) {  // c = 2 is degenerate: outputs ±1 whatever the input
        SCOPED_TRACE("c=" + std::to_string(c));
        const int64_t n = 4;
        const double eps = 1e-5;
        auto inp = rng.vec(n * c, 2.0, 4.0);  // a non-zero mean, so its subtraction matters
        auto gamma = rng.vec(c, 0.5, 1.5);
        auto beta = rng.vec(c);
        const auto r = rng.vec(n * c);
        std::vector<double> out(n * c), mean(n), rstd(n);
        auto loss = [&] {
            k::layernorm_forward_ref<double>(out.data(), nullptr, nullptr, inp.data(), gamma.data(),
                                             beta.data(), n, c, eps);
            return dot(out, r);
        };
        k::layernorm_forward_ref<double>(out.data(), mean.data(), rstd.data(), inp.data(),
                                         gamma.data(), beta.data(), n, c, eps);
        GradBuffer dinp(inp.size(), rng), dgamma(gamma.size(), rng), dbeta(beta.size(), rng);
        k::layernorm_backward_ref<double>(dinp.data(), dgamma.data(), dbeta.data(), r.data(),
                                          inp.data(), gamma.data(), mean.data(), rstd.data(), n, c);
        check_grad("dinp", inp, dinp.added(), loss);
        check_grad("dgamma", gamma, dgamma.added(), loss);
        check_grad("dbeta", beta, dbeta.added(), loss);
        // Each gradient is optional on its own.
        GradBuffer dgamma_only(gamma.size(), rng);
        k::layernorm_backward_ref<double>(nullptr, dgamma_only.data(), nullptr, r.data(),
                                          inp.data(), gamma.data(), mean.data(), rstd.data(), n, c);
        EXPECT_LE(rel_diff(dgamma_only.added(), dgamma.added()), 1e-14);
    }
}

// ---- activations -------------------------------------------------------------------------------

TEST(KernelGrad, Activations) {
    const k::Activation acts[] = {k::Activation::gelu, k::Activation::gelu_tanh,
                                  k::Activation::relu, k::Activation::silu, k::Activation::tanh};
    const char* names[] = {"gelu", "gelu_tanh", "relu", "silu", "tanh"};
    Rng rng(4);
    for (int a = 0; a < 5; ++a) {
        SCOPED_TRACE(names[a]);
        const int64_t n = 64;
        auto inp = rng.vec(n, -4.0, 4.0);
        for (auto& x : inp) {
            if (std::abs(x) < 1e-3) x = 0.5;  // relu has a kink at 0
        }
        const auto r = rng.vec(n);
        std::vector<double> out(n);
        auto loss = [&] {
            k::activation_forward_ref<double>(acts[a], out.data(), inp.data(), n);
            return dot(out, r);
        };
        GradBuffer dinp(inp.size(), rng);
        k::activation_backward_ref<double>(acts[a], dinp.data(), r.data(), inp.data(), n);
        check_grad("dinp", inp, dinp.added(), loss);
    }
}

// ---- softmax -----------------------------------------------------------------------------------

TEST(KernelGrad, Softmax) {
    Rng rng(5);
    for (int64_t cols : {1, 2, 11}) {
        SCOPED_TRACE("cols=" + std::to_string(cols));
        const int64_t rows = 3;
        auto inp = rng.vec(rows * cols, -3.0, 3.0);
        const auto r = rng.vec(rows * cols);
        std::vector<double> out(rows * cols);
        auto loss = [&] {
            k::softmax_forward_ref<double>(out.data(), inp.data(), rows, cols);
            return dot(out, r);
        };
        loss();
        GradBuffer dinp(inp.size(), rng);
        k::softmax_backward_ref<double>(dinp.data(), r.data(), out.data(), rows, cols);
        if (cols == 1) {
            // softmax of one entry is constant: the gradient must be exactly zero.
            for (double g : dinp.added()) EXPECT_EQ(g, 0.0);
            continue;
        }
        check_grad("dinp", inp, dinp.added(), loss);
    }
}

// ---- attention ---------------------------------------------------------------------------------

struct AttentionCase {
    int64_t num_heads, head_dim;
    std::vector<std::pair<int64_t, int64_t>> len_keys;  // per sequence
    bool packed_qkv;  // q, k, v interleaved in one [N, 3C + pad] buffer (BERT's fused QKV)
};

void check_attention_grad(const AttentionCase& tc, uint64_t seed) {
    Rng rng(seed);
    const int64_t h = tc.num_heads, d = tc.head_dim, c = h * d;
    std::vector<k::SeqSpan> seqs;
    int64_t rows = 0;
    for (auto [len, keys] : tc.len_keys) {
        seqs.push_back({rows, len, keys, -1});
        rows += len;
    }
    const int64_t nseq = int64_t(seqs.size());
    const int64_t probs_size = k::attention_assign_probs_offsets(seqs.data(), nseq, h);
    std::vector<double> scratch(k::attention_scratch_size(seqs.data(), nseq));

    k::AttentionShape shape{};
    shape.num_heads = h;
    shape.head_dim = d;
    // One buffer holds q, k and v; with packed_qkv they share rows, else they follow each other.
    int64_t q_at, k_at, v_at;
    if (tc.packed_qkv) {
        shape.ld_q = shape.ld_k = shape.ld_v = 3 * c + 1;
        q_at = 0, k_at = c, v_at = 2 * c;
    } else {
        shape.ld_q = shape.ld_k = shape.ld_v = c;
        q_at = 0, k_at = rows * c, v_at = 2 * rows * c;
    }
    const int64_t qkv_size = tc.packed_qkv ? rows * shape.ld_q : 3 * rows * c;
    shape.ld_out = c + 2;

    auto qkv = rng.vec(qkv_size, -1.5, 1.5);
    auto r = rng.vec(rows * shape.ld_out);
    for (int64_t i = 0; i < rows; ++i) {
        for (int64_t j = c; j < shape.ld_out; ++j) r[i * shape.ld_out + j] = 0;  // padding
    }
    std::vector<double> out(rows * shape.ld_out, 0.0), probs(probs_size);
    const int64_t items = nseq * h;
    auto forward = [&](double* p) {
        k::attention_forward_ref<double>(out.data(), p, qkv.data() + q_at, qkv.data() + k_at,
                                         qkv.data() + v_at, seqs.data(), shape, 0, items,
                                         scratch.data());
    };
    auto loss = [&] {
        forward(nullptr);
        return dot(out, r);
    };
    forward(probs.data());
    GradBuffer dqkv(qkv.size(), rng);
    k::attention_backward_ref<double>(dqkv.data() + q_at, dqkv.data() + k_at, dqkv.data() + v_at,
                                      r.data(), qkv.data() + q_at, qkv.data() + k_at,
                                      qkv.data() + v_at, probs.data(), seqs.data(), shape, 0, items,
                                      scratch.data());
    // One check over the whole buffer covers dq, dk, dv, the padding columns (zero) and the key
    // rows >= keys (zero).
    check_grad("dq, dk, dv", qkv, dqkv.added(), loss);

    // Rows of dk/dv at positions >= keys and padding columns are untouched, bit for bit.
    const auto& got = dqkv.values();
    const auto& pre = dqkv.prefill();
    for (const auto& s : seqs) {
        for (int64_t i = s.keys; i < s.len; ++i) {
            for (int64_t j = 0; j < c; ++j) {
                const int64_t row = s.offset + i;
                EXPECT_EQ(got[k_at + row * shape.ld_k + j], pre[k_at + row * shape.ld_k + j]);
                EXPECT_EQ(got[v_at + row * shape.ld_v + j], pre[v_at + row * shape.ld_v + j]);
            }
        }
    }
}

TEST(KernelGrad, AttentionSingleSequence) {
    check_attention_grad({1, 4, {{5, 5}}, false}, 10);
}

TEST(KernelGrad, AttentionPaddedKeys) {
    check_attention_grad({2, 3, {{6, 4}}, true}, 11);
}

TEST(KernelGrad, AttentionManySequencesAndHeads) {
    // Different lengths, keys < len (right padding), a one-row sequence, a one-key sequence.
    check_attention_grad({3, 5, {{5, 3}, {1, 1}, {4, 4}, {7, 2}}, true}, 12);
    check_attention_grad({2, 1, {{3, 3}, {6, 1}, {2, 2}}, false}, 13);
    check_attention_grad({4, 2, {{4, 2}, {5, 5}}, true}, 14);
}

// ---- embedding ---------------------------------------------------------------------------------

TEST(KernelGrad, Embedding) {
    Rng rng(6);
    for (bool with_type : {true, false}) {
        SCOPED_TRACE(with_type ? "token types" : "no token types");
        const int64_t n = 9, hid = 5, vocab = 6, max_pos = 7, types = 2;
        const std::vector<int32_t> ids = {1, 4, 4, 0, 5, 1, 1, 3, 2};  // repeats: scatter-add
        const std::vector<int32_t> pos_ids = {0, 1, 2, 3, 4, 0, 1, 2, 6};
        const std::vector<int32_t> type_ids = {0, 0, 1, 1, 1, 0, 1, 0, 0};
        auto word = rng.vec(vocab * hid), pos = rng.vec(max_pos * hid), type = rng.vec(types * hid);
        const auto r = rng.vec(n * hid);
        std::vector<double> out(n * hid);
        auto loss = [&] {
            k::embedding_forward_ref<double>(out.data(), ids.data(), pos_ids.data(),
                                             with_type ? type_ids.data() : nullptr, word.data(),
                                             pos.data(), with_type ? type.data() : nullptr, n, hid);
            return dot(out, r);
        };
        GradBuffer dword(word.size(), rng), dpos(pos.size(), rng), dtype(type.size(), rng);
        k::embedding_backward_ref<double>(
            dword.data(), dpos.data(), with_type ? dtype.data() : nullptr, r.data(), ids.data(),
            pos_ids.data(), with_type ? type_ids.data() : nullptr, n, hid);
        check_grad("dword", word, dword.added(), loss);
        check_grad("dpos", pos, dpos.added(), loss);
        if (with_type) check_grad("dtype", type, dtype.added(), loss);
        if (!with_type) {
            EXPECT_EQ(dtype.values(), dtype.prefill()) << "null dtype was written";
        }
    }
}

// ---- losses ------------------------------------------------------------------------------------

TEST(KernelGrad, CrossEntropy) {
    Rng rng(7);
    for (int64_t c : {1, 2, 5}) {
        SCOPED_TRACE("classes=" + std::to_string(c));
        const int64_t b = 4;
        auto logits = rng.vec(b * c, -3.0, 3.0);
        const auto labels = rng.ids(b, int32_t(c));
        const auto r = rng.vec(b);  // dlosses
        std::vector<double> losses(b), probs(b * c);
        auto loss = [&] {
            k::cross_entropy_forward_ref<double>(losses.data(), probs.data(), logits.data(),
                                                 labels.data(), b, c);
            return dot(losses, r);
        };
        loss();
        GradBuffer dlogits(logits.size(), rng);
        k::cross_entropy_backward_ref<double>(dlogits.data(), r.data(), probs.data(), labels.data(),
                                              b, c);
        if (c == 1) {
            for (double g : dlogits.added()) EXPECT_EQ(g, 0.0);
            for (double l : losses) EXPECT_EQ(l, 0.0);
            continue;
        }
        check_grad("dlogits", logits, dlogits.added(), loss);
    }
}

TEST(KernelGrad, Mse) {
    Rng rng(8);
    const int64_t b = 7;
    auto preds = rng.vec(b), targets = rng.vec(b);
    const auto r = rng.vec(b);
    std::vector<double> losses(b);
    auto loss = [&] {
        k::mse_forward_ref<double>(losses.data(), preds.data(), targets.data(), b);
        return dot(losses, r);
    };
    GradBuffer dpreds(preds.size(), rng);
    k::mse_backward_ref<double>(dpreds.data(), r.data(), preds.data(), targets.data(), b);
    check_grad("dpreds", preds, dpreds.added(), loss);
}

TEST(KernelGrad, Distillation) {
    Rng rng(11);
    for (int64_t c : {2, 3, 6}) {
        for (double t : {1.0, 2.0, 0.5}) {
            SCOPED_TRACE("classes=" + std::to_string(c) + " t=" + std::to_string(t));
            const int64_t b = 4;
            auto student = rng.vec(b * c, -3.0, 3.0);
            const auto teacher = rng.vec(b * c, -3.0, 3.0);
            const auto r = rng.vec(b);  // dlosses
            std::vector<double> losses(b);
            auto loss = [&] {
                k::kd_forward_ref<double>(losses.data(), student.data(), teacher.data(), b, c, t);
                return dot(losses, r);
            };
            loss();
            for (double l : losses) EXPECT_GE(l, 0.0);  // a KL divergence
            GradBuffer dstudent(student.size(), rng);
            k::kd_backward_ref<double>(dstudent.data(), r.data(), student.data(), teacher.data(), b,
                                       c, t);
            check_grad("dstudent", student, dstudent.added(), loss);
        }
    }
}

TEST(KernelGrad, DistillationOfIdenticalLogitsIsZero) {
    Rng rng(12);
    const int64_t b = 3, c = 4;
    const auto z = rng.vec<float>(b * c, -5.0, 5.0);
    const std::vector<float> r(b, 1.0f);
    std::vector<float> losses(b, -1.0f), d(b * c, 0.0f);
    k::kd_forward(losses.data(), z.data(), z.data(), b, c, 2.0f);
    k::kd_backward(d.data(), r.data(), z.data(), z.data(), b, c, 2.0f);
    for (float l : losses) EXPECT_EQ(l, 0.0f);
    for (float g : d) EXPECT_EQ(g, 0.0f);
}

// ---- dropout (float only; linear once the mask is fixed) ---------------------------------------

TEST(KernelGrad, Dropout) {
    // Dropout has no double twin. With (seed, offset) fixed the mask is fixed and the map is
    // linear, so a central difference with a large step (0.25, exact in float) is exact up to
    // float rounding of the outputs: tolerance 1e-5.
    Rng rng(9);
    const int64_t n = 300;
    const float p = 0.3f;
    const uint64_t seed = 42, offset = 1000;
    auto inp = rng.vec<float>(n);
    const auto r = rng.vec<float>(n);
    std::vector<float> out(n);
    std::vector<uint8_t> mask(n);
    auto loss = [&] {
        k::dropout_forward(out.data(), mask.data(), inp.data(), n, p, seed, offset);
        return dot(out, r);
    };
    loss();
    GradBuffer<float> dinp(inp.size(), rng);
    k::dropout_backward(dinp.data(), r.data(), mask.data(), n, p);
    check_grad("dinp", inp, dinp.added(), loss, 1e-5, 0.25);
}

}  // namespace
}  // namespace fwsvd::testing
