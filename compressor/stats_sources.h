// The pluggable sources of compute_stats (compressor/stats.h): each sees every calibration batch
// after the training-form forward and adds to its sums; a new statistic is a new source here and
// a StatKind bit.
#pragma once
#include <memory>
#include <vector>

#include "compressor/stats.h"
#include "models/activations.h"
#include "models/backward.h"
#include "runtime/dist.h"

namespace fwsvd {

// One calibration batch after model_forward and model_loss.
struct StatsBatch {
    const Model& model;
    const Batch& batch;
    const Targets& targets;
    const Activations& acts;
};

class StatsSource {
  public:
    virtual ~StatsSource() = default;
    virtual void add(const StatsBatch& b) = 0;
    // Replaces the sums with their sums over the ranks of comm (a distributed pass).
    virtual void reduce(Comm& comm) = 0;
    // Writes the means over `examples` examples into out.
    virtual void finish(Stats& out, int64_t examples) = 0;
};

// The sources of options.kinds for this model.
std::vector<std::unique_ptr<StatsSource>> make_stats_sources(const Model& model,
                                                             const StatsOptions& options);

}  // namespace fwsvd
