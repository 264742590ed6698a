#include "app/task.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "models/family.h"
#include "runtime/error.h"
#include "runtime/metrics.h"

namespace fwsvd {
namespace {

bool parse_int(const std::string& s, int64_t* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || end != s.c_str() + s.size()) return false;
    *out = v;
    return true;
}

bool parse_double(const std::string& s, double* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return false;
    *out = v;
    return true;
}

std::string lower(std::string s) {
    for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

}  // namespace

std::unique_ptr<Tokenizer> load_model_tokenizer(const std::filesystem::path& dir,
                                                const ModelConfig& config) {
    std::error_code ec;
    bool any = false;
    for (const char* name :
         {"tokenizer.json", "vocab.txt", "spiece.model", "vocab.json", "sentencepiece.bpe.model"}) {
        any = any || std::filesystem::exists(dir / name, ec);
    }
    if (!any) return nullptr;
    std::unique_ptr<Tokenizer> t = load_tokenizer(dir, config.model_type);
    FWSVD_CHECK(t->vocab_size() <= config.vocab_size, dir.string(), ": the tokenizer has ",
                t->vocab_size(), " entries but the model's vocab_size is ", config.vocab_size);
    return t;
}

EncodedData encode_dataset(const Dataset& data, const Tokenizer* tok, const ModelConfig& config,
                           int64_t max_len, bool need_labels, const std::string& model_dir) {
    if (max_len < 3 || max_len > config.max_sequence_length()) {
        throw Error(str_cat("--max-len ", max_len,
                            " is out of range: at least 3 and at most the model's "
                            "max_position_embeddings (",
                            config.max_sequence_length(), ")"),
                    ErrorKind::usage);
    }
    const bool types = config.model_family().has(Role::type_emb);
    EncodedData out;
    out.source = data.source;
    out.has_labels = !data.examples.empty();
    for (const auto& ex : data.examples) out.has_labels = out.has_labels && ex.has_label;
    if (need_labels && !out.has_labels) {
        for (const auto& ex : data.examples) {
            if (!ex.has_label) throw Error(str_cat(data.source, ":", ex.line, ": no label"));
        }
    }
    const int64_t C = config.num_labels();
    for (const auto& ex : data.examples) {
        const std::string where = str_cat(data.source, ":", ex.line);
        EncodedExample enc;
        if (ex.pretokenized) {
            FWSVD_CHECK(int64_t(ex.input_ids.size()) <= max_len, where, ": input_ids has ",
                        ex.input_ids.size(), " tokens, more than --max-len ", max_len);
            enc.ids = ex.input_ids;
            enc.type_ids = ex.token_type_ids.empty() ? std::vector<int32_t>(ex.input_ids.size(), 0)
                                                     : ex.token_type_ids;
            for (int32_t id : enc.ids) {
                FWSVD_CHECK(id < config.vocab_size, where, ": token id ", id,
                            " is outside the vocabulary (", config.vocab_size, ")");
            }
            for (int32_t t : enc.type_ids) {
                FWSVD_CHECK(!types || t < config.type_vocab_size, where, ": token type id ", t,
                            " is outside type_vocab_size (", config.type_vocab_size, ")");
            }
        } else {
            FWSVD_CHECK(tok != nullptr, where, ": a text, but ", model_dir,
                        " has no tokenizer files (tokenizer.json, vocab.txt, ...): give "
                        "pre-tokenized input_ids (JSONL) or add the tokenizer to the folder");
            bool truncated = false;
            try {
                Encoding e = ex.has_pair
                                 ? tok->encode_pair(ex.text_a, ex.text_b, max_len, &truncated)
                                 : tok->encode(ex.text_a, max_len, &truncated);
                enc.ids = std::move(e.ids);
                enc.type_ids = std::move(e.type_ids);
            } catch (const Error& e) {
                throw Error(str_cat(where, ": ", e.what()), e.kind());
            }
            if (truncated) ++out.truncated;
            out.pairs = out.pairs || ex.has_pair;
        }
        for (int32_t id : enc.ids) {
            FWSVD_CHECK(id < config.vocab_size, where, ": tokenizer id ", id,
                        " is outside the model's vocabulary (", config.vocab_size,
                        "): tokenizer and model do not match");
        }
        out.encodings.push_back(std::move(enc));
        out.lines.push_back(ex.line);
        if (!out.has_labels) continue;
        if (config.is_regression()) {
            double v = 0;
            FWSVD_CHECK(parse_double(ex.label, &v), where, ": label '", ex.label,
                        "' is not a number (the model does regression)");
            out.targets.values.push_back(float(v));
        } else {
            int64_t id = -1;
            if (parse_int(ex.label, &id)) {
                FWSVD_CHECK(id >= 0 && id < C, where, ": label ", id,
                            " is not a class id of this model (0..", C - 1, ")");
            } else {
                auto it = config.label2id.find(ex.label);
                if (it == config.label2id.end()) {
                    std::string names;
                    for (const auto& [k, v] : config.label2id)
                        names += (names.empty() ? "" : ", ") + k;
                    throw Error(str_cat(where, ": label '", ex.label,
                                        "' is neither a class id (0..", C - 1,
                                        ") nor a name in label2id (", names, ")"));
                }
                id = it->second;
            }
            out.targets.classes.push_back(int32_t(id));
        }
    }
    return out;
}

std::string primary_metric(const ModelConfig& config, const EncodedData& data,
                           const std::string& requested) {
    if (!requested.empty()) return requested;
    if (config.is_regression()) return "pearson";
    if (config.num_labels() == 2 && data.pairs) return "f1";
    if (lower(data.source).find("cola") != std::string::npos) return "mcc";
    return "accuracy";
}

EvalResult evaluate(const ModelConfig& config, const EncodedData& data, const float* logits,
                    const std::string& metric) {
    FWSVD_CHECK(data.has_labels, data.source, ": the data has no labels to evaluate against");
    EvalResult r;
    r.examples = int64_t(data.encodings.size());
    const int64_t C = config.num_labels();
    if (config.is_regression()) {
        std::vector<double> pred, gold;
        for (int64_t i = 0; i < r.examples; ++i) {
            pred.push_back(logits[i]);
            gold.push_back(data.targets.values[size_t(i)]);
        }
        r.metrics["pearson"] = pearson(pred, gold);
        r.metrics["spearman"] = spearman(pred, gold);
        double mse = 0;
        for (size_t i = 0; i < pred.size(); ++i) mse += (pred[i] - gold[i]) * (pred[i] - gold[i]);
        r.metrics["mse"] = mse / double(pred.size());
    } else {
        std::vector<int64_t> pred, gold;
        for (int64_t i = 0; i < r.examples; ++i) {
            const float* row = logits + i * C;
            pred.push_back(std::max_element(row, row + C) - row);
            gold.push_back(data.targets.classes[size_t(i)]);
        }
        r.metrics["accuracy"] = accuracy(pred, gold);
        r.metrics["mcc"] = matthews_corr(pred, gold);
        if (C == 2) r.metrics["f1"] = f1_binary(pred, gold);
    }
    auto it = r.metrics.find(metric);
    if (it == r.metrics.end()) {
        std::string names;
        for (const auto& [k, v] : r.metrics) names += (names.empty() ? "" : ", ") + k;
        throw Error(str_cat("metric '", metric, "' is not available for this model (", names, ")"),
                    ErrorKind::usage);
    }
    r.metric = metric;
    r.value = it->second;
    return r;
}

}  // namespace fwsvd
