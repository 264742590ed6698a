// Every model family through every command, end to end: `fwsvd init --family F --preset tiny`
// (with the family's golden tokenizer), then run, eval, fisher, compress --method fwsvd --rank 8
// --embeddings 8 (factored word embeddings), finetune --epochs 1, inspect and bench; transformers'
// save_pretrained folders (the goldens) run as they are; an unsupported family is refused naming
// the supported ones.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/tools/cli_util.h"

namespace fwsvd::testing {
namespace {

const std::vector<std::string> kFamilies = {"bert",        "distilbert", "roberta",
                                            "xlm-roberta", "albert",     "electra"};

nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

class FamilyCli : public ::testing::TestWithParam<std::string> {};

std::filesystem::path golden_folder(const std::string& family) {
    return std::filesystem::path(FWSVD_SOURCE_DIR) / "tests" / "golden" / family;
}

TEST_P(FamilyCli, InitRunEvalFisherCompressFinetuneInspectBench) {
    FWSVD_REQUIRE_SHARED();
    const std::string family = GetParam();
    TempDir tmp;
    const auto glue = shared_dir() / "data" / "glue" / "MRPC";  // pairs: both templates
    head_tsv(glue / "train.tsv", tmp / "train.tsv", 48);
    head_tsv(glue / "dev.tsv", tmp / "dev.tsv", 24);
    const std::string model = (tmp / "model").string();
    auto ok = [](const CmdResult& r, const std::string& what) {
        EXPECT_EQ(r.code, 0) << what << ": " << r.err;
        return r.code == 0;
    };
    ASSERT_TRUE(
        ok(run_tool("fwsvd", {"init", "--family", family, "--preset", "tiny", "--tokenizer",
                              golden_folder(family).string(), "--out", model, "--seed", "1"}),
           "init"));
    const nlohmann::json cfg = read_json(tmp / "model" / "config.json");
    EXPECT_EQ(cfg["model_type"], family);

    CmdResult run = run_tool("fwsvd", {"run", model, "--pair", "He said hi.", "He greeted us."});
    ASSERT_TRUE(ok(run, "run"));
    EXPECT_EQ(nlohmann::json::parse(run.out)["probabilities"].size(), 2u);
    ASSERT_TRUE(
        ok(run_tool("fwsvd", {"eval", model, "--data", (tmp / "dev.tsv").string(), "--json"}),
           "eval"));
    const std::string fisher = (tmp / "fisher.safetensors").string();
    ASSERT_TRUE(ok(run_tool("fwsvd", {"fisher", model, "--data", (tmp / "train.tsv").string(),
                                      "--out", fisher}),
                   "fisher"));
    const std::string small = (tmp / "fw8").string();
    ASSERT_TRUE(ok(run_tool("fwsvd", {"compress", model, "--method", "fwsvd", "--rank", "8",
                                      "--embeddings", "8", "--fisher", fisher, "--out", small}),
                   "compress"));
    ASSERT_TRUE(
        ok(run_tool("fwsvd", {"finetune", small, "--data", (tmp / "train.tsv").string(), "--epochs",
                              "1", "--batch", "16", "--out", (tmp / "fw8-ft").string()}),
           "finetune"));
    CmdResult ev = run_tool("fwsvd", {"eval", (tmp / "fw8-ft").string(), "--data",
                                      (tmp / "dev.tsv").string(), "--json"});
    ASSERT_TRUE(ok(ev, "eval of the fine-tuned compressed model"));
    CmdResult ins = run_tool("fwsvd", {"inspect", small, "--json"});
    ASSERT_TRUE(ok(ins, "inspect"));
    const nlohmann::json j = nlohmann::json::parse(ins.out);
    EXPECT_EQ(j["encoder_linear"]["factored"].get<int64_t>(),
              j["encoder_linear"]["layers"].get<int64_t>());
    EXPECT_EQ(j["word_embeddings"]["rank"], 8);
    if (family == "albert") {
        // One shared group: six matrices, each used by both layers, factored once.
        EXPECT_EQ(j["encoder_linear"]["layers"], 6);
        EXPECT_EQ(j["layers"][0]["shared_by_layers"], 2);
    }
    CmdResult bench = run_tool(
        "fwsvd", {"bench", small, "--seq", "32", "--seconds", "0.1", "--warmup", "1", "--json"});
    ASSERT_TRUE(ok(bench, "bench"));
    EXPECT_GT(nlohmann::json::parse(bench.out)["gflop"].get<double>(), 0.0);
}

TEST_P(FamilyCli, SavePretrainedFolderRunsAsItIs) {
    const std::string dir = golden_folder(GetParam()).string();
    CmdResult r =
        run_tool("fwsvd", {"run", dir, "--text", "a charming and often affecting journey"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(nlohmann::json::parse(r.out).contains("logits"));
    CmdResult i = run_tool("fwsvd-run", {dir, "--pair", "a", "b"});
    EXPECT_EQ(i.code, 0) << i.err;
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyCli, ::testing::ValuesIn(kFamilies),
                         [](const auto& param_info) {
                             std::string n = param_info.param;
                             for (char& ch : n) ch = ch == '-' ? '_' : ch;
                             return n;
                         });

TEST(FamilyCli, UnsupportedFamilyIsRefusedNamingTheSupportedOnes) {
    TempDir tmp;
    std::filesystem::create_directories(tmp / "gpt2");
    {
        std::ofstream out(tmp / "gpt2" / "config.json");
        out << R"({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})";
    }
    CmdResult r = run_tool("fwsvd", {"run", (tmp / "gpt2").string(), "--text", "hi"});
    EXPECT_EQ(r.code, 1);
    for (const char* s : {"model_type 'gpt2' is not supported", "bert", "distilbert", "roberta",
                          "xlm-roberta", "albert", "electra"}) {
        EXPECT_NE(r.err.find(s), std::string::npos) << s << " not in: " << r.err;
    }
}

}  // namespace
}  // namespace fwsvd::testing
