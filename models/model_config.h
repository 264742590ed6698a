// A Hugging Face config.json of any supported family (models/family.h), read into one set of
// fields that the forward, backward and runtime use; each family's adapter maps its own keys
// (DistilBERT's dim / n_layers, ALBERT's embedding_size, ...) onto them and back.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fwsvd {

struct Family;

struct ModelConfig {
    const Family* family = nullptr;  // resolved from model_type; never null after from_json
    std::string model_type = "bert";
    std::vector<std::string> architectures;
    int64_t vocab_size = 30522;
    int64_t hidden_size = 768;
    int64_t num_hidden_layers = 12;
    int64_t num_attention_heads = 12;
    int64_t intermediate_size = 3072;
    // Width E of the embeddings when they are factorized (ALBERT, ELECTRA: an E -> H projection
    // follows them); 0 when they are hidden_size wide.
    int64_t embedding_size = 0;
    // Distinct layer parameter sets (ALBERT's num_hidden_groups: layer l uses group
    // l / (num_hidden_layers / groups)); 0 for one set per layer.
    int64_t layer_groups = 0;
    std::string hidden_act = "gelu";
    double hidden_dropout_prob = 0.1;
    double attention_probs_dropout_prob = 0.1;
    int64_t max_position_embeddings = 512;
    int64_t type_vocab_size = 2;  // 0: the family has no token type embeddings
    double initializer_range = 0.02;
    double layer_norm_eps = 1e-12;
    int64_t pad_token_id = 0;
    std::string position_embedding_type = "absolute";
    std::optional<double> classifier_dropout;  // null: hidden_dropout_prob is used
    // "" (unset), "regression", "single_label_classification" or "multi_label_classification".
    std::string problem_type;
    std::vector<std::string> id2label;        // [num_labels] label names by id
    std::map<std::string, int64_t> label2id;  // name -> id
    // Every field of the file as read (the compressor's low_rank block among them), so that
    // writing keeps what fwsvd does not interpret.
    nlohmann::json raw = nlohmann::json::object();

    // The family (family_of(model_type) when `family` was not set, as in configs built in code).
    const Family& model_family() const;
    int64_t num_labels() const { return int64_t(id2label.size()); }
    int64_t head_dim() const { return hidden_size / num_attention_heads; }
    // The embeddings' width: embedding_size when factorized, else hidden_size.
    int64_t embedding_dim() const { return embedding_size > 0 ? embedding_size : hidden_size; }
    bool factorized_embeddings() const { return embedding_dim() != hidden_size; }
    // Distinct layer parameter sets and the one layer l uses.
    int64_t num_layer_groups() const { return layer_groups > 0 ? layer_groups : num_hidden_layers; }
    int64_t group_of_layer(int64_t layer) const {
        return layer / (num_hidden_layers / num_layer_groups());
    }
    // The first position id of a sequence (RoBERTa: pad_token_id + 1) and the longest sequence
    // the position table holds.
    int64_t position_offset() const;
    int64_t max_sequence_length() const { return max_position_embeddings - position_offset(); }
    // As transformers decides for *ForSequenceClassification: problem_type "regression", or
    // unset with a single label.
    bool is_regression() const {
        return problem_type == "regression" || (problem_type.empty() && num_labels() == 1);
    }

    // Parses and validates; `source` names the file in error messages. model_type selects the
    // family; an unsupported one is an Error listing the supported families.
    static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
    // Reads MODEL_DIR/config.json (or a path to a .json file).
    static ModelConfig load(const std::filesystem::path& path);
    // Sets num_labels: id2label becomes LABEL_0..LABEL_{n-1} (as transformers does), label2id too.
    void set_num_labels(int64_t n);
    // raw with fwsvd's values written back in the family's own keys.
    nlohmann::json to_json() const;
    // Checks sizes and values; throws Error naming `source` and the field.
    void validate(const std::string& source) const;
};

// Typed reads of optional config.json fields for the families' adapters: an absent or null key
// leaves the value as it is; a value of the wrong type is an Error naming the file and the key.
class ConfigReader {
  public:
    ConfigReader(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {}
    void get(const char* key, int64_t* out) const;
    void get(const char* key, double* out) const;
    void get(const char* key, std::string* out) const;
    void get(const char* key, bool* out) const;
    void get(const char* key, std::optional<double>* out) const;
    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
    const std::string& source() const { return source_; }

  private:
    const nlohmann::json& j_;
    std::string source_;
};

// The keys of transformers' BertConfig, which BERT, RoBERTa, ALBERT and ELECTRA share.
void read_bert_style_config(const ConfigReader& r, ModelConfig& c);
void write_bert_style_config(const ModelConfig& c, nlohmann::json& j);

}  // namespace fwsvd
