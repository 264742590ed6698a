// How Session runs the encoder in one OpenMP parallel region (a "team" of threads, each owning a
// block of rows): the row split, errors raised inside the region, and attention units shared
// between the threads of a team (a thread that is ahead takes over part of a slower one's).
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/attention.h"

namespace fwsvd {

// With a team, the encoder runs in one parallel region only when every thread gets at least
// this many rows.
constexpr int64_t kMinRowsPerThread = 16;

// The rows thread t of a team owns: [begin, end) of the batch's n rows. Every boundary but n is
// a multiple of 16 (64 for pieces of more than 512 rows), so that a GEMM over a thread's rows
// runs on exactly them (matmul_padded_rows(end - begin) == end - begin) and writes no row of the
// next thread; only the thread owning row n - 1 writes padding rows, below `extent`.
struct RowSplit {
    int64_t begin = 0, end = 0, extent = 0;
};
RowSplit row_split(int64_t n, int t, int team);
// Rows the buffers need for any team of up to `max_team` threads over n rows.
int64_t rows_capacity(int64_t n, int max_team);

// Row-wise work is split across threads only in pieces of at least this many rows of
// `row_floats` floats each: a fork-join costs far more than normalising a few rows.
int64_t row_grain(int64_t row_floats);

// The first exception thrown by any thread of a team, rethrown after the parallel region (an
// exception may not leave one). A thread that failed skips its remaining steps but still meets
// every barrier, so that the others do not wait forever.
struct TeamErrors {
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::exception_ptr first;

    template <typename F>
    void run(F&& f) {
        if (failed.load(std::memory_order_relaxed)) return;
        try {
            f();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!first) first = std::current_exception();
            failed = true;
        }
    }
};

// An OpenMP barrier for a team of more than one thread.
void team_barrier(int team);

// Attention over a team's blocks of query rows: thread t runs the (sequence part, head) units of
// its own rows, then claims the other threads' remaining units, then waits until all units of
// its rows are done (by whichever thread), so that its rows of ctx are complete.
class SharedAttention {
  public:
    // Before each forward with a team of `team` threads: zeroes the counters.
    void reset(int team);
    // Layer `layer` (0, 1, ... within one forward) for thread t; scratch: this thread's slice of
    // attention scratch (attention_scratch_size floats).
    void run(float* ctx, const float* q, const float* k, const float* v,
             const kernels::AttentionShape& shape, const std::vector<kernels::SeqSpan>& seqs,
             int64_t n, int64_t layer, int t, int team, float* scratch, const TeamErrors& errors);

  private:
    // Thread u's claimed units at u · kStride, its done units kDone further (another cache line).
    static constexpr size_t kStride = 16, kDone = 8;
    std::unique_ptr<std::atomic<int64_t>[]> counters_;
    size_t size_ = 0;
};

}  // namespace fwsvd
