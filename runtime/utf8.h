// Strict UTF-8 validation, shared by the data readers (runtime) and the tokenizers (which
// re-export it as fwsvd::unicode::find_invalid_utf8 / check_utf8).
#pragma once
#include <cstddef>
#include <string_view>

namespace fwsvd {

// Byte offset of the first ill-formed sequence of text (overlong forms, surrogates, code points
// above U+10FFFF, stray continuation bytes, truncated sequences), or npos when text is valid.
size_t find_invalid_utf8(std::string_view text);

// Throws Error("<what>: invalid UTF-8 at byte offset N (byte 0xXX)") unless text is valid UTF-8.
void check_utf8(std::string_view text, std::string_view what);

}  // namespace fwsvd
