// fwsvd stats / fisher / eval / finetune (plain and --teacher) over two processes (mpirun -np 2)
// against one process, on golden/tiny-cls (dropout off in its config) with generated pre-tokenized
// data, and the faults: a rank that cannot read the data, sees another file, meets a bad row in its
// part, is killed or runs out of memory stops the whole job with an error naming it, and no output
// is left behind. Every mpirun runs under `timeout`: a hang fails the test instead of CI.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "runtime/safetensors.h"
#include "tests/bad_input_util.h"
#include "tests/tools/cli_util.h"

namespace fwsvd::testing {
namespace {

namespace fs = std::filesystem;

// Every run is bounded: a job still running after this is killed (and the test fails on time).
constexpr int kLimitSeconds = 120;

struct Job : CmdResult {
    double seconds = 0;
    bool timed_out() const { return seconds >= kLimitSeconds - 1; }
};

// The command line under `timeout`, one OpenMP thread per process.
std::string bounded(const std::string& line) {
    return "OMP_NUM_THREADS=1 FWSVD_NO_PROGRESS=1 timeout -k 5 " + std::to_string(kLimitSeconds) +
           " " + line;
}

// Runs a shell command line with stdout and stderr captured.
Job run_sh(const std::string& line) {
    TempDir tmp;
    const std::string cmd = line + " >" + shell_quote((tmp / "out").string()) + " 2>" +
                            shell_quote((tmp / "err").string()) + " </dev/null";
    const auto t0 = std::chrono::steady_clock::now();
    const int status = std::system(cmd.c_str());
    Job r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_bytes(tmp / "out");
    r.err = read_bytes(tmp / "err");
    return r;
}

std::string quoted(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += " " + shell_quote(a);
    return s;
}

// fwsvd in one process, one thread.
Job one(const std::vector<std::string>& args) {
    return run_sh(bounded(shell_quote(tool_path("fwsvd")) + quoted(args)));
}

const std::string kMpirun =
    std::string(FWSVD_MPIEXEC) + " --oversubscribe --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1 ";

// fwsvd over two ranks.
Job two(const std::vector<std::string>& args) {
    return run_sh(bounded(kMpirun + shell_quote(tool_path("fwsvd")) + quoted(args)));
}

// Over two ranks where rank 1 runs `rank1_prefix` before fwsvd (a shell fragment: another data
// file, a limit, a kill).
Job two_with_rank1(const std::string& rank1_prefix, const std::vector<std::string>& args) {
    const std::string fw = shell_quote(tool_path("fwsvd")) + quoted(args);
    const std::string script = "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then " + rank1_prefix +
                               " exec " + fw + "; else exec " + fw + "; fi";
    return run_sh(bounded(kMpirun + "sh -c " + shell_quote(script)));
}

// Largest max|a - b| / max|b| over the tensors of b (both files have the same names).
double file_rel_diff(const fs::path& a, const fs::path& b, const std::string& prefix = "") {
    auto fa = SafetensorsFile::open(a);
    auto fb = SafetensorsFile::open(b);
    double worst = 0;
    for (const auto& t : fb->tensors()) {
        if (t.name.rfind(prefix, 0) != 0) continue;
        if (t.dtype == DType::f64) {
            const Tensor x = fa->read(t.name), y = fb->read(t.name);
            EXPECT_EQ(x.numel(), y.numel()) << t.name;
            worst = std::max(worst, max_rel_diff(x.data<double>(), y.data<double>(),
                                                 size_t(std::min(x.numel(), y.numel()))));
        } else {
            const Tensor x = fa->read_f32(t.name), y = fb->read_f32(t.name);
            EXPECT_EQ(x.numel(), y.numel()) << t.name;
            worst = std::max(worst, max_rel_diff(x.data<float>(), y.data<float>(),
                                                 size_t(std::min(x.numel(), y.numel()))));
        }
    }
    return worst;
}

class Mpi : public ::testing::Test {
  protected:
    void SetUp() override {
        FWSVD_REQUIRE_SHARED();
        write_data(train_, 70, 1);
        write_data(dev_, 45, 2);
    }

    // n examples for tiny-cls (120 ids, 64 positions, 3 labels) of 4 to 24 tokens.
    static void write_data(const fs::path& p, int n, uint32_t seed) {
        std::mt19937 rng(seed);
        std::string s;
        for (int i = 0; i < n; ++i) {
            const int len = 4 + int(rng() % 21);
            std::string ids = "2";
            for (int t = 1; t < len - 1; ++t) ids += "," + std::to_string(5 + rng() % 115);
            ids += ",3";
            s += "{\"input_ids\": [" + ids + "], \"label\": " + std::to_string(rng() % 3) + "}\n";
        }
        write_bytes(p, s);
    }

    // The output folder holds nothing but what the test put there (no partial or temporary file).
    void expect_no_output(const fs::path& out) {
        EXPECT_FALSE(fs::exists(out)) << out;
        for (const auto& e : fs::directory_iterator(tmp_.path())) {
            const std::string name = e.path().filename().string();
            EXPECT_TRUE(name == "train.jsonl" || name == "dev.jsonl" || name == "bad.jsonl" ||
                        name == "short.jsonl" || name == "sst.tsv")
                << "left behind: " << name;
        }
    }

    void finetune_matches_one_process(const std::vector<std::string>& extra,
                                      const std::string& what);

    std::vector<std::string> fisher_args(const fs::path& out) const {
        return {"fisher",         model_.string(),
                "--data",         train_.string(),
                "--examples",     "60",
                "--seed",         "3",
                "--fisher-batch", "8",
                "--max-len",      "64",
                "--out",          out.string()};
    }

    TempDir tmp_;
    const fs::path model_ = shared_dir() / "golden" / "tiny-cls";
    const fs::path train_ = tmp_ / "train.jsonl";
    const fs::path dev_ = tmp_ / "dev.jsonl";
};

TEST_F(Mpi, FisherOverTwoRanksMatchesOneProcess) {
    const fs::path f32 = tmp_ / "f32.safetensors", f64 = tmp_ / "f64.safetensors";
    const fs::path a = tmp_ / "a.safetensors", b = tmp_ / "b.safetensors";
    auto ok = [](const CmdResult& r) { ASSERT_EQ(r.code, 0) << r.out << r.err; };
    ok(one(fisher_args(f32)));
    auto args64 = fisher_args(f64);
    args64.insert(args64.end(), {"--fisher-sums", "f64"});
    ok(one(args64));
    const Job r = two(fisher_args(a));
    ok(r);
    EXPECT_NE(r.out.find("x 2 ranks"), std::string::npos) << r.out;
    ok(two(fisher_args(b)));
    // Bit-identical for a given rank count.
    EXPECT_EQ(read_bytes(a), read_bytes(b));
    // The same float64 sums added in another order, rounded to float once.
    const double d64 = file_rel_diff(a, f64);
    EXPECT_LE(d64, 1.2e-7);
    // One process's float32 running sums.
    const double d32 = file_rel_diff(a, f32);
    EXPECT_LE(d32, 1e-6);
    std::printf("fisher, 2 ranks vs 1 process: %.3g (f64 sums), %.3g (f32 sums)\n", d64, d32);
    auto meta = SafetensorsFile::open(a)->metadata();
    EXPECT_EQ(meta["ranks"], "2");
    EXPECT_EQ(meta["fisher_sums"], "f64");
    EXPECT_EQ(meta["examples"], "60");
    EXPECT_EQ(SafetensorsFile::open(f32)->metadata().count("fisher_sums"), 0u);
}

TEST_F(Mpi, StatsOverTwoRanksMatchOneProcess) {
    const fs::path one_out = tmp_ / "one.safetensors", two_out = tmp_ / "two.safetensors";
    auto args = [&](const fs::path& out) {
        return std::vector<std::string>{"stats",         model_.string(),
                                        "--data",        train_.string(),
                                        "--stats",       "fisher,input-mean,input-cov",
                                        "--batch",       "4",
                                        "--fisher-sums", "f64",
                                        "--max-len",     "64",
                                        "--out",         out.string()};
    };
    Job r = one(args(one_out));
    ASSERT_EQ(r.code, 0) << r.err;
    r = two(args(two_out));
    ASSERT_EQ(r.code, 0) << r.err;
    // Input statistics: E[x xᵀ] sums each rank's rows in float tiles (up to 8192 rows) before
    // the float64 sums, so the two splits round differently; the bound is 1e-6.
    EXPECT_LE(file_rel_diff(two_out, one_out, "input_"), 1e-6);
    // Fisher (the parameters' names): float64 sums in another order, rounded to float once.
    EXPECT_LE(file_rel_diff(two_out, one_out, "bert."), 1.2e-7);
    auto m1 = SafetensorsFile::open(one_out)->metadata();
    auto m2 = SafetensorsFile::open(two_out)->metadata();
    EXPECT_EQ(m1["examples"], m2["examples"]);
    EXPECT_EQ(m1["input_rows"], m2["input_rows"]);
}

TEST_F(Mpi, EvalOverTwoRanksMatchesOneProcess) {
    const fs::path l1 = tmp_ / "l1.safetensors", l2 = tmp_ / "l2.safetensors";
    Job r1 = one({"eval", model_.string(), "--data", dev_.string(), "--batch-size", "8", "--json",
                  "--dump-logits", l1.string()});
    ASSERT_EQ(r1.code, 0) << r1.err;
    Job r2 = two({"eval", model_.string(), "--data", dev_.string(), "--batch-size", "8", "--json",
                  "--dump-logits", l2.string()});
    ASSERT_EQ(r2.code, 0) << r2.err;
    // Rank 0 alone prints.
    const auto j1 = nlohmann::json::parse(r1.out);
    const auto j2 = nlohmann::json::parse(r2.out);
    EXPECT_EQ(j1["examples"], 45);
    EXPECT_EQ(j2["examples"], 45);
    EXPECT_EQ(j1["metric"], j2["metric"]);
    EXPECT_EQ(j1["metrics"], j2["metrics"]);
    // Each rank batches its own examples (by length): the logits' last bits may differ.
    EXPECT_LE(file_rel_diff(l2, l1), 1e-5);
}

// Fine-tuning with `extra` options over 2 ranks against one process; `what` names it in the log.
void Mpi::finetune_matches_one_process(const std::vector<std::string>& extra,
                                       const std::string& what) {
    auto args = [&](const fs::path& out) {
        auto a = std::vector<std::string>{"finetune",  model_.string(),
                                          "--data",    train_.string(),
                                          "--dev",     dev_.string(),
                                          "--epochs",  "2",
                                          "--batch",   "8",
                                          "--lr",      "1e-3",
                                          "--seed",    "5",
                                          "--max-len", "64",
                                          "--json",    "--out",
                                          out.string()};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    const fs::path o1 = tmp_ / "ft1", o2 = tmp_ / "ft2";
    Job r1 = one(args(o1));
    ASSERT_EQ(r1.code, 0) << r1.err;
    Job r2 = two(args(o2));
    ASSERT_EQ(r2.code, 0) << r2.err;
    // The gradient of an attention key bias is zero in exact arithmetic (softmax ignores a
    // constant added to a row of scores): what is computed is rounding noise, which differs with
    // the order of the sums, and AdamW turns any noise into steps of about lr. Those tensors are
    // only bounded by lr per step; every other one follows the one-process run closely.
    auto fa = SafetensorsFile::open(o2 / "model.safetensors");
    auto fb = SafetensorsFile::open(o1 / "model.safetensors");
    double worst = 0, worst_key_bias = 0;
    for (const auto& t : fb->tensors()) {
        const Tensor x = fa->read_f32(t.name), y = fb->read_f32(t.name);
        ASSERT_EQ(x.numel(), y.numel()) << t.name;
        if (t.name.find("attention.self.key.bias") != std::string::npos) {
            for (int64_t i = 0; i < x.numel(); ++i) {
                worst_key_bias = std::max(
                    worst_key_bias, double(std::fabs(x.data<float>()[i] - y.data<float>()[i])));
            }
            continue;
        }
        const double d = max_rel_diff(x.data<float>(), y.data<float>(), size_t(x.numel()));
        EXPECT_LE(d, 2e-6) << t.name;
        worst = std::max(worst, d);
    }
    std::printf("%s, 2 ranks vs 1 process: weights %.3g (relative), key biases %.3g\n",
                what.c_str(), worst, worst_key_bias);
    EXPECT_LE(worst_key_bias, 1e-3 * 18);  // lr x steps (2 epochs of 9)
    const auto j1 = nlohmann::json::parse(r1.out);
    const auto j2 = nlohmann::json::parse(r2.out);
    EXPECT_EQ(j2["ranks"], 2);
    ASSERT_EQ(j1["runs"].size(), j2["runs"].size());
    for (size_t e = 0; e < j1["runs"].size(); ++e) {
        EXPECT_NEAR(j1["runs"][e]["train_loss"].get<double>(),
                    j2["runs"][e]["train_loss"].get<double>(), 1e-4);
        EXPECT_EQ(j1["runs"][e]["dev_metrics"], j2["runs"][e]["dev_metrics"]);
    }
}

TEST_F(Mpi, FinetuneOverTwoRanksMatchesOneProcess) {
    finetune_matches_one_process({}, "finetune");
}

// Distillation: each rank runs the teacher on its part of the batch; the distillation
// gradients are summed over the ranks with the task's.
TEST_F(Mpi, DistillationOverTwoRanksMatchesOneProcess) {
    finetune_matches_one_process({"--teacher", model_.string(), "--kd-alpha", "0.6",
                                  "--temperature", "2", "--kd-hidden", "0.5"},
                                 "finetune --teacher");
}

TEST_F(Mpi, OtherCommandsRefuseSeveralRanks) {
    const Job r = two({"inspect", model_.string()});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("fwsvd inspect runs in one process"), std::string::npos) << r.err;
}

TEST_F(Mpi, ARankWithoutTheDataFileStopsTheJob) {
    const fs::path out = tmp_ / "f.safetensors";
    // Rank 1 is given a path that does not exist on its machine.
    const std::string missing = (tmp_ / "elsewhere" / "train.jsonl").string();
    const std::string fw = shell_quote(tool_path("fwsvd"));
    const std::string script =
        "D=" + shell_quote(train_.string()) +
        "; if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then D=" + shell_quote(missing) + "; fi; exec " +
        fw + " fisher " + shell_quote(model_.string()) + " --data \"$D\" --out " +
        shell_quote(out.string());
    const Job f = run_sh(bounded(kMpirun + "sh -c " + shell_quote(script)));
    EXPECT_NE(f.code, 0);
    EXPECT_FALSE(f.timed_out()) << f.err;
    EXPECT_NE(f.err.find("rank 1 of 2"), std::string::npos) << f.err;
    EXPECT_NE(f.err.find("data file not found"), std::string::npos) << f.err;
    expect_no_output(out);
}

TEST_F(Mpi, ARankSeeingAnotherFileStopsTheJob) {
    const fs::path out = tmp_ / "f.safetensors";
    write_data(tmp_ / "short.jsonl", 50, 1);
    const std::string fw = shell_quote(tool_path("fwsvd"));
    const std::string script =
        "D=" + shell_quote(train_.string()) + "; if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then D=" +
        shell_quote((tmp_ / "short.jsonl").string()) + "; fi; exec " + fw + " eval " +
        shell_quote(model_.string()) + " --data \"$D\" --dump-logits " + shell_quote(out.string());
    const Job r = run_sh(bounded(kMpirun + "sh -c " + shell_quote(script)));
    EXPECT_NE(r.code, 0);
    EXPECT_FALSE(r.timed_out()) << r.err;
    EXPECT_NE(r.err.find("differs between the ranks (rank 0: 70; rank 1: 50)"), std::string::npos)
        << r.err;
    expect_no_output(out);
}

TEST_F(Mpi, ABadRowInOneRanksPartStopsTheJob) {
    // Line 65 is in rank 1's part (the second half) and only rank 1 parses it.
    std::string data = read_bytes(train_);
    size_t at = 0;
    for (int line = 1; line < 65; ++line) at = data.find('\n', at) + 1;
    data.insert(at, "{\"input_ids\": [2, 500, 3], \"label\": 1}\n");
    write_bytes(tmp_ / "bad.jsonl", data);
    const fs::path out = tmp_ / "f.safetensors";
    const Job r = two({"fisher", model_.string(), "--data", (tmp_ / "bad.jsonl").string(),
                       "--max-len", "64", "--out", out.string()});
    EXPECT_NE(r.code, 0);
    EXPECT_FALSE(r.timed_out()) << r.err;
    EXPECT_NE(r.err.find("rank 1 of 2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bad.jsonl:65: token id 500 is outside the vocabulary"), std::string::npos)
        << r.err;
    expect_no_output(out);
}

TEST_F(Mpi, ARankKilledStopsTheJob) {
    // Rank 1 is killed (SIGKILL) a moment after it starts, in the middle of a long fine-tuning.
    const fs::path out = tmp_ / "ft";
    const Job r =
        two_with_rank1("(sleep 1; kill -KILL $$) &",
                       {"finetune", model_.string(), "--data", train_.string(), "--epochs", "1000",
                        "--batch", "8", "--max-len", "64", "--out", out.string()});
    EXPECT_NE(r.code, 0);
    EXPECT_FALSE(r.timed_out()) << r.err;
    EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("signal 9"), std::string::npos) << r.err;
    expect_no_output(out);
}

TEST_F(Mpi, ARankOutOfMemoryStopsTheJob) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer reserves more address space than the limit this test sets";
#endif
    // Rank 1 may map 600 MB: enough to start (MPI, the model) with a wide margin, far from
    // enough for the activations of its batch of 512 examples (rank 0, unlimited, is stopped as
    // soon as rank 1 fails).
    head_tsv(shared_dir() / "data" / "glue" / "SST-2" / "train.tsv", tmp_ / "sst.tsv", 1024);
    const fs::path out = tmp_ / "f.safetensors";
    const Job r = two_with_rank1(
        "ulimit -v 600000;",
        {"fisher", (shared_dir() / "models" / "bert-mini-sst2").string(), "--data",
         (tmp_ / "sst.tsv").string(), "--fisher-batch", "512", "--out", out.string()});
    EXPECT_NE(r.code, 0);
    EXPECT_FALSE(r.timed_out()) << r.err;
    EXPECT_NE(r.err.find("rank 1 of 2: out of memory"), std::string::npos) << r.err;
    expect_no_output(out);
}

}  // namespace
}  // namespace fwsvd::testing
