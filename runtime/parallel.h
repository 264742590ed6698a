// OpenMP helpers: the thread count fwsvd uses and a chunked parallel loop over a range.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace fwsvd {

// Sets the OpenMP (and so oneDNN) thread count; n <= 0 keeps the default (all cores or
// OMP_NUM_THREADS).
void set_num_threads(int n);
int num_threads();

// Calls f(begin, end) on chunks of [0, n) of at least `grain` items, in parallel when there is
// more than one chunk and we are not already inside a parallel region.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
    if (n <= 0) return;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (chunks <= 1) {
        f(int64_t(0), n);
        return;
    }
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
        int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
        if (begin < end) f(begin, end);
    }
}

}  // namespace fwsvd
