#include "runtime/tokenizer_wordpiece.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "runtime/error.h"
#include "runtime/json_util.h"
#include "runtime/read_file.h"
#include "runtime/tokenizer_json.h"
#include "runtime/unicode.h"

namespace fwsvd {

namespace fs = std::filesystem;

namespace {

std::string read_vocab_file(const fs::path& file) {
    return read_file(file, kMaxTokenizerBytes, "vocabulary file");
}

// Splits text into lines as Python's text mode (universal newlines: "\n", "\r\n" and "\r" end
// a line), the way transformers' load_vocab reads vocab.txt; no empty line after the last
// terminator.
std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c != '\n' && c != '\r') continue;
        lines.emplace_back(text.substr(start, i - start));
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        start = i + 1;
    }
    if (start < text.size()) lines.emplace_back(text.substr(start));
    return lines;
}

inline void append_cp(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(char(cp));
    } else {
        unicode::append_utf8(out, cp);
    }
}

}  // namespace

struct WordPieceTokenizer::Scratch {
    std::u32string cps;  // the normalised segment
    std::u32string tmp;
    std::string word;   // the current word, UTF-8
    bool done = false;  // a word brought the ids to max_tokens (tokenize_prefix stops)
};

WordPieceOptions read_wordpiece_options(const fs::path& model_dir) {
    using namespace tokenizer_json;
    WordPieceOptions o;
    std::error_code ec;

    const fs::path tj = model_dir / "tokenizer.json";
    if (fs::exists(tj, ec)) {
        nlohmann::json j = read_object(tj);
        auto norm = j.find("normalizer");
        if (norm != j.end() && norm->is_object() && norm->value("type", "") == "BertNormalizer") {
            if (auto v = get_bool(*norm, "lowercase", tj)) o.do_lower_case = *v;
            o.strip_accents = get_bool(*norm, "strip_accents", tj);
            if (auto v = get_bool(*norm, "handle_chinese_chars", tj)) o.tokenize_chinese_chars = *v;
            if (auto v = get_bool(*norm, "clean_text", tj)) o.clean_text = *v;
        }
        auto model = j.find("model");
        if (model != j.end() && model->is_object() && model->value("type", "") == "WordPiece") {
            if (auto v = get_token(*model, "unk_token", tj)) o.unk_token = *v;
            if (auto v = get_token(*model, "continuing_subword_prefix", tj)) {
                o.continuing_subword_prefix = *v;
            }
            if (auto v = get_int(*model, "max_input_chars_per_word", tj)) {
                o.max_input_chars_per_word = *v;
            }
        }
        auto added = j.find("added_tokens");
        if (added != j.end() && !added->is_null()) {
            FWSVD_CHECK(added->is_array(), tj.string(), ": \"added_tokens\" must be an array");
            for (const auto& t : *added) {
                FWSVD_CHECK(t.is_object() && t.contains("content") && t["content"].is_string() &&
                                t.contains("id") && t["id"].is_number_integer(),
                            tj.string(), ": malformed entry in \"added_tokens\": ", json_brief(t));
                const int64_t id = t["id"].get<int64_t>();
                FWSVD_CHECK(id >= 0 && id < INT32_MAX, tj.string(), ": added token id ", id,
                            " is out of range");
                AddedToken a;
                a.content = t["content"].get<std::string>();
                a.id = int32_t(id);
                a.normalized = get_bool(t, "normalized", tj).value_or(false);
                o.added_tokens.push_back(std::move(a));
            }
        }
    }

    const fs::path tc = model_dir / "tokenizer_config.json";
    if (fs::exists(tc, ec)) {
        nlohmann::json c = read_object(tc);
        if (auto v = get_bool(c, "do_lower_case", tc)) o.do_lower_case = *v;
        if (c.contains("strip_accents")) o.strip_accents = get_bool(c, "strip_accents", tc);
        if (auto v = get_bool(c, "tokenize_chinese_chars", tc)) o.tokenize_chinese_chars = *v;
        if (auto v = get_token(c, "unk_token", tc)) o.unk_token = *v;
        if (auto v = get_token(c, "cls_token", tc)) o.cls_token = *v;
        if (auto v = get_token(c, "sep_token", tc)) o.sep_token = *v;
        if (auto v = get_token(c, "pad_token", tc)) o.pad_token = *v;
        if (auto v = get_token(c, "mask_token", tc)) o.mask_token = *v;
        auto dec = c.find("added_tokens_decoder");
        if (o.added_tokens.empty() && dec != c.end() && dec->is_object()) {
            for (const auto& [key, t] : dec->items()) {
                AddedToken a;
                const bool digits = !key.empty() && key.size() <= 9 &&
                                    key.find_first_not_of("0123456789") == std::string::npos;
                FWSVD_CHECK(digits, tc.string(), ": \"added_tokens_decoder\" key \"", key,
                            "\" is not an id");
                a.id = int32_t(std::stol(key));
                FWSVD_CHECK(t.is_object() && t.contains("content") && t["content"].is_string(),
                            tc.string(),
                            ": malformed entry in \"added_tokens_decoder\": ", json_brief(t));
                a.content = t["content"].get<std::string>();
                a.normalized = get_bool(t, "normalized", tc).value_or(false);
                o.added_tokens.push_back(std::move(a));
            }
        }
    }
    return o;
}

WordPieceTokenizer::WordPieceTokenizer(const fs::path& vocab_file, WordPieceOptions options)
    : vocab_file_(vocab_file), options_(std::move(options)) {
    const std::string where = vocab_file.string();
    const std::string text = read_vocab_file(vocab_file);
    if (size_t bad = unicode::find_invalid_utf8(text); bad != std::string::npos) {
        size_t line =
            1 + size_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(bad), '\n'));
        throw Error(str_cat(where, ": invalid UTF-8 at byte offset ", bad, " (line ", line, ")"));
    }
    init(split_lines(text));
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> tokens, const fs::path& source,
                                       WordPieceOptions options)
    : vocab_file_(source), options_(std::move(options)) {
    for (const std::string& t : tokens) unicode::check_utf8(t, str_cat(source.string(), ": token"));
    init(std::move(tokens));
}

void WordPieceTokenizer::init(std::vector<std::string> tokens) {
    const std::string where = vocab_file_.string();
    lower_ = options_.do_lower_case;
    strip_accents_ = options_.strip_accents.value_or(options_.do_lower_case);
    FWSVD_CHECK(options_.max_input_chars_per_word > 0, where,
                ": max_input_chars_per_word must be positive");
    tokens_ = std::move(tokens);
    FWSVD_CHECK(!tokens_.empty(), where, ": empty vocabulary");
    FWSVD_CHECK(tokens_.size() < size_t(INT32_MAX), where, ": vocabulary too large");
    vocab_size_ = int64_t(tokens_.size());

    const std::string& prefix = options_.continuing_subword_prefix;
    word_start_.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) {
        const std::string& t = tokens_[i];
        word_start_[t] = int32_t(i);  // a repeated token keeps its last line, as HF
        start_trie_.insert(t, int32_t(i));
        if (t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) {
            continuation_trie_.insert(std::string_view(t).substr(prefix.size()), int32_t(i));
        }
    }
    start_trie_.finish();
    continuation_trie_.finish();

    // Added tokens: explicit ones, or the special tokens found in the vocabulary.
    std::vector<AddedToken> added = options_.added_tokens;
    if (added.empty()) {
        for (const std::string* t : {&options_.unk_token, &options_.sep_token, &options_.pad_token,
                                     &options_.cls_token, &options_.mask_token}) {
            added.push_back(AddedToken{*t, -1, false});
        }
    }
    TokenMap added_ids;
    for (const AddedToken& a : added) {
        if (a.content.empty()) continue;
        unicode::check_utf8(a.content, str_cat(where, ": added token"));
        int32_t id = a.id;
        if (id < 0) {
            auto it = word_start_.find(a.content);
            if (it == word_start_.end()) continue;
            id = it->second;
        }
        added_ids[a.content] = id;
        if (size_t(id) >= tokens_.size()) {
            extra_tokens_[id] = a.content;
            vocab_size_ = std::max(vocab_size_, int64_t(id) + 1);
        }
        if (!a.normalized) {
            raw_added_.push_back(Pattern{a.content, {}, id});
            raw_first_byte_[static_cast<unsigned char>(a.content[0])] = true;
        } else {
            Scratch s;
            normalize(a.content, s);
            for (char32_t c : s.cps) {
                normalized_added_spans_space_ |=
                    (unicode::properties(c) & unicode::kWhitespace) != 0;
            }
            if (!s.cps.empty()) normalized_added_.push_back(Pattern{{}, s.cps, id});
        }
    }
    std::stable_sort(raw_added_.begin(), raw_added_.end(), [](const Pattern& x, const Pattern& y) {
        return x.utf8.size() > y.utf8.size();
    });
    std::stable_sort(
        normalized_added_.begin(), normalized_added_.end(),
        [](const Pattern& x, const Pattern& y) { return x.cps.size() > y.cps.size(); });

    auto special = [&](const std::string& token, const char* what, bool required) -> int32_t {
        if (auto it = added_ids.find(token); it != added_ids.end()) return it->second;
        if (auto it = word_start_.find(token); it != word_start_.end()) return it->second;
        FWSVD_CHECK(!required, where, ": the vocabulary has no ", what, " token \"", token, "\"");
        return -1;
    };
    unk_id_ = special(options_.unk_token, "unknown", true);
    cls_id_ = special(options_.cls_token, "classifier", true);
    sep_id_ = special(options_.sep_token, "separator", true);
    pad_id_ = special(options_.pad_token, "padding", false);
    if (pad_id_ < 0) pad_id_ = 0;
    mask_id_ = special(options_.mask_token, "mask", false);
    template_ = options_.post_template.value_or(PostTemplate::bert(cls_id_, sep_id_));
    for (const auto* items : {&template_.single, &template_.pair}) {
        for (const TemplateItem& item : *items) {
            for (int32_t id : item.ids) {
                FWSVD_CHECK(id >= 0 && id < vocab_size_, where, ": special token id ", id,
                            " of the post-processor is outside the vocabulary (size ", vocab_size_,
                            ")");
            }
        }
    }
}

int64_t WordPieceTokenizer::vocab_size() const {
    return vocab_size_;
}

std::string WordPieceTokenizer::id_to_token(int32_t id) const {
    if (id >= 0 && size_t(id) < tokens_.size()) return tokens_[size_t(id)];
    if (auto it = extra_tokens_.find(id); it != extra_tokens_.end()) return it->second;
    throw Error(str_cat(vocab_file_.string(), ": id ", id, " is outside the vocabulary (size ",
                        vocab_size_, ")"));
}

int32_t WordPieceTokenizer::token_to_id(std::string_view token) const {
    for (const Pattern& p : raw_added_) {
        if (p.utf8 == token) return p.id;
    }
    auto it = word_start_.find(token);
    return it == word_start_.end() ? -1 : it->second;
}

std::vector<int32_t> WordPieceTokenizer::tokenize(std::string_view text) const {
    return tokenize_prefix(text, SIZE_MAX);
}

std::vector<int32_t> WordPieceTokenizer::tokenize_prefix(std::string_view text,
                                                         size_t max_tokens) const {
    unicode::check_utf8(text, "tokenizer: text");
    std::vector<int32_t> ids;
    Scratch scratch;
    size_t pos = 0;
    while (pos < text.size() && !scratch.done) {
        auto [at, k] = find_raw_added(text, pos);
        const size_t end = at == std::string_view::npos ? text.size() : at;
        if (end > pos) tokenize_segment(text.substr(pos, end - pos), ids, scratch, max_tokens);
        // Stopped inside the segment: what follows would not be a prefix of the ids. (An added
        // token does not stop it, as in tokenizers' tokenize_with_limit.)
        if (at == std::string_view::npos || scratch.done) break;
        ids.push_back(raw_added_[k].id);
        pos = at + raw_added_[k].utf8.size();
    }
    return ids;
}

std::pair<size_t, size_t> WordPieceTokenizer::find_raw_added(std::string_view text,
                                                             size_t pos) const {
    constexpr size_t npos = std::string_view::npos;
    if (raw_added_.empty()) return {npos, npos};
    for (size_t i = pos; i < text.size(); ++i) {
        if (!raw_first_byte_[static_cast<unsigned char>(text[i])]) continue;
        for (size_t k = 0; k < raw_added_.size(); ++k) {  // longest first: leftmost-longest
            const std::string& p = raw_added_[k].utf8;
            if (text.compare(i, p.size(), p) == 0) return {i, k};
        }
    }
    return {npos, npos};
}

size_t WordPieceTokenizer::match_normalized_added(std::u32string_view cps, size_t pos) const {
    for (size_t k = 0; k < normalized_added_.size(); ++k) {
        const std::u32string& p = normalized_added_[k].cps;
        if (cps.compare(pos, p.size(), p) == 0) return k;
    }
    return std::string_view::npos;
}

// BertNormalizer: clean text, pad CJK ideographs with spaces, strip accents (NFD, drop Mn),
// lower-case; in that order (the tokenizers library's). Result in scratch.cps.
void WordPieceTokenizer::normalize(std::string_view segment, Scratch& s) const {
    std::u32string& cps = s.cps;
    cps.clear();
    bool ascii = true;
    size_t p = 0;
    while (p < segment.size()) {
        const char32_t cp = unicode::next_code_point(segment, p);
        const uint8_t pr = unicode::properties(cp);
        if (options_.clean_text) {
            if (cp == 0 || cp == 0xFFFD || (pr & unicode::kControl)) continue;
            if (pr & unicode::kWhitespace) {
                cps.push_back(U' ');
                continue;
            }
        }
        if (options_.tokenize_chinese_chars && (pr & unicode::kChinese)) {
            cps.push_back(U' ');
            cps.push_back(cp);
            cps.push_back(U' ');
            ascii = false;
            continue;
        }
        ascii &= cp < 0x80;
        cps.push_back(cp);
    }
    if (ascii) {
        if (lower_) {
            for (char32_t& c : cps) {
                if (c >= U'A' && c <= U'Z') c += 32;
            }
        }
        return;
    }
    if (strip_accents_) {
        s.tmp.clear();
        unicode::append_strip_accents(cps, s.tmp);
        cps.swap(s.tmp);
    }
    if (lower_) {
        s.tmp.clear();
        unicode::append_lower(cps, s.tmp);
        cps.swap(s.tmp);
    }
}

// Long segments are tokenized in chunks of about kChunkBytes cut before an ASCII space, tab or
// newline: those are whitespace to the pre-tokenizer (with or without clean_text) and starters
// for canonical reordering, so no word, normalisation or (when normalized_added_spans_space_ is
// false) added-token match spans a cut, and the ids are those of the whole segment. Chunks let
// tokenize_prefix stop after the first ones.
void WordPieceTokenizer::tokenize_segment(std::string_view segment, std::vector<int32_t>& ids,
                                          Scratch& s, size_t max_tokens) const {
    constexpr size_t kChunkBytes = 4096;
    auto is_cut = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    size_t pos = 0;
    while (pos < segment.size() && !s.done) {
        size_t end = segment.size();
        if (!normalized_added_spans_space_ && end - pos > kChunkBytes) {
            end = pos + kChunkBytes;
            while (end < segment.size() && !is_cut(segment[end])) ++end;
        }
        tokenize_chunk(segment.substr(pos, end - pos), ids, s, max_tokens);
        pos = end;
    }
}

// Normalise, split on whitespace and punctuation (BertPreTokenizer), WordPiece each word.
void WordPieceTokenizer::tokenize_chunk(std::string_view segment, std::vector<int32_t>& ids,
                                        Scratch& s, size_t max_tokens) const {
    normalize(segment, s);
    const std::u32string& cps = s.cps;
    std::string& word = s.word;
    word.clear();
    size_t num_chars = 0;
    auto flush = [&] {
        if (num_chars == 0) return;
        word_piece(word, num_chars, ids);
        word.clear();
        num_chars = 0;
        s.done = ids.size() >= max_tokens;
    };
    for (size_t i = 0; i < cps.size() && !s.done; ++i) {
        if (!normalized_added_.empty()) {
            size_t k = match_normalized_added(cps, i);
            if (k != std::string_view::npos) {
                flush();
                if (s.done) break;
                ids.push_back(normalized_added_[k].id);
                i += normalized_added_[k].cps.size() - 1;
                continue;
            }
        }
        const char32_t cp = cps[i];
        const uint8_t pr = unicode::properties(cp);
        if (pr & unicode::kWhitespace) {
            flush();
        } else if (pr & unicode::kPunctuation) {
            flush();
            if (s.done) break;
            append_cp(word, cp);
            num_chars = 1;
            flush();
        } else {
            append_cp(word, cp);
            ++num_chars;
        }
    }
    flush();
}

// Greedy longest-match-first WordPiece; the whole word becomes unk when too long or when a
// position has no match.
void WordPieceTokenizer::word_piece(std::string_view word, size_t num_chars,
                                    std::vector<int32_t>& ids) const {
    if (num_chars > size_t(options_.max_input_chars_per_word)) {
        ids.push_back(unk_id_);
        return;
    }
    auto is_continuation_byte = [&](size_t i) {
        return (static_cast<unsigned char>(word[i]) & 0xC0) == 0x80;
    };
    const size_t mark = ids.size();
    size_t start = 0;
    while (start < word.size()) {
        // The longest token that is a prefix of word[start..) and ends on a character boundary.
        const detail::ByteTrie& trie = start == 0 ? start_trie_ : continuation_trie_;
        int32_t found = -1;
        size_t found_end = start;
        uint32_t node = 0;
        for (size_t i = start; i < word.size(); ++i) {
            node = trie.child(node, static_cast<unsigned char>(word[i]));
            if (node == detail::ByteTrie::kNone) break;
            const int32_t id = trie.id(node);
            if (id >= 0 && (i + 1 == word.size() || !is_continuation_byte(i + 1))) {
                found = id;
                found_end = i + 1;
            }
        }
        if (found < 0) {
            ids.resize(mark);
            ids.push_back(unk_id_);
            return;
        }
        ids.push_back(found);
        start = found_end;
    }
}

namespace detail {

ByteTrie::ByteTrie() : ids_(1, -1), building_(1) {}

void ByteTrie::insert(std::string_view key, int32_t id) {
    uint32_t node = 0;
    for (char ch : key) {
        const auto b = static_cast<unsigned char>(ch);
        uint32_t next = kNone;
        for (const auto& [eb, c] : building_[node]) {
            if (eb == b) {
                next = c;
                break;
            }
        }
        if (next == kNone) {
            next = uint32_t(ids_.size());
            ids_.push_back(-1);
            building_.emplace_back();
            building_[node].emplace_back(b, next);
        }
        node = next;
    }
    ids_[node] = id;
}

void ByteTrie::finish() {
    first_.assign(ids_.size() + 1, 0);
    for (size_t n = 0; n < building_.size(); ++n) {
        auto& edges = building_[n];
        std::sort(edges.begin(), edges.end());
        first_[n] = uint32_t(edge_byte_.size());
        for (const auto& [b, c] : edges) {
            edge_byte_.push_back(b);
            edge_child_.push_back(c);
        }
    }
    first_[ids_.size()] = uint32_t(edge_byte_.size());
    building_.clear();
    building_.shrink_to_fit();
}

uint32_t ByteTrie::child(uint32_t node, unsigned char byte) const {
    const unsigned char* begin = edge_byte_.data() + first_[node];
    const unsigned char* end = edge_byte_.data() + first_[node + 1];
    const unsigned char* it = std::lower_bound(begin, end, byte);
    return it != end && *it == byte ? edge_child_[size_t(it - edge_byte_.data())] : kNone;
}

}  // namespace detail

}  // namespace fwsvd
