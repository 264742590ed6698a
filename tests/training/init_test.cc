// fwsvd init (compressor/init.cc): shapes, Hugging Face's initialisation statistics, a checkpoint
// that loads and runs, and seed determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/model.h"
#include "models/session.h"
#include "runtime/error.h"
#include "runtime/tokenizer.h"
#include "tests/test_util.h"
#include "training/init.h"

namespace fwsvd::testing {
namespace {

// A WordPiece vocabulary of n lines: the special tokens first ([PAD] at pad_line), then words.
std::filesystem::path write_vocab(const TempDir& dir, int n, int pad_line = 0) {
    std::vector<std::string> lines = {"[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    lines.insert(lines.begin() + pad_line, "[PAD]");
    const char* words[] = {"the", "a", "movie", "good", "bad", "is", "was", "film", "##s", "##ly"};
    for (int i = int(lines.size()); i < n; ++i) {
        lines.push_back(i < 15 ? words[i - 5] : "w" + std::to_string(i));
    }
    const auto path = dir / "my-vocab.txt";
    std::ofstream f(path, std::ios::binary);
    for (const auto& l : lines) f << l << "\n";
    return path;
}

std::string read_all(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

InitOptions options(int64_t vocab, int64_t labels, uint64_t seed) {
    InitOptions o;
    o.vocab_size = vocab;
    o.num_labels = labels;
    o.seed = seed;
    return o;
}

TEST(Init, PresetsHaveTheirShapesAndBertBaseItsParameterCount) {
    struct Want {
        const char* name;
        int64_t layers, hidden, heads, inter;
    };
    for (const Want& w : {Want{"tiny", 2, 128, 2, 512}, Want{"mini", 4, 256, 4, 1024},
                          Want{"small", 4, 512, 8, 2048}, Want{"base", 12, 768, 12, 3072}}) {
        const ModelConfig c = init_config(init_preset(w.name), options(30522, 2, 0));
        EXPECT_EQ(c.num_hidden_layers, w.layers) << w.name;
        EXPECT_EQ(c.hidden_size, w.hidden) << w.name;
        EXPECT_EQ(c.num_attention_heads, w.heads) << w.name;
        EXPECT_EQ(c.intermediate_size, w.inter) << w.name;
        EXPECT_EQ(c.max_position_embeddings, 512);
        EXPECT_EQ(c.type_vocab_size, 2);
        EXPECT_EQ(c.vocab_size, 30522);
    }
    // transformers' BertForSequenceClassification(bert-base-uncased, num_labels=2): 109,483,778.
    const ModelConfig base = init_config(init_preset("base"), options(30522, 2, 0));
    const ParamLayout layout(base, LayoutOptions{});
    int64_t params = 0;
    for (const auto& e : layout.entries()) params += e.numel;
    EXPECT_EQ(params, 109483778);
    EXPECT_THROW(init_preset("huge"), Error);
}

TEST(Init, OverridesReplaceThePresetsSizes) {
    InitOptions o = options(100, 3, 0);
    o.layers = 3;
    o.hidden = 96;
    o.heads = 3;
    o.intermediate = 200;
    o.max_positions = 64;
    const ModelConfig c = init_config(init_preset("tiny"), o);
    EXPECT_EQ(c.num_hidden_layers, 3);
    EXPECT_EQ(c.hidden_size, 96);
    EXPECT_EQ(c.num_attention_heads, 3);
    EXPECT_EQ(c.intermediate_size, 200);
    EXPECT_EQ(c.max_position_embeddings, 64);
    EXPECT_EQ(c.num_labels(), 3);
    EXPECT_EQ(c.problem_type, "single_label_classification");
    o.heads = 5;  // 96 is not divisible by 5
    EXPECT_THROW(init_config(init_preset("tiny"), o), Error);
    EXPECT_EQ(init_config(init_preset("tiny"), options(100, 1, 0)).problem_type, "regression");
}

TEST(Init, WeightsFollowHuggingFacesInitialisation) {
    InitOptions o = options(5000, 2, 42);
    o.pad_token_id = 3;
    const ModelConfig c = init_config(init_preset("tiny"), o);
    const TrainableModel m = init_model(c, 42);
    const float* base = m.flat.data<float>();
    double n = 0, sum = 0, sum2 = 0, within1 = 0, sum4 = 0;
    for (const auto& e : m.layout.entries()) {
        const float* v = base + e.offset;
        if (e.kind == ParamKind::bias) {
            for (int64_t i = 0; i < e.numel; ++i) ASSERT_EQ(v[i], 0.0f) << e.name;
        } else if (e.kind == ParamKind::layernorm) {
            const bool gamma = e.name.find("LayerNorm.weight") != std::string::npos;
            for (int64_t i = 0; i < e.numel; ++i) ASSERT_EQ(v[i], gamma ? 1.0f : 0.0f) << e.name;
        } else {
            ASSERT_TRUE(e.kind == ParamKind::embedding || e.kind == ParamKind::linear_weight)
                << e.name;
            double tn = 0, ts2 = 0;
            for (int64_t i = 0; i < e.numel; ++i) {
                const double x = v[i];
                if (e.name == "bert.embeddings.word_embeddings.weight" && i / c.hidden_size == 3) {
                    ASSERT_EQ(x, 0.0) << "the padding row is not zero";
                    continue;
                }
                n += 1;
                tn += 1;
                sum += x;
                sum2 += x * x;
                ts2 += x * x;
                sum4 += x * x * x * x;
                within1 += std::abs(x) <= 0.02;
            }
            // Every tensor on its own: its standard deviation within 5 standard errors.
            const double sd = std::sqrt(ts2 / tn);
            EXPECT_NEAR(sd, 0.02, 5 * 0.02 / std::sqrt(2 * tn)) << e.name;
        }
    }
    ASSERT_GT(n, 1e6);
    const double mean = sum / n, var = sum2 / n - mean * mean;
    EXPECT_NEAR(mean, 0.0, 5 * 0.02 / std::sqrt(n));
    EXPECT_NEAR(std::sqrt(var), 0.02, 5 * 0.02 / std::sqrt(2 * n));
    // Normal, not uniform: 68.27% within one sigma, kurtosis 3 (uniform: 57.7%, 1.8).
    EXPECT_NEAR(within1 / n, 0.6827, 0.002);
    EXPECT_NEAR(sum4 / n / (var * var), 3.0, 0.03);
    // Tensors have their own streams: no two weight tensors start alike.
    const ModelParams p = m.layout.bind(const_cast<float*>(base));
    EXPECT_NE(p.layers[0].query.weight[0], p.layers[0].key.weight[0]);
    EXPECT_NE(p.layers[0].query.weight[0], p.layers[1].query.weight[0]);
}

TEST(Init, SameSeedSameWeightsOtherSeedOtherWeights) {
    const ModelConfig c = init_config(init_preset("tiny"), options(500, 2, 0));
    const TrainableModel a = init_model(c, 7), b = init_model(c, 7), d = init_model(c, 8);
    const size_t bytes = size_t(a.layout.total_floats()) * sizeof(float);
    EXPECT_EQ(std::memcmp(a.flat.data<float>(), b.flat.data<float>(), bytes), 0);
    EXPECT_NE(std::memcmp(a.flat.data<float>(), d.flat.data<float>(), bytes), 0);
    // A tensor's values do not depend on the other tensors' sizes (one stream per name).
    InitOptions o = options(500, 2, 0);
    o.layers = 3;
    const ModelConfig c3 = init_config(init_preset("tiny"), o);
    const TrainableModel e = init_model(c3, 7);
    const auto* q0 = a.layout.find("bert.encoder.layer.1.attention.self.query.weight");
    const auto* q1 = e.layout.find("bert.encoder.layer.1.attention.self.query.weight");
    ASSERT_TRUE(q0 && q1);
    EXPECT_EQ(std::memcmp(a.flat.data<float>() + q0->offset, e.flat.data<float>() + q1->offset,
                          size_t(q0->numel) * sizeof(float)),
              0);
}

TEST(Init, CheckpointLoadsAndRuns) {
    TempDir tmp;
    const auto vocab = write_vocab(tmp, 300);
    InitOptions o = options(300, 3, 5);
    const ModelConfig c = init_config(init_preset("tiny"), o);
    const TrainableModel m = init_model(c, 5);
    const auto out = tmp / "model";
    save_initialized(out, m, InitTokenizer{vocab, true, {}}, 5);

    // The vocabulary byte for byte, a tokenizer_config, every ModelConfig field.
    EXPECT_EQ(read_all(out / "vocab.txt"), read_all(vocab));
    const auto tc = nlohmann::json::parse(read_all(out / "tokenizer_config.json"));
    EXPECT_EQ(tc["do_lower_case"], true);
    const auto j = nlohmann::json::parse(read_all(out / "config.json"));
    for (const char* k : {"architectures",
                          "model_type",
                          "vocab_size",
                          "hidden_size",
                          "num_hidden_layers",
                          "num_attention_heads",
                          "intermediate_size",
                          "hidden_act",
                          "hidden_dropout_prob",
                          "attention_probs_dropout_prob",
                          "max_position_embeddings",
                          "type_vocab_size",
                          "initializer_range",
                          "layer_norm_eps",
                          "pad_token_id",
                          "position_embedding_type",
                          "use_cache",
                          "classifier_dropout",
                          "id2label",
                          "label2id",
                          "problem_type"}) {
        EXPECT_TRUE(j.contains(k)) << k;
    }
    EXPECT_EQ(j["architectures"][0], "BertForSequenceClassification");
    EXPECT_EQ(j["vocab_size"], 300);
    EXPECT_EQ(j["hidden_act"], "gelu");
    EXPECT_FALSE(j.contains("low_rank"));

    auto model = Model::load(out);
    EXPECT_EQ(model->config().vocab_size, 300);
    EXPECT_EQ(model->config().num_labels(), 3);
    ASSERT_TRUE(model->has_head_dense() && model->has_classifier());
    for (size_t i = 0; i < model->layout().entries().size(); ++i) {
        const ParamEntry& e = model->layout().entries()[i];
        const ParamEntry* mine = m.layout.find(e.name);
        ASSERT_NE(mine, nullptr) << e.name;
        ASSERT_EQ(std::memcmp(model->entry_data(i), m.flat.data<float>() + mine->offset,
                              size_t(e.numel) * sizeof(float)),
                  0)
            << e.name;
    }

    // It tokenizes and evaluates: finite logits that depend on the input.
    auto tok = load_tokenizer(out);
    const Encoding enc1 = tok->encode("the movie was good", 16);
    const Encoding enc2 = tok->encode("a bad films", 16);
    EXPECT_EQ(enc1.ids.size(), 6u);
    Batch batch;
    batch.add(enc1.ids.data(), enc1.type_ids.data(), int64_t(enc1.ids.size()));
    batch.add(enc2.ids.data(), enc2.type_ids.data(), int64_t(enc2.ids.size()));
    batch.validate(model->config());
    Session session(model);
    const std::vector<float> logits = session.logits(batch);
    ASSERT_EQ(logits.size(), 6u);
    for (float v : logits) EXPECT_TRUE(std::isfinite(v));
    EXPECT_NE(logits[0], logits[3]);
}

TEST(Init, BertBaseUncasedVocabularyLoadsAndTokenizes) {
    FWSVD_REQUIRE_SHARED();
    TempDir tmp;
    const auto vocab = shared_dir() / "data" / "vocab" / "bert-base-uncased-vocab.txt";
    const ModelConfig c = init_config(init_preset("mini"), options(30522, 2, 1));
    const TrainableModel m = init_model(c, 1);
    save_initialized(tmp / "m", m, InitTokenizer{vocab, true, {}}, 1);
    auto model = Model::load(tmp / "m");
    EXPECT_EQ(model->config().vocab_size, 30522);
    auto tok = load_tokenizer(tmp / "m");
    EXPECT_EQ(tok->vocab_size(), 30522);
    const Encoding e = tok->encode("Hello, World!", 16);
    // transformers' BertTokenizer(bert-base-uncased): [CLS] hello , world ! [SEP]
    EXPECT_EQ(e.ids, (std::vector<int32_t>{101, 7592, 1010, 2088, 999, 102}));
    Batch b;
    b.add(e.ids.data(), e.type_ids.data(), int64_t(e.ids.size()));
    Session session(model);
    for (float v : session.logits(b)) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace fwsvd::testing
