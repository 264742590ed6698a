// Element-wise activations (Hugging Face ACT2FN numerics) and their derivatives.
#include "kernels/activation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/erf_rational.h"

namespace fwsvd::kernels {

// The dispatching float entry points are defined in kernel_table.cc from kernel_list.inc.

// ---- scalar twins (computed in double) ---------------------------------------------------------

namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;      // 1/√2
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/√(2π)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // √(2/π)
constexpr double kGeluTanhC = 0.044715;

[[noreturn]] void bad_activation(Activation act) {
    std::fprintf(stderr, "fwsvd::kernels: unknown Activation %d\n", static_cast<int>(act));
    std::abort();
}

double act_value(Activation act, double x) {
    switch (act) {
        case Activation::gelu:
            return 0.5 * x * (1.0 + std::erf(x * kSqrt1_2));
        case Activation::gelu_tanh: {
            const double u = kSqrt2OverPi * (x + kGeluTanhC * x * x * x);
            return 0.5 * x * (1.0 + std::tanh(u));
        }
        case Activation::relu:
            return x > 0 ? x : 0.0;
        case Activation::silu:
            return x / (1.0 + std::exp(-x));
        case Activation::tanh:
            return std::tanh(x);
    }
    bad_activation(act);
}

// d act / dx at x. relu'(0) = 0, as torch's threshold_backward.
double act_grad(Activation act, double x) {
    switch (act) {
        case Activation::gelu:
            return 0.5 * (1.0 + std::erf(x * kSqrt1_2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
        case Activation::gelu_tanh: {
            const double u = kSqrt2OverPi * (x + kGeluTanhC * x * x * x);
            const double t = std::tanh(u);
            const double du = kSqrt2OverPi * (1.0 + 3.0 * kGeluTanhC * x * x);
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
        }
        case Activation::relu:
            return x > 0 ? 1.0 : 0.0;
        case Activation::silu: {
            const double s = 1.0 / (1.0 + std::exp(-x));
            return s * (1.0 + x * (1.0 - s));
        }
        case Activation::tanh: {
            const double t = std::tanh(x);
            return 1.0 - t * t;
        }
    }
    bad_activation(act);
}

}  // namespace

template <typename T>
void activation_forward_ref(Activation act, T* out, const T* inp, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = T(act_value(act, double(inp[i])));
}

template <typename T>
void activation_backward_ref(Activation act, T* dinp, const T* dout, const T* inp, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        dinp[i] = T(double(dinp[i]) + double(dout[i]) * act_grad(act, double(inp[i])));
    }
}

template <typename T>
void gelu_inference_forward_ref(T* out, const T* inp, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const T x = std::isnan(inp[i]) ? inp[i] : std::max(T(kGeluInferenceLow), inp[i]);
        const T c = T(kErfRationalClamp);
        const T z = std::min(c, std::max(-c, x * T(kSqrt1_2)));
        const T z2 = z * z;
        T p = T(kErfRationalP[6]), q = T(kErfRationalQ[4]);
        for (int k = 5; k >= 0; --k) p = p * z2 + T(kErfRationalP[k]);
        for (int k = 3; k >= 0; --k) q = q * z2 + T(kErfRationalQ[k]);
        const T half_x = T(0.5) * x;
        out[i] = half_x * (z * p / q) + half_x;
    }
}

template void gelu_inference_forward_ref<float>(float*, const float*, int64_t);
template void gelu_inference_forward_ref<double>(double*, const double*, int64_t);
template void activation_forward_ref<float>(Activation, float*, const float*, int64_t);
template void activation_forward_ref<double>(Activation, double*, const double*, int64_t);
template void activation_backward_ref<float>(Activation, float*, const float*, const float*,
                                             int64_t);
template void activation_backward_ref<double>(Activation, double*, const double*, const double*,
                                              int64_t);
}  // namespace fwsvd::kernels
