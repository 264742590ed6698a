// Element-wise activations as Hugging Face's ACT2FN computes them.
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

enum class Activation {
    gelu,       // "gelu": x/2 (1 + erf(x/√2)), exact
    gelu_tanh,  // "gelu_new", "gelu_pytorch_tanh", "gelu_fast": x/2 (1 + tanh(√(2/π)(x +
                // 0.044715x³)))
    relu,       // "relu"
    silu,       // "silu", "swish": x·sigmoid(x)
    tanh,       // "tanh" (also the pooler's activation)
};

// out[i] = act(inp[i]); out may alias inp.
void activation_forward(Activation act, float* out, const float* inp, int64_t n);
// dinp[i] += dout[i] * act'(inp[i]); inp is the forward's input.
void activation_backward(Activation act, float* dinp, const float* dout, const float* inp,
                         int64_t n);
// Inference fusion after a GEMM: inout[r, c] = act(inout[r, c] + bias[c]). bias may be null.
void bias_activation_forward(Activation act, float* inout, const float* bias, int64_t rows,
                             int64_t cols);

template <typename T>
void activation_forward_ref(Activation act, T* out, const T* inp, int64_t n);
template <typename T>
void activation_backward_ref(Activation act, T* dinp, const T* dout, const T* inp, int64_t n);
template <typename T>
void bias_activation_forward_ref(Activation act, T* inout, const T* bias, int64_t rows,
                                 int64_t cols);

}  // namespace fwsvd::kernels
