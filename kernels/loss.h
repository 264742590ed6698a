// Per-example losses of the classification and regression heads (the caller takes the mean).
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// losses[i] = -log softmax(logits[i, :])[labels[i]]; probs[i, :] = softmax(logits[i, :]).
void cross_entropy_forward(float* losses, float* probs, const float* logits, const int32_t* labels,
                           int64_t b, int64_t c);
// dlogits[i, j] += dlosses[i] * (probs[i, j] - [j == labels[i]]).
void cross_entropy_backward(float* dlogits, const float* dlosses, const float* probs,
                            const int32_t* labels, int64_t b, int64_t c);
// losses[i] = (preds[i] - targets[i])^2.
void mse_forward(float* losses, const float* preds, const float* targets, int64_t b);
// dpreds[i] += dlosses[i] * 2 (preds[i] - targets[i]).
void mse_backward(float* dpreds, const float* dlosses, const float* preds, const float* targets,
                  int64_t b);

// Distillation on temperature-softened logits (Hinton et al.): with p = softmax(teacher[i, :] / t)
// and q = softmax(student[i, :] / t), losses[i] = t² KL(p || q) = t² Σ_j p_j (log p_j - log q_j).
// The t² keeps the gradient's scale independent of t.
void kd_forward(float* losses, const float* student, const float* teacher, int64_t b, int64_t c,
                float t);
// dstudent[i, j] += dlosses[i] * t (q_j - p_j).
void kd_backward(float* dstudent, const float* dlosses, const float* student, const float* teacher,
                 int64_t b, int64_t c, float t);

template <typename T>
void cross_entropy_forward_ref(T* losses, T* probs, const T* logits, const int32_t* labels,
                               int64_t b, int64_t c);
template <typename T>
void cross_entropy_backward_ref(T* dlogits, const T* dlosses, const T* probs, const int32_t* labels,
                                int64_t b, int64_t c);
template <typename T>
void mse_forward_ref(T* losses, const T* preds, const T* targets, int64_t b);
template <typename T>
void mse_backward_ref(T* dpreds, const T* dlosses, const T* preds, const T* targets, int64_t b);
template <typename T>
void kd_forward_ref(T* losses, const T* student, const T* teacher, int64_t b, int64_t c, T t);
template <typename T>
void kd_backward_ref(T* dstudent, const T* dlosses, const T* student, const T* teacher, int64_t b,
                     int64_t c, T t);

}  // namespace fwsvd::kernels
