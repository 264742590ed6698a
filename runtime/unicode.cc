#include "runtime/unicode.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "runtime/error.h"

namespace fwsvd::unicode {

namespace {

// Length of the well-formed sequence at s[0..n) (Unicode 14, table 3-7), or 0 when ill-formed.
size_t sequence_length(const unsigned char* s, size_t n) {
    const unsigned char b0 = s[0];
    if (b0 < 0x80) return 1;
    auto cont = [&](size_t i, unsigned char lo, unsigned char hi) {
        return i < n && s[i] >= lo && s[i] <= hi;
    };
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
        if (b0 == 0xED) hi = 0x9F;  // no surrogates
        return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (b0 == 0xF0) lo = 0x90;  // no overlong forms
        if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
        return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
    }
    return 0;  // stray continuation byte, C0/C1 (overlong) or F5..FF
}

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

size_t find_invalid_utf8(std::string_view text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t pos = 0;
    while (pos < n) {
        // Fast path: 8 ASCII bytes at a time.
        if (pos + 8 <= n) {
            uint64_t word;
            std::memcpy(&word, s + pos, 8);
            if ((word & 0x8080808080808080ull) == 0) {
                pos += 8;
                continue;
            }
        }
        size_t len = sequence_length(s + pos, n - pos);
        if (len == 0) return pos;
        pos += len;
    }
    return std::string_view::npos;
}

void check_utf8(std::string_view text, std::string_view what) {
    size_t bad = find_invalid_utf8(text);
    if (bad == std::string_view::npos) return;
    std::ostringstream byte;
    byte << "0x" << std::hex << std::uppercase << std::setw(2) << std::setfill('0')
         << unsigned(static_cast<unsigned char>(text[bad]));
    throw Error(str_cat(what, ": invalid UTF-8 at byte offset ", bad, " (byte ", byte.str(), ")"));
}

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

void append_strip_accents(std::u32string_view inp, std::u32string& out) {
    const size_t from = out.size();
    append_nfd(inp, out);
    auto first = out.begin() + std::ptrdiff_t(from);
    out.erase(std::remove_if(first, out.end(), [](char32_t c) { return is_nonspacing_mark(c); }),
              out.end());
}

}  // namespace fwsvd::unicode
