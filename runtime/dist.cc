#include "runtime/dist.h"

#include <cstdlib>

#include "runtime/error.h"

namespace fwsvd {
namespace {

std::unique_ptr<Comm>& world_slot() {
    static std::unique_ptr<Comm> comm = std::make_unique<SingleComm>();
    return comm;
}

}  // namespace

std::string Comm::where() const {
    return str_cat("rank ", rank(), " of ", size());
}

void SingleComm::abort(int code) {
    std::exit(code);
}

Comm& world_comm() {
    return *world_slot();
}

void set_world_comm(std::unique_ptr<Comm> comm) {
    world_slot() = comm ? std::move(comm) : std::make_unique<SingleComm>();
}

std::pair<int64_t, int64_t> block_shard(int64_t n, int64_t block, int rank, int ranks) {
    FWSVD_CHECK(n >= 0 && block >= 1 && ranks >= 1 && rank >= 0 && rank < ranks,
                "internal: bad shard request");
    const int64_t blocks = (n + block - 1) / block;
    const int64_t b0 = blocks * rank / ranks;
    const int64_t b1 = blocks * (rank + 1) / ranks;
    return {std::min(n, b0 * block), std::min(n, b1 * block)};
}

void check_same_on_all_ranks(Comm& comm, int64_t value, const std::string& what) {
    const std::vector<int64_t> all = comm.allgather(value);
    std::string differ;
    for (size_t r = 1; r < all.size(); ++r) {
        if (all[r] != all[0])
            differ += str_cat(differ.empty() ? "" : ", ", "rank ", r, ": ", all[r]);
    }
    if (!differ.empty()) {
        throw Error(str_cat(what, " differs between the ranks (rank 0: ", all[0], "; ", differ,
                            "): every rank must see the same input"));
    }
}

}  // namespace fwsvd
