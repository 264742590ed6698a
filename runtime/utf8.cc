#include "runtime/utf8.h"

#include <cstdint>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "runtime/error.h"

namespace fwsvd {
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

}  // namespace fwsvd
