// The Precompiled normalizer: SentencePiece's precompiled_charsmap read directly.
//
// The blob is [u32 little-endian trie size in bytes][trie: u32 units of a darts-clone double
// array][replacement strings, each ended by '\0']. A trie value is the offset of a replacement.
// fwsvd reads it itself rather than through libsentencepiece because transformers runs the
// tokenizers library's variant, which differs from SentencePiece's own normaliser: it looks up
// whole extended grapheme clusters shorter than 6 bytes and takes the *first* (shortest) key
// that is a prefix of the cluster (SentencePiece takes the longest match over the byte stream),
// and it leaves whitespace alone (SentencePiece also collapses and escapes it).
#include <cstring>

#include "runtime/error.h"
#include "runtime/tokenizer_pipeline.h"
#include "runtime/unicode.h"

namespace fwsvd::pipeline {

namespace {

class Precompiled final : public Normalizer {
  public:
    Precompiled(std::string blob, const std::string& where) {
        FWSVD_CHECK(blob.size() >= 4, where, ": Precompiled charsmap of ", blob.size(),
                    " bytes is too short");
        uint32_t trie_bytes = 0;
        for (int k = 3; k >= 0; --k) trie_bytes = (trie_bytes << 8) | uint8_t(blob[size_t(k)]);
        FWSVD_CHECK(trie_bytes % 4 == 0 && trie_bytes >= 4 && trie_bytes <= blob.size() - 4, where,
                    ": Precompiled charsmap trie size ", trie_bytes, " does not fit its ",
                    blob.size(), " bytes");
        units_.resize(trie_bytes / 4);
        for (size_t i = 0; i < units_.size(); ++i) {
            const auto* p = reinterpret_cast<const unsigned char*>(blob.data()) + 4 + 4 * i;
            units_[i] =
                uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
        }
        normalized_ = blob.substr(4 + trie_bytes);
        FWSVD_CHECK(find_invalid_utf8(normalized_) == std::string::npos, where,
                    ": Precompiled charsmap replacements are not valid UTF-8");
    }

    // Chunks are cut before a space: the charsmap must leave the space alone.
    bool chunk_safe() const override {
        std::u32string out;
        return !replace(" ", out);
    }

    void normalize(std::u32string& s) const override {
        std::u32string out;
        out.reserve(s.size());
        std::string bytes;
        size_t i = 0;
        while (i < s.size()) {
            const size_t end = unicode::grapheme_end(s, i);
            bytes.clear();
            for (size_t k = i; k < end; ++k) unicode::append_utf8(bytes, s[k]);
            if (bytes.size() < 6 && replace(bytes, out)) {
                i = end;
                continue;
            }
            for (size_t k = i; k < end; ++k) {
                bytes.clear();
                unicode::append_utf8(bytes, s[k]);
                if (!replace(bytes, out)) out.push_back(s[k]);
            }
            i = end;
        }
        s.swap(out);
    }

  private:
    // Appends the replacement of the first key that is a prefix of key; false when none is.
    bool replace(const std::string& key, std::u32string& out) const {
        const int64_t value = first_prefix_value(key);
        if (value < 0 || size_t(value) >= normalized_.size()) return false;
        const char* begin = normalized_.data() + value;
        const size_t len = strnlen(begin, normalized_.size() - size_t(value));
        const std::string_view r(begin, len);
        size_t p = 0;
        // Cut at a character boundary: the replacement is valid UTF-8 as a whole, an offset
        // into the middle of a character would not be.
        while (p < r.size()) {
            const auto b = static_cast<unsigned char>(r[p]);
            const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            if ((b & 0xC0) == 0x80 || p + n > r.size()) return false;
            out.push_back(unicode::next_code_point(r, p));
        }
        return true;
    }

    // darts-clone unit layout: bit 8 has_leaf, bits 0-7 (with bit 31) the label, offset in
    // bits 10-31 shifted by 8 more when bit 9 is set; a leaf unit's value is bits 0-30.
    static uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
    static uint32_t label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
    static bool has_leaf(uint32_t u) { return (u >> 8) & 1; }

    int64_t first_prefix_value(const std::string& key) const {
        size_t pos = 0;
        pos ^= offset(units_[0]);
        for (unsigned char c : key) {
            if (c == 0) break;
            pos ^= c;
            if (pos >= units_.size()) return -1;
            const uint32_t u = units_[pos];
            if (label(u) != c) return -1;
            pos ^= offset(u);
            if (pos >= units_.size()) return -1;
            if (has_leaf(u)) return int64_t(units_[pos] & ((1u << 31) - 1));
        }
        return -1;
    }

    std::vector<uint32_t> units_;
    std::string normalized_;
};

}  // namespace

std::unique_ptr<Normalizer> make_precompiled(std::string charsmap, const std::string& where) {
    return std::make_unique<Precompiled>(std::move(charsmap), where);
}

}  // namespace fwsvd::pipeline
