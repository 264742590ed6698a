// The processes of one job, for the commands that can run over several (fwsvd stats, fisher,
// finetune and eval under mpirun): rank, size and the few collectives they use. Without mpirun
// (or in a build without MPI) the job is one process and every collective is the identity, so
// single-process code paths never see MPI.
//
// Every reduction adds the ranks' values in rank order 0, 1, ..., N-1 (in double), whatever the
// transport does underneath: the result is bit-identical on every rank and from run to run for a
// given N.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fwsvd {

class Comm {
  public:
    virtual ~Comm() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    bool distributed() const { return size() > 1; }
    // "rank R of N", for messages.
    std::string where() const;

    // data[i] = Σ over ranks r = 0..N-1 (in this order, in double) of rank r's data[i]; every
    // rank gets the result. The float form adds in double and rounds once.
    virtual void allreduce_sum(double* data, int64_t n) = 0;
    virtual void allreduce_sum(float* data, int64_t n) = 0;
    // Every rank's value, in rank order, on every rank.
    virtual std::vector<int64_t> allgather(int64_t value) = 0;
    // Every rank's bytes, in rank order, on `root` (an empty vector on the other ranks).
    virtual std::vector<std::string> gather(std::string_view bytes, int root) = 0;
    // Root's `bytes` bytes at data, to every rank.
    virtual void broadcast(void* data, int64_t bytes, int root) = 0;
    virtual void barrier() = 0;
    // Ends every process of the job now with exit code `code` (after the caller has printed
    // why). The single process just exits.
    [[noreturn]] virtual void abort(int code) = 0;
};

// One process: rank 0 of 1.
class SingleComm final : public Comm {
  public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void allreduce_sum(double*, int64_t) override {}
    void allreduce_sum(float*, int64_t) override {}
    std::vector<int64_t> allgather(int64_t value) override { return {value}; }
    std::vector<std::string> gather(std::string_view bytes, int) override {
        return {std::string(bytes)};
    }
    void broadcast(void*, int64_t, int) override {}
    void barrier() override {}
    [[noreturn]] void abort(int code) override;
};

// The job this process belongs to: what start_distributed set up, else a SingleComm.
Comm& world_comm();
// Replaces it (the MPI backend does, at start; tests may).
void set_world_comm(std::unique_ptr<Comm> comm);

// Starts the distributed runtime when this process was launched by mpirun (Open MPI's, or a
// PMI launcher's, environment) and fwsvd was built with MPI; otherwise does nothing and the
// world stays one process. Call once, first thing in main; stop_distributed() before returning.
void start_distributed(int* argc, char*** argv);
void stop_distributed();
// "Open MPI 4.1.4" (the library this build uses) or "" in a build without MPI.
std::string distributed_library();

// The part [begin, end) of n items, cut in whole blocks of `block` items, that rank `rank` of
// `ranks` takes: ranks take consecutive runs of blocks, as even as the block count allows (a
// rank may get nothing when there are fewer blocks than ranks).
std::pair<int64_t, int64_t> block_shard(int64_t n, int64_t block, int rank, int ranks);

// Every rank's `value` must be the same: Error (on every rank) naming the ranks that differ and
// what `what` says they are otherwise.
void check_same_on_all_ranks(Comm& comm, int64_t value, const std::string& what);

}  // namespace fwsvd
