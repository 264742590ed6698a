// fwsvd init: Hugging Face's random initialisation of a BertForSequenceClassification.
#include "training/init.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "models/family.h"
#include "models/model.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "runtime/read_file.h"

namespace fwsvd {
namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// The stream of one tensor: the seed mixed with the FNV-1a hash of its name.
uint64_t tensor_seed(uint64_t seed, const std::string& name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
    return splitmix64(splitmix64(seed) ^ h);
}

// n normal(0, std) floats by Box-Muller on std::mt19937_64 (whose output the standard fixes;
// std::normal_distribution's algorithm is left to the library, so it is not used).
void fill_normal(float* out, int64_t n, double stddev, uint64_t seed) {
    std::mt19937_64 gen(seed);
    constexpr double two_pi = 6.283185307179586476925286766559;
    constexpr double inv_2_53 = 1.0 / 9007199254740992.0;
    for (int64_t i = 0; i < n; i += 2) {
        const double u1 = double((gen() >> 11) + 1) * inv_2_53;  // (0, 1]
        const double u2 = double(gen() >> 11) * inv_2_53;        // [0, 1)
        const double r = std::sqrt(-2.0 * std::log(u1)) * stddev;
        out[i] = float(r * std::cos(two_pi * u2));
        if (i + 1 < n) out[i + 1] = float(r * std::sin(two_pi * u2));
    }
}

}  // namespace

const std::vector<InitPreset>& init_presets() {
    static const std::vector<InitPreset> presets = {
        {"tiny", 2, 128, 2, 512},
        {"mini", 4, 256, 4, 1024},
        {"small", 4, 512, 8, 2048},
        {"base", 12, 768, 12, 3072},
    };
    return presets;
}

const InitPreset& init_preset(const std::string& name) {
    std::string known;
    for (const auto& p : init_presets()) {
        if (p.name == name) return p;
        known += (known.empty() ? "" : ", ") + p.name;
    }
    throw Error(str_cat("unknown preset \"", name, "\" (known: ", known, ")"), ErrorKind::usage);
}

ModelConfig init_config(const InitPreset& preset, const InitOptions& o) {
    auto pick = [](int64_t v, int64_t preset_value) { return v > 0 ? v : preset_value; };
    ModelConfig c;
    c.model_type = o.family;
    c.family = &family_of(c.model_type, "fwsvd init --family");
    c.architectures = {c.family->classifier_architecture()};
    c.vocab_size = o.vocab_size;
    c.hidden_size = pick(o.hidden, preset.hidden);
    c.num_hidden_layers = pick(o.layers, preset.layers);
    c.num_attention_heads = pick(o.heads, preset.heads);
    c.intermediate_size = pick(o.intermediate, preset.intermediate);
    c.hidden_act = "gelu";
    c.hidden_dropout_prob = 0.1;
    c.attention_probs_dropout_prob = 0.1;
    c.max_position_embeddings = pick(o.max_positions, 512);
    c.type_vocab_size = o.type_vocab_size;
    c.initializer_range = o.initializer_range;
    c.layer_norm_eps = 1e-12;
    c.pad_token_id = o.pad_token_id;
    c.position_embedding_type = "absolute";
    c.classifier_dropout.reset();
    c.raw = nlohmann::json::object();
    if (c.family->init_config) c.family->init_config(c);
    FWSVD_CHECK(o.num_labels >= 1, "--num-labels must be at least 1, got ", o.num_labels);
    c.set_num_labels(o.num_labels);
    c.problem_type = o.num_labels == 1 ? "regression" : "single_label_classification";
    FWSVD_CHECK(o.vocab_size > 0, "the vocabulary is empty");
    FWSVD_CHECK(o.pad_token_id >= 0 && o.pad_token_id < o.vocab_size, "pad_token_id ",
                o.pad_token_id, " is outside the vocabulary of ", o.vocab_size);
    FWSVD_CHECK(o.initializer_range > 0 && std::isfinite(o.initializer_range),
                "initializer_range must be positive");
    c.validate("fwsvd init");
    // Round trip through JSON so that the config is exactly what a reader of config.json gets.
    return ModelConfig::from_json(c.to_json(), "fwsvd init");
}

TrainableModel init_model(const ModelConfig& config, uint64_t seed) {
    TrainableModel t;
    t.config = config;
    LayoutOptions lo;
    lo.head_dense = true;
    lo.classifier = true;
    t.layout = ParamLayout(config, lo);
    t.flat = Tensor::zeros({t.layout.total_floats()});
    float* base = t.flat.data<float>();
    const auto& entries = t.layout.entries();
    FWSVD_CHECK(!config.raw.contains("low_rank") || config.raw["low_rank"].is_null(),
                "fwsvd init builds dense models only");
    parallel_for(int64_t(entries.size()), 1, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) {
            const ParamEntry& e = entries[size_t(k)];
            float* dst = base + e.offset;
            switch (e.kind) {
                case ParamKind::embedding:
                case ParamKind::linear_weight:
                case ParamKind::linear_factor:
                    fill_normal(dst, e.numel, config.initializer_range, tensor_seed(seed, e.name));
                    break;
                case ParamKind::layernorm: {
                    const bool gamma =
                        e.name.size() >= 7 && e.name.compare(e.name.size() - 7, 7, ".weight") == 0;
                    std::fill(dst, dst + e.numel, gamma ? 1.0f : 0.0f);
                    break;
                }
                case ParamKind::bias:
                    std::fill(dst, dst + e.numel, 0.0f);
                    break;
            }
        }
    });
    // nn.Embedding(padding_idx=pad_token_id): HF's _init_weights zeroes that row.
    const ModelParams p = t.layout.bind(base);
    const int64_t E = config.embedding_dim();
    std::fill(p.word_emb + config.pad_token_id * E, p.word_emb + (config.pad_token_id + 1) * E,
              0.0f);
    // RoBERTa's position table has padding_idx = pad_token_id too.
    if (config.model_family().positions == PositionIds::after_padding) {
        std::fill(p.pos_emb + config.pad_token_id * E, p.pos_emb + (config.pad_token_id + 1) * E,
                  0.0f);
    }
    return t;
}

void save_initialized(const std::filesystem::path& out_dir, const TrainableModel& model,
                      const InitTokenizer& tokenizer, uint64_t seed) {
    const std::map<std::string, std::string> metadata = {{"fwsvd_init_seed", std::to_string(seed)}};
    if (!tokenizer.dir.empty()) {
        save_checkpoint(out_dir, model.config, model.layout, model.flat.data<float>(),
                        tokenizer.dir, metadata);
        return;
    }
    // A WordPiece vocabulary: the family's WordPiece tokenizer class.
    const std::string& type = model.config.model_type;
    const char* tokenizer_class = type == "bert"         ? "BertTokenizer"
                                  : type == "distilbert" ? "DistilBertTokenizer"
                                  : type == "electra"    ? "ElectraTokenizer"
                                                         : nullptr;
    FWSVD_CHECK(tokenizer_class, "fwsvd init: a ", model.config.model_family().name,
                " model takes no WordPiece vocabulary: give the folder of its tokenizer "
                "(--tokenizer DIR)");
    const std::string vocab = read_file(tokenizer.vocab, kMaxTokenizerBytes, "vocabulary file");
    const bool do_lower_case = tokenizer.do_lower_case;
    nlohmann::ordered_json tc;
    tc["tokenizer_class"] = tokenizer_class;
    tc["do_lower_case"] = do_lower_case;
    tc["strip_accents"] = nullptr;
    tc["tokenize_chinese_chars"] = true;
    tc["unk_token"] = "[UNK]";
    tc["sep_token"] = "[SEP]";
    tc["pad_token"] = "[PAD]";
    tc["cls_token"] = "[CLS]";
    tc["mask_token"] = "[MASK]";
    tc["model_max_length"] = model.config.max_position_embeddings;
    save_checkpoint(out_dir, model.config, model.layout, model.flat.data<float>(), {}, metadata,
                    {{"vocab.txt", vocab}, {"tokenizer_config.json", tc.dump(2) + "\n"}});
}

}  // namespace fwsvd
