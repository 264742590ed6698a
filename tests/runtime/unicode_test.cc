// UTF-8 validation and the code-point classes of runtime/unicode.h.
#include "runtime/unicode.h"

#include <gtest/gtest.h>

#include "runtime/error.h"

namespace fwsvd::unicode {
namespace {

TEST(Unicode, ValidUtf8RoundTrips) {
    const std::u32string cps = {U'a',   0x7F,   0x80,   0x7FF,   0x800,   0xD7FF,
                                0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF};
    const std::string bytes = encode_utf8(cps);
    EXPECT_EQ(find_invalid_utf8(bytes), std::string::npos);
    EXPECT_EQ(decode_utf8(bytes), cps);
    EXPECT_EQ(encode_utf8(decode_utf8("héllo 😀")), "héllo 😀");
    EXPECT_EQ(find_invalid_utf8(""), std::string::npos);
    EXPECT_EQ(find_invalid_utf8("plain ascii text that is longer than eight bytes"),
              std::string::npos);
}

TEST(Unicode, InvalidUtf8IsRejectedWithItsOffset) {
    struct Case {
        std::string bytes;
        size_t offset;
    };
    const Case cases[] = {
        {"\x80", 0},              // stray continuation byte
        {"abc\xC3", 3},           // truncated 2-byte sequence
        {"abcdefghij\xC3(", 10},  // bad continuation after the 8-byte fast path
        {"\xC0\xAF", 0},          // overlong '/'
        {"\xC1\xBF", 0},          // overlong
        {"\xE0\x80\xAF", 0},      // overlong 3-byte
        {"\xF0\x80\x80\xAF", 0},  // overlong 4-byte
        {"x\xED\xA0\x80", 1},     // surrogate U+D800
        {"x\xED\xBF\xBF", 1},     // surrogate U+DFFF
        {"\xF4\x90\x80\x80", 0},  // U+110000
        {"\xF5\x80\x80\x80", 0},  // lead byte F5
        {"\xFF", 0},
        {"ok\xE2\x82", 2},      // truncated 3-byte
        {"ok\xF0\x9F\x98", 2},  // truncated 4-byte
    };
    for (const Case& c : cases) {
        EXPECT_EQ(find_invalid_utf8(c.bytes), c.offset) << testing::PrintToString(c.bytes);
        try {
            check_utf8(c.bytes, "sample");
            ADD_FAILURE() << "no error for " << testing::PrintToString(c.bytes);
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find("sample: invalid UTF-8 at byte offset " + std::to_string(c.offset)),
                      std::string::npos)
                << msg;
        }
    }
}

TEST(Unicode, Classes) {
    // Punctuation: the four ASCII ranges (symbols such as $ + < = > ^ ` | ~ included) and P*.
    for (char32_t c = 0; c < 128; ++c) {
        const bool ascii_punct = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) ||
                                 (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        EXPECT_EQ(is_punctuation(c), ascii_punct) << uint32_t(c);
    }
    EXPECT_TRUE(is_punctuation(0xBF));     // ¿ Po
    EXPECT_TRUE(is_punctuation(0x2014));   // — Pd
    EXPECT_TRUE(is_punctuation(0x201C));   // “ Pi
    EXPECT_TRUE(is_punctuation(0x3002));   // 。 Po
    EXPECT_FALSE(is_punctuation(0x20AC));  // € Sc
    EXPECT_FALSE(is_punctuation(0xA9));    // © So
    // Whitespace: \t \n \r, space and the other White_Space code points.
    for (char32_t c : {U'\t', U'\n', U'\r', U' ', char32_t(0xA0), char32_t(0x2009),
                       char32_t(0x2028), char32_t(0x3000)}) {
        EXPECT_TRUE(is_whitespace(c)) << uint32_t(c);
    }
    EXPECT_FALSE(is_whitespace(U'a'));
    EXPECT_FALSE(is_whitespace(0x200B));  // zero-width space is Cf, a control
    // Controls: C* except \t \n \r.
    EXPECT_FALSE(is_control(U'\t'));
    EXPECT_FALSE(is_control(U'\n'));
    EXPECT_FALSE(is_control(U'\r'));
    for (char32_t c : {char32_t(0), char32_t(0x1F), char32_t(0x7F), char32_t(0x85),
                       char32_t(0x200B), char32_t(0xFEFF), char32_t(0xE000), char32_t(0x0378)}) {
        EXPECT_TRUE(is_control(c)) << uint32_t(c);  // Cc, Cf, Co, Cn
    }
    EXPECT_FALSE(is_control(U'a'));
    // CJK ideographs (not kana or hangul).
    EXPECT_TRUE(is_chinese_char(0x4E2D));
    EXPECT_TRUE(is_chinese_char(0x3400));
    EXPECT_TRUE(is_chinese_char(0x20000));
    EXPECT_TRUE(is_chinese_char(0xF900));
    EXPECT_FALSE(is_chinese_char(0x3042));
    EXPECT_FALSE(is_chinese_char(0xAC00));
    EXPECT_TRUE(is_nonspacing_mark(0x301));
    EXPECT_FALSE(is_nonspacing_mark(U'e'));
    EXPECT_EQ(properties(0x110000), 0);
    EXPECT_STREQ(unicode_version(), "14.0.0");
}

TEST(Unicode, LowerCase) {
    char32_t out[2];
    ASSERT_EQ(to_lower(U'A', out), 1);
    EXPECT_EQ(out[0], U'a');
    ASSERT_EQ(to_lower(U'1', out), 1);
    EXPECT_EQ(out[0], U'1');
    ASSERT_EQ(to_lower(0xC4, out), 1);  // Ä
    EXPECT_EQ(out[0], char32_t(0xE4));
    ASSERT_EQ(to_lower(0x3A3, out), 1);  // Σ -> σ (per code point: no final-sigma rule)
    EXPECT_EQ(out[0], char32_t(0x3C3));
    ASSERT_EQ(to_lower(0x420, out), 1);  // Р -> р
    EXPECT_EQ(out[0], char32_t(0x440));
    ASSERT_EQ(to_lower(0x130, out), 2);  // İ -> i + combining dot above
    EXPECT_EQ(out[0], U'i');
    EXPECT_EQ(out[1], char32_t(0x307));
    ASSERT_EQ(to_lower(0x212A, out), 1);  // KELVIN SIGN -> k
    EXPECT_EQ(out[0], U'k');
}

TEST(Unicode, NfdAndAccentStripping) {
    auto nfd = [](std::u32string_view s) {
        std::u32string out;
        append_nfd(s, out);
        return out;
    };
    auto strip = [](std::u32string_view s) {
        std::u32string out;
        append_strip_accents(s, out);
        return out;
    };
    EXPECT_EQ(nfd(U"é"), U"e\u0301");
    EXPECT_EQ(nfd(U"\u1E69"), U"s\u0323\u0307");         // ṩ: recursive decomposition, ordered
    EXPECT_EQ(nfd(U"a\u0301\u0323"), U"a\u0323\u0301");  // canonical reordering (230 > 220)
    EXPECT_EQ(nfd(U"한"), U"\u1112\u1161\u11AB");        // Hangul LVT
    EXPECT_EQ(nfd(U"가"), U"\u1100\u1161");              // Hangul LV
    EXPECT_EQ(strip(U"HéLLo wörld naïve café ÅÄÖ"), U"HeLLo world naive cafe AAO");
    EXPECT_EQ(strip(U"Ελληνικά"), U"Ελληνικα");
    EXPECT_EQ(strip(U"Русский"), U"Русскии");  // й = и + U+0306
    EXPECT_EQ(combining_class(0x301), 230);
    EXPECT_EQ(combining_class(0x323), 220);
    EXPECT_EQ(combining_class(U'a'), 0);
    char32_t out[kMaxDecomposition];
    EXPECT_EQ(decompose(U'x', out), 1);
}

// NFKD / NFC / NFKC (a sample of Unicode's NormalizationTest.txt; the whole file passes except
// for the characters added after Python's Unicode 14 tables).
TEST(Unicode, CompatibilityAndComposedForms) {
    auto nfc = [](std::u32string_view s) {
        std::u32string out;
        append_nfc(s, out);
        return out;
    };
    auto nfkc = [](std::u32string_view s) {
        std::u32string out;
        append_nfkc(s, out);
        return out;
    };
    auto nfkd = [](std::u32string_view s) {
        std::u32string out;
        append_nfkd(s, out);
        return out;
    };
    EXPECT_EQ(nfc(U"e\u0301"), U"\u00E9");
    EXPECT_EQ(nfc(U"\u1100\u1161\u11A8"), U"\uAC01");  // Hangul L V T
    EXPECT_EQ(nfc(U"a\u0323\u0302"), U"\u1EAD");       // reordered, then composed
    EXPECT_EQ(nfc(U"\u212B"), U"\u00C5");              // singleton ANGSTROM SIGN
    EXPECT_EQ(nfc(U"\u0344"), U"\u0308\u0301");        // composition exclusion
    EXPECT_EQ(nfkd(U"\uFB01\u2460\uFF21"), U"fi1A");
    EXPECT_EQ(nfkd(U"\u1E9B\u0323"), U"s\u0323\u0307");
    EXPECT_EQ(nfkc(U"\u1E9B\u0323"), U"\u1E69");
    EXPECT_EQ(nfkc(U"\u3300"), U"\u30A2\u30D1\u30FC\u30C8");  // SQUARE APAATO
    EXPECT_EQ(nfkc(U"\uFDFA").size(), 18u);                   // the longest expansion
    EXPECT_EQ(compose(U'e', U'\u0301'), U'\u00E9');
    EXPECT_EQ(compose(U'e', U'x'), 0u);
}

TEST(Unicode, GeneralCategories) {
    EXPECT_TRUE(is_letter(U'a') && is_letter(U'\u00E9') && is_letter(U'\u4E2D'));
    EXPECT_FALSE(is_letter(U'1') || is_letter(U'_') || is_letter(U'\u0301'));
    EXPECT_TRUE(is_number(U'7') && is_number(U'\u2460') && is_number(U'\u0663'));
    EXPECT_TRUE(is_mark(U'\u0301') && is_mark(U'\u0903') && is_mark(U'\u20DD'));  // Mn Mc Me
    EXPECT_FALSE(is_mark(U'a'));
    EXPECT_TRUE(is_word_char(U'_') && is_word_char(U'\u0301') && is_word_char(U'\u200D'));
    EXPECT_FALSE(is_word_char(U'-') || is_word_char(U' '));
}

// Extended grapheme clusters (a sample of GraphemeBreakTest.txt, which passes whole).
TEST(Unicode, GraphemeClusters) {
    auto clusters = [](std::u32string_view s) {
        std::vector<size_t> ends;
        for (size_t i = 0; i < s.size();) ends.push_back(i = grapheme_end(s, i));
        return ends;
    };
    using V = std::vector<size_t>;
    EXPECT_EQ(clusters(U"ab"), (V{1, 2}));
    EXPECT_EQ(clusters(U"\r\nx"), (V{2, 3}));                           // GB3
    EXPECT_EQ(clusters(U"\n\u0301"), (V{1, 2}));                        // GB4
    EXPECT_EQ(clusters(U"e\u0301\u0302x"), (V{3, 4}));                  // GB9
    EXPECT_EQ(clusters(U"\u1100\u1161\u11A8"), (V{3}));                 // GB6, GB7
    EXPECT_EQ(clusters(U"\U0001F1EB\U0001F1F7\U0001F1EB"), (V{2, 3}));  // GB12
    // 👨‍👩‍👧 is one cluster (GB11), 👍🏽 too (the modifier is Extend).
    EXPECT_EQ(clusters(U"\U0001F468\u200D\U0001F469\u200D\U0001F467!"), (V{5, 6}));
    EXPECT_EQ(clusters(U"\U0001F44D\U0001F3FD"), (V{2}));
    EXPECT_EQ(clusters(U"a\u200D\U0001F469"), (V{2, 3}));  // no GB11 after a letter
    EXPECT_EQ(clusters(U"\u0915\u093F"), (V{2}));          // GB9a SpacingMark
}

}  // namespace
}  // namespace fwsvd::unicode
