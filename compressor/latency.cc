#include "compressor/latency.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "kernels/packed_matmul.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {
namespace {

class MeasuredTimer final : public GemmTimer {
  public:
    MeasuredTimer(int64_t rows, int threads) : rows_(rows), threads_(threads) {}

    double micros(int64_t k, int64_t n) override {
        auto it = cache_.find({k, n});
        if (it != cache_.end()) return it->second;
        const double us = measure(k, n);
        cache_[{k, n}] = us;
        return us;
    }
    int64_t rows() const override { return rows_; }
    int threads() const override { return threads_; }

  private:
    double measure(int64_t k, int64_t n) {
        const int64_t padded = kernels::matmul_padded_rows(rows_);
        std::mt19937 rng(uint32_t(k * 7919 + n));
        std::normal_distribution<float> dist(0.f, 1.f);
        std::vector<float> w(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n)),
            x(static_cast<size_t>(padded * k));
        for (auto& v : w) v = 0.02f * dist(rng);
        for (auto& v : bias) v = 0.02f * dist(rng);
        for (auto& v : x) v = dist(rng);
        std::vector<float> y(static_cast<size_t>(padded * n));
        const int saved = omp_get_max_threads();
        omp_set_num_threads(threads_);
        double best = 0;
        try {
            kernels::PackedMatmul mm(w.data(), bias.data(), n, k, kernels::MatmulEpilogue::none);
            kernels::MatmulContext ctx;
            for (int i = 0; i < 3; ++i) mm.run(ctx, y.data(), x.data(), rows_);
            using clock = std::chrono::steady_clock;
            for (int trial = 0; trial < 5; ++trial) {
                int64_t runs = 0;
                const auto t0 = clock::now();
                double s = 0;
                do {
                    mm.run(ctx, y.data(), x.data(), rows_);
                    ++runs;
                    s = std::chrono::duration<double>(clock::now() - t0).count();
                } while (s < 2e-3);
                const double us = 1e6 * s / double(runs);
                best = trial == 0 ? us : std::min(best, us);
            }
        } catch (...) {
            omp_set_num_threads(saved);
            throw;
        }
        omp_set_num_threads(saved);
        return best;
    }

    int64_t rows_;
    int threads_;
    std::map<std::pair<int64_t, int64_t>, double> cache_;
};

}  // namespace

std::unique_ptr<GemmTimer> measured_gemm_timer(int64_t rows, int threads) {
    FWSVD_CHECK(rows >= 1, "--seq must be >= 1 (got ", rows, ")");
    return std::make_unique<MeasuredTimer>(rows, threads > 0 ? threads : num_threads());
}

double layer_micros(GemmTimer& timer, int64_t in, int64_t out, int64_t rank) {
    if (rank <= 0) return timer.micros(in, out);
    return timer.micros(in, rank) + timer.micros(rank, out);
}

}  // namespace fwsvd
