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

PostTemplate PostTemplate::bert(int32_t cls, int32_t sep) {
    PostTemplate t;
    t.single = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}};
    t.pair = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}, {1, {}, 1}, {-1, {sep}, 1}};
    return t;
}

PostTemplate PostTemplate::roberta(int32_t cls, int32_t sep) {
    PostTemplate t;
    t.single = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep}, 0}};
    t.pair = {{-1, {cls}, 0}, {0, {}, 0}, {-1, {sep, sep}, 0}, {1, {}, 0}, {-1, {sep}, 0}};
    return t;
}

size_t PostTemplate::num_special(bool is_pair) const {
    size_t n = 0;
    for (const TemplateItem& item : is_pair ? pair : single) {
        if (item.segment < 0) n += item.ids.size();
    }
    return n;
}

void Tokenizer::set_special_ids(const SpecialIds& s) {
    cls_id_ = s.cls;
    sep_id_ = s.sep;
    pad_id_ = s.pad;
    unk_id_ = s.unk;
    bos_id_ = s.bos;
    eos_id_ = s.eos;
    mask_id_ = s.mask;
}

namespace {

// The template's items with the texts' (already truncated) ids in place.
Encoding assemble(const std::vector<TemplateItem>& items, const std::vector<int32_t>& a,
                  size_t len_a, const std::vector<int32_t>& b, size_t len_b) {
    Encoding enc;
    for (const TemplateItem& item : items) {
        if (item.segment < 0) {
            enc.ids.insert(enc.ids.end(), item.ids.begin(), item.ids.end());
            enc.type_ids.resize(enc.ids.size(), item.type_id);
            continue;
        }
        const std::vector<int32_t>& src = item.segment == 0 ? a : b;
        const size_t len = item.segment == 0 ? len_a : len_b;
        enc.ids.insert(enc.ids.end(), src.begin(), src.begin() + std::ptrdiff_t(len));
        enc.type_ids.resize(enc.ids.size(), item.type_id);
    }
    return enc;
}

}  // namespace

Encoding Tokenizer::encode(std::string_view a, int64_t max_len, bool* truncated) const {
    const size_t special = template_.num_special(false);
    FWSVD_CHECK(max_len >= int64_t(special), "tokenizer: max_len ", max_len,
                " leaves no room for the ", special,
                " special tokens of a single text (max_len >= ", special, " needed)");
    const size_t budget = size_t(max_len) - special;
    // One token beyond what fits is enough to know that the text was cut.
    std::vector<int32_t> ids = tokenize_prefix(a, budget + 1);
    const size_t keep = std::min(ids.size(), budget);
    if (truncated) *truncated = keep < ids.size();
    return assemble(template_.single, ids, keep, {}, 0);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, int64_t max_len,
                                bool* truncated) const {
    const size_t special = template_.num_special(true);
    FWSVD_CHECK(max_len >= int64_t(special), "tokenizer: max_len ", max_len,
                " leaves no room for the ", special,
                " special tokens of a pair (max_len >= ", special, " needed)");
    // The tokenizers library (0.23 on) tokenizes each text only up to the word that brings it to
    // max_len tokens, and longest_first compares those lengths: when both texts are cut and the
    // budget is odd, the odd token goes to the longer of the two prefixes, the second on ties.
    const size_t budget = size_t(max_len) - special;
    std::vector<int32_t> ids_a = tokenize_prefix(a, size_t(max_len));
    std::vector<int32_t> ids_b = tokenize_prefix(b, size_t(max_len));
    const size_t len_a = ids_a.size(), len_b = ids_b.size();
    auto [n1, n2] = longest_first_lengths(len_a, len_b, budget);
    if (truncated) *truncated = n1 < len_a || n2 < len_b;
    return assemble(template_.pair, ids_a, n1, ids_b, n2);
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
