// Per-example cross-entropy (log-sum-exp), squared-error and distillation (softened KL) losses
// with their gradients.
#include "kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace fwsvd::kernels {

// ---- float entry points: one implementation for every ISA (the scalar twin) ---------------------

void cross_entropy_forward(float* losses, float* probs, const float* logits, const int32_t* labels,
                           int64_t b, int64_t c) {
    cross_entropy_forward_ref<float>(losses, probs, logits, labels, b, c);
}

void cross_entropy_backward(float* dlogits, const float* dlosses, const float* probs,
                            const int32_t* labels, int64_t b, int64_t c) {
    cross_entropy_backward_ref<float>(dlogits, dlosses, probs, labels, b, c);
}

void mse_forward(float* losses, const float* preds, const float* targets, int64_t b) {
    mse_forward_ref<float>(losses, preds, targets, b);
}

void mse_backward(float* dpreds, const float* dlosses, const float* preds, const float* targets,
                  int64_t b) {
    mse_backward_ref<float>(dpreds, dlosses, preds, targets, b);
}

void kd_forward(float* losses, const float* student, const float* teacher, int64_t b, int64_t c,
                float t) {
    kd_forward_ref<float>(losses, student, teacher, b, c, t);
}

void kd_backward(float* dstudent, const float* dlosses, const float* student, const float* teacher,
                 int64_t b, int64_t c, float t) {
    kd_backward_ref<float>(dstudent, dlosses, student, teacher, b, c, t);
}

// ---- scalar twins ------------------------------------------------------------------------------

template <typename T>
void cross_entropy_forward_ref(T* losses, T* probs, const T* logits, const int32_t* labels,
                               int64_t b, int64_t c) {
    for (int64_t i = 0; i < b; ++i) {
        const T* z = logits + i * c;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < c; ++j) mx = std::max(mx, double(z[j]));
        double sum = 0;
        for (int64_t j = 0; j < c; ++j) sum += std::exp(double(z[j]) - mx);
        const double lse = mx + std::log(sum);
        losses[i] = T(lse - double(z[labels[i]]));
        for (int64_t j = 0; j < c; ++j) probs[i * c + j] = T(std::exp(double(z[j]) - lse));
    }
}

template <typename T>
void cross_entropy_backward_ref(T* dlogits, const T* dlosses, const T* probs, const int32_t* labels,
                                int64_t b, int64_t c) {
    for (int64_t i = 0; i < b; ++i) {
        const double g = double(dlosses[i]);
        for (int64_t j = 0; j < c; ++j) {
            const double target = j == labels[i] ? 1.0 : 0.0;
            dlogits[i * c + j] =
                T(double(dlogits[i * c + j]) + g * (double(probs[i * c + j]) - target));
        }
    }
}

template <typename T>
void mse_forward_ref(T* losses, const T* preds, const T* targets, int64_t b) {
    for (int64_t i = 0; i < b; ++i) {
        const double d = double(preds[i]) - double(targets[i]);
        losses[i] = T(d * d);
    }
}

template <typename T>
void mse_backward_ref(T* dpreds, const T* dlosses, const T* preds, const T* targets, int64_t b) {
    for (int64_t i = 0; i < b; ++i) {
        const double d = double(preds[i]) - double(targets[i]);
        dpreds[i] = T(double(dpreds[i]) + double(dlosses[i]) * 2.0 * d);
    }
}

namespace {

// log softmax(z / t) of one row, in double.
template <typename T>
void log_softmax_scaled(double* out, const T* z, int64_t c, double t) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < c; ++j) mx = std::max(mx, double(z[j]) / t);
    double sum = 0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(double(z[j]) / t - mx);
    const double lse = mx + std::log(sum);
    for (int64_t j = 0; j < c; ++j) out[j] = double(z[j]) / t - lse;
}

}  // namespace

template <typename T>
void kd_forward_ref(T* losses, const T* student, const T* teacher, int64_t b, int64_t c, T t) {
    std::vector<double> lp(static_cast<size_t>(c)), lq(static_cast<size_t>(c));
    const double td = double(t);
    for (int64_t i = 0; i < b; ++i) {
        log_softmax_scaled(lp.data(), teacher + i * c, c, td);
        log_softmax_scaled(lq.data(), student + i * c, c, td);
        double kl = 0;
        for (int64_t j = 0; j < c; ++j)
            kl += std::exp(lp[size_t(j)]) * (lp[size_t(j)] - lq[size_t(j)]);
        losses[i] = T(td * td * kl);
    }
}

template <typename T>
void kd_backward_ref(T* dstudent, const T* dlosses, const T* student, const T* teacher, int64_t b,
                     int64_t c, T t) {
    std::vector<double> lp(static_cast<size_t>(c)), lq(static_cast<size_t>(c));
    const double td = double(t);
    for (int64_t i = 0; i < b; ++i) {
        log_softmax_scaled(lp.data(), teacher + i * c, c, td);
        log_softmax_scaled(lq.data(), student + i * c, c, td);
        const double g = double(dlosses[i]) * td;
        for (int64_t j = 0; j < c; ++j) {
            const size_t k = size_t(j);
            dstudent[i * c + j] =
                T(double(dstudent[i * c + j]) + g * (std::exp(lq[k]) - std::exp(lp[k])));
        }
    }
}

template void cross_entropy_forward_ref<float>(float*, float*, const float*, const int32_t*,
                                               int64_t, int64_t);
template void cross_entropy_forward_ref<double>(double*, double*, const double*, const int32_t*,
                                                int64_t, int64_t);
template void cross_entropy_backward_ref<float>(float*, const float*, const float*, const int32_t*,
                                                int64_t, int64_t);
template void cross_entropy_backward_ref<double>(double*, const double*, const double*,
                                                 const int32_t*, int64_t, int64_t);
template void mse_forward_ref<float>(float*, const float*, const float*, int64_t);
template void mse_forward_ref<double>(double*, const double*, const double*, int64_t);
template void mse_backward_ref<float>(float*, const float*, const float*, const float*, int64_t);
template void mse_backward_ref<double>(double*, const double*, const double*, const double*,
                                       int64_t);
template void kd_forward_ref<float>(float*, const float*, const float*, int64_t, int64_t, float);
template void kd_forward_ref<double>(double*, const double*, const double*, int64_t, int64_t,
                                     double);
template void kd_backward_ref<float>(float*, const float*, const float*, const float*, int64_t,
                                     int64_t, float);
template void kd_backward_ref<double>(double*, const double*, const double*, const double*, int64_t,
                                      int64_t, double);

}  // namespace fwsvd::kernels
