// The compression-method seam: a method is a function from one linear layer's weight and its
// statistics (compressor/stats.h) to low-rank factors. It never reads data files or runs the
// model; it declares which statistics it needs, and compress_model hands them over. A method is
// one file in compressor/methods/ holding a `Method` and one line in method.cc's table
// (docs/ARCHITECTURE.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compressor/low_rank.h"
#include "compressor/stats.h"

namespace fwsvd {

// Settings some methods take (unused by the others).
struct MethodOptions {
    double alpha = 0.5;     // asvd: input scaling mean|x|^alpha (--alpha)
    int iters = 10;         // tfwsvd: alternating least-squares iterations (--iters)
    double damping = 0.01;  // whiten, fisher-whiten, --refit: diagonal loading of E[x xᵀ]
                            // relative to its mean diagonal (compressor/whitening.h)
    bool refit = false;     // after truncation, refit B by least squares on E[x xᵀ] (--refit)
};

// Bits of Method::reads.
enum MethodOptionBit : unsigned { kReadsAlpha = 1u, kReadsIters = 2u, kReadsDamping = 4u };

struct MethodInput {
    const double* weight = nullptr;  // [out, in] row-major: the dense layer y = x Wᵀ + b
    int64_t out = 0, in = 0;
    int64_t rank = 0;  // 1 <= rank <= min(out, in)
    LayerStats stats;  // what Method::needs asked for (others may be null)
    const MethodOptions* options = nullptr;
};

struct MethodOutput {
    LowRankFactorsF64 factors;
    // Remarks for the report, e.g. that a degenerate statistic made the method fall back.
    std::vector<std::string> notes;
};

struct Method {
    std::string name;     // --method NAME
    std::string summary;  // one line: what it minimises
    unsigned needs = 0;   // StatKind bits
    MethodOutput (*factorize)(const MethodInput& input) = nullptr;
    // Whether the first r' components of its rank-r factors are its rank-r' result (every
    // truncated-SVD method): rank allocation then factors each layer once and reads the
    // truncation errors of every rank from it.
    bool nested = true;
    // A method that is not nested allocates ranks with the truncation errors of this nested
    // method (its starting point), then factors at the chosen ranks.
    std::string profile;
    // Closed form (one SVD) rather than an iterative solver: --method auto tries these.
    bool closed_form = true;
    // The MethodOptions fields it reads (MethodOptionBit): the low_rank block records them.
    unsigned reads = 0;
};

// Every method, in the order --help and the docs list them.
const std::vector<const Method*>& methods();
// The method of that name; Error(usage) naming the known ones otherwise.
const Method& method_named(const std::string& name);
// "svd, fwsvd, ..." for messages.
std::string method_names();

}  // namespace fwsvd
