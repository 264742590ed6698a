#include "models/model_config.h"

#include "models/family.h"
#include "runtime/error.h"
#include "runtime/json_util.h"
#include "runtime/read_file.h"

namespace fwsvd {

namespace {

[[noreturn]] void wrong_type(const std::string& source, const char* key, const nlohmann::json& v) {
    throw Error(str_cat(source, ": field '", key, "' has the wrong type (", json_brief(v), ")"));
}

}  // namespace

void ConfigReader::get(const char* key, int64_t* out) const {
    if (!has(key)) return;
    if (!j_[key].is_number_integer()) wrong_type(source_, key, j_[key]);
    *out = j_[key].get<int64_t>();
}

void ConfigReader::get(const char* key, double* out) const {
    if (!has(key)) return;
    if (!j_[key].is_number()) wrong_type(source_, key, j_[key]);
    *out = j_[key].get<double>();
}

void ConfigReader::get(const char* key, std::string* out) const {
    if (!has(key)) return;
    if (!j_[key].is_string()) wrong_type(source_, key, j_[key]);
    *out = j_[key].get<std::string>();
}

void ConfigReader::get(const char* key, bool* out) const {
    if (!has(key)) return;
    if (!j_[key].is_boolean()) wrong_type(source_, key, j_[key]);
    *out = j_[key].get<bool>();
}

void ConfigReader::get(const char* key, std::optional<double>* out) const {
    if (!has(key)) return;
    double d = 0;
    get(key, &d);
    *out = d;
}

void read_bert_style_config(const ConfigReader& r, ModelConfig& c) {
    r.get("vocab_size", &c.vocab_size);
    r.get("hidden_size", &c.hidden_size);
    r.get("num_hidden_layers", &c.num_hidden_layers);
    r.get("num_attention_heads", &c.num_attention_heads);
    r.get("intermediate_size", &c.intermediate_size);
    r.get("hidden_act", &c.hidden_act);
    r.get("hidden_dropout_prob", &c.hidden_dropout_prob);
    r.get("attention_probs_dropout_prob", &c.attention_probs_dropout_prob);
    r.get("max_position_embeddings", &c.max_position_embeddings);
    r.get("type_vocab_size", &c.type_vocab_size);
    r.get("initializer_range", &c.initializer_range);
    r.get("layer_norm_eps", &c.layer_norm_eps);
    r.get("pad_token_id", &c.pad_token_id);
    r.get("position_embedding_type", &c.position_embedding_type);
    r.get("classifier_dropout", &c.classifier_dropout);
}

void write_bert_style_config(const ModelConfig& c, nlohmann::json& j) {
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["intermediate_size"] = c.intermediate_size;
    j["hidden_act"] = c.hidden_act;
    j["hidden_dropout_prob"] = c.hidden_dropout_prob;
    j["attention_probs_dropout_prob"] = c.attention_probs_dropout_prob;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["type_vocab_size"] = c.type_vocab_size;
    j["initializer_range"] = c.initializer_range;
    j["layer_norm_eps"] = c.layer_norm_eps;
    j["pad_token_id"] = c.pad_token_id;
    j["position_embedding_type"] = c.position_embedding_type;
    j["classifier_dropout"] =
        c.classifier_dropout ? nlohmann::json(*c.classifier_dropout) : nlohmann::json(nullptr);
}

const Family& ModelConfig::model_family() const {
    return family ? *family : family_of(model_type, "model config");
}

int64_t ModelConfig::position_offset() const {
    return model_family().positions == PositionIds::after_padding ? pad_token_id + 1 : 0;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& source) {
    FWSVD_CHECK(j.is_object(), source, ": not a JSON object");
    ModelConfig c;
    c.raw = j;
    const ConfigReader r(j, source);
    r.get("model_type", &c.model_type);
    c.family = &family_of(c.model_type, source);
    if (j.contains("architectures") && !j["architectures"].is_null()) {
        const auto& arch = j["architectures"];
        FWSVD_CHECK(arch.is_array(), source, ": 'architectures' is not a list of class names");
        for (const auto& a : arch) {
            FWSVD_CHECK(a.is_string(), source, ": 'architectures' holds ", json_brief(a),
                        ", not a class name");
            c.architectures.push_back(a.get<std::string>());
        }
    }
    c.family->read_config(r, c);
    r.get("problem_type", &c.problem_type);

    // Labels as PretrainedConfig derives them: id2label when present, else num_labels, else 2.
    if (j.contains("id2label") && !j["id2label"].is_null()) {
        const auto& m = j["id2label"];
        FWSVD_CHECK(m.is_object(), source, ": id2label is not an object");
        FWSVD_CHECK(!m.empty(), source, ": id2label is empty");
        FWSVD_CHECK(m.size() <= 100000, source, ": id2label has too many labels (", m.size(), ")");
        c.id2label.assign(m.size(), "");
        std::vector<bool> seen(m.size(), false);
        for (auto it = m.begin(); it != m.end(); ++it) {
            // Decimal digits only (no sign, no spaces), at most 6 of them: ids are < 100000.
            const std::string& key = it.key();
            const bool digits = !key.empty() && key.size() <= 6 &&
                                key.find_first_not_of("0123456789") == std::string::npos;
            FWSVD_CHECK(digits, source, ": id2label key '", key, "' is not a label id");
            const size_t id = size_t(std::stoul(key));
            FWSVD_CHECK(id < m.size() && !seen[id], source, ": id2label ids must be 0..",
                        m.size() - 1, " each once (found '", it.key(), "')");
            FWSVD_CHECK(it.value().is_string(), source, ": id2label['", it.key(),
                        "'] is not a string");
            seen[id] = true;
            c.id2label[id] = it.value().get<std::string>();
        }
    } else {
        int64_t n = 2;
        r.get("num_labels", &n);
        FWSVD_CHECK(n >= 1 && n <= 100000, source, ": num_labels ", n, " is out of range");
        c.set_num_labels(n);
    }
    if (j.contains("label2id") && j["label2id"].is_object()) {
        for (auto it = j["label2id"].begin(); it != j["label2id"].end(); ++it) {
            FWSVD_CHECK(it.value().is_number_integer(), source, ": label2id['", it.key(),
                        "'] is not an integer");
            c.label2id[it.key()] = it.value().get<int64_t>();
        }
    }
    if (c.label2id.empty()) {
        for (size_t i = 0; i < c.id2label.size(); ++i) c.label2id[c.id2label[i]] = int64_t(i);
    }
    c.validate(source);
    return c;
}

void ModelConfig::validate(const std::string& source) const {
    const Family& f = family ? *family : family_of(model_type, source);
    FWSVD_CHECK(f.model_type == model_type, source, ": model_type '", model_type,
                "' does not match its family '", f.model_type, "'");
    auto range = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
        FWSVD_CHECK(v >= lo && v <= hi, source, ": ", name, " = ", v, " is out of range [", lo,
                    ", ", hi, "]");
    };
    range("vocab_size", vocab_size, 1, 10'000'000);
    range("hidden_size", hidden_size, 1, 65536);
    range("num_hidden_layers", num_hidden_layers, 1, 1000);
    range("num_attention_heads", num_attention_heads, 1, 4096);
    range("intermediate_size", intermediate_size, 1, 1 << 20);
    range("max_position_embeddings", max_position_embeddings, 2, 1 << 20);
    range("type_vocab_size", type_vocab_size, f.has(Role::type_emb) ? 1 : 0, 1 << 20);
    if (embedding_size != 0) range("embedding_size", embedding_size, 1, 65536);
    if (layer_groups != 0) {
        range("num_hidden_groups", layer_groups, 1, num_hidden_layers);
        FWSVD_CHECK(num_hidden_layers % layer_groups == 0, source, ": num_hidden_layers ",
                    num_hidden_layers, " is not a multiple of num_hidden_groups ", layer_groups);
    }
    FWSVD_CHECK(hidden_size % num_attention_heads == 0, source, ": hidden_size ", hidden_size,
                " is not divisible by num_attention_heads ", num_attention_heads);
    FWSVD_CHECK(layer_norm_eps > 0 && layer_norm_eps < 1, source, ": layer_norm_eps ",
                layer_norm_eps, " is out of range (0, 1)");
    FWSVD_CHECK(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1, source,
                ": hidden_dropout_prob ", hidden_dropout_prob, " is out of range [0, 1)");
    FWSVD_CHECK(attention_probs_dropout_prob >= 0 && attention_probs_dropout_prob < 1, source,
                ": attention_probs_dropout_prob ", attention_probs_dropout_prob,
                " is out of range [0, 1)");
    if (classifier_dropout) {
        FWSVD_CHECK(*classifier_dropout >= 0 && *classifier_dropout < 1, source,
                    ": classifier_dropout ", *classifier_dropout, " is out of range [0, 1)");
    }
    static const char* acts[] = {
        "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh"};
    bool act_ok = false;
    for (const char* a : acts) act_ok = act_ok || hidden_act == a;
    FWSVD_CHECK(act_ok, source, ": hidden_act '", hidden_act,
                "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, "
                "swish, tanh)");
    FWSVD_CHECK(position_embedding_type == "absolute", source, ": position_embedding_type '",
                position_embedding_type, "' is not supported (only 'absolute')");
    FWSVD_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size, source, ": pad_token_id ",
                pad_token_id, " is outside the vocabulary (", vocab_size, ")");
    FWSVD_CHECK(max_sequence_length() >= 2, source, ": max_position_embeddings ",
                max_position_embeddings, " leaves no room for a sequence after position offset ",
                position_offset());
    FWSVD_CHECK(problem_type.empty() || problem_type == "regression" ||
                    problem_type == "single_label_classification",
                source, ": problem_type '", problem_type,
                "' is not supported (regression or single_label_classification)");
    FWSVD_CHECK(!id2label.empty(), source, ": no labels");
    if (problem_type == "regression") {
        FWSVD_CHECK(num_labels() == 1, source, ": problem_type regression needs one label, found ",
                    num_labels());
    }
    for (const auto& [name, id] : label2id) {
        FWSVD_CHECK(id >= 0 && id < num_labels(), source, ": label2id['", name, "'] = ", id,
                    " is not a label id below ", num_labels());
    }
    if (f.validate_config) f.validate_config(*this, source);
}

void ModelConfig::set_num_labels(int64_t n) {
    id2label.clear();
    label2id.clear();
    for (int64_t i = 0; i < n; ++i) {
        id2label.push_back("LABEL_" + std::to_string(i));
        label2id[id2label.back()] = i;
    }
}

ModelConfig ModelConfig::load(const std::filesystem::path& path) {
    std::filesystem::path file = path;
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) file /= "config.json";
    const std::string text = read_file(file, kMaxConfigBytes, "model config (config.json)");
    return from_json(parse_json(text, file.string()), file.string());
}

nlohmann::json ModelConfig::to_json() const {
    nlohmann::json j = raw.is_object() ? raw : nlohmann::json::object();
    j["model_type"] = model_type;
    if (!architectures.empty()) j["architectures"] = architectures;
    model_family().write_config(*this, j);
    if (!problem_type.empty()) j["problem_type"] = problem_type;
    nlohmann::json i2l = nlohmann::json::object();
    for (size_t i = 0; i < id2label.size(); ++i) i2l[std::to_string(i)] = id2label[i];
    j["id2label"] = i2l;
    nlohmann::json l2i = nlohmann::json::object();
    for (const auto& [k, v] : label2id) l2i[k] = v;
    j["label2id"] = l2i;
    j.erase("num_labels");
    // A null low_rank block (the compressor's) is dropped rather than written back.
    if (j.contains("low_rank") && j["low_rank"].is_null()) j.erase("low_rank");
    return j;
}

}  // namespace fwsvd
