#include "models/team.h"

#include <algorithm>

#include "kernels/packed_matmul.h"

namespace fwsvd {

namespace {

int64_t round_up(int64_t a, int64_t b) {
    return (a + b - 1) / b * b;
}

// The attention work of one thread's block of query rows [begin, end): the sequences it meets,
// one part each (the block's rows of that sequence), times the heads. Unit i is part i / heads
// (the first_seq + (i / heads)-th sequence), head i % heads.
struct BlockUnits {
    size_t first_seq = 0;
    int64_t parts = 0;
    int64_t begin = 0, end = 0;
};

BlockUnits block_units(const std::vector<kernels::SeqSpan>& seqs, const RowSplit& r) {
    BlockUnits u;
    u.begin = r.begin;
    u.end = r.end;
    const auto first = std::partition_point(
        seqs.begin(), seqs.end(),
        [&](const kernels::SeqSpan& s) { return s.offset + s.len <= r.begin; });
    const auto last = std::partition_point(
        first, seqs.end(), [&](const kernels::SeqSpan& s) { return s.offset < r.end; });
    u.first_seq = size_t(first - seqs.begin());
    u.parts = r.end > r.begin ? int64_t(last - first) : 0;
    return u;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Row-wise work is split only in pieces of at least this many floats.
constexpr int64_t kMinParallelFloats = int64_t(1) << 17;

}  // namespace

RowSplit row_split(int64_t n, int t, int team) {
    const int64_t g = n / team + 16 <= 512 ? 16 : 64;
    auto boundary = [&](int i) { return i >= team ? n : std::min(n, round_up(n * i / team, g)); };
    RowSplit r;
    r.begin = boundary(t);
    r.end = boundary(t + 1);
    r.extent = r.end < n ? r.end : r.begin + kernels::matmul_padded_rows(n - r.begin);
    return r;
}

int64_t rows_capacity(int64_t n, int max_team) {
    int64_t rows = kernels::matmul_padded_rows(n);
    for (int team = 2; team <= max_team; ++team) {
        for (int t = 0; t < team; ++t) rows = std::max(rows, row_split(n, t, team).extent);
    }
    return rows;
}

int64_t row_grain(int64_t row_floats) {
    return std::max<int64_t>(1, kMinParallelFloats / std::max<int64_t>(row_floats, 1));
}

void team_barrier(int team) {
    if (team > 1) {
#pragma omp barrier
    }
}

void SharedAttention::reset(int team) {
    if (size_t(team) * kStride > size_) {
        size_ = size_t(team) * kStride;
        counters_ = std::make_unique<std::atomic<int64_t>[]>(size_);
    }
    for (size_t i = 0; i < size_; ++i) counters_[i] = 0;
}

void SharedAttention::run(float* ctx, const float* q, const float* k, const float* v,
                          const kernels::AttentionShape& shape,
                          const std::vector<kernels::SeqSpan>& seqs, int64_t N, int64_t layer,
                          int t, int team, float* scratch, const TeamErrors& errors) {
    const int64_t heads = shape.num_heads;
    // Claims of thread u's units in layer l are numbered [l · U_u, (l + 1) · U_u) (the counters
    // run on over the layers of a forward), so that no reset is needed between layers.
    auto claim = [&](int u, int64_t units) -> int64_t {
        std::atomic<int64_t>& c = counters_[size_t(u) * kStride];
        const int64_t limit = (layer + 1) * units;
        int64_t i = c.load(std::memory_order_relaxed);
        while (i < limit) {
            if (c.compare_exchange_weak(i, i + 1, std::memory_order_relaxed))
                return i - layer * units;
        }
        return -1;
    };
    int64_t own_units = 0;
    for (int step = 0; step < team; ++step) {
        // Own units first, then whatever the other threads have not claimed yet: a core that is
        // ahead takes over part of a slower one's attention instead of waiting for it at the next
        // barrier.
        const int u = (t + step) % team;
        const BlockUnits bu = block_units(seqs, row_split(N, u, team));
        const int64_t units = bu.parts * heads;
        if (step == 0) own_units = units;
        for (int64_t unit; (unit = claim(u, units)) >= 0;) {
            const kernels::SeqSpan& s = seqs[bu.first_seq + size_t(unit / heads)];
            const int64_t h = unit % heads;
            const int64_t a = std::max(bu.begin, s.offset), b = std::min(bu.end, s.offset + s.len);
            // Queries [a, b) of the sequence against all its keys: q and ctx shifted to row a, the
            // span keeping the sequence's offset for k and v (len < keys is fine for inference).
            const kernels::SeqSpan part{s.offset, b - a, s.keys, 0};
            kernels::attention_inference_item(ctx + (a - s.offset) * shape.ld_out,
                                              q + (a - s.offset) * shape.ld_q, k, v, &part, shape,
                                              h, h + 1 < heads ? h + 1 : -1, scratch);
            counters_[size_t(u) * kStride + kDone].fetch_add(1, std::memory_order_release);
        }
    }
    // This thread's rows of ctx are complete once all its units are, whoever ran them.
    const int64_t target = (layer + 1) * own_units;
    const std::atomic<int64_t>& done = counters_[size_t(t) * kStride + kDone];
    while (done.load(std::memory_order_acquire) < target) {
        if (errors.failed.load(std::memory_order_relaxed)) return;
        cpu_relax();
    }
}

}  // namespace fwsvd
