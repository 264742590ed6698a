// Hugging Face config.json for BERT (BertConfig's fields plus the PretrainedConfig ones fwsvd
// uses).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fwsvd {

struct BertConfig {
    std::string model_type = "bert";
    std::vector<std::string> architectures;
    int64_t vocab_size = 30522;
    int64_t hidden_size = 768;
    int64_t num_hidden_layers = 12;
    int64_t num_attention_heads = 12;
    int64_t intermediate_size = 3072;
    std::string hidden_act = "gelu";
    double hidden_dropout_prob = 0.1;
    double attention_probs_dropout_prob = 0.1;
    int64_t max_position_embeddings = 512;
    int64_t type_vocab_size = 2;
    double initializer_range = 0.02;
    double layer_norm_eps = 1e-12;
    int64_t pad_token_id = 0;
    std::string position_embedding_type = "absolute";
    std::optional<double> classifier_dropout;  // null: hidden_dropout_prob is used
    // "" (unset), "regression", "single_label_classification" or "multi_label_classification".
    std::string problem_type;
    std::vector<std::string> id2label;        // [num_labels] label names by id
    std::map<std::string, int64_t> label2id;  // name -> id
    // The low_rank block of a compressed checkpoint (see compressor/); null for dense models.
    nlohmann::json low_rank;
    // Every field of the file as read, so that writing keeps what fwsvd does not interpret.
    nlohmann::json raw = nlohmann::json::object();

    int64_t num_labels() const { return int64_t(id2label.size()); }
    int64_t head_dim() const { return hidden_size / num_attention_heads; }
    // As transformers decides for BertForSequenceClassification: problem_type "regression", or
    // unset with a single label.
    bool is_regression() const {
        return problem_type == "regression" || (problem_type.empty() && num_labels() == 1);
    }

    // Parses and validates; `source` names the file in error messages.
    static BertConfig from_json(const nlohmann::json& j, const std::string& source);
    // Reads MODEL_DIR/config.json (or a path to a .json file).
    static BertConfig load(const std::filesystem::path& path);
    // Sets num_labels: id2label becomes LABEL_0..LABEL_{n-1} (as transformers does), label2id too.
    void set_num_labels(int64_t n);
    // raw with fwsvd's values written back (sizes, labels, problem_type, low_rank).
    nlohmann::json to_json() const;
    // Checks sizes and values; throws Error naming `source` and the field.
    void validate(const std::string& source) const;
};

}  // namespace fwsvd
