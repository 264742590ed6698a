// tokenizer.json -> a Tokenizer: the components of the tokenizers library that the supported
// families ship, each parsed with errors naming the file and the component.
#include <algorithm>
#include <climits>

#include "runtime/error.h"
#include "runtime/json_util.h"
#include "runtime/tokenizer_json.h"
#include "runtime/tokenizer_pipeline.h"
#include "runtime/tokenizer_wordpiece.h"
#include "runtime/unicode.h"

namespace fwsvd::tokenizer_json {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace pipeline;

namespace {

constexpr const char* kNormalizers =
    "BertNormalizer, Lowercase, NFD, NFKD, NFC, NFKC, StripAccents, Strip, Replace, Prepend, "
    "Precompiled, Nmt, Sequence";
constexpr const char* kPreTokenizers =
    "BertPreTokenizer, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Split, Punctuation, "
    "Digits, Sequence";
constexpr const char* kPostProcessors =
    "BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel, Sequence";

struct Ctx {
    std::string file;
    [[noreturn]] void fail(std::string_view where, std::string_view what) const {
        throw Error(str_cat(file, ": ", where, ": ", what));
    }
};

const json& member(const Ctx& c, const json& obj, std::string_view key, std::string_view where) {
    auto it = obj.find(key);
    if (it == obj.end()) c.fail(where, str_cat("missing \"", key, "\""));
    return *it;
}

std::string string_of(const Ctx& c, const json& v, std::string_view where) {
    if (!v.is_string()) c.fail(where, str_cat("expected a string, not ", json_brief(v)));
    std::string s = v.get<std::string>();
    if (find_invalid_utf8(s) != std::string::npos) c.fail(where, "invalid UTF-8");
    return s;
}

std::string get_string(const Ctx& c, const json& obj, std::string_view key, std::string_view where,
                       std::string fallback = {}) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    return string_of(c, *it, str_cat(where, ".", key));
}

bool get_flag(const Ctx& c, const json& obj, std::string_view key, std::string_view where,
              bool fallback) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
        c.fail(where, str_cat("\"", key, "\" must be true, false or null, not ", json_brief(*it)));
    }
    return it->get<bool>();
}

std::string type_of(const Ctx& c, const json& obj, std::string_view where) {
    if (!obj.is_object()) c.fail(where, str_cat("expected an object, not ", json_brief(obj)));
    return string_of(c, member(c, obj, "type", where), str_cat(where, ".type"));
}

const json& array_member(const Ctx& c, const json& obj, std::string_view key,
                         std::string_view where) {
    const json& v = member(c, obj, key, where);
    if (!v.is_array())
        c.fail(where, str_cat("\"", key, "\" must be an array, not ", json_brief(v)));
    return v;
}

int32_t id_of(const Ctx& c, const json& v, std::string_view where) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= INT32_MAX) {
        c.fail(where, str_cat("expected a token id, not ", json_brief(v)));
    }
    return int32_t(v.get<int64_t>());
}

SplitBehavior behavior_of(const Ctx& c, const json& obj, std::string_view where,
                          SplitBehavior fallback) {
    auto it = obj.find("behavior");
    if (it == obj.end() || it->is_null()) return fallback;
    const std::string b = string_of(c, *it, str_cat(where, ".behavior"));
    if (b == "Removed") return SplitBehavior::kRemoved;
    if (b == "Isolated") return SplitBehavior::kIsolated;
    if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (b == "Contiguous") return SplitBehavior::kContiguous;
    c.fail(where, str_cat("unknown split behavior \"", b, "\""));
}

// A Replace / Split pattern: {"String": s} or {"Regex": r}; the regexes fwsvd understands are
// literals, "x{n,}" and "x+" for a single code point x, and (for Split) the GPT-2 regex.
struct PatternSpec {
    ReplacePattern replace;
    bool gpt2 = false;
};

PatternSpec pattern_of(const Ctx& c, const json& obj, std::string_view where, bool allow_gpt2) {
    const json& p = member(c, obj, "pattern", where);
    if (!p.is_object() || p.size() != 1) {
        c.fail(where, str_cat("\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, not ",
                              json_brief(p)));
    }
    PatternSpec out;
    if (p.contains("String")) {
        out.replace.literal = unicode::decode_utf8(
            string_of(c, p["String"], str_cat(where, ".pattern.String")), c.file);
        return out;
    }
    if (!p.contains("Regex")) c.fail(where, "\"pattern\" must hold \"String\" or \"Regex\"");
    const std::string re = string_of(c, p["Regex"], str_cat(where, ".pattern.Regex"));
    if (allow_gpt2 && re == kGpt2Regex) {
        out.gpt2 = true;
        return out;
    }
    const std::u32string r = unicode::decode_utf8(re, c.file);
    auto is_meta = [](char32_t ch) {
        return std::u32string_view(U"\\^$.|?*+()[]{}").find(ch) != std::u32string_view::npos;
    };
    if (std::none_of(r.begin(), r.end(), is_meta)) {
        out.replace.literal = r;
        return out;
    }
    // x+ or x{n,}
    if (r.size() >= 2 && !is_meta(r[0])) {
        const std::u32string rest = r.substr(1);
        if (rest == U"+") {
            out.replace.repeated = r[0];
            out.replace.min_repeat = 1;
            return out;
        }
        if (rest.size() >= 4 && rest.front() == U'{' && rest.substr(rest.size() - 2) == U",}") {
            const std::u32string digits = rest.substr(1, rest.size() - 3);
            if (!digits.empty() && digits.size() < 6 &&
                std::all_of(digits.begin(), digits.end(),
                            [](char32_t d) { return d >= U'0' && d <= U'9'; })) {
                size_t n = 0;
                for (char32_t d : digits) n = n * 10 + size_t(d - U'0');
                if (n >= 1) {
                    out.replace.repeated = r[0];
                    out.replace.min_repeat = n;
                    return out;
                }
            }
        }
    }
    c.fail(where, str_cat("unsupported regex \"", re,
                          "\" (fwsvd reads literals, \"x+\", \"x{n,}\" and the GPT-2 byte-level "
                          "regex)"));
}

std::unique_ptr<Normalizer> parse_normalizer(const Ctx& c, const json& n, const std::string& where,
                                             int depth = 0) {
    if (depth > 16) c.fail(where, "normalizers nested too deeply");
    const std::string t = type_of(c, n, where);
    if (t == "BertNormalizer") {
        BertNormalizerOptions o;
        o.clean_text = get_flag(c, n, "clean_text", where, true);
        o.handle_chinese_chars = get_flag(c, n, "handle_chinese_chars", where, true);
        o.lowercase = get_flag(c, n, "lowercase", where, true);
        o.strip_accents = get_flag(c, n, "strip_accents", where, o.lowercase);
        return make_bert_normalizer(o);
    }
    if (t == "Lowercase") return make_lowercase();
    if (t == "NFD") return make_unicode_normalizer(NormalForm::kNFD);
    if (t == "NFKD") return make_unicode_normalizer(NormalForm::kNFKD);
    if (t == "NFC") return make_unicode_normalizer(NormalForm::kNFC);
    if (t == "NFKC") return make_unicode_normalizer(NormalForm::kNFKC);
    if (t == "StripAccents") return make_strip_accents();
    if (t == "Nmt") return make_nmt();
    if (t == "Strip") {
        return make_strip(get_flag(c, n, "strip_left", where, false),
                          get_flag(c, n, "strip_right", where, false));
    }
    if (t == "Prepend") {
        return make_prepend(unicode::decode_utf8(
            string_of(c, member(c, n, "prepend", where), where + ".prepend"), c.file));
    }
    if (t == "Replace") {
        PatternSpec p = pattern_of(c, n, where, false);
        return make_replace(
            std::move(p.replace),
            unicode::decode_utf8(string_of(c, member(c, n, "content", where), where + ".content"),
                                 c.file));
    }
    if (t == "Precompiled") {
        const json& m = member(c, n, "precompiled_charsmap", where);
        if (m.is_null()) c.fail(where, "\"precompiled_charsmap\" is null");
        const std::string b64 = string_of(c, m, where + ".precompiled_charsmap");
        std::string blob;
        if (!base64_decode(b64, blob)) c.fail(where, "\"precompiled_charsmap\" is not base64");
        return make_precompiled(std::move(blob), c.file + ": " + where);
    }
    if (t == "Sequence") {
        const json& list = array_member(c, n, "normalizers", where);
        std::vector<std::unique_ptr<Normalizer>> s;
        for (size_t i = 0; i < list.size(); ++i) {
            s.push_back(
                parse_normalizer(c, list[i], str_cat(where, ".normalizers[", i, "]"), depth + 1));
        }
        return make_normalizer_sequence(std::move(s));
    }
    c.fail(where,
           str_cat("unsupported normalizer \"", t, "\" (fwsvd supports ", kNormalizers, ")"));
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Ctx& c, const json& n,
                                                  const std::string& where, int depth = 0) {
    if (depth > 16) c.fail(where, "pre-tokenizers nested too deeply");
    const std::string t = type_of(c, n, where);
    if (t == "BertPreTokenizer") return make_bert_pre_tokenizer();
    if (t == "Whitespace") return make_whitespace();
    if (t == "WhitespaceSplit") return make_whitespace_split();
    if (t == "Punctuation") {
        return make_punctuation(behavior_of(c, n, where, SplitBehavior::kIsolated));
    }
    if (t == "Digits") return make_digits(get_flag(c, n, "individual_digits", where, false));
    if (t == "ByteLevel") {
        return make_byte_level(get_flag(c, n, "add_prefix_space", where, true),
                               get_flag(c, n, "use_regex", where, true));
    }
    if (t == "Metaspace") {
        const std::u32string r = unicode::decode_utf8(
            string_of(c, member(c, n, "replacement", where), where + ".replacement"), c.file);
        if (r.size() != 1) c.fail(where, "\"replacement\" must be one character");
        PrependScheme scheme = PrependScheme::kAlways;
        const std::string ps = get_string(c, n, "prepend_scheme", where, "always");
        if (ps == "first") {
            scheme = PrependScheme::kFirst;
        } else if (ps == "never") {
            scheme = PrependScheme::kNever;
        } else if (ps != "always") {
            c.fail(where, str_cat("unknown prepend_scheme \"", ps, "\""));
        }
        auto aps = n.find("add_prefix_space");
        if (aps != n.end() && aps->is_boolean() && !aps->get<bool>()) {
            if (scheme != PrependScheme::kNever && n.contains("prepend_scheme")) {
                c.fail(where, "add_prefix_space does not match declared prepend_scheme");
            }
            scheme = PrependScheme::kNever;
        }
        return make_metaspace(r[0], scheme, get_flag(c, n, "split", where, true));
    }
    if (t == "Split") {
        PatternSpec p = pattern_of(c, n, where, true);
        if (!p.gpt2 && p.replace.min_repeat != 0) {
            c.fail(where, "Split on a repeated-character regex is not supported");
        }
        const json& b = member(c, n, "behavior", where);
        (void)b;
        return make_split(std::move(p.replace.literal), p.gpt2,
                          behavior_of(c, n, where, SplitBehavior::kRemoved),
                          get_flag(c, n, "invert", where, false));
    }
    if (t == "Sequence") {
        const json& list = array_member(c, n, "pretokenizers", where);
        std::vector<std::unique_ptr<PreTokenizer>> s;
        for (size_t i = 0; i < list.size(); ++i) {
            s.push_back(parse_pre_tokenizer(c, list[i], str_cat(where, ".pretokenizers[", i, "]"),
                                            depth + 1));
        }
        return make_pre_tokenizer_sequence(std::move(s));
    }
    c.fail(where,
           str_cat("unsupported pre-tokenizer \"", t, "\" (fwsvd supports ", kPreTokenizers, ")"));
}

Vocab vocab_of(const Ctx& c, const json& v, std::string_view where) {
    if (!v.is_object()) c.fail(where, str_cat("\"vocab\" must be an object, not ", json_brief(v)));
    Vocab out;
    int64_t largest = -1;
    for (const auto& [token, id] : v.items()) {
        const int32_t i = id_of(c, id, str_cat(where, ".vocab[\"", token, "\"]"));
        if (find_invalid_utf8(token) != std::string::npos) c.fail(where, "token not UTF-8");
        out.ids[token] = i;
        largest = std::max<int64_t>(largest, i);
    }
    if (largest >= (int64_t(1) << 26)) c.fail(where, "vocabulary ids beyond 2^26");
    out.tokens.assign(size_t(largest + 1), std::string());
    out.present.assign(size_t(largest + 1), false);
    for (const auto& [token, id] : out.ids) {
        out.tokens[size_t(id)] = token;
        out.present[size_t(id)] = true;
    }
    return out;
}

std::unique_ptr<Model> parse_model(const Ctx& c, const json& m) {
    const std::string where = "model";
    const std::string t = type_of(c, m, where);
    if (t == "WordPiece") {
        WordPieceModelOptions o;
        o.unk_token = get_string(c, m, "unk_token", where, o.unk_token);
        o.continuing_subword_prefix =
            get_string(c, m, "continuing_subword_prefix", where, o.continuing_subword_prefix);
        if (auto v = get_int(m, "max_input_chars_per_word", c.file))
            o.max_input_chars_per_word = *v;
        return make_word_piece(vocab_of(c, member(c, m, "vocab", where), where), o, c.file);
    }
    if (t == "BPE") {
        BpeOptions o;
        o.unk_token = get_string(c, m, "unk_token", where);
        o.continuing_subword_prefix = get_string(c, m, "continuing_subword_prefix", where);
        o.end_of_word_suffix = get_string(c, m, "end_of_word_suffix", where);
        o.fuse_unk = get_flag(c, m, "fuse_unk", where, false);
        o.byte_fallback = get_flag(c, m, "byte_fallback", where, false);
        o.ignore_merges = get_flag(c, m, "ignore_merges", where, false);
        auto dropout = m.find("dropout");
        if (dropout != m.end() && !dropout->is_null() &&
            !(dropout->is_number() && dropout->get<double>() == 0.0)) {
            c.fail(where, "BPE dropout is random; fwsvd tokenizes deterministically only");
        }
        const json& merges = array_member(c, m, "merges", where);
        std::vector<std::pair<std::string, std::string>> pairs;
        pairs.reserve(merges.size());
        for (size_t i = 0; i < merges.size(); ++i) {
            const json& e = merges[i];
            const std::string w = str_cat(where, ".merges[", i, "]");
            if (e.is_string()) {
                const std::string s = string_of(c, e, w);
                const size_t sp = s.find(' ');
                if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
                    c.fail(w, str_cat("a merge must be two tokens separated by one space, not \"",
                                      s, "\""));
                }
                pairs.emplace_back(s.substr(0, sp), s.substr(sp + 1));
            } else if (e.is_array() && e.size() == 2) {
                pairs.emplace_back(string_of(c, e[0], w), string_of(c, e[1], w));
            } else {
                c.fail(w,
                       str_cat("a merge must be \"a b\" or [\"a\", \"b\"], not ", json_brief(e)));
            }
        }
        return make_bpe(vocab_of(c, member(c, m, "vocab", where), where), pairs, o, c.file);
    }
    if (t == "Unigram") {
        const json& v = array_member(c, m, "vocab", where);
        std::vector<std::pair<std::string, double>> pieces;
        pieces.reserve(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
            const std::string w = str_cat(where, ".vocab[", i, "]");
            if (!v[i].is_array() || v[i].size() != 2 || !v[i][1].is_number()) {
                c.fail(w, str_cat("expected [piece, score], not ", json_brief(v[i])));
            }
            pieces.emplace_back(string_of(c, v[i][0], w), v[i][1].get<double>());
        }
        int64_t unk = -1;
        auto u = m.find("unk_id");
        if (u != m.end() && !u->is_null()) {
            if (!u->is_number_integer() || u->get<int64_t>() < 0) {
                c.fail(where,
                       str_cat("\"unk_id\" must be a non-negative integer, not ", json_brief(*u)));
            }
            unk = u->get<int64_t>();
        }
        return make_unigram(std::move(pieces), unk, get_flag(c, m, "byte_fallback", where, false),
                            c.file);
    }
    c.fail(where,
           str_cat("unsupported model \"", t, "\" (fwsvd supports WordPiece, BPE, Unigram)"));
}

// (token string, id) of BertProcessing / RobertaProcessing's "cls" / "sep".
int32_t processing_token(const Ctx& c, const json& p, std::string_view key,
                         std::string_view where) {
    const json& v = member(c, p, key, where);
    if (!v.is_array() || v.size() != 2) {
        c.fail(where, str_cat("\"", key, "\" must be [token, id], not ", json_brief(v)));
    }
    string_of(c, v[0], str_cat(where, ".", key));
    return id_of(c, v[1], str_cat(where, ".", key));
}

std::vector<TemplateItem> template_items(const Ctx& c, const json& list, const json& specials,
                                         const std::string& where) {
    if (!list.is_array()) c.fail(where, str_cat("expected an array, not ", json_brief(list)));
    std::vector<TemplateItem> items;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string w = str_cat(where, "[", i, "]");
        const json& e = list[i];
        if (!e.is_object() || e.size() != 1)
            c.fail(w, "expected {\"Sequence\"|\"SpecialToken\": ...}");
        TemplateItem item;
        if (e.contains("Sequence")) {
            const json& s = e["Sequence"];
            if (!s.is_object()) c.fail(w, "\"Sequence\" must be an object");
            const std::string id = string_of(c, member(c, s, "id", w), w + ".id");
            if (id != "A" && id != "B") c.fail(w, str_cat("unknown sequence \"", id, "\""));
            item.segment = id == "A" ? 0 : 1;
            if (auto t = s.find("type_id"); t != s.end())
                item.type_id = id_of(c, *t, w + ".type_id");
        } else if (e.contains("SpecialToken")) {
            const json& s = e["SpecialToken"];
            if (!s.is_object()) c.fail(w, "\"SpecialToken\" must be an object");
            const std::string id = string_of(c, member(c, s, "id", w), w + ".id");
            if (auto t = s.find("type_id"); t != s.end())
                item.type_id = id_of(c, *t, w + ".type_id");
            if (!specials.is_object() || !specials.contains(id)) {
                c.fail(w, str_cat("special token \"", id, "\" is not in \"special_tokens\""));
            }
            const json& ids = array_member(c, specials[id], "ids", w);
            for (const json& x : ids) item.ids.push_back(id_of(c, x, w + ".ids"));
        } else {
            c.fail(w, "expected {\"Sequence\"|\"SpecialToken\": ...}");
        }
        items.push_back(std::move(item));
    }
    return items;
}

PostTemplate plain_template() {
    PostTemplate t;
    t.single = {{0, {}, 0}};
    t.pair = {{0, {}, 0}, {1, {}, 1}};
    return t;
}

// The post-processor's template; nullopt for ByteLevel or none (texts only).
std::optional<PostTemplate> parse_post_processor(const Ctx& c, const json& p,
                                                 const std::string& where, int depth = 0) {
    if (depth > 8) c.fail(where, "post-processors nested too deeply");
    const std::string t = type_of(c, p, where);
    if (t == "BertProcessing") {
        return PostTemplate::bert(processing_token(c, p, "cls", where),
                                  processing_token(c, p, "sep", where));
    }
    if (t == "RobertaProcessing") {
        return PostTemplate::roberta(processing_token(c, p, "cls", where),
                                     processing_token(c, p, "sep", where));
    }
    if (t == "TemplateProcessing") {
        const json& specials = member(c, p, "special_tokens", where);
        PostTemplate out;
        out.single = template_items(c, member(c, p, "single", where), specials, where + ".single");
        out.pair = template_items(c, member(c, p, "pair", where), specials, where + ".pair");
        return out;
    }
    if (t == "ByteLevel") return std::nullopt;
    if (t == "Sequence") {
        const json& list = array_member(c, p, "processors", where);
        std::optional<PostTemplate> out;
        for (size_t i = 0; i < list.size(); ++i) {
            auto one =
                parse_post_processor(c, list[i], str_cat(where, ".processors[", i, "]"), depth + 1);
            if (!one) continue;
            if (out) c.fail(where, "more than one post-processor adds special tokens");
            out = std::move(one);
        }
        return out;
    }
    c.fail(where, str_cat("unsupported post-processor \"", t, "\" (fwsvd supports ",
                          kPostProcessors, ")"));
}

std::vector<AddedTokenSpec> parse_added_tokens(const Ctx& c, const json& j) {
    std::vector<AddedTokenSpec> out;
    auto added = j.find("added_tokens");
    if (added == j.end() || added->is_null()) return out;
    if (!added->is_array()) throw Error(str_cat(c.file, ": \"added_tokens\" must be an array"));
    const fs::path file = c.file;
    for (const auto& t : *added) {
        FWSVD_CHECK(t.is_object() && t.contains("content") && t["content"].is_string() &&
                        t.contains("id") && t["id"].is_number_integer(),
                    c.file, ": malformed entry in \"added_tokens\": ", json_brief(t));
        const int64_t id = t["id"].get<int64_t>();
        FWSVD_CHECK(id >= 0 && id < INT32_MAX, c.file, ": added token id ", id, " is out of range");
        AddedTokenSpec a;
        a.content = string_of(c, t["content"], "added_tokens.content");
        a.id = int32_t(id);
        a.normalized = get_bool(t, "normalized", file).value_or(false);
        a.lstrip = get_bool(t, "lstrip", file).value_or(false);
        a.rstrip = get_bool(t, "rstrip", file).value_or(false);
        a.single_word = get_bool(t, "single_word", file).value_or(false);
        out.push_back(std::move(a));
    }
    return out;
}

}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
    auto value = [](char ch) -> int {
        if (ch >= 'A' && ch <= 'Z') return ch - 'A';
        if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9') return ch - '0' + 52;
        if (ch == '+') return 62;
        if (ch == '/') return 63;
        return -1;
    };
    out.clear();
    if (in.size() % 4 != 0) return false;
    out.reserve(in.size() / 4 * 3);
    for (size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char ch = in[i + size_t(k)];
            if (ch == '=' && i + 4 == in.size() && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad > 0) return false;
            v[k] = value(ch);
            if (v[k] < 0) return false;
        }
        const uint32_t n =
            uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
        out.push_back(char(n >> 16));
        if (pad < 2) out.push_back(char((n >> 8) & 0xFF));
        if (pad < 1) out.push_back(char(n & 0xFF));
    }
    return true;
}

ParsedTokenizerJson parse_tokenizer_json(const fs::path& file) {
    Ctx c{file.string()};
    const json j = read_object(file);
    ParsedTokenizerJson out;
    out.parts.source = c.file;
    out.parts.added_tokens = parse_added_tokens(c, j);
    auto n = j.find("normalizer");
    if (n != j.end() && !n->is_null()) {
        out.normalizer_type = type_of(c, *n, "normalizer");
        out.parts.normalizer = parse_normalizer(c, *n, "normalizer");
    }
    auto pt = j.find("pre_tokenizer");
    if (pt != j.end() && !pt->is_null()) {
        out.pre_tokenizer_type = type_of(c, *pt, "pre_tokenizer");
        out.parts.pre_tokenizer = parse_pre_tokenizer(c, *pt, "pre_tokenizer");
    }
    auto m = j.find("model");
    if (m == j.end() || m->is_null()) throw Error(str_cat(c.file, ": no \"model\""));
    out.model_type = type_of(c, *m, "model");
    out.parts.model = parse_model(c, *m);
    if (out.model_type == "WordPiece") {
        const Vocab v = vocab_of(c, (*m)["vocab"], "model");
        out.vocab_tokens = v.tokens;
    }
    auto pp = j.find("post_processor");
    if (pp != j.end() && !pp->is_null())
        out.post_template = parse_post_processor(c, *pp, "post_processor");
    if (!out.post_template) out.post_template = plain_template();
    return out;
}

}  // namespace fwsvd::tokenizer_json
