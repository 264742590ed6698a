#!/usr/bin/env python3
"""Generates runtime/unicode_tables.cc: the code-point tables behind runtime/unicode.h.

The tables come from the running Python's `unicodedata` (python3 of Debian 12: Unicode 14.0.0) and
describe what Hugging Face's tokenizers need: control characters, whitespace, punctuation,
CJK ideographs, non-spacing marks (Mn), canonical and compatibility decompositions (NFD, NFKD),
canonical compositions (NFC, NFKC), canonical combining classes, per-code-point lower-casing,
the general categories L, N, M, \\w (regex word characters) for the pre-tokenizers, and the
grapheme cluster break properties (UAX #29) that the Precompiled normalizer's segmentation needs.
Those two properties are not in unicodedata: they are read from Debian's unicode-data package
(/usr/share/unicode/auxiliary/GraphemeBreakProperty.txt, /usr/share/unicode/emoji/emoji-data.txt,
/usr/share/unicode/PropList.txt; `apt-get install unicode-data`).

Usage: python3 scripts/gen_unicode_tables.py [runtime/unicode_tables.cc]
"""
import re
import sys
import unicodedata

UCD_DIR = "/usr/share/unicode"

MAX_CP = 0x110000
BLOCK = 256

# Property bits; keep in sync with runtime/unicode.h.
CONTROL = 1          # general category C* except \t \n \r (HF _is_control)
PUNCTUATION = 2      # ASCII 33-47, 58-64, 91-96, 123-126 or category P* (HF _is_punctuation)
NONSPACING_MARK = 4  # category Mn (removed by accent stripping)
WHITESPACE = 8       # \t \n \r or the White_Space property (what tokenizers' BertNormalizer uses)
CHINESE = 16         # HF _is_chinese_char ranges
DECOMPOSES = 32      # NFD(c) != c (Hangul syllables included; they are decomposed algorithmically)
HAS_LOWER = 64       # c.lower() != c
COMBINING = 128      # canonical combining class != 0

# PropList.txt White_Space (stable since Unicode 6.3).
WHITE_SPACE = set([*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
                   0x2029, 0x202F, 0x205F, 0x3000])

CHINESE_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                  (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3

# Second property word (kProp2*); keep in sync with runtime/unicode.h.
GCB_VALUES = ["Other", "CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend",
              "SpacingMark", "L", "V", "T", "LV", "LVT"]  # 4 bits
EXT_PICT = 1 << 4       # Extended_Pictographic (emoji-data.txt)
LETTER = 1 << 5         # category L*  (regex \p{L})
NUMBER = 1 << 6         # category N*  (regex \p{N}, Rust char::is_numeric)
MARK = 1 << 7           # category M*  (tokenizers' StripAccents: is_combining_mark)
WORD = 1 << 8           # regex \w: Alphabetic, M*, Nd, Pc, Join_Control
COMPAT_DECOMPOSES = 1 << 9  # NFKD(c) != NFD(c)
COMPOSES = 1 << 10      # first or second code point of a canonical composition pair


def read_ucd_ranges(path, wanted=None):
    """{code point: value} from a UCD file of `range ; value # comment` lines."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, value = [x.strip() for x in line.split(";")[:2]]
            if wanted is not None and value not in wanted:
                continue
            lo, _, hi = rng.partition("..")
            for cp in range(int(lo, 16), int(hi or lo, 16) + 1):
                out[cp] = value
    return out


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def props(cp):
    c = chr(cp)
    cat = unicodedata.category(c)
    p = 0
    if cat.startswith("C") and cp not in (0x09, 0x0A, 0x0D):
        p |= CONTROL
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126) \
            or cat.startswith("P"):
        p |= PUNCTUATION
    if cat == "Mn":
        p |= NONSPACING_MARK
    if cp in WHITE_SPACE:
        p |= WHITESPACE
    if any(lo <= cp <= hi for lo, hi in CHINESE_RANGES):
        p |= CHINESE
    if is_surrogate(cp):
        return p
    if unicodedata.normalize("NFD", c) != c:
        p |= DECOMPOSES
    if c.lower() != c:
        p |= HAS_LOWER
    if unicodedata.combining(c) != 0:
        p |= COMBINING
    return p


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "runtime/unicode_tables.cc"
    for cp in WHITE_SPACE:
        assert unicodedata.category(chr(cp)) in ("Cc", "Zs", "Zl", "Zp"), hex(cp)
    for cp in range(MAX_CP):
        if unicodedata.category(chr(cp)) == "Zs":
            assert cp in WHITE_SPACE, hex(cp)

    all_props = [props(cp) for cp in range(MAX_CP)]

    def two_stage(values):
        blocks, stage1, index = [], [], {}
        for b in range(MAX_CP // BLOCK):
            blk = tuple(values[b * BLOCK:(b + 1) * BLOCK])
            if blk not in index:
                index[blk] = len(blocks)
                blocks.append(blk)
            stage1.append(index[blk])
        assert len(blocks) < 65536
        return blocks, stage1

    blocks, stage1 = two_stage(all_props)

    gcb = read_ucd_ranges(UCD_DIR + "/auxiliary/GraphemeBreakProperty.txt")
    ext_pict = read_ucd_ranges(UCD_DIR + "/emoji/emoji-data.txt", {"Extended_Pictographic"})
    other_alpha = read_ucd_ranges(UCD_DIR + "/PropList.txt", {"Other_Alphabetic", "Join_Control"})

    # Canonical compositions: primary composites (two-code-point canonical decompositions that
    # NFC recomposes), keyed by (first, second).
    compositions = []
    for cp in range(MAX_CP):
        if is_surrogate(cp) or (HANGUL_FIRST <= cp <= HANGUL_LAST):
            continue
        raw = unicodedata.decomposition(chr(cp))
        if not raw or raw.startswith("<"):
            continue
        parts = [int(x, 16) for x in raw.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(cp):
            compositions.append((parts[0], parts[1], cp))
    compositions.sort()
    composes = set(a for a, _, _ in compositions) | set(b for _, b, _ in compositions)

    def props2(cp):
        c = chr(cp)
        cat = unicodedata.category(c)
        p = GCB_VALUES.index(gcb.get(cp, "Other"))
        if cp in ext_pict:
            p |= EXT_PICT
        if cat.startswith("L"):
            p |= LETTER
        if cat.startswith("N"):
            p |= NUMBER
        if cat.startswith("M"):
            p |= MARK
        if (cat.startswith("L") or cat == "Nl" or cat.startswith("M") or cat in ("Nd", "Pc")
                or cp in other_alpha):
            p |= WORD
        if not is_surrogate(cp) and unicodedata.normalize("NFKD", c) != unicodedata.normalize("NFD", c):
            p |= COMPAT_DECOMPOSES
        if cp in composes:
            p |= COMPOSES
        return p

    blocks2, stage1_2 = two_stage([props2(cp) for cp in range(MAX_CP)])

    lower, decomp, decomp_data, ccc = [], [], [], []
    compat, compat_data = [], []
    for cp in range(MAX_CP):
        if is_surrogate(cp):
            continue
        c = chr(cp)
        lc = c.lower()
        if lc != c:
            if len(lc) == 1:
                lower.append((cp, ord(lc)))
            else:
                # U+0130 is the only code point that lower-cases to two (i + U+0307); unicode.cc
                # special-cases it.
                assert cp == 0x130 and lc == "i\u0307", hex(cp)
        d = unicodedata.normalize("NFD", c)
        if d != c and not (HANGUL_FIRST <= cp <= HANGUL_LAST):
            assert len(d) <= 4
            decomp.append((cp, len(decomp_data), len(d)))
            decomp_data.extend(ord(x) for x in d)
        if unicodedata.combining(c):
            ccc.append((cp, unicodedata.combining(c)))
        k = unicodedata.normalize("NFKD", c)
        if k != d:
            assert len(k) <= 18
            compat.append((cp, len(compat_data), len(k)))
            compat_data.extend(ord(x) for x in k)
    assert len(decomp_data) < 65536 and len(compat_data) < 65536

    def rows(items, per_line, fmt):
        lines = []
        for i in range(0, len(items), per_line):
            lines.append("    " + " ".join(fmt(x) for x in items[i:i + per_line]))
        return "\n".join(lines)

    w = []
    w.append("// Generated by scripts/gen_unicode_tables.py from Python %s's unicodedata (Unicode %s)."
             % (sys.version.split()[0], unicodedata.unidata_version))
    with open(UCD_DIR + "/auxiliary/GraphemeBreakProperty.txt", encoding="utf-8") as f:
        ucd_version = re.search(r"GraphemeBreakProperty-([0-9.]+)\.txt", f.read(200)).group(1)
    w.append("// Grapheme break, Extended_Pictographic and Other_Alphabetic from the UCD files of Unicode %s."
             % ucd_version)
    w.append("// Do not edit; rerun the script instead.")
    w.append('#include "runtime/unicode.h"')
    w.append("")
    w.append("namespace fwsvd::unicode::detail {")
    w.append("")
    w.append('extern const char kUnicodeVersion[] = "%s";' % unicodedata.unidata_version)
    w.append("")
    w.append("// Property byte of code point c: kPropStage2[kPropStage1[c >> 8] * 256 + (c & 255)].")
    w.append("extern const uint16_t kPropStage1[%d] = {" % len(stage1))
    w.append(rows(stage1, 16, lambda x: "%d," % x))
    w.append("};")
    w.append("extern const uint8_t kPropStage2[%d] = {" % (len(blocks) * BLOCK))
    flat = [v for blk in blocks for v in blk]
    w.append(rows(flat, 32, lambda x: "%d," % x))
    w.append("};")
    w.append("")
    w.append("extern const CodePointPair kLowerCase[%d] = {" % len(lower))
    w.append(rows(lower, 6, lambda x: "{0x%X, 0x%X}," % x))
    w.append("};")
    w.append("extern const size_t kLowerCaseSize = %d;" % len(lower))
    w.append("")
    w.append("extern const Decomposition kDecompositions[%d] = {" % len(decomp))
    w.append(rows(decomp, 5, lambda x: "{0x%X, %d, %d}," % x))
    w.append("};")
    w.append("extern const size_t kDecompositionsSize = %d;" % len(decomp))
    w.append("extern const char32_t kDecompositionData[%d] = {" % len(decomp_data))
    w.append(rows(decomp_data, 10, lambda x: "0x%X," % x))
    w.append("};")
    w.append("")
    w.append("extern const CodePointPair kCombiningClasses[%d] = {" % len(ccc))
    w.append(rows(ccc, 6, lambda x: "{0x%X, %d}," % x))
    w.append("};")
    w.append("extern const size_t kCombiningClassesSize = %d;" % len(ccc))
    w.append("")
    w.append("// Second property word: kProp2Stage2[kProp2Stage1[c >> 8] * 256 + (c & 255)].")
    w.append("extern const uint16_t kProp2Stage1[%d] = {" % len(stage1_2))
    w.append(rows(stage1_2, 16, lambda x: "%d," % x))
    w.append("};")
    w.append("extern const uint16_t kProp2Stage2[%d] = {" % (len(blocks2) * BLOCK))
    w.append(rows([v for blk in blocks2 for v in blk], 24, lambda x: "%d," % x))
    w.append("};")
    w.append("")
    w.append("// NFKD of the code points whose NFKD differs from their NFD (full, canonically ordered).")
    w.append("extern const Decomposition kCompatDecompositions[%d] = {" % len(compat))
    w.append(rows(compat, 5, lambda x: "{0x%X, %d, %d}," % x))
    w.append("};")
    w.append("extern const size_t kCompatDecompositionsSize = %d;" % len(compat))
    w.append("extern const char32_t kCompatDecompositionData[%d] = {" % len(compat_data))
    w.append(rows(compat_data, 10, lambda x: "0x%X," % x))
    w.append("};")
    w.append("")
    w.append("// Primary composites, sorted by (first, second).")
    w.append("extern const Composition kCompositions[%d] = {" % len(compositions))
    w.append(rows(compositions, 4, lambda x: "{0x%X, 0x%X, 0x%X}," % x))
    w.append("};")
    w.append("extern const size_t kCompositionsSize = %d;" % len(compositions))
    w.append("")
    w.append("}  // namespace fwsvd::unicode::detail")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(w) + "\n")
    print("%s: %d + %d property blocks, %d lower-case, %d decompositions, %d compatibility "
          "decompositions, %d compositions, %d combining classes"
          % (out_path, len(blocks), len(blocks2), len(lower), len(decomp), len(compat),
             len(compositions), len(ccc)))


if __name__ == "__main__":
    main()
