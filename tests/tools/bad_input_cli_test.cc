// Bad input through the command line: every case must exit with the documented code (1 invalid
// input, 2 usage), print "fwsvd: error: ..." naming the file and the problem, and never crash
// (exit code < 128). Models are copies of golden/tiny-cls and tiny-reg with a small vocab.txt
// (fast to load, also under the sanitizers); the interrupt test uses bert-mini-sst2.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/safetensors.h"
#include "tests/bad_input_util.h"
#include "tests/tools/cli_util.h"

namespace fwsvd::testing {
namespace {

namespace fs = std::filesystem;

void expect_cli_error(const CmdResult& r, int code, std::initializer_list<std::string> parts) {
    EXPECT_EQ(r.code, code) << r.err;
    EXPECT_LT(r.code, 128) << "crashed: " << r.err;
    EXPECT_EQ(r.err.rfind("fwsvd: error: ", 0), 0u) << r.err;
    for (const auto& p : parts) {
        EXPECT_NE(r.err.find(p), std::string::npos) << "stderr lacks \"" << p << "\": " << r.err;
    }
}

class CliBad : public ::testing::Test {
  protected:
    void SetUp() override {
        FWSVD_REQUIRE_SHARED();
        copy_model(shared_dir() / "golden" / "tiny-cls", model_);
        write_bytes(model_ / "vocab.txt", small_vocab());
        write_bytes(data_, "sentence\tlabel\ngood movie\t1\nbad film\t0\nvery fun\t2\n");
    }
    CmdResult run(std::vector<std::string> args) {
        args.insert(args.begin(), {"run", model_.string()});
        return run_tool("fwsvd", args);
    }
    CmdResult eval(const fs::path& data, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"eval", model_.string(), "--data", data.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_tool("fwsvd", args);
    }
    fs::path file(const std::string& name, const std::string& content) {
        write_bytes(tmp_ / name, content);
        return tmp_ / name;
    }
    TempDir tmp_;
    const fs::path model_ = tmp_ / "model";
    const fs::path data_ = tmp_ / "data.tsv";
    fs::path weights() const { return model_ / "model.safetensors"; }
    fs::path config() const { return model_ / "config.json"; }
};

TEST_F(CliBad, Control) {
    CmdResult r = run({"--text", "good movie"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["probabilities"].size(), 3u);
    r = eval(data_, {"--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["examples"], 3);
}

// ---- the model folder -------------------------------------------------------------------------

TEST_F(CliBad, CorruptSafetensors) {
    const std::string good = read_bytes(weights());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "truncated: 0 bytes"},
        {good.substr(0, 7), "truncated: 7 bytes"},
        {le64(uint64_t(1) << 63) + good.substr(8), "goes beyond the end of the file"},
        {safetensors_bytes("[1]"), "header is not a JSON object"},
        {safetensors_bytes("{\"a\": "), "not valid JSON"},
        {good.substr(0, good.size() - 100), "lie outside the data section"},
        {good + "trailing", "bytes after the last tensor"},
    };
    for (const auto& [bytes, what] : cases) {
        write_bytes(weights(), bytes);
        expect_cli_error(run({"--text", "hi"}), 1, {weights().string(), what});
    }
}

TEST_F(CliBad, CheckpointContents) {
    edit_weights(model_, [](auto& t) { t.erase("bert.pooler.dense.bias"); });
    expect_cli_error(run({"--text", "hi"}), 1,
                     {weights().string(), "'bert.pooler.dense.bias' not found"});
    copy_model(shared_dir() / "golden" / "tiny-cls", model_);
    edit_weights(model_, [](auto& t) { t["classifier.weight"] = Tensor::zeros({3, 31}); });
    expect_cli_error(run({"--text", "hi"}), 1,
                     {weights().string(), "'classifier.weight' has shape [3, 31]"});
    copy_model(shared_dir() / "golden" / "tiny-cls", model_);
    edit_weights(model_, [](auto& t) {
        t["bert.embeddings.LayerNorm.weight"].template data<float>()[0] = NAN;
    });
    expect_cli_error(run({"--text", "hi"}), 1, {weights().string(), "holds NaN or infinity"});
    fs::remove(weights());
    expect_cli_error(run({"--text", "hi"}), 1, {weights().string(), "not found"});
}

TEST_F(CliBad, ConfigJson) {
    const std::string good = read_bytes(config());
    auto with = [&](const char* key, const nlohmann::json& v) {
        nlohmann::json j = nlohmann::json::parse(read_bytes(config()));
        j[key] = v;
        write_bytes(config(), j.dump());
    };
    struct Case {
        std::function<void()> make;
        std::string what;
    };
    const std::vector<Case> cases = {
        {[&] { write_bytes(config(), "{\"model_type\": "); }, "not valid JSON"},
        {[&] { write_bytes(config(), "\"bert\""); }, "not a JSON object"},
        {[&] {
             write_bytes(config(),
                         "{\"x\": " + std::string(200000, '[') + std::string(200000, ']') + "}");
         },
         "nested deeper than 256 levels"},
        {[&] { with("num_attention_heads", 0); }, "num_attention_heads = 0 is out of range"},
        {[&] { with("num_attention_heads", 5); }, "not divisible by num_attention_heads 5"},
        {[&] { with("intermediate_size", -64); }, "intermediate_size = -64 is out of range"},
        {[&] { with("vocab_size", 1e12); }, "field 'vocab_size' has the wrong type"},
        {[&] { with("vocab_size", int64_t(1000000000000)); }, "vocab_size = 1000000000000"},
        {[&] { with("hidden_size", "32"); }, "field 'hidden_size' has the wrong type (\"32\")"},
        {[&] { with("hidden_act", "quick_gelu"); }, "hidden_act 'quick_gelu' is not supported"},
        {[&] { with("model_type", "gpt2"); }, "model_type 'gpt2' is not supported"},
        {[&] { with("architectures", {"BertForQuestionAnswering"}); },
         "architecture 'BertForQuestionAnswering' is not supported"},
        {[&] {
             with("id2label", {{"0", "a"}, {"1", "b"}});
             with("label2id", {{"a", 0}, {"b", 1}});
         },
         "classifier.weight has 3 rows"},
        {[&] { fs::remove(config()); }, "model config (config.json) not found"},
    };
    for (const auto& c : cases) {
        write_bytes(config(), good);
        c.make();
        expect_cli_error(run({"--text", "hi"}), 1, {config().string(), c.what});
    }
    expect_cli_error(run_tool("fwsvd", {"run", (tmp_ / "nowhere").string(), "--text", "hi"}), 1,
                     {"nowhere", "not a model folder"});
}

TEST_F(CliBad, VocabTxt) {
    const fs::path v = model_ / "vocab.txt";
    fs::remove(v);
    expect_cli_error(run({"--text", "hi"}), 1, {model_.string(), "has no tokenizer files"});
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "empty vocabulary"},
        {"[CLS]\n[SEP]\nhi\n", "no unknown token \"[UNK]\""},
        {"[UNK]\n[SEP]\nhi\n", "no classifier token \"[CLS]\""},
        {"[UNK]\n[CLS]\nhi\n", "no separator token \"[SEP]\""},
        {"[UNK]\n[CLS]\n[SEP]\nh\xffi\n", "invalid UTF-8 at byte offset 19 (line 4)"},
    };
    for (const auto& [content, what] : cases) {
        write_bytes(v, content);
        expect_cli_error(run({"--text", "hi"}), 1, {v.string(), what});
    }
    std::string big;
    for (int i = 0; i < 200; ++i) big += "w" + std::to_string(i) + "\n";
    write_bytes(v, std::string("[UNK]\n[CLS]\n[SEP]\n") + big);
    expect_cli_error(run({"--text", "hi"}), 1,
                     {"the tokenizer has 203 entries but the model's vocab_size is 120"});
}

// ---- data files -------------------------------------------------------------------------------

TEST_F(CliBad, TsvFiles) {
    struct Case {
        std::string content;
        std::string what;
    };
    const std::vector<Case> cases = {
        {"sentence\tlabel\ngood\t1\nbad\n", ":3: expected 2 tab-separated columns"},
        {"sentence\tlabel\ngood\t1\textra\n", ":2: expected 2 tab-separated columns"},
        {"review\tlabel\ngood\t1\n", "cannot find the text column(s)"},
        {"sentence\nhello\n", "no label column"},
        {"sentence\tlabel\ngood\tmaybe\n", ":2: label 'maybe' is neither a class id (0..2)"},
        {"sentence\tlabel\ngood\t3\n", ":2: label 3 is not a class id of this model (0..2)"},
        {"sentence\tlabel\ngood\t-1\n", ":2: label -1 is not a class id"},
        {"sentence\tlabel\nbad \xc0\xaf\t1\n", ":2: 'sentence': invalid UTF-8 at byte offset 4"},
        {"sent\xff\tlabel\ngood\t1\n", ":1: header: invalid UTF-8"},
        {"sentence\tlabel\n\t1\n", ":2: empty text in 'sentence'"},
        {"sentence\tlabel\n \t 1\n", ":2: empty text in 'sentence'"},
        {"", "empty file (expected a header row)"},
        {"sentence\tlabel\n", "no examples"},
    };
    for (const auto& c : cases) {
        auto f = file("case.tsv", c.content);
        expect_cli_error(eval(f), 1, {f.string(), c.what});
    }
}

TEST_F(CliBad, RegressionLabels) {
    copy_model(shared_dir() / "golden" / "tiny-reg", model_);
    for (const char* bad : {"high", "nan", "1e400"}) {
        auto f = file("s.tsv", std::string("sentence\tscore\ngood\t3.5\nbad\t") + bad + "\n");
        expect_cli_error(eval(f), 1,
                         {f.string() + ":3: label '" + bad +
                          "' is not a number (the model does "
                          "regression)"});
    }
}

TEST_F(CliBad, JsonlFiles) {
    struct Case {
        std::string content;
        std::string what;
    };
    const std::vector<Case> cases = {
        {"{\"text\": \"good\", \"label\": 1}\n{\"text\": \n", ":2: not valid JSON"},
        {"[\"good\", 1]\n", ":1: each line must be a JSON object"},
        {"\"good\"\n", ":1: each line must be a JSON object"},
        {"{\"input_ids\": [2, 130, 3], \"label\": 1}\n",
         ":1: token id 130 is outside the vocabulary (120)"},
        {"{\"input_ids\": [2, 10, 3], \"token_type_ids\": [0, 0], \"label\": 1}\n",
         ":1: 'token_type_ids' has 2 entries but 'input_ids' has 3"},
        {"{\"input_ids\": [2, 10, 3], \"token_type_ids\": [0, 5, 0], \"label\": 1}\n",
         ":1: token type id 5 is outside type_vocab_size (2)"},
        {"{\"input_ids\": [2, 99999999999, 3], \"label\": 1}\n", "out of range"},
        {"{\"text\": \"good\", \"label\": true}\n", ":1: 'label' is not a number or a string"},
    };
    for (const auto& c : cases) {
        auto f = file("case.jsonl", c.content);
        expect_cli_error(eval(f), 1, {f.string(), c.what});
    }
}

TEST_F(CliBad, DataFileIsAFolderOrMissing) {
    fs::create_directory(tmp_ / "folder.tsv");
    expect_cli_error(eval(tmp_ / "folder.tsv"), 1, {"folder.tsv", "is a folder"});
    expect_cli_error(eval(tmp_ / "missing.tsv"), 1, {"missing.tsv", "data file not found"});
    expect_cli_error(run({"--input", (tmp_ / "missing.jsonl").string()}), 1,
                     {"missing.jsonl", "data file not found"});
}

TEST_F(CliBad, TenMegabyteTextIsTruncatedQuickly) {
    std::string text;
    while (text.size() < (size_t(10) << 20)) text += "very good fun movie , not boring ! ";
    auto f = file("big.tsv", "sentence\tlabel\n" + text + "\t1\nhi\t0\n");
    const auto t0 = std::chrono::steady_clock::now();
    CmdResult r = eval(f, {"--json", "--max-len", "64"});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["examples"], 2);
    EXPECT_EQ(j["truncated"], 1);
    EXPECT_LT(s, 60.0);
    std::printf("[          ] eval with a 10 MB text: %.2f s\n", s);
    r = run({"--input", f.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
}

TEST_F(CliBad, StandardInputAndOddFileNames) {
    // JSON Lines on standard input are recognised (the stream is read once, not re-opened).
    auto in = file("in.jsonl", "{\"text\": \"good movie\"}\n{\"text\": \"bad\"}\n");
    CmdResult r = run_tool("fwsvd", {"run", model_.string(), "--input", "-"}, in.string());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
    // A data file whose name is not UTF-8 goes into --json and the logits' metadata.
    auto odd = file("d\xff.tsv", read_bytes(data_));
    const fs::path out = tmp_ / "o.safetensors";
    r = eval(odd, {"--json", "--dump-logits", out.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["examples"], 3);
    EXPECT_EQ(SafetensorsFile::open(out)->get("logits").shape, (Shape{3, 3}));
}

// ---- the command line -------------------------------------------------------------------------

TEST_F(CliBad, UnknownFlagsAndBadValues) {
    for (const auto& tool : {"fwsvd", "fwsvd-run"}) {
        std::vector<std::string> args = {model_.string(), "--text", "hi", "--no-such-flag"};
        if (std::string(tool) == "fwsvd") args.insert(args.begin(), "run");
        expect_cli_error(run_tool(tool, args), 2, {"--no-such-flag"});
    }
    expect_cli_error(run_tool("fwsvd", {"frobnicate"}), 2, {});
    expect_cli_error(eval(data_, {"--bogus"}), 2, {"--bogus"});
    expect_cli_error(eval(data_, {"--batch-size", "0"}), 2, {"--batch-size"});
    expect_cli_error(eval(data_, {"--max-len", "many"}), 2, {"--max-len"});
    expect_cli_error(run({}), 1, {"nothing to classify"});
    expect_cli_error(eval(data_, {"--metric", "bleu"}), 2, {"metric 'bleu' is not available"});
    expect_cli_error(eval(data_, {"--precision", "f16"}), 2, {"--precision", "f16"});
    expect_cli_error(run({"--text", "hi", "--precision", "int4"}), 2, {"--precision"});
    // The int8 options: bad values, and given without --precision int8.
    expect_cli_error(run({"--text", "hi", "--precision", "int8", "--int8-activations", "col"}), 2,
                     {"--int8-activations"});
    expect_cli_error(run({"--text", "hi", "--precision", "int8", "--int8-middle", "bf16"}), 2,
                     {"--int8-middle"});
    expect_cli_error(eval(data_, {"--int8-skip", "layer"}), 2, {"--int8-skip", "int8"});
    expect_cli_error(eval(data_, {"--precision", "int8", "--int8-skip", "decoder"}), 2,
                     {"--int8-skip", "decoder", "matches no"});
    expect_cli_error(eval(data_, {"--precision", "int8", "--int8-skip", "layer[0"}), 2,
                     {"--int8-skip", "regular expression"});
    expect_cli_error(run_tool("fwsvd", {"bench", model_.string(), "--precision", "fp32"}), 2,
                     {"--precision"});
}

TEST_F(CliBad, MaxLenOutOfRange) {
    expect_cli_error(eval(data_, {"--max-len", "1"}), 2, {"--max-len"});
    expect_cli_error(run({"--text", "hi", "--max-len", "0"}), 2, {"--max-len"});
    // tiny-cls has 64 positions.
    expect_cli_error(eval(data_, {"--max-len", "65"}), 2,
                     {"--max-len 65 is out of range", "max_position_embeddings (64)"});
    expect_cli_error(run({"--text", "hi", "--max-len", "1000"}), 2, {"--max-len 1000"});
    EXPECT_EQ(eval(data_, {"--max-len", "64"}).code, 0);
    // A real checkpoint with 512 positions.
    const auto mini = shared_dir() / "models" / "bert-mini-sst2";
    expect_cli_error(run_tool("fwsvd", {"run", mini.string(), "--text", "hi", "--max-len", "513"}),
                     2, {"--max-len 513 is out of range", "max_position_embeddings (512)"});
}

TEST_F(CliBad, DumpLogitsNeverReplacesAnInput) {
    const std::string data_before = read_bytes(data_);
    const std::string weights_before = read_bytes(weights());
    for (const fs::path& target :
         {data_, weights(), config(), model_ / "vocab.txt", model_, tmp_.path()}) {
        expect_cli_error(eval(data_, {"--dump-logits", target.string()}), 2,
                         {"refusing to overwrite an input"});
    }
    // The same file through another spelling of its path.
    expect_cli_error(eval(data_, {"--dump-logits", (model_ / ".." / "data.tsv").string()}), 2,
                     {"refusing to overwrite an input"});
    EXPECT_EQ(read_bytes(data_), data_before);
    EXPECT_EQ(read_bytes(weights()), weights_before);
    fs::create_directory(tmp_ / "outdir");
    expect_cli_error(eval(data_, {"--dump-logits", (tmp_ / "outdir").string()}), 2,
                     {"is a folder"});
    expect_cli_error(eval(data_, {"--dump-logits", (tmp_ / "no" / "x.safetensors").string()}), 2,
                     {"does not exist"});
    expect_cli_error(eval(data_, {"--dump-logits", "/dev/null"}), 2,
                     {"/dev/null: exists and is not a regular file"});
    EXPECT_TRUE(fs::is_character_file("/dev/null"));
    // Control: a fresh output, then one replacing a previous file.
    const fs::path out = tmp_ / "logits.safetensors";
    write_bytes(out, "previous");
    CmdResult r = eval(data_, {"--dump-logits", out.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(SafetensorsFile::open(out)->get("logits").shape, (Shape{3, 3}));
}

// ---- interrupted runs lose nothing ------------------------------------------------------------

// Starts tool with args (stdout to /dev/null, stderr to err_file); returns its pid.
pid_t spawn(const std::string& tool, const std::vector<std::string>& args,
            const fs::path& err_file) {
    std::vector<std::string> all = {tool_path(tool)};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string err = err_file.string();
    pid_t pid = fork();
    if (pid == 0) {
        int out = ::open("/dev/null", O_WRONLY);
        int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || e < 0) _exit(126);
        dup2(out, 1);
        dup2(e, 2);
        setenv("FWSVD_NO_PROGRESS", "1", 1);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

TEST(CliInterrupt, KilledEvalLeavesNoPartialLogits) {
    FWSVD_REQUIRE_SHARED();
    TempDir tmp;
    // 20,000 rows of SST-2 dev: long enough to still be running when the signal comes.
    const std::string dev = read_bytes(shared_dir() / "data" / "glue" / "SST-2" / "dev.tsv");
    const size_t nl = dev.find('\n');
    const std::string header = dev.substr(0, nl + 1), rows = dev.substr(nl + 1);
    std::string big = header;
    size_t n = 0, pos = 0;
    while (n < 20000) {
        size_t end = rows.find('\n', pos);
        if (end == std::string::npos) {
            pos = 0;
            continue;
        }
        big += rows.substr(pos, end - pos + 1);
        pos = end + 1;
        ++n;
    }
    const fs::path data = tmp / "big.tsv";
    write_bytes(data, big);
    const auto model = shared_dir() / "models" / "bert-mini-sst2";
    const fs::path out = tmp / "out" / "logits.safetensors";
    fs::create_directory(tmp / "out");

    struct Case {
        int sig;
        bool previous;  // a previous complete output exists
        int delay_ms;
    };
    for (const Case c : {Case{SIGINT, false, 1500}, Case{SIGTERM, true, 1500},
                         Case{SIGINT, true, 3000}, Case{SIGTERM, false, 300}}) {
        SCOPED_TRACE("signal " + std::to_string(c.sig) + " after " + std::to_string(c.delay_ms) +
                     " ms, previous output: " + (c.previous ? "yes" : "no"));
        std::error_code ec;
        fs::remove(out, ec);
        std::string previous;
        if (c.previous) {
            SafetensorsWriter w;
            std::vector<float> v = {1, 2, 3, 4};
            w.add_f32("logits", {2, 2}, v.data());
            w.write(out);
            previous = read_bytes(out);
        }
        pid_t pid = spawn("fwsvd",
                          {"eval", model.string(), "--data", data.string(), "--dump-logits",
                           out.string(), "--threads", "1"},
                          tmp / "err.txt");
        ASSERT_GT(pid, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(c.delay_ms));
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0)
            << "eval finished before the signal: make the input longer";
        kill(pid, c.sig);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == c.sig)
            << "status " << status << ": " << read_bytes(tmp / "err.txt");
        if (c.previous) {
            EXPECT_EQ(read_bytes(out), previous) << "the previous output changed";
        } else {
            EXPECT_FALSE(fs::exists(out)) << "a partial output appeared";
        }
        EXPECT_TRUE(temporaries(tmp / "out").empty()) << temporaries(tmp / "out").front();
    }
}

}  // namespace
}  // namespace fwsvd::testing
