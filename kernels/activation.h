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

// Inference GELU ("gelu", exact erf form) at a third of activation_forward's cost: erf from a
// rational approximation, accurate to 2e-6 · max(1, |x|) absolute rather than to a few ulp
// relative (in the negative tail, where gelu(x) -> 0, it keeps PyTorch's float cancellation of
// 1 + erf). out may alias inp.
void gelu_inference_forward(float* out, const float* inp, int64_t n);

template <typename T>
void activation_forward_ref(Activation act, T* out, const T* inp, int64_t n);
// The same rational formula, scalar, in T (gelu_inference_forward's twin; for the exact GELU
// see activation_forward_ref).
template <typename T>
void gelu_inference_forward_ref(T* out, const T* inp, int64_t n);
template <typename T>
void activation_backward_ref(Activation act, T* dinp, const T* dout, const T* inp, int64_t n);

}  // namespace fwsvd::kernels
