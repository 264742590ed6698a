// Optimizer updates over flat parameter buffers.
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// One AdamW step as torch.optim.AdamW computes it (decoupled weight decay applied first):
//   param *= 1 - lr·weight_decay
//   m = β1 m + (1-β1) g ;  v = β2 v + (1-β2) g²
//   param -= lr · (m / (1-β1^step)) / (sqrt(v / (1-β2^step)) + eps)
// step counts from 1.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t step);

// Σ x² in double.
double sum_squares(const float* x, int64_t n);

// x *= s.
void scale(float* x, int64_t n, float s);

}  // namespace fwsvd::kernels
