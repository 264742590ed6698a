// The rank-order sum of runtime/dist.h (Comm::allreduce_sum: alltoallv, sums in rank order,
// allgatherv) against MPI_Allreduce, the peer whose order of additions is unspecified, on float
// arrays of the sizes fine-tuning exchanges each step (the gradient: every parameter). Run under
// mpirun:  mpirun -np 2 build/bench/fwsvd-dist-bench [FLOATS...]
// (default: bert-mini's 5,454,608 and BERT-base's 109,483,778 parameters, with 2 labels)
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime/dist.h"

int main(int argc, char** argv) {
    fwsvd::start_distributed(&argc, &argv);
    fwsvd::Comm& comm = fwsvd::world_comm();
    std::vector<long> sizes;
    for (int i = 1; i < argc; ++i) sizes.push_back(std::atol(argv[i]));
    if (sizes.empty()) sizes = {5454608, 109483778};
    if (comm.rank() == 0) {
        std::printf("%d ranks; best of 5 calls each\n%12s %14s %14s\n", comm.size(), "floats",
                    "rank-order ms", "MPI_Allreduce ms");
    }
    for (long n : sizes) {
        std::vector<float> a(static_cast<size_t>(n));
        for (long i = 0; i < n; ++i) a[size_t(i)] = float(i % 1000) * 1e-3f;
        double best_ours = 1e30, best_mpi = 1e30;
        for (int rep = 0; rep < 5; ++rep) {
            comm.barrier();
            double t = MPI_Wtime();
            comm.allreduce_sum(a.data(), n);
            best_ours = std::min(best_ours, MPI_Wtime() - t);
            comm.barrier();
            t = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, a.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            best_mpi = std::min(best_mpi, MPI_Wtime() - t);
        }
        if (comm.rank() == 0) {
            std::printf("%12ld %14.1f %14.1f\n", n, best_ours * 1e3, best_mpi * 1e3);
        }
    }
    fwsvd::stop_distributed();
    return 0;
}
