// Bad input at the library level: corrupted safetensors files and checkpoints, config.json,
// vocabularies and data files, each made at run time in a TempDir. Every case must give an Error
// whose message names the file and the problem (never a crash, a hang or an out-of-bounds read).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "app/task.h"
#include "models/model.h"
#include "models/model_config.h"
#include "runtime/dataset.h"
#include "runtime/safetensors.h"
#include "runtime/tokenizer.h"
#include "runtime/tokenizer_wordpiece.h"
#include "tests/bad_input_util.h"

namespace fwsvd::testing {
namespace {

namespace fs = std::filesystem;

// ---- safetensors ------------------------------------------------------------------------------

struct StCase {
    const char* name;
    std::string bytes;
    std::string expected;  // part of the message after "FILE: "
};

std::string t32(const char* name, const char* shape, uint64_t b, uint64_t e) {
    return str_cat("\"", name, "\": {\"dtype\": \"F32\", \"shape\": ", shape,
                   ", \"data_offsets\": [", b, ", ", e, "]}");
}

std::vector<StCase> safetensors_cases() {
    const std::string ok_header = "{" + t32("a", "[2]", 0, 8) + "}";
    return {
        {"EmptyFile", "", "truncated: 0 bytes"},
        {"SevenBytes", std::string("\x10\0\0\0\0\0\0", 7), "truncated: 7 bytes"},
        {"HeaderLengthBeyondFile", le64(1000) + "{}", "header length 1000 goes beyond the end"},
        {"HeaderLengthHuge", le64(uint64_t(1) << 63) + "{}" + std::string(6, ' '),
         "header length 9223372036854775808 goes beyond the end"},
        {"HeaderLengthAllOnes", le64(~uint64_t(0)) + "{}", "goes beyond the end"},
        {"HeaderEmpty", safetensors_bytes(" "), "header is empty"},
        {"HeaderNotAnObject", safetensors_bytes("[1, 2, 3]"), "header is not a JSON object"},
        {"HeaderInvalidJson", safetensors_bytes("{\"a\": {\"dtype\": F32}}"), "not valid JSON"},
        {"HeaderTruncatedJson", safetensors_bytes(ok_header.substr(0, ok_header.size() - 5)),
         "not valid JSON"},
        {"HeaderNotUtf8", safetensors_bytes("{\"\xff\": 1}"), "not valid JSON"},
        {"HeaderDeeplyNested",
         safetensors_bytes("{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}"),
         "nested deeper than 256 levels"},
        {"EntryNotAnObject", safetensors_bytes("{\"a\": 5}"), "tensor 'a': entry is not a JSON"},
        {"UnknownDtype",
         safetensors_bytes("{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], "
                           "\"data_offsets\": [0, 2]}}",
                           std::string(2, '\0')),
         "tensor 'a': unsupported dtype 'F8_E4M3'"},
        {"DtypeNotAString",
         safetensors_bytes("{\"a\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}",
                           std::string(4, '\0')),
         "tensor 'a': missing dtype"},
        {"NegativeDim", safetensors_bytes("{" + t32("a", "[-2]", 0, 8) + "}", std::string(8, 0)),
         "tensor 'a': shape holds a value that is not a non-negative integer"},
        {"NonIntegerDim", safetensors_bytes("{" + t32("a", "[2.5]", 0, 8) + "}", std::string(8, 0)),
         "shape holds a value that is not a non-negative integer"},
        {"StringDim", safetensors_bytes("{" + t32("a", "[\"2\"]", 0, 8) + "}", std::string(8, 0)),
         "shape holds a value that is not a non-negative integer"},
        {"ShapeNotAList", safetensors_bytes("{" + t32("a", "2", 0, 8) + "}", std::string(8, 0)),
         "tensor 'a': missing shape"},
        {"ShapeProductOverflow",
         safetensors_bytes("{" + t32("a", "[1099511627776, 1099511627776]", 0, 8) + "}",
                           std::string(8, 0)),
         "has too many elements (overflow)"},
        {"ShapeHugeButNoOverflow",
         safetensors_bytes("{" + t32("a", "[1099511627776, 4]", 0, 8) + "}", std::string(8, 0)),
         "holds 8 bytes but F32 [1099511627776, 4] needs"},
        {"OffsetsOutsideData", safetensors_bytes("{" + t32("a", "[2]", 0, 8) + "}", "1234"),
         "data_offsets [0, 8) lie outside the data section of 4 bytes"},
        {"OffsetsHuge",
         safetensors_bytes(
             "{" + t32("a", "[2]", 18446744073709551607ull, 18446744073709551615ull) + "}",
             std::string(8, 0)),
         "lie outside the data section"},
        {"OffsetsNegative",
         safetensors_bytes(
             "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}",
             std::string(8, 0)),
         "data_offsets are not non-negative integers"},
        {"OffsetsNotAPair",
         safetensors_bytes("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}",
                           std::string(8, 0)),
         "missing or malformed data_offsets"},
        {"BeginAfterEnd", safetensors_bytes("{" + t32("a", "[2]", 8, 0) + "}", std::string(8, 0)),
         "tensor 'a': data_offsets begin after they end"},
        {"OverlappingTensors",
         safetensors_bytes("{" + t32("a", "[2]", 0, 8) + ", " + t32("b", "[2]", 4, 12) + "}",
                           std::string(12, 0)),
         "tensor 'b' overlaps the previous tensor's data"},
        {"HoleBetweenTensors",
         safetensors_bytes("{" + t32("a", "[2]", 0, 8) + ", " + t32("b", "[2]", 12, 20) + "}",
                           std::string(20, 0)),
         "hole in the data section before tensor 'b' (bytes 8 to 12)"},
        {"BytesAfterLastTensor", safetensors_bytes(ok_header, std::string(12, 0)),
         "4 bytes after the last tensor that no tensor uses"},
        {"BytesNotMatchingShape",
         safetensors_bytes("{" + t32("a", "[3]", 0, 8) + "}", std::string(8, 0)),
         "tensor 'a': holds 8 bytes but F32 [3] needs 12"},
        {"BytesNotMatchingDtype",
         safetensors_bytes(
             "{\"a\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
             std::string(8, 0)),
         "holds 8 bytes but F64 [2] needs 16"},
        {"MetadataNotAnObject",
         safetensors_bytes("{\"__metadata__\": \"pt\", " + t32("a", "[2]", 0, 8) + "}",
                           std::string(8, 0)),
         "__metadata__ is not a JSON object"},
        {"MetadataValueNotAString",
         safetensors_bytes("{\"__metadata__\": {\"format\": 1}, " + t32("a", "[2]", 0, 8) + "}",
                           std::string(8, 0)),
         "__metadata__ value of 'format' is not a string"},
        {"MetadataValueNested",
         safetensors_bytes("{\"__metadata__\": {\"format\": {\"x\": \"y\"}}}"),
         "__metadata__ value of 'format' is not a string"},
    };
}

class SafetensorsBad : public ::testing::TestWithParam<StCase> {};

TEST_P(SafetensorsBad, OpenGivesErrorNamingFileAndProblem) {
    TempDir tmp;
    const fs::path file = tmp / "bad.safetensors";
    write_bytes(file, GetParam().bytes);
    Caught c = expect_error([&] { SafetensorsFile::open(file); },
                            {file.string() + ": ", GetParam().expected});
    EXPECT_EQ(c.kind, ErrorKind::invalid_input);
}

TEST_P(SafetensorsBad, ParseInMemoryGivesTheSameError) {
    const std::string& b = GetParam().bytes;
    expect_error([&] { SafetensorsFile::parse(b.data(), b.size(), "mem.safetensors"); },
                 {"mem.safetensors: ", GetParam().expected});
}

INSTANTIATE_TEST_SUITE_P(Cases, SafetensorsBad, ::testing::ValuesIn(safetensors_cases()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(SafetensorsFiles, FolderMissingAndValid) {
    TempDir tmp;
    expect_error([&] { SafetensorsFile::open(tmp.path()); }, {tmp.path().string(), "is a folder"});
    Caught c = expect_error([&] { SafetensorsFile::open(tmp / "none.safetensors"); },
                            {"none.safetensors", "cannot open", "No such file"});
    EXPECT_EQ(c.kind, ErrorKind::invalid_input);
    // Control: a valid file with a zero-size tensor, metadata and two dtypes opens.
    write_bytes(
        tmp / "ok.safetensors",
        safetensors_bytes("{\"__metadata__\": {\"format\": \"pt\"}, " + t32("a", "[2]", 0, 8) +
                              ", \"z\": {\"dtype\": \"I64\", \"shape\": [0, 3], "
                              "\"data_offsets\": [8, 8]}}",
                          std::string(8, 0)));
    auto f = SafetensorsFile::open(tmp / "ok.safetensors");
    EXPECT_EQ(f->tensors().size(), 2u);
    EXPECT_EQ(f->metadata().at("format"), "pt");
    expect_error([&] { f->get("missing"); }, {"ok.safetensors", "tensor 'missing' not found"});
    const Shape wrong = {3};
    expect_error([&] { f->read_f32("a", &wrong); },
                 {"ok.safetensors", "tensor 'a' has shape [2], expected [3]"});
}

// ---- checkpoints (Model::load on edited copies of golden/tiny-cls) -------------------------

class CheckpointBad : public ::testing::Test {
  protected:
    void SetUp() override {
        FWSVD_REQUIRE_SHARED();
        copy_model(shared_dir() / "golden" / "tiny-cls", dir_);
    }
    TempDir tmp_;
    const fs::path dir_ = tmp_ / "model";
    fs::path weights() const { return dir_ / "model.safetensors"; }
    fs::path config() const { return dir_ / "config.json"; }
    Caught load_error(std::initializer_list<std::string> parts) {
        return expect_error([&] { Model::load(dir_); }, parts);
    }
};

TEST_F(CheckpointBad, ControlLoads) {
    auto m = Model::load(dir_);
    EXPECT_EQ(m->config().num_labels(), 3);
}

TEST_F(CheckpointBad, TensorMissing) {
    edit_weights(dir_, [](auto& t) { t.erase("bert.encoder.layer.1.output.dense.weight"); });
    load_error({weights().string(), "tensor 'bert.encoder.layer.1.output.dense.weight' not found",
                "does not match config.json"});
}

TEST_F(CheckpointBad, TensorWithWrongShape) {
    edit_weights(dir_, [](auto& t) {
        t["bert.embeddings.word_embeddings.weight"] = Tensor::zeros({119, 32});
    });
    load_error({weights().string(), "'bert.embeddings.word_embeddings.weight' has shape [119, 32]",
                "expected [120, 32]"});
}

TEST_F(CheckpointBad, UnknownExtraTensor) {
    edit_weights(dir_, [](auto& t) { t["qa_outputs.weight"] = Tensor::zeros({2, 32}); });
    load_error({weights().string(), "qa_outputs.weight", "not a supported BERT checkpoint"});
}

TEST_F(CheckpointBad, NanInWeightsIsRefusedAtLoad) {
    edit_weights(dir_, [](auto& t) {
        t["bert.encoder.layer.0.attention.self.key.weight"].template data<float>()[5] = NAN;
    });
    load_error({weights().string(), "'bert.encoder.layer.0.attention.self.key.weight'",
                "holds NaN or infinity at element 5"});
}

TEST_F(CheckpointBad, InfInWeightsIsRefusedAtLoad) {
    edit_weights(dir_, [](auto& t) {
        t["classifier.bias"].template data<float>()[2] = -std::numeric_limits<float>::infinity();
    });
    load_error({weights().string(), "'classifier.bias' holds NaN or infinity at element 2"});
}

TEST_F(CheckpointBad, TruncatedWeightsFile) {
    std::string bytes = read_bytes(weights());
    write_bytes(weights(), bytes.substr(0, bytes.size() / 2));
    load_error({weights().string(), "lie outside the data section"});
}

TEST_F(CheckpointBad, WeightsFileMissing) {
    fs::remove(weights());
    load_error({weights().string(), "not found"});
}

TEST_F(CheckpointBad, ConfigMissing) {
    fs::remove(config());
    load_error({config().string(), "config.json) not found"});
}

TEST_F(CheckpointBad, ConfigNotJson) {
    write_bytes(config(), "{\"model_type\": \"bert\", ");
    load_error({config().string(), "not valid JSON"});
}

TEST_F(CheckpointBad, ConfigDeeplyNested) {
    edit_config(dir_, [](auto&) {});
    std::string text = read_bytes(config());
    text.insert(1, "\"x\": " + std::string(50000, '[') + std::string(50000, ']') + ", ");
    write_bytes(config(), text);
    load_error({config().string(), "nested deeper than 256 levels"});
}

TEST_F(CheckpointBad, Id2labelInconsistentWithClassifierRows) {
    edit_config(dir_, [](auto& j) {
        j["id2label"] = {{"0", "neg"}, {"1", "pos"}};
        j["label2id"] = {{"neg", 0}, {"pos", 1}};
    });
    load_error({weights().string(), "classifier.weight has 3 rows", config().string(),
                "2 labels (id2label)"});
}

TEST_F(CheckpointBad, UnsupportedArchitecture) {
    edit_config(dir_, [](auto& j) { j["architectures"] = {"BertForQuestionAnswering"}; });
    load_error({config().string(), "architecture 'BertForQuestionAnswering' is not supported"});
}

TEST_F(CheckpointBad, ArchitecturesNotAList) {
    edit_config(dir_, [](auto& j) { j["architectures"] = "BertForQuestionAnswering"; });
    load_error({config().string(), "'architectures' is not a list"});
}

TEST_F(CheckpointBad, Roberta) {
    edit_config(dir_, [](auto& j) { j["model_type"] = "gpt2"; });
    load_error({config().string(), "model_type 'gpt2' is not supported"});
}

TEST_F(CheckpointBad, ConfigSizesDisagreeWithWeights) {
    edit_config(dir_, [](auto& j) { j["intermediate_size"] = 128; });
    load_error({weights().string(), "intermediate.dense.weight' has shape [64, 32]",
                "expected [128, 32] from config.json"});
}

TEST_F(CheckpointBad, NotAFolder) {
    expect_error([&] { Model::load(weights()); }, {weights().string(), "not a model folder"});
}

// A factored checkpoint: layer 0's query as weight_a [4, 32] and weight_b [32, 4].
class LowRankBad : public CheckpointBad {
  protected:
    const std::string q_ = "bert.encoder.layer.0.attention.self.query";
    void SetUp() override {
        CheckpointBad::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        edit_weights(dir_, [&](auto& t) {
            t.erase(q_ + ".weight");
            t[q_ + ".weight_a"] = Tensor::zeros({4, 32});
            t[q_ + ".weight_b"] = Tensor::zeros({32, 4});
        });
    }
    void set_block(const nlohmann::json& block) {
        edit_config(dir_, [&](auto& j) { j["low_rank"] = block; });
    }
};

TEST_F(LowRankBad, ConsistentBlockLoads) {
    set_block({{"format", "fwsvd-low-rank-1"}, {"ranks", {{q_, 4}}}});
    auto m = Model::load(dir_);
    EXPECT_EQ(m->layout().rank(q_), 4);
    set_block(nullptr);  // no block: the ranks come from the tensors
    EXPECT_EQ(Model::load(dir_)->layout().rank(q_), 4);
}

TEST_F(LowRankBad, RankDisagreesWithWeights) {
    set_block({{"ranks", {{q_, 8}}}});
    load_error({weights().string(), q_ + ".weight_a' has rank 4", "records rank 8"});
}

TEST_F(LowRankBad, BlockOmitsAFactoredLayer) {
    set_block({{"ranks", {{"bert.encoder.layer.1.attention.self.key", 4}}}});
    load_error({weights().string(), "no 'bert.encoder.layer.1.attention.self.key.weight_a'"});
}

TEST_F(LowRankBad, BadRanks) {
    set_block({{"ranks", {{q_, 0}}}});
    load_error({config().string(), "low_rank.ranks['" + q_ + "'] = 0 is out of range [1, 32]"});
    set_block({{"ranks", {{q_, 33}}}});
    load_error({config().string(), "= 33 is out of range [1, 32]"});
    set_block({{"ranks", {{q_, "4"}}}});
    load_error({config().string(), "is \"4\", not an integer"});
    set_block({{"ranks", {{"bert.encoder.layer.7.attention.self.query", 4}}}});
    load_error(
        {config().string(), "not an encoder linear layer or the word embeddings of this config"});
    set_block({{"ranks", {4, 4}}});
    load_error({config().string(), "low_rank.ranks is an array of 2 values"});
    set_block("svd");
    load_error({config().string(), "low_rank is \"svd\", not an object"});
}

TEST(ParamLayoutBad, HugeRankIsAnErrorNotAnOverflow) {
    nlohmann::json j = {
        {"model_type", "bert"},        {"vocab_size", 10},         {"hidden_size", 1},
        {"num_hidden_layers", 1},      {"num_attention_heads", 1}, {"intermediate_size", 1},
        {"max_position_embeddings", 8}};
    ModelConfig c = ModelConfig::from_json(j, "config.json");
    LayoutOptions lo;
    lo.ranks["bert.encoder.layer.0.attention.self.query"] = std::numeric_limits<int64_t>::max();
    expect_error([&] { ParamLayout(c, lo); }, {"larger than 2^48 floats"});
    lo.ranks.begin()->second = int64_t(1) << 62;
    expect_error([&] { ParamLayout(c, lo); }, {"larger than 2^48 floats"});
}

// ---- config.json ------------------------------------------------------------------------------

nlohmann::json base_config() {
    return {{"model_type", "bert"},
            {"architectures", {"BertForSequenceClassification"}},
            {"vocab_size", 100},
            {"hidden_size", 32},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"intermediate_size", 64},
            {"hidden_act", "gelu"},
            {"max_position_embeddings", 64},
            {"type_vocab_size", 2},
            {"id2label", {{"0", "neg"}, {"1", "pos"}}},
            {"label2id", {{"neg", 0}, {"pos", 1}}}};
}

struct ConfigCase {
    const char* name;
    std::string text;
    std::string expected;
};

std::string with(const char* key, const nlohmann::json& value) {
    nlohmann::json j = base_config();
    j[key] = value;
    return j.dump();
}

std::vector<ConfigCase> config_cases() {
    return {
        {"NotJson", "{\"hidden_size\": 32,", "not valid JSON"},
        {"NotJsonAtAll", "hidden_size=32\n", "not valid JSON"},
        {"EmptyFile", "", "not valid JSON"},
        {"NotAnObject", "[1, 2]", "not a JSON object"},
        {"ZeroHeads", with("num_attention_heads", 0), "num_attention_heads = 0 is out of range"},
        {"HiddenNotDivisibleByHeads", with("hidden_size", 30),
         "hidden_size 30 is not divisible by num_attention_heads 4"},
        {"NegativeHidden", with("hidden_size", -32), "hidden_size = -32 is out of range"},
        {"NegativeLayers", with("num_hidden_layers", -1), "num_hidden_layers = -1 is out of range"},
        {"NegativeIntermediate", with("intermediate_size", -64),
         "intermediate_size = -64 is out of range"},
        {"NegativeVocab", with("vocab_size", -100), "vocab_size = -100 is out of range"},
        {"HugeVocabAsFloat", with("vocab_size", 1e12), "field 'vocab_size' has the wrong type"},
        {"HugeVocab", with("vocab_size", int64_t(1000000000000)),
         "vocab_size = 1000000000000 is out of range"},
        {"VocabBeyondInt64", with("vocab_size", uint64_t(18446744073709551615ull)),
         "vocab_size = -1 is out of range"},
        {"HiddenSizeAsString", with("hidden_size", "256"),
         "field 'hidden_size' has the wrong type (\"256\")"},
        {"HiddenSizeAsObject", with("hidden_size", {{"value", 256}}),
         "field 'hidden_size' has the wrong type (an object of 1 keys)"},
        {"UnknownActivation", with("hidden_act", "gelu_fancy"),
         "hidden_act 'gelu_fancy' is not supported"},
        {"ActivationNotAString", with("hidden_act", 3), "field 'hidden_act' has the wrong type"},
        {"Gpt2", with("model_type", "gpt2"), "model_type 'gpt2' is not supported"},
        {"RelativePositions", with("position_embedding_type", "relative_key"),
         "position_embedding_type 'relative_key' is not supported"},
        {"ArchitecturesNotAList", with("architectures", "BertModel"),
         "'architectures' is not a list"},
        {"ArchitectureNotAString", with("architectures", {1}),
         "'architectures' holds 1, not a class name"},
        {"Id2labelKeyNotAnId", with("id2label", {{"zero", "neg"}}),
         "id2label key 'zero' is not a label id"},
        {"Id2labelKeySigned", with("id2label", {{"+0", "neg"}}),
         "id2label key '+0' is not a label id"},
        {"Id2labelKeySpace", with("id2label", {{" 0", "neg"}}),
         "id2label key ' 0' is not a label id"},
        {"Id2labelGap", with("id2label", {{"0", "neg"}, {"2", "pos"}}),
         "id2label ids must be 0..1 each once"},
        {"Id2labelValueNotAString", with("id2label", {{"0", 1}}), "id2label['0'] is not a string"},
        {"Label2idOutOfRange", with("label2id", {{"neg", 0}, {"pos", 7}}),
         "label2id['pos'] = 7 is not a label id below 2"},
        {"NumLabelsZero",
         [] {
             nlohmann::json j = base_config();
             j.erase("id2label");
             j.erase("label2id");
             j["num_labels"] = 0;
             return j.dump();
         }(),
         "num_labels 0 is out of range"},
        {"RegressionWithTwoLabels", with("problem_type", "regression"),
         "problem_type regression needs one label, found 2"},
        {"MultiLabel", with("problem_type", "multi_label_classification"),
         "problem_type 'multi_label_classification' is not supported"},
        {"LayerNormEpsZero", with("layer_norm_eps", 0), "layer_norm_eps 0 is out of range"},
        {"DropoutOne", with("hidden_dropout_prob", 1.0), "hidden_dropout_prob 1 is out of range"},
        {"MaxPositionsOne", with("max_position_embeddings", 1),
         "max_position_embeddings = 1 is out of range"},
        {"DeeplyNested", "{\"a\": " + std::string(300, '[') + std::string(300, ']') + "}",
         "nested deeper than 256 levels"},
    };
}

class ConfigBad : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(ConfigBad, LoadGivesErrorNamingFileAndProblem) {
    TempDir tmp;
    write_bytes(tmp / "config.json", GetParam().text);
    Caught c = expect_error([&] { ModelConfig::load(tmp.path()); },
                            {(tmp / "config.json").string() + ": ", GetParam().expected});
    EXPECT_EQ(c.kind, ErrorKind::invalid_input);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConfigBad, ::testing::ValuesIn(config_cases()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(ConfigFiles, MissingFolderAndControl) {
    TempDir tmp;
    expect_error([&] { ModelConfig::load(tmp.path()); },
                 {(tmp / "config.json").string(), "model config (config.json) not found"});
    fs::create_directory(tmp / "sub");
    fs::create_directory(tmp / "sub" / "config.json");
    expect_error([&] { ModelConfig::load(tmp / "sub"); }, {"config.json", "is a folder"});
    write_bytes(tmp / "config.json", base_config().dump());
    EXPECT_EQ(ModelConfig::load(tmp.path()).num_labels(), 2);
}

// Files read whole must be regular files: a FIFO would block the reader, /dev/zero never ends.
TEST(SpecialFiles, FifosAndDevicesAreRefusedWithoutBlocking) {
    TempDir tmp;
    ASSERT_EQ(mkfifo((tmp / "config.json").c_str(), 0600), 0);
    expect_error([&] { ModelConfig::load(tmp.path()); },
                 {(tmp / "config.json").string(), "is not a regular file"});
    ASSERT_EQ(mkfifo((tmp / "model.safetensors").c_str(), 0600), 0);
    expect_error([&] { SafetensorsFile::open(tmp / "model.safetensors"); },
                 {(tmp / "model.safetensors").string(), "not a regular file"});
    fs::create_symlink("/dev/zero", tmp / "vocab.txt");
    expect_error([&] { load_tokenizer(tmp.path()); },
                 {(tmp / "vocab.txt").string(), "is not a regular file"});
    fs::create_symlink("/dev/zero", tmp / "tokenizer.json");
    expect_error([&] { read_wordpiece_options(tmp.path()); },
                 {(tmp / "tokenizer.json").string(), "is not a regular file"});
}

// ---- vocab.txt and tokenizer files ------------------------------------------------------------

TEST(VocabBad, MissingEmptyWithoutSpecialsInvalidUtf8) {
    TempDir tmp;
    // No vocabulary at all.
    expect_error([&] { load_tokenizer(tmp.path()); },
                 {tmp.path().string(), "no tokenizer found (neither spiece.model nor vocab.txt)"});
    expect_error([&] { WordPieceTokenizer t(tmp / "vocab.txt"); },
                 {(tmp / "vocab.txt").string(), "vocabulary file not found"});
    const fs::path v = tmp / "vocab.txt";
    auto expect_vocab_error = [&](const std::string& content, const std::string& what) {
        write_bytes(v, content);
        expect_error([&] { load_tokenizer(tmp.path()); }, {v.string(), what});
    };
    expect_vocab_error("", "empty vocabulary");
    expect_vocab_error("[CLS]\n[SEP]\nhello\n", "the vocabulary has no unknown token \"[UNK]\"");
    expect_vocab_error("[UNK]\n[SEP]\nhello\n", "no classifier token \"[CLS]\"");
    expect_vocab_error("[UNK]\n[CLS]\nhello\n", "no separator token \"[SEP]\"");
    expect_vocab_error("[UNK]\n[CLS]\n[SEP]\nhel\xC3lo\n", "invalid UTF-8 at byte offset 21");
    expect_vocab_error("[UNK]\n[CLS]\n[SEP]\nhel\xC3lo\n", "(line 4)");
    expect_vocab_error("[UNK]\n[CLS]\n[SEP]\n\xED\xA0\x80\n", "invalid UTF-8");  // surrogate
    fs::remove(v);
    fs::create_directory(v);
    expect_error([&] { WordPieceTokenizer t(v); }, {v.string(), "is a folder"});
}

TEST(VocabBad, MalformedTokenizerFiles) {
    TempDir tmp;
    write_bytes(tmp / "vocab.txt", small_vocab());
    const fs::path tj = tmp / "tokenizer.json";
    auto expect_tj_error = [&](const std::string& content, const std::string& what) {
        write_bytes(tj, content);
        expect_error([&] { load_tokenizer(tmp.path()); }, {tj.string(), what});
    };
    expect_tj_error("{\"normalizer\": ", "not valid JSON");
    expect_tj_error("[]", "expected a JSON object");
    expect_tj_error("{\"x\": " + std::string(1000, '[') + std::string(1000, ']') + "}",
                    "nested deeper");
    expect_tj_error("{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": " +
                        std::string(100, '[') + std::string(100, ']') + "}}",
                    "\"lowercase\" must be true, false or null, not an array of 1 values");
    expect_tj_error("{\"added_tokens\": {}}", "\"added_tokens\" must be an array");
    expect_tj_error("{\"added_tokens\": [{\"content\": \"x\", \"id\": 4294967296}]}",
                    "added token id 4294967296 is out of range");
    expect_tj_error("{\"added_tokens\": [{\"content\": \"x\"}]}",
                    "malformed entry in \"added_tokens\": an object of 1 keys");
    fs::remove(tj);
    write_bytes(tmp / "tokenizer_config.json",
                "{\"added_tokens_decoder\": {\"99999999999999999999\": {\"content\": \"x\"}}}");
    expect_error([&] { load_tokenizer(tmp.path()); },
                 {"tokenizer_config.json", "key \"99999999999999999999\" is not an id"});
}

// Long texts are tokenized in 4 KB chunks cut at ASCII whitespace, and tokenize_prefix stops
// early: the ids must be those of the whole text. The golden texts (every script, accents,
// controls, CJK) joined by spaces give the concatenation of their ids.
TEST(TokenizerLongText, ChunksAndPrefixesGiveTheWholeTextsIds) {
    FWSVD_REQUIRE_SHARED();
    auto tok = load_tokenizer(shared_dir() / "models" / "bert-mini-sst2");
    const auto cases = nlohmann::json::parse(
        read_bytes(shared_dir() / "golden" / "tokenizer_cases.json"))["bert-mini-uncased"];
    std::string joined;
    std::vector<int32_t> expected;
    for (const auto& kind : cases) {
        if (!kind.is_array()) continue;
        for (const auto& c : kind) {
            if (!c.is_object() || !c.contains("text") || !c["text"].is_string()) continue;
            const std::string t = c["text"].get<std::string>();
            const std::vector<int32_t> ids = tok->tokenize(t);
            joined += t + " ";
            expected.insert(expected.end(), ids.begin(), ids.end());
        }
    }
    ASSERT_GT(joined.size(), 20000u);
    EXPECT_EQ(tok->tokenize(joined), expected);
    for (size_t k : {size_t(1), size_t(126), size_t(5000), expected.size() - 1}) {
        const std::vector<int32_t> p = tok->tokenize_prefix(joined, k);
        ASSERT_GE(p.size(), k);
        EXPECT_TRUE(std::equal(p.begin(), p.end(), expected.begin())) << "k = " << k;
    }
    bool truncated = false;
    Encoding e = tok->encode(joined, 128, &truncated);
    EXPECT_TRUE(truncated);
    EXPECT_TRUE(std::equal(e.ids.begin() + 1, e.ids.end() - 1, expected.begin()));
    // A pair of long texts: the odd token of the budget goes to the longer one, compared as
    // tokenizers 0.23 does on the words up to max_len tokens; these two begin alike, so the
    // prefixes tie and the second text gets it.
    const std::string a = joined + joined, b = joined;
    Encoding p = tok->encode_pair(a, b, 128, &truncated);
    ASSERT_EQ(p.ids.size(), 128u);
    EXPECT_EQ(std::count(p.type_ids.begin(), p.type_ids.end(), 0), 1 + 62 + 1);
}

// ---- data files -------------------------------------------------------------------------------

// A tokenizer and configs (classification with names, regression) for encode_dataset.
class DataBad : public ::testing::Test {
  protected:
    void SetUp() override {
        write_bytes(tmp_ / "vocab.txt", small_vocab());
        tok_ = std::make_unique<WordPieceTokenizer>(tmp_ / "vocab.txt");
        cls_ = ModelConfig::from_json(base_config(), "cls/config.json");
        nlohmann::json r = base_config();
        r["id2label"] = {{"0", "LABEL_0"}};
        r.erase("label2id");
        r["problem_type"] = "regression";
        reg_ = ModelConfig::from_json(r, "reg/config.json");
    }
    fs::path file(const std::string& name, const std::string& content) {
        write_bytes(tmp_ / name, content);
        return tmp_ / name;
    }
    EncodedData encode(const fs::path& f, const ModelConfig& c, int64_t max_len = 16) {
        DataOptions o;
        o.require_label = true;
        return encode_dataset(read_dataset(f.string(), o), tok_.get(), c, max_len, true);
    }
    TempDir tmp_;
    std::unique_ptr<WordPieceTokenizer> tok_;
    ModelConfig cls_, reg_;
};

TEST_F(DataBad, TsvMissingAndExtraColumns) {
    auto f = file("a.tsv", "sentence\tlabel\ngood movie\t1\nbad movie\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":3: expected 2 tab-separated columns", "found 1"});
    f = file("b.tsv", "sentence\tlabel\ngood movie\t1\textra\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":2:", "found 3"});
}

TEST_F(DataBad, TsvHeaderWithoutTextColumn) {
    auto f = file("h.tsv", "review\tlabel\ngood\t1\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string(), "cannot find the text column(s) in the header", "--text-cols"});
    DataOptions o;
    o.text_cols = {"body"};
    expect_error([&] { read_dataset(f.string(), o); }, {f.string(), "header has no column 'body'"});
    o.text_cols = {"review"};
    o.label_col = "stars";
    expect_error([&] { read_dataset(f.string(), o); },
                 {f.string(), "header has no label column 'stars'"});
    f = file("nolabel.tsv", "sentence\ngood\n");
    expect_error([&] { encode(f, cls_); }, {f.string(), "no label column"});
}

TEST_F(DataBad, LabelsNotInLabel2idOrOutOfRange) {
    auto f = file("l.tsv", "sentence\tlabel\ngood\tpos\nbad\tmaybe\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":3: label 'maybe' is neither a class id (0..1) nor a name in "
                               "label2id (neg, pos)"});
    for (const char* bad : {"2", "-1", "99999999999999999999", "1.0"}) {
        f = file("r.tsv", std::string("sentence\tlabel\ngood\t") + bad + "\n");
        expect_error([&] { encode(f, cls_); }, {f.string() + ":2: label"});
    }
    f = file("r.tsv", "sentence\tlabel\ngood\t2\n");
    expect_error([&] { encode(f, cls_); }, {"label 2 is not a class id of this model (0..1)"});
    f = file("e.tsv", "sentence\tlabel\ngood\t \n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":2: empty label in 'label'"});
}

TEST_F(DataBad, NonNumericRegressionLabels) {
    for (const char* bad : {"abc", "nan", "inf", "1e999", "4.5x", ""}) {
        auto f = file("s.tsv", std::string("sentence\tscore\ngood\t3.5\nbad\t") + bad + "\n");
        Caught c = expect_error([&] { encode(f, reg_); }, {f.string() + ":3:"});
        if (*bad) {
            EXPECT_NE(c.message.find("is not a number (the model does regression)"),
                      std::string::npos)
                << c.message;
        }
    }
    auto f = file("ok.tsv", "sentence\tscore\ngood\t3.5\nbad\t-1e-3\n");
    EXPECT_EQ(encode(f, reg_).targets.values.size(), 2u);
}

TEST_F(DataBad, InvalidUtf8InTextAndHeader) {
    auto f = file("u.tsv", "sentence\tlabel\ngood\t1\nbad \xff\xfe movie\t0\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":3: 'sentence': invalid UTF-8 at byte offset 4 (byte 0xFF)"});
    f = file("uh.tsv",
             "sent\xc3"
             "ence\tlabel\ngood\t1\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: header: invalid UTF-8"});
    f = file("ul.tsv", "sentence\tlabel\ngood\t\xe2\x82\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":2: 'label': invalid UTF-8"});
    f = file("uj.jsonl", "{\"text\": \"a \xff\", \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: invalid UTF-8 at byte offset 12"});
}

TEST_F(DataBad, EmptyAndWhitespaceOnlyText) {
    for (const char* text : {"", "   ", " \x0b \x0c "}) {
        auto f = file("w.tsv", std::string("sentence\tlabel\ngood\t1\n") + text + "\t0\n");
        expect_error([&] { encode(f, cls_); }, {f.string() + ":3: empty text in 'sentence'"});
    }
    auto f = file("wp.tsv", "sentence1\tsentence2\tlabel\ngood\t \t1\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":2: empty text in 'sentence2'"});
    f = file("wj.jsonl", "{\"text\": \"\\t \", \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: empty text in 'text'"});
}

TEST_F(DataBad, EmptyFilesAndNoExamples) {
    auto f = file("empty.tsv", "");
    expect_error([&] { encode(f, cls_); }, {f.string(), "empty file (expected a header row)"});
    f = file("header.tsv", "sentence\tlabel\n\n\n");
    expect_error([&] { encode(f, cls_); }, {f.string(), "no examples"});
    f = file("blank.jsonl", "\n  \n");
    expect_error([&] { encode(f, cls_); }, {f.string(), "no examples"});
}

TEST_F(DataBad, TenMegabyteTextIsTruncatedQuickly) {
    // 10 MB of words and one 10 MB "word": tokenized in linear time and cut to max_len.
    std::string words;
    const char* vocab[] = {"good ", "movie, ", "not ", "very ", "boring! ", "unknownword "};
    for (size_t i = 0; words.size() < (size_t(10) << 20); ++i) words += vocab[i * 7 % 6];
    auto f = file("big.tsv", "sentence\tlabel\n" + words + "\t1\n" + std::string(10 << 20, 'a') +
                                 "\t0\n" + words + " \xe4\xb8\x80\xc3\xa9\t1\n");
    const auto t0 = std::chrono::steady_clock::now();
    EncodedData d = encode(f, cls_, 64);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(d.encodings.size(), 3u);
    EXPECT_EQ(d.encodings[0].ids.size(), 64u);
    EXPECT_EQ(d.encodings[1].ids.size(), 3u);  // [CLS] [UNK] [SEP]: one over-long word
    EXPECT_EQ(d.truncated, 2);
    // Linear-time tokenization takes about a second here (several under sanitizers); quadratic
    // behaviour on 10 MB would take hours.
    EXPECT_LT(s, 60.0);
    std::printf("[          ] 30 MB of text encoded in %.2f s\n", s);
}

TEST_F(DataBad, LineOver16MegabytesIsRefused) {
    auto f = file("huge.tsv", "sentence\tlabel\ngood\t1\n" + std::string(kMaxDataLine + 1, 'a'));
    expect_error([&] { encode(f, cls_); }, {f.string() + ":3: line longer than the limit"});
}

TEST_F(DataBad, JsonlInvalidJsonAndNonObjectLines) {
    auto f = file("j.jsonl", "{\"text\": \"good\", \"label\": 1}\n{\"text\": \"bad\", \n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":2: not valid JSON"});
    f = file("a.jsonl", "{\"text\": \"good\", \"label\": 1}\n[1, 2]\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":2: each line must be a JSON object, found an array of 2 values"});
    f = file("n.jsonl", "42\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: each line must be a JSON object"});
    f = file("d.jsonl", std::string(10000, '[') + "\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: JSON nested deeper"});
    f = file("t.jsonl", "{\"text\": 5, \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: field 'text' is not a string"});
    f = file("l.jsonl", "{\"text\": \"good\", \"label\": [1]}\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":1: 'label' is not a number or a string"});
    f = file("m.jsonl", "{\"text\": \"good\"}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: missing 'label'"});
    f = file("x.jsonl", "{\"review\": \"good\", \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: no text field"});
}

TEST_F(DataBad, JsonlPretokenized) {
    auto f = file("v.jsonl", "{\"input_ids\": [2, 500, 3], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":1: token id 500 is outside the vocabulary (100)"});
    f = file("m.jsonl", "{\"input_ids\": [2, 10, 3], \"token_type_ids\": [0, 0], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":1: 'token_type_ids' has 2 entries but 'input_ids' has 3"});
    f = file("t.jsonl",
             "{\"input_ids\": [2, 10, 3], \"token_type_ids\": [0, 2, 0], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); },
                 {f.string() + ":1: token type id 2 is outside type_vocab_size (2)"});
    f = file("n.jsonl", "{\"input_ids\": [2, -1, 3], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: 'input_ids' holds -1, out of range"});
    f = file("f.jsonl", "{\"input_ids\": [2, 1.5, 3], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: 'input_ids' holds a non-integer"});
    f = file("e.jsonl", "{\"input_ids\": [], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_); }, {f.string() + ":1: 'input_ids' is empty"});
    f = file("l.jsonl", "{\"input_ids\": [2, 10, 10, 10, 3], \"label\": 1}\n");
    expect_error([&] { encode(f, cls_, 4); },
                 {f.string() + ":1: input_ids has 5 tokens, more than --max-len 4"});
}

TEST_F(DataBad, DataFileIsAFolderOrMissing) {
    fs::create_directory(tmp_ / "dir.tsv");
    expect_error([&] { read_dataset((tmp_ / "dir.tsv").string(), {}); },
                 {(tmp_ / "dir.tsv").string(), "is a folder, expected a data file"});
    expect_error([&] { read_dataset((tmp_ / "none.tsv").string(), {}); },
                 {(tmp_ / "none.tsv").string(), "data file not found"});
}

TEST_F(DataBad, MaxLenBeyondPositionsIsAUsageError) {
    auto f = file("ok.tsv", "sentence\tlabel\ngood movie\t1\n");
    Caught c = expect_error([&] { encode(f, cls_, 65); },
                            {"--max-len 65 is out of range", "max_position_embeddings (64)"});
    EXPECT_EQ(c.kind, ErrorKind::usage);
    c = expect_error([&] { encode(f, cls_, 2); }, {"--max-len 2 is out of range"});
    EXPECT_EQ(c.kind, ErrorKind::usage);
    EXPECT_EQ(encode(f, cls_, 64).encodings.size(), 1u);
}

TEST_F(DataBad, LongInputsAreTruncatedToMaxLen) {
    std::string longer;
    for (int i = 0; i < 500; ++i) longer += "good movie ";
    auto f = file("long.tsv", "sentence1\tsentence2\tlabel\n" + longer + "\tfun\t1\nhi\thi\t0\n");
    EncodedData d = encode(f, cls_, 64);
    ASSERT_EQ(d.encodings.size(), 2u);
    EXPECT_EQ(d.encodings[0].ids.size(), 64u);
    EXPECT_EQ(d.encodings[1].ids.size(), 5u);
    EXPECT_EQ(d.truncated, 1);
}

TEST(DataStream, SniffsFormatAndReadsFromMemory) {
    std::istringstream jsonl("\n  {\"text\": \"good\", \"label\": 1}\n");
    Dataset d = read_dataset(jsonl, "standard input", DataFormat::sniff, {});
    ASSERT_EQ(d.examples.size(), 1u);
    EXPECT_EQ(d.examples[0].line, 2);
    std::istringstream tsv("sentence\tlabel\ngood\t1\r\nbad\t0");
    d = read_dataset(tsv, "mem.tsv", DataFormat::sniff, {});
    ASSERT_EQ(d.examples.size(), 2u);
    EXPECT_EQ(d.examples[1].text_a, "bad");
    std::istringstream bad("sentence\tlabel\ngood\n");
    expect_error([&] { read_dataset(bad, "standard input", DataFormat::tsv, {}); },
                 {"standard input:2: expected 2 tab-separated columns"});
}

}  // namespace
}  // namespace fwsvd::testing
