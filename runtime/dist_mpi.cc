// The MPI backend of Comm (runtime/dist.h), compiled when CMake finds Open MPI. Reductions do
// not use MPI_Allreduce, whose order of additions the standard leaves open: every rank sends
// part c of its array to rank c (MPI_Alltoallv), rank c adds the N copies of its part in rank
// order, and the sums go back to everyone (MPI_Allgatherv). That is as many bytes per rank as a
// ring all-reduce, 2 (N-1)/N of the array, and the same bits on every rank.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "runtime/dist.h"
#include "runtime/error.h"

namespace fwsvd {
namespace {

// Elements per round of a reduction: bounds the scratch buffers and keeps MPI counts in int.
constexpr int64_t kPiece = int64_t(1) << 22;
// Bytes per message of a gather or broadcast.
constexpr int64_t kChunk = int64_t(1) << 30;

template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<double>() {
    return MPI_DOUBLE;
}
template <>
MPI_Datatype mpi_type<float>() {
    return MPI_FLOAT;
}

class MpiComm final : public Comm {
  public:
    MpiComm() {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }

    void allreduce_sum(double* data, int64_t n) override { reduce(data, n); }
    void allreduce_sum(float* data, int64_t n) override { reduce(data, n); }

    std::vector<int64_t> allgather(int64_t value) override {
        std::vector<int64_t> all(static_cast<size_t>(size_), 0);
        MPI_Allgather(&value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
        return all;
    }

    std::vector<std::string> gather(std::string_view bytes, int root) override {
        int64_t len = int64_t(bytes.size());
        std::vector<int64_t> lens(static_cast<size_t>(size_), 0);
        MPI_Gather(&len, 1, MPI_INT64_T, lens.data(), 1, MPI_INT64_T, root, MPI_COMM_WORLD);
        if (rank_ != root) {
            for (int64_t off = 0; off < len; off += kChunk) {
                const int count = int(std::min(kChunk, len - off));
                MPI_Send(bytes.data() + off, count, MPI_BYTE, root, 0, MPI_COMM_WORLD);
            }
            return {};
        }
        std::vector<std::string> all(static_cast<size_t>(size_));
        for (int r = 0; r < size_; ++r) {
            if (r == root) {
                all[size_t(r)] = std::string(bytes);
                continue;
            }
            std::string& s = all[size_t(r)];
            s.resize(size_t(lens[size_t(r)]));
            for (int64_t off = 0; off < lens[size_t(r)]; off += kChunk) {
                const int count = int(std::min(kChunk, lens[size_t(r)] - off));
                MPI_Recv(s.data() + off, count, MPI_BYTE, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
        }
        return all;
    }

    void broadcast(void* data, int64_t bytes, int root) override {
        char* p = static_cast<char*>(data);
        for (int64_t off = 0; off < bytes; off += kChunk) {
            MPI_Bcast(p + off, int(std::min(kChunk, bytes - off)), MPI_BYTE, root, MPI_COMM_WORLD);
        }
    }

    void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

    void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
    }

  private:
    template <typename T>
    void reduce(T* data, int64_t n) {
        const int N = size_;
        const size_t ranks = static_cast<size_t>(N);
        std::vector<int> counts(ranks), starts(ranks), rcounts(ranks), rstarts(ranks);
        for (int64_t off = 0; off < n; off += kPiece) {
            const int64_t len = std::min(kPiece, n - off);
            for (int c = 0; c < N; ++c) {
                starts[size_t(c)] = int(len * c / N);
                counts[size_t(c)] = int(len * (c + 1) / N) - starts[size_t(c)];
            }
            const int part = counts[size_t(rank_)];
            for (int r = 0; r < N; ++r) {
                rcounts[size_t(r)] = part;
                rstarts[size_t(r)] = r * part;
            }
            // Scratch kept between calls: fine-tuning reduces the same sizes every step.
            const size_t need = (size_t(part) * ranks + size_t(part)) * sizeof(T);
            if (scratch_.size() < need) scratch_.resize(need);
            T* recv = reinterpret_cast<T*>(scratch_.data());
            T* mine = recv + size_t(part) * ranks;
            MPI_Alltoallv(data + off, counts.data(), starts.data(), mpi_type<T>(), recv,
                          rcounts.data(), rstarts.data(), mpi_type<T>(), MPI_COMM_WORLD);
            for (int i = 0; i < part; ++i) {
                double s = double(recv[size_t(i)]);
                for (int r = 1; r < N; ++r) s += double(recv[size_t(r) * size_t(part) + size_t(i)]);
                mine[size_t(i)] = T(s);
            }
            MPI_Allgatherv(mine, part, mpi_type<T>(), data + off, counts.data(), starts.data(),
                           mpi_type<T>(), MPI_COMM_WORLD);
        }
    }

    std::vector<std::byte> scratch_;  // the parts of a reduction (operator new: aligned for double)
    int rank_ = 0, size_ = 1;
};

bool launched_by_mpirun() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
        if (std::getenv(v)) return true;
    }
    return false;
}

bool g_started = false;

}  // namespace

void start_distributed(int* argc, char*** argv) {
    if (g_started || !launched_by_mpirun()) return;
    int provided = 0;
    // Only the main thread calls MPI; OpenMP threads compute between the calls.
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    g_started = true;
    set_world_comm(std::make_unique<MpiComm>());
}

void stop_distributed() {
    if (!g_started) return;
    g_started = false;
    set_world_comm(nullptr);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

std::string distributed_library() {
    char buf[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int len = 0;
    MPI_Get_library_version(buf, &len);
    std::string s(buf, size_t(std::max(0, len)));
    // "Open MPI v4.1.4, package: ..., ident: ...": the name and version only.
    const size_t comma = s.find(',');
    if (comma != std::string::npos) s.resize(comma);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace fwsvd
