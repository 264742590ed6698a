#!/usr/bin/python3
"""transformers' BertTokenizer (uncased WordPiece) in pure Python, for the peer benchmarks.

It exists so that PyTorch can be fed token ids without the transformers package. The ids are
written once to JSON Lines ({"input_ids": [...], "label": k}) that fwsvd and PyTorch both read,
so the two always see identical inputs whatever this tokenizer does; fisher_torch.py also checks
that fwsvd's own tokenizer gives the same ids (identical logits from the text and the ids files),
and `wordpiece.py --selftest` compares it with transformers' ids in ../shared/golden.

Rules (BasicTokenizer + WordpieceTokenizer): drop NUL, U+FFFD and control characters, map
whitespace to spaces, space out CJK ideographs, split on whitespace, lower-case and strip accents
(NFD, drop Mn), split on punctuation (ASCII 33-47, 58-64, 91-96, 123-126, Unicode P*), then
greedy longest-match-first WordPiece with "##" continuations; words over 100 characters or with
an unmatched piece become [UNK]. Not implemented: special tokens written literally in a text
("[CLS]", "[MASK]"), which transformers keeps whole (2 of the 1,774 golden cases; the selftest
lists them); SST-2 has none.
"""
import json
import os
import sys
import unicodedata


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8", newline=None) as f:
        for i, line in enumerate(f.read().splitlines()):
            vocab[line.rstrip("\n")] = i
    return vocab


def _is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def _is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    def __init__(self, vocab_file, lower=True):
        self.vocab = load_vocab(vocab_file)
        self.lower = lower
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    def basic(self, text):
        out = []
        for c in text:
            cp = ord(c)
            if cp == 0 or cp == 0xFFFD or _is_control(c):
                continue
            if _is_cjk(cp):
                out.append(" " + c + " ")
            elif _is_whitespace(c):
                out.append(" ")
            else:
                out.append(c)
        words = []
        for w in "".join(out).split():
            if self.lower:
                w = "".join(c for c in unicodedata.normalize("NFD", w.lower())
                            if unicodedata.category(c) != "Mn")
            cur = ""
            for c in w:
                if _is_punctuation(c):
                    if cur:
                        words.append(cur)
                    words.append(c)
                    cur = ""
                else:
                    cur += c
            if cur:
                words.append(cur)
        return words

    def wordpiece(self, word):
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def tokenize(self, text):
        return [i for w in self.basic(text) for i in self.wordpiece(w)]

    def encode(self, text, max_len=128):
        return [self.cls] + self.tokenize(text)[: max_len - 2] + [self.sep]


def selftest(shared):
    """Single-text cases of ../shared/golden/tokenizer_cases.json (transformers' ids)."""
    cases = json.load(open(os.path.join(shared, "golden", "tokenizer_cases.json")))
    vocabs = {"bert-mini-uncased": os.path.join(shared, "models", "bert-mini-uncased", "vocab.txt"),
              "bert-base-uncased": os.path.join(shared, "data", "vocab", "bert-base-uncased-vocab.txt")}
    bad = total = 0
    for name, path in vocabs.items():
        tok = WordPiece(path)
        for c in cases[name]["single"]:
            want = c["ids"]
            got = tok.encode(c["text"], max_len=len(want)) if len(want) >= 2 else None
            total += 1
            if got != want:
                bad += 1
                if bad <= 5:
                    print(f"{name}: {c['text'][:60]!r}: got {got[:12]}, want {want[:12]}")
    print(f"wordpiece selftest: {total - bad}/{total} single-text cases match transformers")
    return bad == 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--selftest":
        here = os.path.dirname(os.path.abspath(__file__))
        shared = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
            "FWSVD_SHARED_DIR", os.path.join(here, "..", "..", "..", "shared"))
        sys.exit(0 if selftest(shared) else 1)
    tok = WordPiece(sys.argv[1])
    for line in sys.stdin:
        print(json.dumps({"input_ids": tok.encode(line.rstrip("\n"))}))
