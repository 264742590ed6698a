// Randomly initialised BERT classifiers (`fwsvd init`): a BertForSequenceClassification
// checkpoint with Hugging Face's initialisation (BertPreTrainedModel._init_weights): every
// Linear and Embedding weight normal(0, initializer_range), biases zero, LayerNorm weight 1 and
// bias 0, and the padding_idx (pad_token_id) row of the word embeddings zero.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "models/model_config.h"
#include "training/finetune.h"

namespace fwsvd {

// An architecture preset: layers x hidden, heads, FFN size.
struct InitPreset {
    std::string name;
    int64_t layers = 0;
    int64_t hidden = 0;
    int64_t heads = 0;
    int64_t intermediate = 0;
};

// tiny (2 x 128, 2 heads, FFN 512), mini (4 x 256, 4, 1024: BERT-mini), small (4 x 512, 8,
// 2048), base (12 x 768, 12, 3072: BERT-base).
const std::vector<InitPreset>& init_presets();
// The preset of that name; Error (usage) naming the known ones otherwise.
const InitPreset& init_preset(const std::string& name);

struct InitOptions {
    std::string family = "bert";  // a model_type of models/family.h
    // Sizes; 0 takes the preset's value (max_positions: 512).
    int64_t layers = 0;
    int64_t hidden = 0;
    int64_t heads = 0;
    int64_t intermediate = 0;
    int64_t max_positions = 0;
    int64_t type_vocab_size = 2;
    int64_t vocab_size = 0;    // required (> 0)
    int64_t pad_token_id = 0;  // the row of word_embeddings set to zero
    int64_t num_labels = 2;    // 1: regression
    double initializer_range = 0.02;
    uint64_t seed = 0;
};

// The BertForSequenceClassification config of a preset with the options' overrides: every field
// of transformers' BertConfig (hidden_act "gelu", dropouts 0.1, layer_norm_eps 1e-12, absolute
// positions, use_cache, classifier_dropout null, ...), LABEL_i labels and problem_type
// ("regression" for one label, else "single_label_classification"). Validated.
ModelConfig init_config(const InitPreset& preset, const InitOptions& options);

// The parameters of that config (pooler and classifier included), initialised as HF does.
// Deterministic: each tensor has its own stream (std::mt19937_64 seeded from `seed` and the
// tensor's name, Box-Muller normals), so a seed gives the same values on every platform and a
// tensor's values do not depend on the other tensors' sizes.
TrainableModel init_model(const ModelConfig& config, uint64_t seed);

// Where a new model's tokenizer comes from: a WordPiece vocabulary (WordPiece families), or the
// folder of an existing tokenizer (any family) whose files are copied.
struct InitTokenizer {
    std::filesystem::path vocab;  // vocab.txt, one token a line
    bool do_lower_case = true;
    std::filesystem::path dir;  // else: a folder with tokenizer.json, vocab.json, spiece.model, ...
};

// Writes the checkpoint folder atomically: config.json, model.safetensors (float32), and the
// tokenizer: the vocabulary copied byte for byte as vocab.txt with a tokenizer_config.json (the
// family's WordPiece tokenizer class, do_lower_case as given), or tokenizer.dir's files.
void save_initialized(const std::filesystem::path& out_dir, const TrainableModel& model,
                      const InitTokenizer& tokenizer, uint64_t seed);

}  // namespace fwsvd
