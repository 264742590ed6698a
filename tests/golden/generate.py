#!/usr/bin/env python3
"""Float64 reference goldens for fwsvd's model families, produced with transformers.

For each family (BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ALBERT, ELECTRA) this writes one folder
that a user could have exported with `save_pretrained`: a tiny tokenizer trained on GLUE sentences
(sentencepiece for XLM-R and ALBERT, tokenizers' BPE trainer for RoBERTa, WordPiece over tokenizers'
BERT normalizer and pre-tokenizer) and wrapped in the family's transformers tokenizer class, a
small random float64 model of the family's sequence-classification class, and
  expected.safetensors   inputs, position ids, hidden states, logits, loss, every gradient of the
                         mean loss and the per-example (empirical) Fisher
  tokenizer_cases.json   the tokenizer's ids for GLUE texts, pairs and hard cases
Only this script needs transformers, torch, tokenizers and sentencepiece; fwsvd never does.

Two steps (the first needs only the Python standard library):
  python3 tests/golden/generate.py --make-corpus ../shared/data/glue --corpus /tmp/corpus.txt
  python3 tests/golden/generate.py --out tests/golden --corpus /tmp/corpus.txt
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata
from pathlib import Path

SEED = 20251203

# Model shape shared by every family (hidden 32, 4 heads, FFN 64, 2 layers).
HIDDEN = 32
LAYERS = 2
HEADS = 4
FFN = 64
MAX_POS = 64  # positions a sequence may use; RoBERTa-style models add padding_idx + 1
EMBED = 16  # ALBERT's and ELECTRA's factorized embedding width (!= HIDDEN)
INIT_RANGE = 0.3  # large on purpose, so that small errors show in the outputs
PERTURB = 0.05  # std of the noise added to biases and LayerNorm weights (HF inits them to 0 / 1)
BATCH_MAX_LEN = 20  # truncation of the golden batch's examples

WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

# name -> what to build. `seed` is fixed per family, so that a subset (--families) gives the same
# folders as a full run.
FAMILIES = {
    "bert": dict(
        seed=1, model_class="BertForSequenceClassification", config_class="BertConfig",
        tokenizer_class="BertTokenizer", tokenizer="wordpiece", vocab_size=360, num_labels=1,
        legacy_files=["vocab.txt"], tokenizer_kwargs=dict(do_lower_case=True),
        config=dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                    intermediate_size=FFN, hidden_act="gelu", hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0, classifier_dropout=None,
                    max_position_embeddings=MAX_POS, type_vocab_size=2, pad_token_id=0)),
    "distilbert": dict(
        seed=2, model_class="DistilBertForSequenceClassification", config_class="DistilBertConfig",
        tokenizer_class="DistilBertTokenizer", tokenizer="wordpiece", vocab_size=330, num_labels=3,
        legacy_files=["vocab.txt"], tokenizer_kwargs=dict(do_lower_case=True),
        config=dict(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN, activation="gelu",
                    dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, qa_dropout=0.0,
                    sinusoidal_pos_embds=False, max_position_embeddings=MAX_POS, pad_token_id=0)),
    "roberta": dict(
        seed=3, model_class="RobertaForSequenceClassification", config_class="RobertaConfig",
        tokenizer_class="RobertaTokenizer", tokenizer="bytelevel_bpe", vocab_size=360, num_labels=3,
        legacy_files=["vocab.json", "merges.txt"], tokenizer_kwargs=dict(),
        config=dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                    intermediate_size=FFN, hidden_act="gelu", hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0, classifier_dropout=None,
                    max_position_embeddings=MAX_POS + 2, type_vocab_size=1, pad_token_id=1,
                    bos_token_id=0, eos_token_id=2)),
    "xlm-roberta": dict(
        seed=4, model_class="XLMRobertaForSequenceClassification", config_class="XLMRobertaConfig",
        tokenizer_class="XLMRobertaTokenizer", tokenizer="spm_xlmr", vocab_size=320, num_labels=3,
        legacy_files=["sentencepiece.bpe.model"], tokenizer_kwargs=dict(),
        config=dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                    intermediate_size=FFN, hidden_act="gelu", hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0, classifier_dropout=None,
                    max_position_embeddings=MAX_POS + 2, type_vocab_size=1, pad_token_id=1,
                    bos_token_id=0, eos_token_id=2)),
    "albert": dict(
        seed=5, model_class="AlbertForSequenceClassification", config_class="AlbertConfig",
        tokenizer_class="AlbertTokenizer", tokenizer="spm_albert", vocab_size=340, num_labels=3,
        legacy_files=["spiece.model"], tokenizer_kwargs=dict(do_lower_case=True, keep_accents=False),
        config=dict(embedding_size=EMBED, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                    num_hidden_groups=1, inner_group_num=1, num_attention_heads=HEADS,
                    intermediate_size=FFN, hidden_act="gelu_new", hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0,
                    max_position_embeddings=MAX_POS, type_vocab_size=2, pad_token_id=0,
                    bos_token_id=2, eos_token_id=3)),
    "electra": dict(
        seed=6, model_class="ElectraForSequenceClassification", config_class="ElectraConfig",
        tokenizer_class="ElectraTokenizer", tokenizer="wordpiece", vocab_size=390, num_labels=1,
        legacy_files=["vocab.txt"], tokenizer_kwargs=dict(do_lower_case=True),
        config=dict(embedding_size=EMBED, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                    num_attention_heads=HEADS, intermediate_size=FFN, hidden_act="gelu",
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    classifier_dropout=None, max_position_embeddings=MAX_POS, type_vocab_size=2,
                    pad_token_id=0)),
}

# Lines added to the tokenizer training text (each repeated) so that accented, CJK, full-width
# and emoji characters are in some vocabularies; the hard cases below then hit both known and
# unknown characters.
EXTRA_TRAINING_LINES = [
    "café naïve résumé Zürich São Paulo Ångström façade déjà vu",
    "中文字符 中文 字符 日本語 한국어 汉字",
    "emoji 😀 👍 🎉 and more 😀",
    "Ｆｕｌｌ ｗｉｄｔｈ １２３ text",
]

# Singles that tokenizers get wrong in practice.
HARD_SINGLES = [
    "", " ", "   ", "\t", "\n", "\u3000",
    "Hello, World!",
    "HéLLo wörld naïve café",
    "ÀÉÎÕÜ àéîõü ÇçÑñ Ååø",
    "Straße groß STRASSE",
    "ﬁne ﬂour ﬀ",
    "ＦＵＬＬｗｉｄｔｈ ｔｅｘｔ １２３ Ｈｅｌｌｏ",
    "中文字符 mixed with English",
    "日本語のテキストです。",
    "한국어 텍스트",
    "emoji 😀👍🏽 and 🇫🇷 flags 🎉",
    "👨‍👩‍👧‍👦 family",
    "antidisestablishmentarianism",
    "supercalifragilisticexpialidocious" * 4,
    "a" * 150,
    "multiple    spaces   between\t\twords",
    "  leading and trailing  ",
    "line\nbreaks\r\nand\rreturns",
    "control\x00chars\x07here\x1bend\x7f",
    "zero\u200bwidth\u200cjoin\u200dchars",
    "\ufeffBOM at start",
    "soft\u00adhyphen",
    "non\u00a0breaking\u00a0space",
    "don't won't it's 'quoted' \"double\" ``latex'' quotes",
    "3.14 1,000,000 9,99 $5.00 50% #hashtag @user",
    "the years 1999, 2000, and 2,000,000,",
    "e-mail: someone@example.com, url: https://example.com/a?b=c&d=e",
    "punctuation!!! ... ??? ;;; --- (brackets) [square] {curly}",
    "Mixed CASE Words And ACRONYMS like NASA and U.S.A. e.g. i.e.",
    "numbers 12345678901234567890",
    "ŁÓDŹ Ελληνικά Русский текст العربية עברית",
    "हिन्दी ภาษาไทย",
    "math ∑ ∫ √ ≤ ≥ ≠ ∞ ±",
    "tab\tseparated\tvalues",
    "'s 're n't 'll",
    "<s> </s> [CLS] [SEP] <mask> [MASK] <pad> <unk>",
    "▁ leading metaspace ▁▁ char",
    "①②③ … ™ ½",
    "Ǆ ǅ ǆ İ ı",
    "combining e\u0301 vs \u00e9 and n\u0303",
    "x",
    ".",
]

HARD_PAIRS = [
    (" ", "text after an empty first"),
    ("text before an empty second", " "),
    ("", ""),
    ("short", "a much longer second sentence that has to be truncated from the end first"),
    ("a much longer first sentence that has to be truncated from the end first", "short"),
    ("中文字符 mixed", "日本語 and English"),
    ("emoji 😀👍🏽", "café naïve"),
    ("ＦＵＬＬｗｉｄｔｈ", "multiple    spaces"),
    ("don't", "won't"),
    ("<s> special </s>", "[CLS] special [SEP]"),
]


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------------------------
# Corpus (standard library only)


def _clean(s):
    return s.replace("\t", " ").replace("\r", " ").replace("\n", " ").strip()


def make_corpus(glue_dir, out_path):
    """Writes a deterministic sample of GLUE train sentences: one line per example, a single text
    or two texts separated by a tab."""
    rng = random.Random(SEED)
    glue = Path(glue_dir)

    def rows(task):
        with open(glue / task / "train.tsv", encoding="utf-8") as f:
            lines = f.read().split("\n")
        return [l.split("\t") for l in lines[1:] if l.strip()]

    singles = []
    for task, n in (("SST-2", 12000), ("CoLA", 5000)):
        r = [x[0] for x in rows(task) if len(x) >= 2]
        singles += rng.sample(r, min(n, len(r)))
    pairs = []
    for task, cols, n in (("MRPC", (3, 4), 2500), ("STS-B", (7, 8), 3000)):
        r = [(x[cols[0]], x[cols[1]]) for x in rows(task) if len(x) > max(cols)]
        pairs += rng.sample(r, min(n, len(r)))
    lines = [_clean(s) for s in singles]
    lines += [_clean(a) + "\t" + _clean(b) for a, b in pairs]
    lines = [l for l in lines if l.replace("\t", "").strip()]
    rng.shuffle(lines)
    tmp = str(out_path) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for l in lines:
            f.write(l + "\n")
    os.replace(tmp, out_path)
    log(f"wrote {len(lines)} lines ({len(singles)} singles, {len(pairs)} pairs) to {out_path}")


def read_corpus(path):
    singles, pairs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if not line:
                continue
            if "\t" in line:
                a, b = line.split("\t", 1)
                pairs.append((a, b))
            else:
                singles.append(line)
    return singles, pairs


# ----------------------------------------------------------------------------------------------
# Tokenizer training


def training_texts(singles, pairs):
    texts = list(singles)
    for a, b in pairs:
        texts += [a, b]
    for l in EXTRA_TRAINING_LINES:
        texts += [l] * 30
    return texts


def strip_accents_lower(s):
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower()


def spm_rules_tsv(path):
    """A small SentencePiece normalization rule set instead of nmt_nfkc, whose compiled map is
    ~240 KB: nmt_nfkc's own whitespace and control-character rules, full-width ASCII (without
    U+FF5E, as nmt_nfkc), a few spaces, ligatures and one two-code-point rule (e + combining acute).
    The model still has a non-empty precompiled_charsmap, so readers of both spm models and
    tokenizer.json's Precompiled normalizer are exercised."""
    ws = [0x09, 0x0A, 0x0C, 0x0D, 0x1680, 0x200B, 0x200E, 0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF,
          0xFFFD, 0x200C, 0xA0, 0x3000, 0x2002, 0x2003, 0x2009]
    rules = [(f"{c:X}", "20") for c in ws]
    ctrl = list(range(0x01, 0x09)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F, 0x8F, 0x9F]
    rules += [(f"{c:X}", "") for c in ctrl]  # deleted
    rules += [(f"{c:X}", f"{c - 0xFEE0:X}") for c in range(0xFF01, 0xFF5E)]
    rules += [("FB01", "66 69"), ("FB02", "66 6C"), ("FB00", "66 66"), ("2460", "31"),
              ("2461", "32"), ("2462", "33"), ("2026", "2E 2E 2E"), ("2122", "54 4D"),
              ("65 301", "E9")]
    with open(path, "w", encoding="utf-8") as f:
        for s, t in rules:
            f.write(f"{s}\t{t}\n")


def train_spm(texts, prefix, vocab_size, workdir, **extra):
    import sentencepiece as spm

    inp = os.path.join(workdir, os.path.basename(prefix) + ".txt")
    with open(inp, "w", encoding="utf-8") as f:
        for t in texts:
            t = " ".join(t.split())
            if t:
                f.write(t + "\n")
    rules = os.path.join(workdir, "rules.tsv")
    spm_rules_tsv(rules)
    spm.SentencePieceTrainer.train(
        input=inp, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        normalization_rule_tsv=rules, num_threads=1, shuffle_input_sentence=False,
        input_sentence_size=0, minloglevel=2, **extra)
    canonical_spm_paths(prefix + ".model")
    return prefix + ".model"


def canonical_spm_paths(model_file):
    """The trainer records its input, output and rule-file paths (a temporary folder) in the
    model; keep only the base names so that two runs write the same bytes."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    with open(model_file, "rb") as f:
        m.ParseFromString(f.read())
    names = [os.path.basename(p) for p in m.trainer_spec.input]
    del m.trainer_spec.input[:]
    m.trainer_spec.input.extend(names)
    m.trainer_spec.model_prefix = os.path.basename(m.trainer_spec.model_prefix)
    for spec in (m.normalizer_spec, m.denormalizer_spec):
        if spec.normalization_rule_tsv:
            spec.normalization_rule_tsv = os.path.basename(spec.normalization_rule_tsv)
    with open(model_file, "wb") as f:
        f.write(m.SerializeToString())


def sort_safetensors_metadata(path):
    """safetensors writes its metadata map in hash order, different in every run; rewrite the
    header with the metadata keys sorted (tensor entries and data unchanged)."""
    import struct

    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n], object_pairs_hook=dict)
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob[8 + n:])
    os.replace(tmp, path)


def wordpiece_vocab(words, vocab_size, limit_alphabet=110):
    """The WordPiece vocabulary that tokenizers' WordPieceTrainer builds (BPE merges with a "##"
    continuation prefix over word counts), with every tie broken by the token strings.
    tokenizers' own trainer numbers the "##" alphabet in hash-map order, so two runs gave two
    different vocab.txt files; this one is deterministic. `words` maps word -> count."""
    from collections import Counter

    chars = Counter()
    for w, c in words.items():
        for ch in w:
            chars[ch] += c
    alphabet = set(sorted(chars, key=lambda ch: (-chars[ch], ch))[:limit_alphabet])
    seqs = []
    for w, c in sorted(words.items()):
        kept = [ch for ch in w if ch in alphabet]  # as the trainer, drop characters it dropped
        if kept:
            seqs.append(([kept[0]] + ["##" + ch for ch in kept[1:]], c))
    vocab = list(WORDPIECE_SPECIALS) + sorted(alphabet)
    vocab += sorted({s for seq, _ in seqs for s in seq[1:]})
    seen = set(vocab)
    pairs = Counter()  # (a, b) -> count over all words
    where = {}  # (a, b) -> indices of the words that hold it

    def count(k, sign):
        seq, c = seqs[k]
        for p in zip(seq, seq[1:]):
            pairs[p] += sign * c
            if sign > 0:
                where.setdefault(p, set()).add(k)

    for k in range(len(seqs)):
        count(k, +1)
    while len(vocab) < vocab_size:
        live = [(p, n) for p, n in pairs.items() if n > 0]
        if not live:
            break
        (a, b), _ = min(live, key=lambda kv: (-kv[1], kv[0]))
        new = a + b[2:]
        if new not in seen:
            vocab.append(new)
            seen.add(new)
        for k in sorted(where.pop((a, b), ())):
            seq, c = seqs[k]
            count(k, -1)
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[k] = (out, c)
            count(k, +1)
        pairs.pop((a, b), None)
    return vocab[:vocab_size]


def train_wordpiece(texts, vocab_size, out_dir):
    from collections import Counter

    from tokenizers import normalizers, pre_tokenizers

    # BERT's uncased normalization and pre-tokenization, from the tokenizers library.
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter()
    for t in texts:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)):
            words[w] += 1
    vocab = wordpiece_vocab(words, vocab_size)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        for tok in vocab:
            f.write(tok + "\n")
    return dict(vocab={t: i for i, t in enumerate(vocab)})


def train_bytelevel_bpe(texts, vocab_size, out_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=BPE_SPECIALS,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    t.train_from_iterator(texts, tr)
    t.model.save(out_dir)  # vocab.json + merges.txt
    tj = json.loads(t.to_str())
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
    return dict(vocab=tj["model"]["vocab"], merges=merges)


def spm_vocab(model_file):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=model_file)
    return sp, [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def train_family_tokenizer(kind, vocab_size, singles, pairs, out_dir, workdir):
    """Trains the raw tokenizer and writes the family's legacy files into out_dir. Returns what a
    direct construction of the transformers class needs (fallback when from_pretrained fails)."""
    texts = training_texts(singles, pairs)
    if kind == "wordpiece":
        return train_wordpiece(texts, vocab_size, out_dir)
    if kind == "bytelevel_bpe":
        return train_bytelevel_bpe(texts, vocab_size, out_dir)
    if kind == "spm_xlmr":
        # fairseq's dictionary puts <s> <pad> </s> <unk> first; XLMRobertaTokenizer shifts the
        # spm ids by one and appends <mask>, so the spm model keeps its default specials.
        m = train_spm(texts, os.path.join(workdir, "xlmr"), vocab_size - 2, workdir,
                      unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
        shutil.copyfile(m, os.path.join(out_dir, "sentencepiece.bpe.model"))
        _, v = spm_vocab(m)
        vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + v[3:]
        vocab.append(("<mask>", 0.0))
        return dict(vocab=vocab)
    if kind == "spm_albert":
        # ALBERT's model is trained on lower-cased, accent-stripped text, with its specials
        # <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4 in the spm model itself.
        m = train_spm([strip_accents_lower(t) for t in texts], os.path.join(workdir, "albert"),
                      vocab_size, workdir, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                      control_symbols=["[CLS]", "[SEP]", "[MASK]"])
        shutil.copyfile(m, os.path.join(out_dir, "spiece.model"))
        _, v = spm_vocab(m)
        return dict(vocab=v)
    raise ValueError(kind)


# ----------------------------------------------------------------------------------------------
# Reference encodings with libsentencepiece, as transformers 4's slow tokenizers did them.


def albert_preprocess(text):
    out = " ".join(text.strip().split())
    out = out.replace("``", '"').replace("''", '"')
    out = unicodedata.normalize("NFKD", out)
    out = "".join(c for c in out if not unicodedata.combining(c))
    return out.lower()


def spm_reference_ids(kind, sp, text):
    """Ids of a single text with [CLS]/<s> framing, by libsentencepiece (no special-token
    splitting of the text)."""
    if kind == "spm_albert":
        pieces = sp.encode(albert_preprocess(text), out_type=str)
        out = []
        for p in pieces:  # AlbertTokenizer's split of a piece like "9," into "9" ","
            if len(p) > 1 and p[-1] == "," and p[-2].isdigit():
                cur = sp.encode(p[:-1].replace("\u2581", ""), out_type=str)
                if p[0] != "\u2581" and cur and cur[0][0] == "\u2581":
                    cur = cur[1:] if len(cur[0]) == 1 else [cur[0][1:]] + cur[1:]
                out += cur + [p[-1]]
            else:
                out.append(p)
        return [2] + [sp.piece_to_id(p) for p in out] + [3]
    if kind == "spm_xlmr":
        ids = [i + 1 if i else 3 for i in sp.encode(text)]
        return [0] + ids + [2]
    raise ValueError(kind)


# ----------------------------------------------------------------------------------------------
# Tokenizer cases


def build_cases(singles, pairs):
    rng = random.Random(SEED + 100)
    glue_singles = rng.sample(singles, 200)
    glue_pairs = rng.sample(pairs, 90)
    long_text = " ".join(rng.sample(singles, 15))
    cases_single = [(t, None) for t in glue_singles + HARD_SINGLES + [long_text]]
    for i, t in enumerate(rng.sample(singles, 30) + HARD_SINGLES[6:16] + [long_text]):
        cases_single.append((t, [3, 5, 8, 16, 32][i % 5]))
    lens = [None, 128, 48, 24, 16, 12, 9]
    cases_pair = [(a, b, lens[i % len(lens)]) for i, (a, b) in enumerate(glue_pairs)]
    for i, (a, b) in enumerate(HARD_PAIRS):
        cases_pair.append((a, b, [None, 16, 10][i % 3]))
    cases_pair.append((long_text, glue_pairs[0][1], 64))
    cases_pair.append((glue_pairs[1][0], long_text, 64))
    cases_pair.append((long_text, long_text[: len(long_text) // 3], None))
    return cases_single, cases_pair


def encode(tok, a, b=None, max_len=None):
    kw = dict(add_special_tokens=True, return_token_type_ids=True, return_attention_mask=False)
    if max_len:
        kw.update(truncation="longest_first", max_length=max_len)
    else:
        kw.update(truncation=False)
    enc = tok(a, b, **kw) if b is not None else tok(a, **kw)
    return [int(x) for x in enc["input_ids"]], [int(x) for x in enc["token_type_ids"]]


def raw_encode(raw, a, b=None, max_len=None):
    if max_len:
        raw.enable_truncation(max_length=max_len, strategy="longest_first")
    else:
        raw.no_truncation()
    e = raw.encode(a, b, add_special_tokens=True) if b is not None else raw.encode(a)
    return list(e.ids), list(e.type_ids)


def special_ids(tok):
    out = {}
    for n in ("cls", "sep", "pad", "unk", "bos", "eos", "mask"):
        try:
            t = getattr(tok, f"{n}_token")
            i = getattr(tok, f"{n}_token_id")
        except Exception:
            continue
        if t is not None and i is not None:
            out[n] = {"token": str(t), "id": int(i)}
    return out


# ----------------------------------------------------------------------------------------------
# Generation (needs torch, transformers, tokenizers, sentencepiece, safetensors)


def versions():
    import safetensors
    import sentencepiece
    import tokenizers
    import torch
    import transformers

    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__,
            "safetensors": safetensors.__version__, "python": sys.version.split()[0]}


def load_tokenizer_class(name):
    import transformers

    return getattr(transformers, name)


def make_tokenizer(name, fam, singles, pairs, final_dir, workdir, report):
    """Trains, wraps in the family class, saves into final_dir. Returns the class instance."""
    Cls = load_tokenizer_class(fam["tokenizer_class"])
    legacy = Path(workdir) / f"{name}-legacy"
    legacy.mkdir(parents=True)
    raw = train_family_tokenizer(fam["tokenizer"], fam["vocab_size"], singles, pairs,
                                 str(legacy), workdir)
    cfg = dict(tokenizer_class=fam["tokenizer_class"], model_max_length=MAX_POS,
               **fam["tokenizer_kwargs"])
    with open(legacy / "tokenizer_config.json", "w") as f:
        json.dump(cfg, f, indent=2)
    try:
        tok = Cls.from_pretrained(str(legacy))
        report["tokenizer_built_by"] = f"{fam['tokenizer_class']}.from_pretrained(legacy files)"
    except Exception as e:  # noqa: BLE001 - report and fall back to a direct construction
        log(f"  [{name}] from_pretrained(legacy) failed: {type(e).__name__}: {e}")
        tok = Cls(**raw, model_max_length=MAX_POS, **fam["tokenizer_kwargs"])
        report["tokenizer_built_by"] = f"{fam['tokenizer_class']}(vocab=...) (legacy load failed)"
    log(f"  [{name}] tokenizer: {report['tokenizer_built_by']}, {len(tok)} ids")
    saved = tok.save_pretrained(str(final_dir))
    log(f"  [{name}] save_pretrained wrote: {sorted(os.path.basename(str(s)) for s in saved)}")
    written_by_us = []
    for fn in fam["legacy_files"]:
        dst = Path(final_dir) / fn
        src = legacy / fn
        if dst.exists():
            same = dst.read_bytes() == src.read_bytes()
            log(f"  [{name}] transformers wrote {fn} ({'identical to' if same else 'DIFFERENT from'}"
                " the trained file)")
        else:
            shutil.copyfile(src, dst)
            written_by_us.append(fn)
            log(f"  [{name}] transformers did not write {fn}; copied the trained file")
    report["legacy_files_copied_by_generator"] = written_by_us
    return tok


def tokenizer_checks_and_cases(name, fam, final_dir, singles, pairs, workdir, report, vers):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    Cls = load_tokenizer_class(fam["tokenizer_class"])
    tok = AutoTokenizer.from_pretrained(str(final_dir))
    log(f"  [{name}] AutoTokenizer -> {type(tok).__name__}")
    # The same folder without tokenizer.json: what transformers builds from the legacy files.
    legacy_only = Path(workdir) / f"{name}-legacy-only"
    legacy_only.mkdir()
    for fn in os.listdir(final_dir):
        if fn != "tokenizer.json" and not fn.endswith(".safetensors") and fn != "config.json":
            shutil.copyfile(Path(final_dir) / fn, legacy_only / fn)
    try:
        tok_legacy = Cls.from_pretrained(str(legacy_only))
    except Exception as e:  # noqa: BLE001
        tok_legacy = None
        log(f"  [{name}] loading the legacy files alone FAILED: {type(e).__name__}: {e}")
    raw = Tokenizer.from_file(str(Path(final_dir) / "tokenizer.json"))
    raw.no_padding()
    sp = None
    if fam["tokenizer"].startswith("spm"):
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(Path(final_dir) / fam["legacy_files"][0]))

    cases_single, cases_pair = build_cases(singles, pairs)
    out_single, out_pairs, errors = [], [], []
    agree = {"legacy": [0, 0], "tokenizer_json_raw": [0, 0], "sentencepiece": [0, 0]}
    disagree = {"legacy": [], "tokenizer_json_raw": [], "sentencepiece": []}

    def compare(key, text, ours, other):
        agree[key][1] += 1
        if ours == other:
            agree[key][0] += 1
        elif len(disagree[key]) < 15:
            disagree[key].append({"text": text, "ids": ours, "other": other})

    for text, m in cases_single:
        try:
            ids, types = encode(tok, text, None, m)
        except Exception as e:  # noqa: BLE001
            errors.append(f"single {text[:40]!r} max_len={m}: {type(e).__name__}: {e}")
            continue
        out_single.append({"text": text, "max_len": m, "ids": ids, "token_type_ids": types})
        if tok_legacy is not None:
            try:
                compare("legacy", text, ids, encode(tok_legacy, text, None, m)[0])
            except Exception as e:  # noqa: BLE001
                compare("legacy", text, ids, f"error: {e}")
        compare("tokenizer_json_raw", text, ids, raw_encode(raw, text, None, m)[0])
        if sp is not None and m is None:
            compare("sentencepiece", text, ids, spm_reference_ids(fam["tokenizer"], sp, text))
    for a, b, m in cases_pair:
        try:
            ids, types = encode(tok, a, b, m)
        except Exception as e:  # noqa: BLE001
            errors.append(f"pair {a[:30]!r}/{b[:30]!r} max_len={m}: {type(e).__name__}: {e}")
            continue
        out_pairs.append({"a": a, "b": b, "max_len": m, "ids": ids, "token_type_ids": types})
        if tok_legacy is not None:
            try:
                compare("legacy", a + " || " + b, ids, encode(tok_legacy, a, b, m)[0])
            except Exception as e:  # noqa: BLE001
                compare("legacy", a + " || " + b, ids, f"error: {e}")
        compare("tokenizer_json_raw", a + " || " + b, ids, raw_encode(raw, a, b, m)[0])
    for e in errors:
        log(f"  [{name}] case error: {e}")
    for k, (n_eq, n) in agree.items():
        if n:
            log(f"  [{name}] check {k}: {n_eq}/{n} cases give the same ids")
            for d in disagree[k][:3]:
                log(f"      e.g. {d['text'][:60]!r}: {d['ids'][:20]} vs {str(d['other'])[:120]}")

    header = {
        "family": name,
        "tokenizer_class": type(tok).__name__,
        "files": sorted(f for f in os.listdir(final_dir) if not f.endswith(".safetensors")
                        and f not in ("config.json", "tokenizer_cases.json")),
        "special_ids": special_ids(tok),
        "vocab_size": len(tok),
        "model_input_names": list(tok.model_input_names),
        "model_max_length": int(tok.model_max_length),
        "note": ("ids = the transformers tokenizer loaded with AutoTokenizer from this folder, "
                 "add_special_tokens=True, return_token_type_ids=True; max_len null = no "
                 "truncation, else truncation='longest_first', max_length=max_len"),
        "checks": {k: f"{v[0]}/{v[1]}" for k, v in agree.items() if v[1]},
        "check_notes": {
            "legacy": "the class loaded from the legacy files alone (no tokenizer.json)",
            "tokenizer_json_raw": "tokenizers.Tokenizer.from_file(tokenizer.json), same truncation",
            "sentencepiece": ("libsentencepiece on the raw text, framed as transformers 4's slow "
                              "tokenizer did (no special-token splitting), singles without "
                              "truncation only"),
        },
        "disagreements": {k: v for k, v in disagree.items() if v},
        "versions": vers,
        "seed": SEED,
    }
    report["tokenizer_checks"] = header["checks"]
    report["legacy_load"] = "ok" if tok_legacy is not None else "failed"
    cases = {"header": header, "single": out_single, "pairs": out_pairs}
    with open(Path(final_dir) / "tokenizer_cases.json", "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
    log(f"  [{name}] tokenizer_cases.json: {len(out_single)} singles, {len(out_pairs)} pairs")
    return tok


def golden_batch(singles, pairs, seed):
    """Four examples: a long pair (truncated), a short single, a short pair, a medium single."""
    rng = random.Random(SEED + 200 + seed)
    long_pairs = [p for p in pairs if len(p[0]) + len(p[1]) > 150]
    short_pairs = [p for p in pairs if len(p[0]) + len(p[1]) < 60]
    short_singles = [s for s in singles if 8 <= len(s) <= 20]
    mid_singles = [s for s in singles if 40 <= len(s) <= 70]
    return [rng.choice(long_pairs), (rng.choice(short_singles), None), rng.choice(short_pairs),
            (rng.choice(mid_singles), None)]


class PerUseGrads:
    """Captures each call's own contribution to a shared module's weight gradient: a forward hook
    adds F.linear(x, dW, db) (or a LayerNorm with weight dW, bias db) with dW = db = 0 per call,
    which leaves the output and every other gradient unchanged; the gradient that reaches dW is
    that call's dY^T X (for LayerNorm: sum dY * x_hat)."""

    def __init__(self, model, prefix):
        import torch.nn as nn

        self.calls = {}  # param name -> list of per-call zero tensors (their .grad after backward)
        self.handles = []
        self.enabled = False
        covered = set()
        for mname, mod in model.named_modules():
            if not mname.startswith(prefix):
                continue
            if isinstance(mod, (nn.Linear, nn.LayerNorm)):
                self.handles.append(mod.register_forward_hook(self._hook(mname, mod)))
                for pn, _ in mod.named_parameters(recurse=False):
                    covered.add(f"{mname}.{pn}")
        self.names = sorted(covered)
        shared = {n for n, _ in model.named_parameters() if n.startswith(prefix)}
        self.uncovered = sorted(shared - covered)

    def _hook(self, mname, mod):
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        def hook(m, args, out):
            if not self.enabled:
                return None
            x = args[0]
            dw = torch.zeros_like(m.weight, requires_grad=True)
            db = torch.zeros_like(m.bias, requires_grad=True) if m.bias is not None else None
            self.calls.setdefault(f"{mname}.weight", []).append(dw)
            if db is not None:
                self.calls.setdefault(f"{mname}.bias", []).append(db)
            if isinstance(m, nn.Linear):
                return out + F.linear(x, dw, db)
            return out + F.layer_norm(x, m.normalized_shape, dw, db, m.eps)

        return hook

    def reset(self):
        self.calls = {}


def model_inputs(enc, model_class):
    keys = ["input_ids", "attention_mask"]
    if "token_type_ids" in enc and not model_class.startswith("DistilBert"):
        keys.append("token_type_ids")
    return {k: enc[k] for k in keys}


def make_model_golden(name, fam, tok, singles, pairs, final_dir, report, vers):
    import torch
    import torch.nn as nn
    import transformers
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(SEED + fam["seed"])
    ConfigCls = getattr(transformers, fam["config_class"])
    ModelCls = getattr(transformers, fam["model_class"])
    num_labels = fam["num_labels"]
    problem = "regression" if num_labels == 1 else "single_label_classification"
    ckw = dict(fam["config"], vocab_size=len(tok), initializer_range=INIT_RANGE,
               num_labels=num_labels, problem_type=problem)
    try:
        config = ConfigCls(**ckw, attn_implementation="eager")
    except Exception as e:  # noqa: BLE001
        log(f"  [{name}] config with attn_implementation='eager' failed ({e}); default attention")
        config = ConfigCls(**ckw)
    model = ModelCls(config).double()
    if tok.pad_token_id != config.pad_token_id:
        log(f"  [{name}] WARNING: tokenizer pad id {tok.pad_token_id} != config {config.pad_token_id}")
    with torch.no_grad():  # non-trivial biases and LayerNorm weights (HF inits them to 0 and 1)
        g = torch.Generator().manual_seed(SEED + 1000 + fam["seed"])
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(PERTURB * torch.randn(m.weight.shape, generator=g, dtype=torch.float64))
            if isinstance(m, (nn.LayerNorm, nn.Linear)) and m.bias is not None:
                m.bias.add_(PERTURB * torch.randn(m.bias.shape, generator=g, dtype=torch.float64))
    model.eval()
    report["attn_implementation"] = str(getattr(model.config, "_attn_implementation", "?"))

    # The batch, tokenized one example at a time (singles and pairs mixed), then right-padded.
    examples = golden_batch(singles, pairs, fam["seed"])
    encs = [tok(a, b, truncation=True, max_length=BATCH_MAX_LEN) if b is not None
            else tok(a, truncation=True, max_length=BATCH_MAX_LEN) for a, b in examples]
    assert tok.padding_side == "right", tok.padding_side
    enc = tok.pad([dict(e) for e in encs], padding="longest", return_tensors="pt")
    B, T = enc["input_ids"].shape
    inputs = model_inputs(enc, fam["model_class"])
    types = enc["token_type_ids"] if "token_type_ids" in enc else torch.zeros_like(enc["input_ids"])
    lab_rng = random.Random(SEED + 300 + fam["seed"])
    if num_labels == 1:
        labels = torch.tensor([round(lab_rng.uniform(0, 5), 3) for _ in range(B)], dtype=torch.float64)
    else:
        labels = torch.tensor([lab_rng.randrange(num_labels) for _ in range(B)], dtype=torch.long)
        if len(set(labels.tolist())) == 1:
            labels[0] = (labels[0] + 1) % num_labels

    # Hooks: the position ids the model computes, and the embedding output before any projection.
    base = getattr(model, model.base_model_prefix)
    captured = {}
    pos_mod = base.embeddings.position_embeddings
    h1 = pos_mod.register_forward_pre_hook(lambda m, a: captured.__setitem__("pos", a[0].detach()))
    h2 = base.embeddings.register_forward_hook(
        lambda m, a, o: captured.__setitem__("emb", (o[0] if isinstance(o, tuple) else o).detach()))
    per_use = None
    if name == "albert":
        per_use = PerUseGrads(model, "albert.encoder.albert_layer_groups.")
        log(f"  [{name}] shared parameters hooked: {len(per_use.names)}, not covered: {per_use.uncovered}")

    # Mean loss over the batch: outputs and gradients.
    model.zero_grad(set_to_none=True)
    out = model(**inputs, labels=labels, output_hidden_states=True, return_dict=True)
    out.loss.backward()
    h1.remove()  # capture the batch's forward only
    h2.remove()
    params = dict(model.named_parameters())
    grads = {}
    for n, p in params.items():
        if p.grad is None:
            log(f"  [{name}] WARNING: {n} has no gradient (stored as zeros)")
            grads[n] = torch.zeros_like(p)
        else:
            grads[n] = p.grad.detach().clone()
    if "pos" in captured:
        pos = captured["pos"].expand(B, T) if captured["pos"].shape[0] == 1 else captured["pos"]
        report["position_ids_from"] = "forward pre-hook on the position embedding"
    else:  # the embedding was not called with the ids: rebuild them as the family defines them
        log(f"  [{name}] WARNING: position ids not captured; computing them")
        ids = enc["input_ids"]
        if fam["config"]["pad_token_id"] == 1:  # RoBERTa / XLM-R: after padding_idx, skip padding
            m = ids.ne(1).long()
            pos = torch.cumsum(m, dim=1) * m + 1
        else:
            pos = torch.arange(T).expand(B, T)
        report["position_ids_from"] = "computed by generate.py"
    hidden = [h.detach() for h in out.hidden_states]
    assert len(hidden) == LAYERS + 1, len(hidden)
    if fam["config"]["pad_token_id"] == 1:  # RoBERTa / XLM-R: fairseq's make_positions
        m = enc["input_ids"].ne(1).long()
        same = bool(torch.equal(pos.long(), torch.cumsum(m, dim=1) * m + 1))
        log(f"  [{name}] position ids follow padding_idx + cumsum(mask): {same}")
    log(f"  [{name}] hidden states: {[tuple(h.shape) for h in hidden]}; position ids:")
    for r in range(B):
        log(f"      {pos[r].tolist()}")

    # Per-example Fisher: each example alone, its padding removed.
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    fisher_pu = {n: torch.zeros_like(params[n]) for n in per_use.names} if per_use else None
    losses, pad_diff, use_sum_diff = [], 0.0, 0.0
    for i in range(B):
        L = int(enc["attention_mask"][i].sum())
        for trimmed in (True, False):
            sl = slice(0, L) if trimmed else slice(0, T)
            xi = {k: v[i:i + 1, sl] for k, v in inputs.items()}
            model.zero_grad(set_to_none=True)
            if per_use is not None:
                per_use.reset()
                per_use.enabled = trimmed
            li = model(**xi, labels=labels[i:i + 1], return_dict=True).loss
            li.backward()
            gi = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                  for n, p in params.items()}
            if trimmed:
                losses.append(float(li))
                g_trim = gi
                for n in params:
                    fisher[n] += gi[n] ** 2 / B
                if per_use is not None:
                    for n in per_use.names:
                        calls = per_use.calls.get(n, [])
                        if len(calls) != LAYERS:
                            log(f"  [{name}] WARNING: {n} used {len(calls)} times, expected {LAYERS}")
                        cg = [c.grad if c.grad is not None else torch.zeros_like(c) for c in calls]
                        s = sum(cg)
                        use_sum_diff = max(use_sum_diff, float((s - gi[n]).abs().max()))
                        fisher_pu[n] += sum(c ** 2 for c in cg) / B
            else:
                pad_diff = max(pad_diff, abs(float(li) - losses[-1]))
                for n in params:
                    pad_diff = max(pad_diff, float((gi[n] - g_trim[n]).abs().max()))
    if per_use is not None:
        per_use.enabled = False
    mean_loss = sum(losses) / B
    log(f"  [{name}] batch {B}x{T}, loss {float(out.loss):.12g}, mean of per-example losses "
        f"{mean_loss:.12g} (diff {abs(mean_loss - float(out.loss)):.2e})")
    log(f"  [{name}] per-example grads with vs without padding: max abs diff {pad_diff:.2e}")
    report["padding_independence_max_abs_diff"] = pad_diff
    if per_use is not None:
        log(f"  [{name}] sum over uses of per-use grads vs grad: max abs diff {use_sum_diff:.2e}")
        rel = max(float((fisher_pu[n] - fisher[n]).abs().max() / fisher[n].abs().max().clamp_min(1e-300))
                  for n in per_use.names)
        log(f"  [{name}] per-use Fisher vs true Fisher: max relative difference {rel:.3f}")
        report["per_use_vs_true_fisher_max_rel_diff"] = rel
        report["per_use_sum_vs_grad_max_abs_diff"] = use_sum_diff

    # Save the model folder (config.json + model.safetensors, float64) beside the tokenizer files.
    model.save_pretrained(str(final_dir))
    with safe_open(str(Path(final_dir) / "model.safetensors"), framework="pt") as f:
        saved_keys = set(f.keys())
        saved_dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    if saved_keys != set(params):
        log(f"  [{name}] WARNING: model.safetensors keys differ from named_parameters: "
            f"only saved {sorted(saved_keys - set(params))}, only params {sorted(set(params) - saved_keys)}")
    log(f"  [{name}] model.safetensors: {len(saved_keys)} tensors, dtypes {sorted(saved_dtypes)}")

    t = {}
    i32 = lambda x: x.to(torch.int32).contiguous()  # noqa: E731
    t["input_ids"] = i32(enc["input_ids"])
    t["token_type_ids"] = i32(types)
    t["attention_mask"] = i32(enc["attention_mask"])
    t["position_ids"] = i32(pos)
    t["labels"] = labels.to(torch.float64) if num_labels == 1 else i32(labels)
    for k, h in enumerate(hidden):
        t[f"hidden_states.{k}"] = h.contiguous()
    if fam["config"].get("embedding_size", HIDDEN) != HIDDEN:
        t["embedding_output"] = captured["emb"].contiguous()
    t["logits"] = out.logits.detach().contiguous()
    t["loss"] = out.loss.detach().reshape(1).contiguous()
    t["loss_per_example"] = torch.tensor(losses, dtype=torch.float64)
    for n in params:
        t[f"grad.{n}"] = grads[n].contiguous()
        t[f"fisher.{n}"] = fisher[n].contiguous()
    if fisher_pu is not None:
        for n in per_use.names:
            t[f"fisher_per_use.{n}"] = fisher_pu[n].contiguous()
    meta = dict(vers)
    meta.update({
        "family": name, "model_class": fam["model_class"], "tokenizer_class": type(tok).__name__,
        "seed": str(SEED), "family_seed": str(SEED + fam["seed"]),
        "attn_implementation": report["attn_implementation"],
        "loss": "the model's own loss of the batch (mean over the examples), eval mode, dropout 0",
        "grad": "gradient of that mean loss, for every parameter, HF names",
        "fisher": ("mean over the batch's examples of (gradient of the example's own loss)^2, "
                   "each example run alone with its padding removed"),
        "position_ids": "the ids the model fed to its position embedding (forward pre-hook)",
        "generator": "tests/golden/generate.py",
    })
    if fisher_pu is not None:
        meta["fisher_per_use"] = ("WRONG formula kept for a negative test: mean over examples of "
                                  "the sum over the layers using a shared weight of the square of "
                                  "that layer's own gradient contribution")
    if "embedding_output" in t:
        meta["embedding_output"] = "output of the embeddings module (width embedding_size)"
    save_file(t, str(Path(final_dir) / "expected.safetensors"), metadata=meta)
    sort_safetensors_metadata(Path(final_dir) / "expected.safetensors")

    # Reload checks: what a user gets from the folder.
    try:
        m2 = AutoModelForSequenceClassification.from_pretrained(str(final_dir), dtype=torch.float64)
    except TypeError:
        m2 = AutoModelForSequenceClassification.from_pretrained(str(final_dir), torch_dtype=torch.float64)
    m2.eval()
    with torch.no_grad():
        lg2 = m2(**inputs, return_dict=True).logits
    d = float((lg2 - out.logits.detach()).abs().max())
    log(f"  [{name}] reloaded {type(m2).__name__} ({next(m2.parameters()).dtype}, attention "
        f"{getattr(m2.config, '_attn_implementation', '?')}): logits max abs diff {d:.2e}")
    report["reload_logits_max_abs_diff"] = d
    from transformers import AutoTokenizer

    tok2 = AutoTokenizer.from_pretrained(str(final_dir))
    encs2 = [tok2(a, b, truncation=True, max_length=BATCH_MAX_LEN) if b is not None
             else tok2(a, truncation=True, max_length=BATCH_MAX_LEN) for a, b in examples]
    same = all(list(e1["input_ids"]) == list(e2["input_ids"]) for e1, e2 in zip(encs, encs2))
    log(f"  [{name}] reloaded tokenizer gives the batch's ids: {same}")
    report["reload_tokenizer_same_batch_ids"] = same
    report["expected"] = {k: [str(v.dtype).replace("torch.", ""), list(v.shape)] for k, v in t.items()
                          if not k.startswith(("grad.", "fisher"))}
    report["num_params"] = len(params)


def generate(out_dir, corpus, families):
    import torch

    torch.set_default_dtype(torch.float64)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(4)
    vers = versions()
    log("versions:", json.dumps(vers))
    singles, pairs = read_corpus(corpus)
    log(f"corpus: {len(singles)} singles, {len(pairs)} pairs")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reports, failed = {}, []
    for name in families:
        fam = FAMILIES[name]
        log(f"== {name}")
        final = out_dir / name
        if final.exists():
            shutil.rmtree(final)
        final.mkdir()
        report = {}
        reports[name] = report
        try:
            with tempfile.TemporaryDirectory() as wd:
                tok = make_tokenizer(name, fam, singles, pairs, final, wd, report)
                tok = tokenizer_checks_and_cases(name, fam, final, singles, pairs, wd, report, vers)
                make_model_golden(name, fam, tok, singles, pairs, final, report, vers)
        except Exception:  # noqa: BLE001 - one family failing must not lose the others
            import traceback

            traceback.print_exc(file=sys.stdout)
            failed.append(name)
            report["FAILED"] = True
        files = {f: os.path.getsize(final / f) for f in sorted(os.listdir(final))}
        report["files"] = files
        log(f"  [{name}] files: {files}")
    total = sum(sum(r.get("files", {}).values()) for r in reports.values())
    log("== summary")
    log(json.dumps(reports, indent=1, default=str))
    log(f"total bytes: {total}; failed: {failed or 'none'}")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", required=True, help="corpus file (written by --make-corpus)")
    ap.add_argument("--make-corpus", metavar="GLUE_DIR",
                    help="write the corpus from GLUE train.tsv files and exit")
    ap.add_argument("--out", help="folder that receives one subfolder per family")
    ap.add_argument("--families", default=",".join(FAMILIES),
                    help="comma-separated subset of: " + ", ".join(FAMILIES))
    args = ap.parse_args()
    if args.make_corpus:
        make_corpus(args.make_corpus, args.corpus)
        return 0
    if not args.out:
        ap.error("--out is required unless --make-corpus is given")
    fams = [f for f in args.families.split(",") if f]
    bad = [f for f in fams if f not in FAMILIES]
    if bad:
        ap.error(f"unknown families {bad}; known: {list(FAMILIES)}")
    return generate(args.out, args.corpus, fams)


if __name__ == "__main__":
    sys.exit(main())
