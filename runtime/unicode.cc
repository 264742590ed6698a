#include "runtime/unicode.h"

#include <algorithm>

namespace fwsvd::unicode {

namespace {

template <typename T>
const T* find_entry(const T* table, size_t size, char32_t cp) {
    const T* end = table + size;
    const T* it = std::lower_bound(table, end, cp, [](const T& e, char32_t c) { return e.cp < c; });
    return it != end && it->cp == cp ? it : nullptr;
}

constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;
constexpr char32_t kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr char32_t kHangulVCount = 21, kHangulTCount = 28;

// Stable-sorts each run of non-starters of s[from..) by combining class (canonical ordering).
void reorder_marks(std::u32string& s, size_t from) {
    size_t i = from;
    while (i < s.size()) {
        if (!(properties(s[i]) & kCombining)) {
            ++i;
            continue;
        }
        size_t end = i;
        while (end < s.size() && (properties(s[end]) & kCombining)) ++end;
        if (end - i > 1) {
            // Runs are short: insertion sort, stable.
            for (size_t k = i + 1; k < end; ++k) {
                char32_t c = s[k];
                uint8_t cc = combining_class(c);
                size_t j = k;
                while (j > i && combining_class(s[j - 1]) > cc) {
                    s[j] = s[j - 1];
                    --j;
                }
                s[j] = c;
            }
        }
        i = end;
    }
}

}  // namespace

std::u32string decode_utf8(std::string_view text, std::string_view what) {
    check_utf8(text, what);
    std::u32string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) out.push_back(next_code_point(text, pos));
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(char(cp));
    } else if (cp < 0x800) {
        out.push_back(char(0xC0 | (cp >> 6)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(char(0xE0 | (cp >> 12)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(char(0xF0 | (cp >> 18)));
        out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
    }
}

std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t cp : text) append_utf8(out, cp);
    return out;
}

uint8_t combining_class(char32_t cp) {
    if (!(properties(cp) & kCombining)) return 0;
    const auto* e = find_entry(detail::kCombiningClasses, detail::kCombiningClassesSize, cp);
    return e ? uint8_t(e->value) : 0;
}

int to_lower(char32_t cp, char32_t* out) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (!(properties(cp) & kHasLower)) {
        out[0] = cp;
        return 1;
    }
    if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: the one two-code-point mapping
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    const auto* e = find_entry(detail::kLowerCase, detail::kLowerCaseSize, cp);
    out[0] = e ? e->value : cp;
    return 1;
}

void append_lower(std::u32string_view inp, std::u32string& out) {
    char32_t buf[2];
    for (char32_t cp : inp) {
        int n = to_lower(cp, buf);
        out.append(buf, size_t(n));
    }
}

int decompose(char32_t cp, char32_t* out) {
    if (!(properties(cp) & kDecomposes)) {
        out[0] = cp;
        return 1;
    }
    if (cp >= kHangulFirst && cp <= kHangulLast) {
        char32_t s = cp - kHangulFirst;
        out[0] = kHangulL + s / (kHangulVCount * kHangulTCount);
        out[1] = kHangulV + (s % (kHangulVCount * kHangulTCount)) / kHangulTCount;
        if (s % kHangulTCount == 0) return 2;
        out[2] = kHangulT + s % kHangulTCount;
        return 3;
    }
    const auto* e = find_entry(detail::kDecompositions, detail::kDecompositionsSize, cp);
    if (!e) {
        out[0] = cp;
        return 1;
    }
    std::copy_n(detail::kDecompositionData + e->offset, e->length, out);
    return e->length;
}

void append_nfd(std::u32string_view inp, std::u32string& out) {
    const size_t from = out.size();
    bool any_mark = false;
    char32_t buf[kMaxDecomposition];
    for (char32_t cp : inp) {
        int n = decompose(cp, buf);
        for (int k = 0; k < n; ++k) any_mark |= (properties(buf[k]) & kCombining) != 0;
        out.append(buf, size_t(n));
    }
    if (any_mark) reorder_marks(out, from);
}

namespace {

// Appends the full decomposition of cp (compatibility mappings too when compat) without ordering.
void append_decomposed(char32_t cp, bool compat, std::u32string& out, bool& any_mark) {
    if (compat && (properties2(cp) & kCompatDecomposes)) {
        const auto* e =
            find_entry(detail::kCompatDecompositions, detail::kCompatDecompositionsSize, cp);
        if (e) {
            for (uint16_t k = 0; k < e->length; ++k) {
                const char32_t c = detail::kCompatDecompositionData[e->offset + k];
                any_mark |= (properties(c) & kCombining) != 0;
                out.push_back(c);
            }
            return;
        }
    }
    char32_t buf[kMaxDecomposition];
    const int n = decompose(cp, buf);
    for (int k = 0; k < n; ++k) any_mark |= (properties(buf[k]) & kCombining) != 0;
    out.append(buf, size_t(n));
}

void append_decomposition(std::u32string_view inp, bool compat, std::u32string& out) {
    const size_t from = out.size();
    bool any_mark = false;
    for (char32_t cp : inp) append_decomposed(cp, compat, out, any_mark);
    if (any_mark) reorder_marks(out, from);
}

// Canonical composition of s[from..) in place (the algorithm of UAX #15).
void compose_in_place(std::u32string& s, size_t from) {
    if (s.size() <= from + 1) return;
    size_t starter = from;
    int last_class = combining_class(s[from]) ? 256 : 0;
    size_t out = from + 1;
    for (size_t i = from + 1; i < s.size(); ++i) {
        const char32_t ch = s[i];
        const int ch_class = combining_class(ch);
        const char32_t composite = compose(s[starter], ch);
        if (composite != 0 && (last_class < ch_class || last_class == 0)) {
            s[starter] = composite;
            continue;
        }
        if (ch_class == 0) starter = out;
        last_class = ch_class;
        s[out++] = ch;
    }
    s.resize(out);
}

}  // namespace

char32_t compose(char32_t first, char32_t second) {
    constexpr char32_t kLCount = 19, kNCount = kHangulVCount * kHangulTCount;
    if (first >= kHangulL && first < kHangulL + kLCount && second >= kHangulV &&
        second < kHangulV + kHangulVCount) {
        return kHangulFirst +
               ((first - kHangulL) * kHangulVCount + (second - kHangulV)) * kHangulTCount;
    }
    if (first >= kHangulFirst && first <= kHangulLast &&
        (first - kHangulFirst) % kHangulTCount == 0 && second > kHangulT &&
        second < kHangulT + kHangulTCount) {
        (void)kNCount;
        return first + (second - kHangulT);
    }
    if (!(properties2(first) & kComposes) || !(properties2(second) & kComposes)) return 0;
    const auto* end = detail::kCompositions + detail::kCompositionsSize;
    const auto* it =
        std::lower_bound(detail::kCompositions, end, std::make_pair(first, second),
                         [](const detail::Composition& e, std::pair<char32_t, char32_t> k) {
                             return std::make_pair(e.first, e.second) < k;
                         });
    return it != end && it->first == first && it->second == second ? it->composite : 0;
}

void append_nfkd(std::u32string_view inp, std::u32string& out) {
    append_decomposition(inp, true, out);
}

void append_nfc(std::u32string_view inp, std::u32string& out) {
    const size_t from = out.size();
    append_decomposition(inp, false, out);
    compose_in_place(out, from);
}

void append_nfkc(std::u32string_view inp, std::u32string& out) {
    const size_t from = out.size();
    append_decomposition(inp, true, out);
    compose_in_place(out, from);
}

size_t grapheme_end(std::u32string_view s, size_t start) {
    using GB = GraphemeBreak;
    size_t i = start;
    GB prev = grapheme_break(s[i]);
    // GB11: the cluster so far is ExtPict Extend* (then a ZWJ may join the next ExtPict).
    bool pict_run = (properties2(s[i]) & kExtendedPictographic) != 0;
    bool pict_zwj = false;
    size_t ri_count = prev == GB::kRegionalIndicator ? 1 : 0;
    for (++i; i < s.size(); ++i) {
        const GB cur = grapheme_break(s[i]);
        const bool pict = (properties2(s[i]) & kExtendedPictographic) != 0;
        bool join;
        if (prev == GB::kCR && cur == GB::kLF) {
            join = true;  // GB3
        } else if (prev == GB::kCR || prev == GB::kLF || prev == GB::kControl || cur == GB::kCR ||
                   cur == GB::kLF || cur == GB::kControl) {
            join = false;  // GB4, GB5
        } else if (prev == GB::kL &&
                   (cur == GB::kL || cur == GB::kV || cur == GB::kLV || cur == GB::kLVT)) {
            join = true;  // GB6
        } else if ((prev == GB::kLV || prev == GB::kV) && (cur == GB::kV || cur == GB::kT)) {
            join = true;  // GB7
        } else if ((prev == GB::kLVT || prev == GB::kT) && cur == GB::kT) {
            join = true;  // GB8
        } else if (cur == GB::kExtend || cur == GB::kZWJ || cur == GB::kSpacingMark ||
                   prev == GB::kPrepend) {
            join = true;  // GB9, GB9a, GB9b
        } else if (pict_zwj && pict) {
            join = true;  // GB11
        } else if (prev == GB::kRegionalIndicator && cur == GB::kRegionalIndicator) {
            join = ri_count % 2 == 1;  // GB12, GB13
        } else {
            join = false;  // GB999
        }
        if (!join) break;
        pict_zwj = pict_run && cur == GB::kZWJ;
        pict_run = (pict_run && cur == GB::kExtend) || pict;
        ri_count = cur == GB::kRegionalIndicator ? ri_count + 1 : 0;
        prev = cur;
    }
    return i;
}

void append_strip_accents(std::u32string_view inp, std::u32string& out) {
    const size_t from = out.size();
    append_nfd(inp, out);
    auto first = out.begin() + std::ptrdiff_t(from);
    out.erase(std::remove_if(first, out.end(), [](char32_t c) { return is_nonspacing_mark(c); }),
              out.end());
}

}  // namespace fwsvd::unicode
