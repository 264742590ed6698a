// The distributed runtime (runtime/dist.h): shards, the single process, and (run under mpirun,
// see tests/runtime/CMakeLists.txt) the MPI collectives: sums added in rank order with the same
// bits on every rank, gather, broadcast, allgather. Its own main starts MPI when mpirun did.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/dist.h"
#include "runtime/error.h"

namespace fwsvd {
namespace {

TEST(BlockShard, WholeBlocksCoverEveryItemOnce) {
    for (int64_t n : {0, 1, 7, 16, 70, 1000}) {
        for (int64_t block : {1, 3, 16}) {
            for (int ranks : {1, 2, 3, 5, 64}) {
                int64_t next = 0;
                for (int r = 0; r < ranks; ++r) {
                    const auto [b, e] = block_shard(n, block, r, ranks);
                    EXPECT_EQ(b, next) << n << " " << block << " " << r << "/" << ranks;
                    EXPECT_LE(b, e);
                    // Parts start on a block boundary (the same batches as one process).
                    EXPECT_EQ(b % block == 0 || b == n, true);
                    next = e;
                }
                EXPECT_EQ(next, n);
            }
        }
    }
    // As even as the blocks allow: 5 blocks over 2 ranks are 2 and 3.
    EXPECT_EQ(block_shard(70, 16, 0, 2), std::make_pair(int64_t(0), int64_t(32)));
    EXPECT_EQ(block_shard(70, 16, 1, 2), std::make_pair(int64_t(32), int64_t(70)));
    EXPECT_THROW(block_shard(10, 0, 0, 1), Error);
    EXPECT_THROW(block_shard(10, 1, 2, 2), Error);
}

TEST(SingleComm, IsTheIdentity) {
    SingleComm c;
    EXPECT_EQ(c.rank(), 0);
    EXPECT_EQ(c.size(), 1);
    EXPECT_FALSE(c.distributed());
    double d[2] = {1.5, -2};
    c.allreduce_sum(d, 2);
    EXPECT_EQ(d[0], 1.5);
    EXPECT_EQ(c.allgather(7), std::vector<int64_t>{7});
    EXPECT_EQ(c.gather("abc", 0), std::vector<std::string>{"abc"});
    EXPECT_NO_THROW(check_same_on_all_ranks(c, 3, "x"));
}

// Below: the job's comm, one process without mpirun or several under it.

// Rank r's value of element i: large and small magnitudes so that the order of the additions
// changes the double result.
double value(int r, int64_t i) {
    const double big[3] = {1e16, -1e16, 3.0};
    return (r % 3 == 0 ? big[i % 3] : 1.0 + double(r) * 0.1) * (i % 2 ? -1.0 : 1.0) +
           double(i) * 1e-3;
}

TEST(WorldComm, SumsAddInRankOrderWithTheSameBitsEverywhere) {
    Comm& c = world_comm();
    // Sizes that leave some ranks an empty part and one that takes several rounds.
    for (int64_t n : {int64_t(1), int64_t(5), int64_t(1000), (int64_t(1) << 22) + 3}) {
        std::vector<double> d(static_cast<size_t>(n));
        std::vector<float> f(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            d[size_t(i)] = value(c.rank(), i);
            f[size_t(i)] = float(value(c.rank(), i) * 1e-14);
        }
        c.allreduce_sum(d.data(), n);
        c.allreduce_sum(f.data(), n);
        for (int64_t i = 0; i < n; ++i) {
            double s = value(0, i), sf = double(float(value(0, i) * 1e-14));
            for (int r = 1; r < c.size(); ++r) {
                s += value(r, i);
                sf += double(float(value(r, i) * 1e-14));
            }
            ASSERT_EQ(d[size_t(i)], s) << "element " << i << " of " << n;
            ASSERT_EQ(f[size_t(i)], float(sf)) << "element " << i << " of " << n;
        }
        // The same bits on every rank.
        uint64_t h = 0;
        for (double x : d) {
            uint64_t b;
            std::memcpy(&b, &x, sizeof b);
            h = h * 1000003u ^ b;
        }
        const std::vector<int64_t> all = c.allgather(int64_t(h));
        for (int64_t x : all) EXPECT_EQ(x, all[0]);
    }
}

TEST(WorldComm, GatherBroadcastAllgather) {
    Comm& c = world_comm();
    const std::vector<int64_t> ranks = c.allgather(c.rank() * 10);
    ASSERT_EQ(int(ranks.size()), c.size());
    for (int r = 0; r < c.size(); ++r) EXPECT_EQ(ranks[size_t(r)], r * 10);

    const std::string mine(size_t(c.rank() * 3), char('a' + c.rank()));
    const std::vector<std::string> parts = c.gather(mine, 0);
    if (c.rank() == 0) {
        ASSERT_EQ(int(parts.size()), c.size());
        for (int r = 0; r < c.size(); ++r) {
            EXPECT_EQ(parts[size_t(r)], std::string(size_t(r * 3), char('a' + r)));
        }
    } else {
        EXPECT_TRUE(parts.empty());
    }
    double x[3] = {double(c.rank()), 2.5, -1};
    c.broadcast(x, sizeof x, c.size() - 1);
    EXPECT_EQ(x[0], double(c.size() - 1));
    c.barrier();
    if (c.distributed()) {
        EXPECT_THROW(check_same_on_all_ranks(c, c.rank(), "the rank"), Error);
    }
    EXPECT_NO_THROW(check_same_on_all_ranks(c, 5, "five"));
}

}  // namespace
}  // namespace fwsvd

int main(int argc, char** argv) {
    fwsvd::start_distributed(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    // Only rank 0 reports; every rank runs every test (the collectives need them all).
    if (fwsvd::world_comm().rank() != 0) {
        auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
        delete listeners.Release(listeners.default_result_printer());
    }
    int code = RUN_ALL_TESTS();
    // A failure on any rank fails the job.
    code = int(std::max<int64_t>(0, [&] {
        int64_t worst = 0;
        for (int64_t c : fwsvd::world_comm().allgather(code)) worst = std::max(worst, c);
        return worst;
    }()));
    fwsvd::stop_distributed();
    return code;
}
