// fwsvd compress and fwsvd inspect end to end on the real bert-mini checkpoints: the compressed
// folder loads and evaluates, inspect's counts match the safetensors file, Fisher provenance is
// checked, and wrong use fails with the documented exit codes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "models/model.h"
#include "runtime/safetensors.h"
#include "tests/tools/cli_util.h"

namespace fwsvd::testing {
namespace {

std::filesystem::path model_path(const std::string& name) {
    return shared_dir() / "models" / name;
}

std::filesystem::path sst2(const std::string& split) {
    return shared_dir() / "data" / "glue" / "SST-2" / (split + ".tsv");
}

nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

int64_t file_params(const std::filesystem::path& model_dir) {
    auto f = SafetensorsFile::open(model_dir / "model.safetensors");
    int64_t n = 0;
    for (const auto& t : f->tensors()) n += t.numel;
    return n;
}

void expect_inspect_matches_file(const std::filesystem::path& dir) {
    CmdResult r = run_tool("fwsvd", {"inspect", dir.string(), "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["total"]["params"].get<int64_t>(), file_params(dir)) << dir;
    auto f = SafetensorsFile::open(dir / "model.safetensors");
    EXPECT_EQ(j["total"]["tensors"].get<size_t>(), f->tensors().size());
    // Per layer: the parameters of its tensors in the file.
    int64_t enc_params = 0;
    for (const auto& l : j["layers"]) {
        const std::string prefix = l["prefix"];
        int64_t n = 0;
        for (const auto& t : f->tensors()) {
            if (t.name.rfind(prefix + ".", 0) == 0) n += t.numel;
        }
        EXPECT_EQ(l["params"].get<int64_t>(), n) << prefix;
        if (prefix.rfind("bert.encoder.", 0) == 0) enc_params += n;
        if (l["factored"].get<bool>()) {
            const int64_t rank = l["rank"], in = l["in"], out = l["out"];
            EXPECT_EQ(l["weights"].get<int64_t>(), rank * (in + out)) << prefix;
        }
    }
    EXPECT_EQ(j["encoder_linear"]["params"].get<int64_t>(), enc_params);
    // Text output works too.
    CmdResult t = run_tool("fwsvd", {"inspect", dir.string()});
    EXPECT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("encoder linear layers"), std::string::npos);
}

TEST(CompressCli, SvdRank64LoadsEvaluatesAndInspects) {
    FWSVD_REQUIRE_SHARED();
    TempDir tmp;
    const auto out = tmp / "svd64";
    const auto report = tmp / "report.json";
    CmdResult r = run_tool(
        "fwsvd", {"compress", model_path("bert-mini-sst2").string(), "--method", "svd", "--rank",
                  "64", "--out", out.string(), "--report", report.string(), "--threads", "2"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("24 of 24 layers factored"), std::string::npos) << r.out;

    auto cfg = read_json(out / "config.json");
    const auto& lr = cfg["low_rank"];
    EXPECT_EQ(lr["format"], "fwsvd-low-rank-1");
    EXPECT_EQ(lr["method"], "svd");
    EXPECT_EQ(lr["ranks"].size(), 24u);
    EXPECT_EQ(lr["ranks"]["bert.encoder.layer.3.output.dense"], 64);
    EXPECT_TRUE(lr["fisher"].is_null());
    EXPECT_EQ(lr["source_model"], model_path("bert-mini-sst2").string());
    EXPECT_EQ(lr["source_checksum"].get<std::string>().size(), 64u);
    EXPECT_EQ(cfg["hidden_size"], 256);  // the original fields stay
    for (const char* name : {"vocab.txt", "tokenizer.json"}) {
        EXPECT_TRUE(std::filesystem::exists(out / name)) << name;
    }

    auto model = Model::load(out);
    EXPECT_EQ(model->layout().options().ranks.size(), 24u);
    for (const auto& [prefix, rank] : model->layout().options().ranks) EXPECT_EQ(rank, 64);

    auto rep = read_json(report);
    EXPECT_EQ(rep["encoder_linear"]["params_before"], 3145728);
    EXPECT_EQ(rep["encoder_linear"]["params_after"], 16 * 64 * 512 + 8 * 64 * 1280);
    EXPECT_EQ(rep["whole_model"]["params_after"].get<int64_t>(), file_params(out));
    EXPECT_EQ(rep["layers"].size(), 24u);
    for (const auto& l : rep["layers"]) {
        EXPECT_TRUE(l["factored"].get<bool>());
        EXPECT_GT(l["rel_error"].get<double>(), 0.0);
        EXPECT_LT(l["rel_error"].get<double>(), 1.0);
        EXPECT_TRUE(l["fisher_rel_error"].is_null());
    }

    // Measured: dense 0.8635, svd rank 64 0.8406 (rank 32: 0.8005, rank 96: 0.8532).
    CmdResult e =
        run_tool("fwsvd", {"eval", out.string(), "--data", sst2("dev").string(), "--json"});
    ASSERT_EQ(e.code, 0) << e.err;
    auto ej = nlohmann::json::parse(e.out);
    EXPECT_EQ(ej["examples"], 872);
    EXPECT_GT(ej["value"].get<double>(), 0.80);
    EXPECT_LT(ej["value"].get<double>(), 0.87);

    expect_inspect_matches_file(out);
    expect_inspect_matches_file(model_path("bert-mini-sst2"));
    expect_inspect_matches_file(model_path("bert-mini-uncased"));  // cls.* head, no pooler

    // Compressing a compressed model is refused; so is writing over the input.
    CmdResult again = run_tool("fwsvd", {"compress", out.string(), "--method", "svd", "--rank", "8",
                                         "--out", (tmp / "again").string()});
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.err.find("already compressed"), std::string::npos) << again.err;
    EXPECT_FALSE(std::filesystem::exists(tmp / "again"));
}

TEST(CompressCli, FwsvdFromFisherFileAndFromData) {
    FWSVD_REQUIRE_SHARED();
    TempDir tmp;
    const auto train = tmp / "train.tsv";
    head_tsv(sst2("train"), train, 200);
    const auto sst = model_path("bert-mini-sst2");
    const auto fisher = tmp / "fisher.safetensors";
    CmdResult f = run_tool("fwsvd", {"fisher", sst.string(), "--data", train.string(), "--examples",
                                     "32", "--out", fisher.string()});
    if (f.code != 0 && f.err.find("not implemented") != std::string::npos) {
        GTEST_SKIP() << "compressor/fisher.cc not in this build: " << f.err;
    }
    ASSERT_EQ(f.code, 0) << f.err;

    const auto out = tmp / "fw";
    CmdResult r = run_tool(
        "fwsvd", {"compress", sst.string(), "--method", "fwsvd", "--param-ratio", "0.3", "--fisher",
                  fisher.string(), "--out", out.string(), "--report", (tmp / "r.json").string()});
    ASSERT_EQ(r.code, 0) << r.err;
    auto lr = read_json(out / "config.json")["low_rank"];
    EXPECT_EQ(lr["method"], "fwsvd");
    EXPECT_EQ(lr["rank_rule"], "--param-ratio 0.3");
    EXPECT_EQ(lr["fisher"]["file"], fisher.string());
    EXPECT_EQ(lr["fisher"]["examples"], 32);
    EXPECT_EQ(lr["fisher"]["model_checksum"], lr["source_checksum"]);
    auto rep = read_json(tmp / "r.json");
    EXPECT_LE(rep["encoder_linear"]["fraction"].get<double>(), 0.3);
    for (const auto& l : rep["layers"]) EXPECT_GE(l["fisher_rel_error"].get<double>(), 0.0);
    EXPECT_NO_THROW(Model::load(out));

    // The same Fisher for another model (same shapes, other weights): refused without --force.
    const auto cola = model_path("bert-mini-cola");
    CmdResult bad =
        run_tool("fwsvd", {"compress", cola.string(), "--method", "fwsvd", "--rank", "16",
                           "--fisher", fisher.string(), "--out", (tmp / "cola").string()});
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("--force"), std::string::npos) << bad.err;
    EXPECT_FALSE(std::filesystem::exists(tmp / "cola"));
    CmdResult forced = run_tool(
        "fwsvd", {"compress", cola.string(), "--method", "fwsvd", "--rank", "16", "--fisher",
                  fisher.string(), "--out", (tmp / "cola").string(), "--force"});
    EXPECT_EQ(forced.code, 0) << forced.err;
    EXPECT_NE(forced.err.find("warning"), std::string::npos);

    // Fisher computed on the fly from --data.
    const auto out2 = tmp / "fw-data";
    CmdResult d = run_tool(
        "fwsvd", {"compress", sst.string(), "--method", "fwsvd", "--rank", "32", "--data",
                  train.string(), "--examples", "16", "--seed", "3", "--out", out2.string()});
    ASSERT_EQ(d.code, 0) << d.err;
    auto lr2 = read_json(out2 / "config.json")["low_rank"];
    EXPECT_EQ(lr2["fisher"]["data"], train.string());
    EXPECT_EQ(lr2["fisher"]["examples"], 16);
    EXPECT_EQ(lr2["fisher"]["seed"], 3);
    EXPECT_EQ(lr2["fisher"]["checksum"].get<std::string>().size(), 64u);
}

TEST(CompressCli, WrongUse) {
    FWSVD_REQUIRE_SHARED();
    TempDir tmp;
    const std::string sst = model_path("bert-mini-sst2").string();
    const std::string out = (tmp / "o").string();
    struct Case {
        std::vector<std::string> args;
        int code;
        const char* message;  // part of stderr
    };
    const std::vector<Case> cases = {
        {{"compress", sst, "--method", "svd", "--out", out}, 2, "--rank"},
        {{"compress", sst, "--method", "svd", "--rank", "8", "--rank-ratio", "0.5", "--out", out},
         2,
         ""},
        {{"compress", sst, "--method", "fwsvd", "--rank", "8", "--out", out}, 2, "Fisher"},
        {{"compress", sst, "--method", "qr", "--rank", "8", "--out", out}, 2, ""},
        {{"compress", sst, "--method", "svd", "--rank", "8", "--out", sst}, 2, ""},
        {{"compress", sst, "--method", "svd", "--rank", "0", "--out", out}, 2, ""},
        {{"compress", sst, "--method", "svd", "--param-ratio", "0.001", "--out", out},
         2,
         "cannot be reached"},
        // 256x256 shrinks below rank 128, 1024x256 below 204.8.
        {{"compress", sst, "--method", "svd", "--rank", "220", "--out", out},
         1,
         "nothing to compress"},
        {{"compress", sst, "--method", "svd", "--rank", "8", "--layers", "([", "--out", out},
         2,
         "regular expression"},
        {{"compress", sst, "--method", "svd", "--rank", "8", "--layers", "pooler", "--out", out},
         2,
         "matches no"},
        {{"compress", (tmp / "missing").string(), "--method", "svd", "--rank", "8", "--out", out},
         1,
         ""},
        {{"inspect", (tmp / "missing").string()}, 1, ""},
    };
    for (const auto& c : cases) {
        CmdResult r = run_tool("fwsvd", c.args);
        std::string cmd;
        for (const auto& a : c.args) cmd += a + " ";
        EXPECT_EQ(r.code, c.code) << cmd << "\n" << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << cmd << "\n" << r.err;
        EXPECT_FALSE(std::filesystem::exists(out)) << cmd;
    }
    // --rank 150 on bert-mini shrinks the 1024x256 / 256x1024 layers only: kept dense ones are
    // reported.
    CmdResult r = run_tool("fwsvd", {"compress", sst, "--method", "svd", "--rank", "150", "--out",
                                     out, "--report", (tmp / "r.json").string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("dense: rank 150 does not shrink it"), std::string::npos) << r.out;
    auto rep = read_json(tmp / "r.json");
    EXPECT_EQ(rep["factored_layers"], 8);
    EXPECT_EQ(rep["dense_layers"], 16);
}

}  // namespace
}  // namespace fwsvd::testing
