#!/usr/bin/python3
"""A plain-PyTorch sequence classifier (no transformers) over fwsvd/HF checkpoints of the BERT,
DistilBERT, RoBERTa and XLM-RoBERTa families (config.json's model_type picks the family).

It follows transformers' BERT (modeling_bert.py, eager attention) operation by operation:
embeddings (word + position + token type) -> LayerNorm; per layer Q/K/V linears, scores
q kᵀ / sqrt(d), softmax, context, attention output linear + residual + LayerNorm, intermediate
linear + erf GELU, output linear + residual + LayerNorm; pooler tanh(dense(h[:, 0])); classifier.
LayerNorm eps comes from config.json. The other families run the same layer under their own
tensor names (the tables of models/families/*.cc) and differ only where transformers does:
  distilbert (DistilBertForSequenceClassification): distilbert.embeddings.{word,position}_embeddings
    (no token types; the token_type_ids input is ignored), transformer.layer.N.attention.
    {q,k,v,out}_lin, sa_layer_norm, ffn.lin1/lin2, output_layer_norm; config keys dim, n_heads,
    n_layers, hidden_dim, activation; LayerNorm eps fixed at 1e-12; head
    classifier(relu(pre_classifier(h[:, 0]))).
  roberta, xlm-roberta (RobertaForSequenceClassification, XLMRobertaForSequenceClassification):
    BERT's names under roberta.*; position ids = padding_idx + cumsum(ids != padding_idx) on
    non-pad tokens and padding_idx on pad tokens (padding_idx = pad_token_id; unpadded input
    counts from pad_token_id + 1); head classifier.out_proj(tanh(classifier.dense(h[:, 0]))), no
    pooler. Factored layers of fwsvd checkpoints ({p}.weight_a [r, in],
{p}.weight_b [out, r], {p}.bias) become two nn.Linear: A without bias, then B with the bias.
An attention mask is optional (only needed for right-padded batches; single or equal-length
unpadded sequences need none).

Usage:
  torch_bert.py MODEL --input ids.jsonl            # {"input_ids": [...]} lines -> logits lines
  torch_bert.py MODEL --bench --seq 128 --batch 1 --threads 2 --seconds 3 --mode eager --json
  torch_bert.py MODEL --export-onnx model.onnx     # opset 14, dynamic batch and sequence axes
  torch_bert.py MODEL --int8 --bench ...            # torch.quantization.quantize_dynamic

--int8: torch.quantization.quantize_dynamic(model, {"layers"}, dtype=torch.qint8), i.e. every
nn.Linear of the encoder (the two factors of a factored layer each) becomes
nn.quantized.dynamic.Linear: int8 weights (default_dynamic_qconfig: symmetric per tensor),
activations quantised per tensor at each call (reduce_range: 7-bit codes), int32 accumulation;
embeddings, pooler and classifier stay f32 as in fwsvd. The quantised engine is
torch.backends.quantized.engine (--qengine to choose; Debian's torch 1.13 has onednn and
qnnpack, no fbgemm), printed with the results.

Run it with Debian's /usr/bin/python3 (python3-torch, python3-numpy). For speed set
OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS 0.3.21 misdetects this EPYC); run_peers.py does.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402


def make_linear(sd, prefix):
    """nn.Linear for a dense layer, or Sequential(A: Linear(in, r, bias=False), B: Linear(r, out))."""
    if prefix + ".weight" in sd:
        w = sd[prefix + ".weight"]
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data = torch.from_numpy(w)
        lin.bias.data = torch.from_numpy(sd[prefix + ".bias"])
        return lin
    a, b = sd[prefix + ".weight_a"], sd[prefix + ".weight_b"]
    la = nn.Linear(a.shape[1], a.shape[0], bias=False)
    la.weight.data = torch.from_numpy(a)
    lb = nn.Linear(b.shape[1], b.shape[0])
    lb.weight.data = torch.from_numpy(b)
    lb.bias.data = torch.from_numpy(sd[prefix + ".bias"])
    return nn.Sequential(la, lb)


def make_layernorm(sd, prefix, eps):
    w = sd[prefix + ".weight"]
    ln = nn.LayerNorm(w.shape[0], eps=eps)
    ln.weight.data = torch.from_numpy(w)
    ln.bias.data = torch.from_numpy(sd[prefix + ".bias"])
    return ln


# Each family's encoder-layer tensor names ({i}: layer index), as in models/families/*.cc.
_BERT_LAYER = {
    "query": "{b}encoder.layer.{i}.attention.self.query",
    "key": "{b}encoder.layer.{i}.attention.self.key",
    "value": "{b}encoder.layer.{i}.attention.self.value",
    "attn_out": "{b}encoder.layer.{i}.attention.output.dense",
    "attn_ln": "{b}encoder.layer.{i}.attention.output.LayerNorm",
    "inter": "{b}encoder.layer.{i}.intermediate.dense",
    "out": "{b}encoder.layer.{i}.output.dense",
    "out_ln": "{b}encoder.layer.{i}.output.LayerNorm",
}
_DISTILBERT_LAYER = {
    "query": "distilbert.transformer.layer.{i}.attention.q_lin",
    "key": "distilbert.transformer.layer.{i}.attention.k_lin",
    "value": "distilbert.transformer.layer.{i}.attention.v_lin",
    "attn_out": "distilbert.transformer.layer.{i}.attention.out_lin",
    "attn_ln": "distilbert.transformer.layer.{i}.sa_layer_norm",
    "inter": "distilbert.transformer.layer.{i}.ffn.lin1",
    "out": "distilbert.transformer.layer.{i}.ffn.lin2",
    "out_ln": "distilbert.transformer.layer.{i}.output_layer_norm",
}


def layer_names(family, i):
    if family == "distilbert":
        return {k: v.format(i=i) for k, v in _DISTILBERT_LAYER.items()}
    base = "bert." if family == "bert" else "roberta."
    return {k: v.format(b=base, i=i) for k, v in _BERT_LAYER.items()}


class Layer(nn.Module):
    def __init__(self, sd, names, cfg):
        super().__init__()
        eps = cfg["layer_norm_eps"]
        self.heads = cfg["num_attention_heads"]
        self.head_dim = cfg["hidden_size"] // self.heads
        self.query = make_linear(sd, names["query"])
        self.key = make_linear(sd, names["key"])
        self.value = make_linear(sd, names["value"])
        self.attn_out = make_linear(sd, names["attn_out"])
        self.attn_ln = make_layernorm(sd, names["attn_ln"], eps)
        self.inter = make_linear(sd, names["inter"])
        self.out = make_linear(sd, names["out"])
        self.out_ln = make_layernorm(sd, names["out_ln"], eps)

    def split(self, x):  # [B, T, H] -> [B, heads, T, d]
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, mask_add=None, cls_only=False):
        # cls_only: the rows after Q/K/V for the first ([CLS]) query only, as fwsvd's Session runs
        # the last layer (the logits read nothing else of it); returns [B, 1, H].
        xq = x[:, :1] if cls_only else x
        q, k, v = self.split(self.query(xq)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if mask_add is not None:
            scores = scores + mask_add
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(xq.shape)
        h = self.attn_ln(self.attn_out(ctx) + xq)
        return self.out_ln(self.out(F.gelu(self.inter(h))) + h)


FAMILIES = ("bert", "distilbert", "roberta", "xlm-roberta")


def normalize_config(cfg):
    """The family and BERT's config keys for any supported model_type."""
    family = cfg.get("model_type", "bert")
    if family not in FAMILIES:
        raise SystemExit(f"model_type {family!r} is not supported (supported: {', '.join(FAMILIES)})")
    c = dict(cfg)
    c["family"] = family
    if family == "distilbert":  # DistilBertConfig's keys; its LayerNorm eps is fixed
        c.update({"hidden_size": cfg.get("dim", 768), "num_attention_heads": cfg.get("n_heads", 12),
                  "num_hidden_layers": cfg.get("n_layers", 6),
                  "intermediate_size": cfg.get("hidden_dim", 3072),
                  "hidden_act": cfg.get("activation", "gelu"), "layer_norm_eps": 1e-12})
        assert not cfg.get("sinusoidal_pos_embds", False), "only learned positions are implemented"
    else:
        c.setdefault("layer_norm_eps", 1e-12)
    return c


class BertClassifier(nn.Module):
    """BertForSequenceClassification, or another family's classifier (see the module docstring)."""

    def __init__(self, sd, cfg):
        super().__init__()
        assert cfg.get("hidden_act", "gelu") == "gelu", "only erf GELU is implemented"
        assert cfg.get("position_embedding_type", "absolute") == "absolute"
        self.family = cfg["family"]
        emb = {"bert": "bert.embeddings.", "distilbert": "distilbert.embeddings."}.get(
            self.family, "roberta.embeddings.")
        self.word = nn.Embedding.from_pretrained(torch.from_numpy(sd[emb + "word_embeddings.weight"]))
        self.pos = nn.Embedding.from_pretrained(torch.from_numpy(sd[emb + "position_embeddings.weight"]))
        self.token_type = (None if self.family == "distilbert" else nn.Embedding.from_pretrained(
            torch.from_numpy(sd[emb + "token_type_embeddings.weight"])))
        self.emb_ln = make_layernorm(sd, emb + "LayerNorm", cfg["layer_norm_eps"])
        self.padding_idx = cfg.get("pad_token_id", 1)
        self.layers = nn.ModuleList(
            Layer(sd, layer_names(self.family, i), cfg) for i in range(cfg["num_hidden_layers"]))
        # head: dense (pooler / pre_classifier / classifier.dense) -> activation -> classifier
        if self.family == "bert":
            self.pooler, self.classifier = make_linear(sd, "bert.pooler.dense"), make_linear(sd, "classifier")
        elif self.family == "distilbert":
            self.pooler, self.classifier = make_linear(sd, "pre_classifier"), make_linear(sd, "classifier")
        else:
            self.pooler = make_linear(sd, "classifier.dense")
            self.classifier = make_linear(sd, "classifier.out_proj")
        self.cls_last_layer = False

    def position_ids(self, input_ids):
        if self.family in ("roberta", "xlm-roberta"):
            # transformers' create_position_ids_from_input_ids
            mask = input_ids.ne(self.padding_idx).long()
            return torch.cumsum(mask, dim=1) * mask + self.padding_idx
        t = input_ids.shape[1]
        return torch.arange(t, dtype=torch.long, device=input_ids.device).unsqueeze(0)

    def forward(self, input_ids, token_type_ids, attention_mask=None):
        x = self.word(input_ids) + self.pos(self.position_ids(input_ids))
        if self.token_type is not None:
            x = x + self.token_type(token_type_ids)
        x = self.emb_ln(x)
        mask_add = None
        if attention_mask is not None:  # HF: (1 - mask) * finfo.min, broadcast over heads/rows
            mask_add = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for i, layer in enumerate(self.layers):
            x = layer(x, mask_add, self.cls_last_layer and i + 1 == len(self.layers))
        h = self.pooler(x[:, 0])
        h = torch.relu(h) if self.family == "distilbert" else torch.tanh(h)
        return self.classifier(h)


def quantize_int8(model, engine=None):
    """The encoder's nn.Linear layers through torch's dynamic quantisation (see --int8)."""
    if engine:
        torch.backends.quantized.engine = engine
    q = torch.quantization.quantize_dynamic(model, {"layers"}, dtype=torch.qint8)
    n = sum(1 for m in q.modules() if isinstance(m, torch.nn.quantized.dynamic.Linear))
    if n == 0:
        raise SystemExit("quantize_dynamic converted no nn.Linear")
    return q, n


def load_model(model_dir, dtype=np.float32):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = normalize_config(json.load(f))
    sd, _ = safetensors_np.load(os.path.join(model_dir, "model.safetensors"))
    sd = {k: v.astype(dtype) if v.dtype != dtype else v for k, v in sd.items()}
    return BertClassifier(sd, cfg).eval(), cfg


def read_ids(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                j = json.loads(line)
                rows.append((j["input_ids"], j.get("token_type_ids") or [0] * len(j["input_ids"])))
    return rows


def random_ids(vocab, seq, batch):
    rng = np.random.RandomState(1234)
    ids = torch.from_numpy(rng.randint(0, vocab, size=(batch, seq)).astype(np.int64))
    return ids, torch.zeros_like(ids)


def prepare(model, mode, example):
    """The callable to time for a mode: eager | trace | freeze | optimize."""
    if mode == "eager":
        return model
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        if mode == "trace":
            return traced
        frozen = torch.jit.freeze(traced)
        if mode == "freeze":
            return frozen
        if mode == "optimize":
            return torch.jit.optimize_for_inference(frozen)
    raise ValueError(mode)


def bench(model, cfg, a):
    ids, types = random_ids(cfg["vocab_size"], a.seq, a.batch)
    fn = prepare(model, a.mode, (ids, types))
    ctx = torch.inference_mode if a.mode == "eager" else torch.no_grad
    times = []
    with ctx():
        for _ in range(a.warmup):
            fn(ids, types)
        start = time.perf_counter()
        while time.perf_counter() - start < a.seconds or len(times) < 3:
            t0 = time.perf_counter()
            fn(ids, types)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    r = {"peer": "torch", "mode": a.mode, "seq": a.seq, "batch": a.batch,
         "threads": torch.get_num_threads(), "runs": n, "median_ms": med, "min_ms": times[0],
         "torch": torch.__version__}
    if a.int8:
        r["int8"] = {"engine": torch.backends.quantized.engine, "quantized_linears": a.quantized}
    return r


def export_onnx(model, cfg, path, opset):
    ids, types = random_ids(cfg["vocab_size"], 16, 2)
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, types), path, opset_version=opset,
            input_names=["input_ids", "token_type_ids"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                          "token_type_ids": {0: "batch", 1: "seq"},
                          "logits": {0: "batch"}},
            do_constant_folding=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", help="JSONL with input_ids (and token_type_ids): print logits")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--export-onnx", metavar="OUT")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--mode", default="eager", choices=["eager", "trace", "freeze", "optimize"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cls-last-layer", action="store_true",
                    help="run the last layer past Q/K/V for the [CLS] row only (as fwsvd does)")
    ap.add_argument("--int8", action="store_true",
                    help="the encoder's nn.Linear through torch.quantization.quantize_dynamic")
    ap.add_argument("--qengine", default="",
                    help="torch.backends.quantized.engine for --int8 (default: torch's)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model, cfg = load_model(a.model)
    model.cls_last_layer = a.cls_last_layer
    if a.int8:
        model, a.quantized = quantize_int8(model, a.qengine or None)
        print(f"torch int8: engine {torch.backends.quantized.engine}, {a.quantized} nn.Linear "
              f"quantised", file=sys.stderr)
    if a.export_onnx:
        export_onnx(model, cfg, a.export_onnx, a.opset)
    if a.input:
        with torch.inference_mode():
            for ids, types in read_ids(a.input):
                logits = model(torch.tensor([ids]), torch.tensor([types]))[0]
                print(json.dumps({"logits": [float(v) for v in logits]}))
    if a.bench:
        r = bench(model, cfg, a)
        if a.json:
            print(json.dumps(r))
        else:
            print(f"torch {a.mode}: seq {a.seq} batch {a.batch} threads {r['threads']}: "
                  f"median {r['median_ms']:.3f} ms, min {r['min_ms']:.3f} ms ({r['runs']} runs)")


if __name__ == "__main__":
    main()
