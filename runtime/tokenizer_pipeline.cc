#include "runtime/tokenizer_pipeline.h"

#include <algorithm>
#include <array>

#include "runtime/error.h"
#include "runtime/unicode.h"

namespace fwsvd::pipeline {

namespace {

using unicode::properties;

bool is_space(char32_t c) {  // Rust char::is_whitespace, regex \s: White_Space
    return (properties(c) & unicode::kWhitespace) != 0;
}
bool is_punct(char32_t c) {  // ASCII punctuation or P* (tokenizers' is_bert_punc / is_punc)
    return (properties(c) & unicode::kPunctuation) != 0;
}

// ---- Normalizers ------------------------------------------------------------------------------

class BertNormalizer final : public Normalizer {
  public:
    explicit BertNormalizer(BertNormalizerOptions o) : o_(o) {}
    void normalize(std::u32string& s) const override {
        std::u32string out;
        out.reserve(s.size());
        for (char32_t c : s) {
            const uint8_t p = properties(c);
            if (o_.clean_text) {
                if (c == 0 || c == 0xFFFD || (p & unicode::kControl)) continue;
                if (p & unicode::kWhitespace) {
                    out.push_back(U' ');
                    continue;
                }
            }
            if (o_.handle_chinese_chars && (p & unicode::kChinese)) {
                out.push_back(U' ');
                out.push_back(c);
                out.push_back(U' ');
                continue;
            }
            out.push_back(c);
        }
        if (o_.strip_accents) {
            s.clear();
            unicode::append_strip_accents(out, s);
            out.swap(s);
        }
        if (o_.lowercase) {
            s.clear();
            unicode::append_lower(out, s);
        } else {
            s.swap(out);
        }
    }

  private:
    BertNormalizerOptions o_;
};

class Lowercase final : public Normalizer {
  public:
    void normalize(std::u32string& s) const override {
        std::u32string out;
        out.reserve(s.size());
        unicode::append_lower(s, out);
        s.swap(out);
    }
};

class UnicodeNormalizer final : public Normalizer {
  public:
    explicit UnicodeNormalizer(NormalForm f) : form_(f) {}
    void normalize(std::u32string& s) const override {
        std::u32string out;
        out.reserve(s.size());
        switch (form_) {
            case NormalForm::kNFD:
                unicode::append_nfd(s, out);
                break;
            case NormalForm::kNFKD:
                unicode::append_nfkd(s, out);
                break;
            case NormalForm::kNFC:
                unicode::append_nfc(s, out);
                break;
            case NormalForm::kNFKC:
                unicode::append_nfkc(s, out);
                break;
        }
        s.swap(out);
    }

  private:
    NormalForm form_;
};

class StripAccents final : public Normalizer {
  public:
    void normalize(std::u32string& s) const override {
        s.erase(std::remove_if(s.begin(), s.end(), [](char32_t c) { return unicode::is_mark(c); }),
                s.end());
    }
};

class Strip final : public Normalizer {
  public:
    Strip(bool left, bool right) : left_(left), right_(right) {}
    bool chunk_safe() const override { return false; }
    void normalize(std::u32string& s) const override {
        size_t b = 0, e = s.size();
        if (right_) {
            while (e > 0 && is_space(s[e - 1])) --e;
        }
        if (left_) {
            while (b < e && is_space(s[b])) ++b;
        }
        s = s.substr(b, e - b);
    }

  private:
    bool left_, right_;
};

class Prepend final : public Normalizer {
  public:
    explicit Prepend(std::u32string p) : prefix_(std::move(p)) {}
    bool chunk_safe() const override { return false; }
    void normalize(std::u32string& s) const override {
        if (!s.empty()) s.insert(0, prefix_);
    }

  private:
    std::u32string prefix_;
};

class Nmt final : public Normalizer {
  public:
    void normalize(std::u32string& s) const override {
        std::u32string out;
        out.reserve(s.size());
        for (char32_t c : s) {
            if ((c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || c == 0x7F ||
                c == 0x8F || c == 0x9F) {
                continue;
            }
            if (c == 0x9 || c == 0xA || c == 0xC || c == 0xD || c == 0x1680 ||
                (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
                c == 0xFEFF || c == 0xFFFD) {
                c = U' ';
            }
            out.push_back(c);
        }
        s.swap(out);
    }
};

class Replace final : public Normalizer {
  public:
    Replace(ReplacePattern p, std::u32string content)
        : p_(std::move(p)), content_(std::move(content)) {}
    // A run of spaces at the cut is one space with non-spaces around it, whole in the second
    // part; a literal holding a space could span the cut.
    bool chunk_safe() const override {
        return p_.min_repeat > 0 || p_.literal.find(U' ') == std::u32string::npos;
    }
    void normalize(std::u32string& s) const override {
        std::u32string out;
        out.reserve(s.size());
        size_t i = 0;
        while (i < s.size()) {
            size_t len = match(s, i);
            if (len == 0) {
                out.push_back(s[i++]);
                continue;
            }
            out += content_;
            i += len;
        }
        s.swap(out);
    }

  private:
    size_t match(const std::u32string& s, size_t i) const {
        if (p_.min_repeat == 0) {
            if (p_.literal.empty()) return 0;
            return s.compare(i, p_.literal.size(), p_.literal) == 0 ? p_.literal.size() : 0;
        }
        size_t j = i;
        while (j < s.size() && s[j] == p_.repeated) ++j;
        return j - i >= p_.min_repeat ? j - i : 0;
    }
    ReplacePattern p_;
    std::u32string content_;
};

class NormalizerSequence final : public Normalizer {
  public:
    explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> s) : s_(std::move(s)) {}
    bool chunk_safe() const override {
        return std::all_of(s_.begin(), s_.end(), [](const auto& n) { return n->chunk_safe(); });
    }
    void normalize(std::u32string& s) const override {
        for (const auto& n : s_) n->normalize(s);
    }

  private:
    std::vector<std::unique_ptr<Normalizer>> s_;
};

// ---- Splitting --------------------------------------------------------------------------------

struct Span {
    size_t start, end;
    bool match;
};

// Applies a split behaviour to spans covering a piece (tokenizers' NormalizedString::split) and
// appends the non-empty results to out.
void apply_split(const Piece& piece, const std::vector<Span>& spans, SplitBehavior behavior,
                 std::vector<Piece>& out) {
    struct Part {
        size_t start, end;
        bool removed;
    };
    std::vector<Part> parts;
    parts.reserve(spans.size());
    switch (behavior) {
        case SplitBehavior::kIsolated:
            for (const Span& s : spans) parts.push_back({s.start, s.end, false});
            break;
        case SplitBehavior::kRemoved:
            for (const Span& s : spans) parts.push_back({s.start, s.end, s.match});
            break;
        case SplitBehavior::kContiguous: {
            bool previous = false;
            for (const Span& s : spans) {
                if (s.match == previous && !parts.empty()) {
                    parts.back().end = s.end;
                } else {
                    parts.push_back({s.start, s.end, false});
                }
                previous = s.match;
            }
            break;
        }
        case SplitBehavior::kMergedWithPrevious: {
            bool previous = false;
            for (const Span& s : spans) {
                if (s.match && !previous && !parts.empty()) {
                    parts.back().end = s.end;
                } else {
                    parts.push_back({s.start, s.end, false});
                }
                previous = s.match;
            }
            break;
        }
        case SplitBehavior::kMergedWithNext: {
            bool previous = false;
            for (size_t k = spans.size(); k-- > 0;) {
                const Span& s = spans[k];
                if (s.match && !previous && !parts.empty()) {
                    parts.back().start = s.start;
                } else {
                    parts.push_back({s.start, s.end, false});
                }
                previous = s.match;
            }
            std::reverse(parts.begin(), parts.end());
            break;
        }
    }
    for (const Part& p : parts) {
        if (p.removed || p.end <= p.start) continue;
        out.push_back(
            Piece{piece.text.substr(p.start, p.end - p.start), piece.at_start && p.start == 0});
    }
}

// Spans of a per-character predicate: every matching character is a match of its own.
template <typename Pred>
std::vector<Span> char_spans(const std::u32string& s, Pred pred) {
    std::vector<Span> spans;
    size_t last = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (!pred(s[i])) continue;
        if (last < i) spans.push_back({last, i, false});
        spans.push_back({i, i + 1, true});
        last = i + 1;
    }
    if (last < s.size()) spans.push_back({last, s.size(), false});
    return spans;
}

// Spans of non-overlapping matches (given as [start, end) pairs in order).
std::vector<Span> match_spans(size_t size, const std::vector<std::pair<size_t, size_t>>& m,
                              bool invert) {
    std::vector<Span> spans;
    size_t prev = 0;
    for (const auto& [b, e] : m) {
        if (prev != b) spans.push_back({prev, b, invert});
        spans.push_back({b, e, !invert});
        prev = e;
    }
    if (prev != size) spans.push_back({prev, size, invert});
    return spans;
}

// Matches of the GPT-2 regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as a backtracking engine (Oniguruma) finds them: at each position the first alternative that
// matches, each quantifier greedy.
std::vector<std::pair<size_t, size_t>> gpt2_matches(const std::u32string& s) {
    auto letter = [](char32_t c) { return unicode::is_letter(c); };
    auto number = [](char32_t c) { return unicode::is_number(c); };
    auto other = [](char32_t c) {
        return !is_space(c) && !unicode::is_letter(c) && !unicode::is_number(c);
    };
    std::vector<std::pair<size_t, size_t>> m;
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        if (s[i] == U'\'' && i + 1 < n) {
            const char32_t c1 = s[i + 1];
            const char32_t c2 = i + 2 < n ? s[i + 2] : 0;
            if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') {
                end = i + 2;
            } else if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') ||
                       (c1 == U'l' && c2 == U'l')) {
                end = i + 3;
            }
        }
        if (end == i) {
            // ' ?X+' for the three classes, in order.
            for (int cls = 0; cls < 3 && end == i; ++cls) {
                auto in = [&](char32_t c) {
                    return cls == 0 ? letter(c) : cls == 1 ? number(c) : other(c);
                };
                size_t j = i;
                if (s[j] == U' ' && j + 1 < n && in(s[j + 1])) ++j;
                if (!in(s[j])) continue;
                while (j < n && in(s[j])) ++j;
                end = j;
            }
        }
        if (end == i && is_space(s[i])) {
            size_t k = i;
            while (k < n && is_space(s[k])) ++k;
            // \s+(?!\S): the whole run at the end of the text, else all but its last character
            // (when that leaves one); then \s+.
            if (k == n || k - i == 1) {
                end = k;
            } else {
                end = k - 1;
            }
        }
        if (end == i) end = i + 1;  // unreachable: every character is in one of the classes
        m.emplace_back(i, end);
        i = end;
    }
    return m;
}

// ---- Pre-tokenizers ---------------------------------------------------------------------------

class BertPreTokenizer final : public PreTokenizer {
  public:
    bool chunk_safe() const override { return true; }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> words, out;
        for (const Piece& p : pieces) {
            apply_split(p, char_spans(p.text, is_space), SplitBehavior::kRemoved, words);
        }
        for (const Piece& p : words) {
            apply_split(p, char_spans(p.text, is_punct), SplitBehavior::kIsolated, out);
        }
        pieces.swap(out);
    }
};

class WhitespacePreTokenizer final : public PreTokenizer {
  public:
    bool chunk_safe() const override { return true; }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        for (const Piece& p : pieces) {
            // \w+|[^\w\s]+ kept, the rest (whitespace) removed.
            std::vector<std::pair<size_t, size_t>> m;
            const std::u32string& s = p.text;
            size_t i = 0;
            while (i < s.size()) {
                auto word = [](char32_t c) { return unicode::is_word_char(c); };
                auto other = [](char32_t c) { return !unicode::is_word_char(c) && !is_space(c); };
                size_t j = i;
                if (word(s[i])) {
                    while (j < s.size() && word(s[j])) ++j;
                } else if (other(s[i])) {
                    while (j < s.size() && other(s[j])) ++j;
                } else {
                    ++i;
                    continue;
                }
                m.emplace_back(i, j);
                i = j;
            }
            apply_split(p, match_spans(s.size(), m, true), SplitBehavior::kRemoved, out);
        }
        pieces.swap(out);
    }
};

template <typename Pred>
class CharSplit final : public PreTokenizer {
  public:
    CharSplit(Pred pred, SplitBehavior b, bool safe) : pred_(pred), behavior_(b), safe_(safe) {}
    bool chunk_safe() const override { return safe_; }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        for (const Piece& p : pieces) apply_split(p, char_spans(p.text, pred_), behavior_, out);
        pieces.swap(out);
    }

  private:
    Pred pred_;
    SplitBehavior behavior_;
    bool safe_;
};

// A split on characters keeps a cut before a space when the space starts a piece anyway: it is
// removed or isolated as a delimiter, or it is no delimiter and nothing merges into it.
template <typename Pred>
std::unique_ptr<PreTokenizer> make_char_split(Pred pred, SplitBehavior b) {
    const bool space_is_delimiter = pred(U' ');
    const bool safe = space_is_delimiter
                          ? b == SplitBehavior::kRemoved || b == SplitBehavior::kIsolated
                          : b != SplitBehavior::kMergedWithNext;
    return std::make_unique<CharSplit<Pred>>(pred, b, safe);
}

class ByteLevel final : public PreTokenizer {
  public:
    ByteLevel(bool add_prefix_space, bool use_regex)
        : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
    // The GPT-2 regex starts a piece at a space before a non-space, whatever precedes it.
    bool chunk_safe() const override { return use_regex_; }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> split;
        for (Piece& p : pieces) {
            if (add_prefix_space_ && (p.text.empty() || p.text[0] != U' ')) {
                p.text.insert(p.text.begin(), U' ');
            }
            if (use_regex_) {
                apply_split(p, match_spans(p.text.size(), gpt2_matches(p.text), false),
                            SplitBehavior::kIsolated, split);
            } else if (!p.text.empty()) {
                split.push_back(std::move(p));
            }
        }
        const char32_t* alphabet = byte_level_alphabet();
        std::string utf8;
        for (Piece& p : split) {
            utf8.clear();
            for (char32_t c : p.text) unicode::append_utf8(utf8, c);
            p.text.clear();
            for (unsigned char b : utf8) p.text.push_back(alphabet[b]);
        }
        pieces.swap(split);
    }

  private:
    bool add_prefix_space_, use_regex_;
};

class Metaspace final : public PreTokenizer {
  public:
    Metaspace(char32_t replacement, PrependScheme scheme, bool split)
        : replacement_(replacement), scheme_(scheme), split_(split) {}
    bool chunk_safe() const override { return split_; }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        for (Piece& p : pieces) {
            for (char32_t& c : p.text) {
                if (c == U' ') c = replacement_;
            }
            const bool starts = !p.text.empty() && p.text[0] == replacement_;
            if (!starts && (scheme_ == PrependScheme::kAlways ||
                            (scheme_ == PrependScheme::kFirst && p.at_start))) {
                p.text.insert(p.text.begin(), replacement_);
            }
            if (split_) {
                const char32_t r = replacement_;
                apply_split(p, char_spans(p.text, [r](char32_t c) { return c == r; }),
                            SplitBehavior::kMergedWithNext, out);
            } else if (!p.text.empty()) {
                out.push_back(std::move(p));
            }
        }
        pieces.swap(out);
    }

  private:
    char32_t replacement_;
    PrependScheme scheme_;
    bool split_;
};

class SplitPreTokenizer final : public PreTokenizer {
  public:
    SplitPreTokenizer(std::u32string literal, bool gpt2, SplitBehavior b, bool invert)
        : literal_(std::move(literal)), gpt2_(gpt2), behavior_(b), invert_(invert) {}
    bool chunk_safe() const override {
        return gpt2_ && !invert_ &&
               (behavior_ == SplitBehavior::kIsolated || behavior_ == SplitBehavior::kRemoved);
    }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        std::vector<Piece> out;
        for (const Piece& p : pieces) {
            std::vector<std::pair<size_t, size_t>> m;
            if (gpt2_) {
                m = gpt2_matches(p.text);
            } else if (!literal_.empty()) {
                size_t at = 0;
                while ((at = p.text.find(literal_, at)) != std::u32string::npos) {
                    m.emplace_back(at, at + literal_.size());
                    at += literal_.size();
                }
            }
            apply_split(p, match_spans(p.text.size(), m, invert_), behavior_, out);
        }
        pieces.swap(out);
    }

  private:
    std::u32string literal_;
    bool gpt2_;
    SplitBehavior behavior_;
    bool invert_;
};

class PreTokenizerSequence final : public PreTokenizer {
  public:
    explicit PreTokenizerSequence(std::vector<std::unique_ptr<PreTokenizer>> s)
        : s_(std::move(s)) {}
    bool chunk_safe() const override {
        return std::all_of(s_.begin(), s_.end(), [](const auto& p) { return p->chunk_safe(); });
    }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        for (const auto& p : s_) p->pre_tokenize(pieces);
    }

  private:
    std::vector<std::unique_ptr<PreTokenizer>> s_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(BertNormalizerOptions o) {
    return std::make_unique<BertNormalizer>(o);
}
std::unique_ptr<Normalizer> make_lowercase() {
    return std::make_unique<Lowercase>();
}
std::unique_ptr<Normalizer> make_unicode_normalizer(NormalForm form) {
    return std::make_unique<UnicodeNormalizer>(form);
}
std::unique_ptr<Normalizer> make_strip_accents() {
    return std::make_unique<StripAccents>();
}
std::unique_ptr<Normalizer> make_strip(bool left, bool right) {
    return std::make_unique<Strip>(left, right);
}
std::unique_ptr<Normalizer> make_prepend(std::u32string prefix) {
    return std::make_unique<Prepend>(std::move(prefix));
}
std::unique_ptr<Normalizer> make_nmt() {
    return std::make_unique<Nmt>();
}
std::unique_ptr<Normalizer> make_replace(ReplacePattern pattern, std::u32string content) {
    return std::make_unique<Replace>(std::move(pattern), std::move(content));
}
std::unique_ptr<Normalizer> make_normalizer_sequence(std::vector<std::unique_ptr<Normalizer>> s) {
    return std::make_unique<NormalizerSequence>(std::move(s));
}

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() {
    return std::make_unique<BertPreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_whitespace() {
    return std::make_unique<WhitespacePreTokenizer>();
}
std::unique_ptr<PreTokenizer> make_whitespace_split() {
    return make_char_split(is_space, SplitBehavior::kRemoved);
}
std::unique_ptr<PreTokenizer> make_punctuation(SplitBehavior behavior) {
    return make_char_split(is_punct, behavior);
}
std::unique_ptr<PreTokenizer> make_digits(bool individual_digits) {
    return make_char_split(
        [](char32_t c) { return unicode::is_number(c); },
        individual_digits ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
}
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex) {
    return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> make_metaspace(char32_t replacement, PrependScheme scheme,
                                             bool split) {
    return std::make_unique<Metaspace>(replacement, scheme, split);
}
std::unique_ptr<PreTokenizer> make_split(std::u32string literal, bool gpt2_regex,
                                         SplitBehavior behavior, bool invert) {
    return std::make_unique<SplitPreTokenizer>(std::move(literal), gpt2_regex, behavior, invert);
}
std::unique_ptr<PreTokenizer> make_pre_tokenizer_sequence(
    std::vector<std::unique_ptr<PreTokenizer>> s) {
    return std::make_unique<PreTokenizerSequence>(std::move(s));
}

const char32_t* byte_level_alphabet() {
    static const auto table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable =
                (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[size_t(b)] = printable ? char32_t(b) : next++;
        }
        return t;
    }();
    return table.data();
}

}  // namespace fwsvd::pipeline

// ---- PipelineTokenizer
// ----------------------------------------------------------------------------

namespace fwsvd {

using namespace pipeline;

PipelineTokenizer::PipelineTokenizer(PipelineParts parts, SpecialIds ids, PostTemplate templ)
    : parts_(std::move(parts)) {
    FWSVD_CHECK(parts_.model != nullptr, parts_.source, ": no model");
    set_special_ids(ids);
    template_ = std::move(templ);
    vocab_size_ = parts_.model->vocab_size();
    for (const AddedTokenSpec& a : parts_.added_tokens) {
        if (a.content.empty()) continue;
        unicode::check_utf8(a.content, parts_.source + ": added token");
        added_by_id_[a.id] = a.content;
        added_by_content_[a.content] = a.id;
        vocab_size_ = std::max(vocab_size_, int64_t(a.id) + 1);
        std::u32string text = unicode::decode_utf8(a.content);
        if (a.normalized && parts_.normalizer) parts_.normalizer->normalize(text);
        if (text.empty()) continue;
        (a.normalized ? normalized_patterns_ : raw_patterns_).push_back(Pattern{text, &a});
    }
    for (const auto* items : {&template_.single, &template_.pair}) {
        for (const TemplateItem& item : *items) {
            for (int32_t id : item.ids) {
                FWSVD_CHECK(id >= 0 && id < vocab_size_, parts_.source, ": special token id ", id,
                            " of the post-processor is outside the vocabulary (size ", vocab_size_,
                            ")");
            }
        }
    }
    chunkable_ =
        (!parts_.normalizer || parts_.normalizer->chunk_safe()) && parts_.pre_tokenizer &&
        parts_.pre_tokenizer->chunk_safe() &&
        std::none_of(normalized_patterns_.begin(), normalized_patterns_.end(),
                     [](const Pattern& p) { return p.text.find(U' ') != std::u32string::npos; });
    // Longest first, so that the first pattern matching at a position is the longest.
    for (auto* v : {&raw_patterns_, &normalized_patterns_}) {
        std::stable_sort(v->begin(), v->end(), [](const Pattern& x, const Pattern& y) {
            return x.text.size() > y.text.size();
        });
    }
    for (const Pattern& p : raw_patterns_) raw_first_.push_back(p.text[0]);
    for (const Pattern& p : normalized_patterns_) normalized_first_.push_back(p.text[0]);
    for (auto* v : {&raw_first_, &normalized_first_}) std::sort(v->begin(), v->end());
}

PipelineTokenizer::~PipelineTokenizer() = default;

int64_t PipelineTokenizer::vocab_size() const {
    return vocab_size_;
}

std::string PipelineTokenizer::id_to_token(int32_t id) const {
    if (auto it = added_by_id_.find(id); it != added_by_id_.end()) return it->second;
    if (const std::string* t = parts_.model->id_to_token(id)) return *t;
    throw Error(
        str_cat(parts_.source, ": id ", id, " is outside the vocabulary (size ", vocab_size_, ")"));
}

int32_t PipelineTokenizer::token_to_id(std::string_view token) const {
    if (auto it = added_by_content_.find(std::string(token)); it != added_by_content_.end()) {
        return it->second;
    }
    return parts_.model->token_to_id(token);
}

// The next added-token match at or after s[i], leftmost-longest as tokenizers' AddedVocabulary
// (find_matches): a single_word token between word characters is skipped, lstrip / rstrip take
// the whitespace around the token (lstrip not before `covered`, the previous match's end).
// Returns false when there is none; i is left after the match (the search goes on after the
// token itself, whatever it strips).
bool PipelineTokenizer::next_added(std::u32string_view s, size_t& i,
                                   const std::vector<Pattern>& patterns,
                                   const std::vector<char32_t>& first_chars, size_t covered,
                                   Match& out) const {
    auto word = [](char32_t c) { return unicode::is_word_char(c); };
    for (; i < s.size(); ++i) {
        if (!std::binary_search(first_chars.begin(), first_chars.end(), s[i])) continue;
        const Pattern* found = nullptr;
        for (const Pattern& p : patterns) {
            if (s.compare(i, p.text.size(), p.text) == 0) {
                found = &p;
                break;
            }
        }
        if (!found) continue;
        const AddedTokenSpec& a = *found->spec;
        size_t start = i, stop = i + found->text.size();
        i = stop;
        if (a.single_word) {
            const bool left_ok = start == 0 || !word(s[start - 1]);
            const bool right_ok = stop == s.size() || !word(s[stop]);
            if (!left_ok || !right_ok) {
                --i;  // the loop's ++i brings it back to stop
                continue;
            }
        }
        if (a.lstrip) {
            size_t b = start;
            while (b > 0 && is_space(s[b - 1])) --b;
            start = std::max(b, covered);
        }
        if (a.rstrip) {
            while (stop < s.size() && is_space(s[stop])) ++stop;
        }
        out = Match{start, stop, a.id};
        return true;
    }
    return false;
}

std::vector<int32_t> PipelineTokenizer::tokenize(std::string_view text) const {
    return tokenize_prefix(text, SIZE_MAX);
}

std::vector<int32_t> PipelineTokenizer::tokenize_prefix(std::string_view text,
                                                        size_t max_tokens) const {
    return run(text, max_tokens, chunkable_);
}

std::vector<int32_t> PipelineTokenizer::tokenize_unchunked(std::string_view text) const {
    return run(text, SIZE_MAX, false);
}

std::vector<int32_t> PipelineTokenizer::run(std::string_view text, size_t max_tokens,
                                            bool chunked) const {
    const std::u32string s = unicode::decode_utf8(text, "tokenizer: text");
    std::vector<int32_t> ids;
    bool done = false;
    auto segment = [&](size_t from, size_t to) {
        if (!chunked) {
            tokenize_chunk(s.substr(from, to - from), from == 0, ids, max_tokens, done);
            return;
        }
        // Chunks of about kChunk code points, cut before a space between non-whitespace
        // characters (a space that does not join a Prepend character's grapheme cluster).
        constexpr size_t kChunk = 4096;
        size_t pos = from;
        while (pos < to && !done) {
            size_t end = to;
            if (to - pos > kChunk) {
                end = pos + kChunk;
                while (end + 1 < to &&
                       !(s[end] == U' ' && !is_space(s[end - 1]) && !is_space(s[end + 1]) &&
                         unicode::grapheme_break(s[end - 1]) != unicode::GraphemeBreak::kPrepend)) {
                    ++end;
                }
                if (end + 1 >= to) end = to;
            }
            tokenize_chunk(s.substr(pos, end - pos), pos == 0, ids, max_tokens, done);
            pos = end;
        }
    };
    size_t pos = 0, search = 0;
    Match m{};
    while (!raw_patterns_.empty() && next_added(s, search, raw_patterns_, raw_first_, pos, m)) {
        if (m.start > pos) segment(pos, m.start);
        if (done) return ids;
        ids.push_back(m.id);  // an added token does not end the prefix (tokenize_with_limit)
        pos = m.end;
    }
    if (pos < s.size()) segment(pos, s.size());
    return ids;
}

// One segment between raw added tokens (or a chunk of it): normalise, split off the normalised
// added tokens, pre-tokenize, run the model on each piece until one brings the ids to
// max_tokens.
void PipelineTokenizer::tokenize_chunk(std::u32string segment, bool at_start,
                                       std::vector<int32_t>& ids, size_t max_tokens,
                                       bool& done) const {
    if (parts_.normalizer) parts_.normalizer->normalize(segment);
    std::vector<std::pair<std::vector<Piece>, int32_t>> parts;  // pieces, then an added id or -1
    size_t pos = 0, search = 0;
    Match m{};
    while (!normalized_patterns_.empty() &&
           next_added(segment, search, normalized_patterns_, normalized_first_, pos, m)) {
        std::vector<Piece> pieces;
        if (m.start > pos) {
            pieces.push_back(Piece{segment.substr(pos, m.start - pos), at_start && pos == 0});
        }
        parts.emplace_back(std::move(pieces), m.id);
        pos = m.end;
    }
    {
        std::vector<Piece> pieces;
        if (pos < segment.size()) {
            pieces.push_back(Piece{segment.substr(pos), at_start && pos == 0});
        }
        parts.emplace_back(std::move(pieces), -1);
    }
    std::string utf8;
    for (auto& [pieces, added_id] : parts) {
        if (parts_.pre_tokenizer && !pieces.empty()) parts_.pre_tokenizer->pre_tokenize(pieces);
        for (const Piece& p : pieces) {
            utf8.clear();
            for (char32_t c : p.text) unicode::append_utf8(utf8, c);
            parts_.model->tokenize(utf8, ids);
            if (ids.size() >= max_tokens) {
                done = true;
                return;
            }
        }
        if (added_id >= 0) ids.push_back(added_id);
    }
}

}  // namespace fwsvd
