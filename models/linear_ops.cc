#include "models/linear_ops.h"

#include <omp.h>

#include <algorithm>

#include "kernels/layernorm.h"
#include "kernels/linear.h"
#include "runtime/parallel.h"

namespace fwsvd {

void linear_forward_any(float* out, float* t, const float* inp, const LinearParams& p, int64_t n) {
    if (p.factored()) {
        kernels::linear_forward(t, inp, p.a, nullptr, n, p.in, p.rank);
        kernels::linear_forward(out, t, p.b, p.bias, n, p.rank, p.out);
    } else {
        kernels::linear_forward(out, inp, p.weight, p.bias, n, p.in, p.out);
    }
}

void layernorm_rows(float* out, float* mean, float* rstd, const float* inp, const float* gamma,
                    const float* beta, int64_t n, int64_t c, float eps) {
    parallel_for(n, 32, [&](int64_t b, int64_t e) {
        kernels::layernorm_forward(out + b * c, mean ? mean + b : nullptr,
                                   rstd ? rstd + b : nullptr, inp + b * c, gamma, beta, e - b, c,
                                   eps);
    });
}

namespace {
template <typename F>
void for_items(const std::vector<kernels::SeqSpan>& seqs, const kernels::AttentionShape& shape,
               F&& f) {
    const int64_t items = int64_t(seqs.size()) * shape.num_heads;
    const int64_t scratch = kernels::attention_scratch_size(seqs.data(), int64_t(seqs.size()));
    parallel_for(items, 1, [&](int64_t b, int64_t e) {
        std::vector<float> buf(static_cast<size_t>(scratch));
        f(b, e, buf.data());
    });
}
}  // namespace

void attention_all(float* out, float* probs, const float* q, const float* k, const float* v,
                   const std::vector<kernels::SeqSpan>& seqs,
                   const kernels::AttentionShape& shape) {
    for_items(seqs, shape, [&](int64_t b, int64_t e, float* scratch) {
        kernels::attention_forward(out, probs, q, k, v, seqs.data(), shape, b, e, scratch);
    });
}

int attention_threads(const std::vector<kernels::SeqSpan>& seqs,
                      const kernels::AttentionShape& shape) {
    const int64_t items = int64_t(seqs.size()) * shape.num_heads;
    if (items <= 1 || omp_in_parallel()) return 1;
    return int(std::min<int64_t>(omp_get_max_threads(), items));
}

namespace {
// The items [*begin, *end) thread t of a team of `team` takes: contiguous, balanced by their cost
// len · (keys + head_dim) (sequences of a batch differ in length).
void attention_items_of(const std::vector<kernels::SeqSpan>& seqs,
                        const kernels::AttentionShape& shape, int t, int team, int64_t* begin,
                        int64_t* end) {
    const int64_t items = int64_t(seqs.size()) * shape.num_heads;
    auto cost = [&](int64_t item) {
        const kernels::SeqSpan& s = seqs[size_t(item / shape.num_heads)];
        return s.len * (s.keys + shape.head_dim);
    };
    int64_t total = 0;
    for (int64_t i = 0; i < items; ++i) total += cost(i);
    // Thread t takes the items whose cumulative cost starts in [t, t + 1) · total / team.
    const int64_t lo = total * t / team, hi = total * (t + 1) / team;
    *begin = items;
    *end = items;
    int64_t acc = 0;
    for (int64_t i = 0; i < items; ++i) {
        if (*begin == items && acc >= lo) *begin = i;
        if (acc >= hi) {
            *end = i;
            break;
        }
        acc += cost(i);
    }
    if (*begin > *end) *begin = *end;
}
}  // namespace

void attention_all(float* out, float* probs, const float* q, const float* k, const float* v,
                   const std::vector<kernels::SeqSpan>& seqs, const kernels::AttentionShape& shape,
                   float* scratch, int64_t scratch_per_thread) {
    const int64_t items = int64_t(seqs.size()) * shape.num_heads;
    const int threads = attention_threads(seqs, shape);
    if (threads <= 1) {
        kernels::attention_forward(out, probs, q, k, v, seqs.data(), shape, 0, items, scratch);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        // The team may be smaller than asked (thread limits): split over the team we got.
        const int t = omp_get_thread_num();
        int64_t begin = 0, end = 0;
        attention_items_of(seqs, shape, t, omp_get_num_threads(), &begin, &end);
        if (begin < end) {
            kernels::attention_forward(out, probs, q, k, v, seqs.data(), shape, begin, end,
                                       scratch + t * scratch_per_thread);
        }
    }
}

void attention_all_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                            const float* k, const float* v, const float* probs,
                            const std::vector<kernels::SeqSpan>& seqs,
                            const kernels::AttentionShape& shape) {
    for_items(seqs, shape, [&](int64_t b, int64_t e, float* scratch) {
        kernels::attention_backward(dq, dk, dv, dout, q, k, v, probs, seqs.data(), shape, b, e,
                                    scratch);
    });
}

}  // namespace fwsvd
