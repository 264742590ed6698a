// fwsvd bench on golden/tiny-cls: the JSON it prints (median and minimum latency, FLOPs, the
// packed bytes, the precision actually packed) and its errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kernels/packed_matmul.h"
#include "tests/bad_input_util.h"
#include "tests/tools/cli_util.h"

namespace fwsvd::testing {
namespace {

class BenchCli : public ::testing::Test {
  protected:
    void SetUp() override {
        FWSVD_REQUIRE_SHARED();
        copy_model(shared_dir() / "golden" / "tiny-cls", model_);
    }
    nlohmann::json bench(std::vector<std::string> extra) {
        std::vector<std::string> args = {"bench", model_.string(), "--seq", "16",       "--batch",
                                         "2",     "--seconds",     "0",     "--warmup", "1",
                                         "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        CmdResult r = run_tool("fwsvd", args);
        EXPECT_EQ(r.code, 0) << r.err;
        return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
    }
    TempDir tmp_;
    const std::filesystem::path model_ = tmp_ / "model";
};

TEST_F(BenchCli, JsonHasLatencyFlopsAndPrecision) {
    const nlohmann::json f32 = bench({});
    ASSERT_TRUE(f32.contains("median_ms")) << f32.dump();
    EXPECT_GT(f32["median_ms"].get<double>(), 0.0);
    EXPECT_GT(f32["min_ms"].get<double>(), 0.0);
    EXPECT_LE(f32["min_ms"].get<double>(), f32["median_ms"].get<double>());
    EXPECT_GE(f32["runs"].get<int64_t>(), 3);
    EXPECT_GT(f32["gflop"].get<double>(), 0.0);
    EXPECT_EQ(f32["seq"], 16);
    EXPECT_EQ(f32["batch"], 2);
    EXPECT_EQ(f32["precision"], "f32");
    if (!kernels::bf16_matmul_supported()) {
        // Refused with a clear error where oneDNN would only emulate bf16.
        CmdResult r =
            run_tool("fwsvd", {"bench", model_.string(), "--seq", "16", "--precision", "bf16"});
        EXPECT_EQ(r.code, 1) << r.err;
        EXPECT_NE(r.err.find("AVX512_BF16"), std::string::npos) << r.err;
        return;
    }
    const nlohmann::json bf16 = bench({"--precision", "bf16"});
    ASSERT_TRUE(bf16.contains("precision")) << bf16.dump();
    EXPECT_EQ(bf16["precision"], "bf16");
    EXPECT_EQ(bf16["gflop"], f32["gflop"]);
    EXPECT_LT(bf16["packed_mb"].get<double>(), f32["packed_mb"].get<double>());
}

// --precision int8: the JSON says what ran (the codes' ranges, the GEMM counts by precision),
// the same FLOPs, a smaller packed model; --int8-skip moves GEMMs to f32.
TEST_F(BenchCli, Int8) {
    const nlohmann::json f32 = bench({});
    const nlohmann::json int8 = bench({"--precision", "int8"});
    ASSERT_TRUE(int8.contains("int8")) << int8.dump();
    EXPECT_EQ(int8["precision"], "int8");
    EXPECT_EQ(int8["gflop"], f32["gflop"]);
    EXPECT_LT(int8["packed_mb"].get<double>(), f32["packed_mb"].get<double>());
    const kernels::Int8Scheme q = kernels::default_int8_scheme();
    EXPECT_EQ(int8["int8"]["weight_max"], q.weight_max);
    EXPECT_EQ(int8["int8"]["activation_max"], q.activation_max);
    EXPECT_EQ(int8["int8"]["per_tensor"], false);
    EXPECT_EQ(int8["int8"]["f32_gemms"], 0);
    const int64_t gemms = int8["int8"]["int8_gemms"].get<int64_t>();
    EXPECT_GT(gemms, 0);
    const nlohmann::json skip = bench(
        {"--precision", "int8", "--int8-skip", "intermediate", "--int8-activations", "tensor"});
    ASSERT_TRUE(skip.contains("int8")) << skip.dump();
    EXPECT_EQ(skip["int8"]["per_tensor"], true);
    EXPECT_GT(skip["int8"]["f32_gemms"].get<int64_t>(), 0);
    EXPECT_EQ(skip["int8"]["f32_gemms"].get<int64_t>() + skip["int8"]["int8_gemms"].get<int64_t>(),
              gemms);
}

TEST_F(BenchCli, Errors) {
    // tiny-cls has 64 positions.
    CmdResult r = run_tool("fwsvd", {"bench", model_.string(), "--seq", "65"});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("--seq 65"), std::string::npos) << r.err;
    r = run_tool("fwsvd", {"bench", model_.string(), "--batch", "0"});
    EXPECT_EQ(r.code, 2) << r.err;
    r = run_tool("fwsvd", {"bench", (tmp_ / "missing").string()});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("not a model folder"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fwsvd::testing
