#include "runtime/tokenizer.h"

#include <algorithm>

#include "runtime/error.h"
#include "runtime/json_util.h"
#include "runtime/read_file.h"
#include "runtime/tokenizer_json.h"
#include "runtime/tokenizer_sentencepiece.h"
#include "runtime/tokenizer_wordpiece.h"

namespace fwsvd {

namespace fs = std::filesystem;

std::pair<size_t, size_t> longest_first_lengths(size_t n1, size_t n2, size_t budget) {
    if (n1 + n2 <= budget) return {n1, n2};
    // Mirrors tokenizers' truncate_encodings(LongestFirst) for a pair.
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);  // n1: the shorter
    n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
    if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
    }
    if (swap) std::swap(n1, n2);
    return {n1, n2};
}

Encoding Tokenizer::encode(std::string_view a, int64_t max_len, bool* truncated) const {
    FWSVD_CHECK(max_len >= 2, "tokenizer: max_len ", max_len,
                " leaves no room for [CLS] and [SEP] (a single text needs max_len >= 2)");
    // One token beyond what fits is enough to know that the text was cut.
    std::vector<int32_t> ids = tokenize_prefix(a, size_t(max_len - 2) + 1);
    const size_t keep = std::min(ids.size(), size_t(max_len - 2));
    if (truncated) *truncated = keep < ids.size();
    Encoding enc;
    enc.ids.reserve(keep + 2);
    enc.ids.push_back(cls_id_);
    enc.ids.insert(enc.ids.end(), ids.begin(), ids.begin() + std::ptrdiff_t(keep));
    enc.ids.push_back(sep_id_);
    enc.type_ids.assign(enc.ids.size(), 0);
    return enc;
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, int64_t max_len,
                                bool* truncated) const {
    FWSVD_CHECK(max_len >= 3, "tokenizer: max_len ", max_len,
                " leaves no room for [CLS], [SEP] and [SEP] (a pair needs max_len >= 3)");
    // longest_first_lengths gives the same result for lengths capped at budget + 1, except when
    // both sides exceed the budget and it is odd: the longer side gets the odd token, so then
    // the full lengths are needed.
    const size_t budget = size_t(max_len - 3);
    std::vector<int32_t> ids_a = tokenize_prefix(a, budget + 1);
    std::vector<int32_t> ids_b = tokenize_prefix(b, budget + 1);
    size_t len_a = std::min(ids_a.size(), budget + 1), len_b = std::min(ids_b.size(), budget + 1);
    if (len_a > budget && len_b > budget && budget % 2 == 1) {
        len_a = tokenize(a).size();
        len_b = tokenize(b).size();
    }
    auto [n1, n2] = longest_first_lengths(len_a, len_b, budget);
    if (truncated) *truncated = n1 < len_a || n2 < len_b;
    Encoding enc;
    enc.ids.reserve(n1 + n2 + 3);
    enc.ids.push_back(cls_id_);
    enc.ids.insert(enc.ids.end(), ids_a.begin(), ids_a.begin() + std::ptrdiff_t(n1));
    enc.ids.push_back(sep_id_);
    enc.type_ids.assign(enc.ids.size(), 0);
    enc.ids.insert(enc.ids.end(), ids_b.begin(), ids_b.begin() + std::ptrdiff_t(n2));
    enc.ids.push_back(sep_id_);
    enc.type_ids.resize(enc.ids.size(), 1);
    return enc;
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir) {
    std::error_code ec;
    FWSVD_CHECK(fs::is_directory(model_dir, ec), model_dir.string(),
                ": not a folder (expected a model folder with spiece.model or vocab.txt)");
    if (fs::exists(model_dir / "spiece.model", ec)) {
        return std::make_unique<SentencePieceTokenizer>(model_dir / "spiece.model",
                                                        read_sentencepiece_options(model_dir));
    }
    if (fs::exists(model_dir / "vocab.txt", ec)) {
        return std::make_unique<WordPieceTokenizer>(model_dir / "vocab.txt",
                                                    read_wordpiece_options(model_dir));
    }
    throw Error(
        str_cat(model_dir.string(), ": no tokenizer found (neither spiece.model nor vocab.txt)"));
}

namespace tokenizer_json {

nlohmann::json read_object(const fs::path& file) {
    nlohmann::json j =
        parse_json(read_file(file, kMaxTokenizerBytes, "tokenizer file"), file.string());
    FWSVD_CHECK(j.is_object(), file.string(), ": expected a JSON object at the top level");
    return j;
}

std::optional<bool> get_bool(const nlohmann::json& obj, std::string_view key,
                             const fs::path& file) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    FWSVD_CHECK(it->is_boolean(), file.string(), ": \"", key,
                "\" must be true, false or null, not ", json_brief(*it));
    return it->get<bool>();
}

std::optional<int64_t> get_int(const nlohmann::json& obj, std::string_view key,
                               const fs::path& file) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    FWSVD_CHECK(it->is_number_integer(), file.string(), ": \"", key, "\" must be an integer, not ",
                json_brief(*it));
    return it->get<int64_t>();
}

std::optional<std::string> get_token(const nlohmann::json& obj, std::string_view key,
                                     const fs::path& file) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
        auto c = it->find("content");
        if (c != it->end() && c->is_string()) return c->get<std::string>();
    }
    throw Error(str_cat(file.string(), ": \"", key,
                        "\" must be a string or an object with a \"content\" string, not ",
                        json_brief(*it)));
}

}  // namespace tokenizer_json

}  // namespace fwsvd
