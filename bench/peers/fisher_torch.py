#!/usr/bin/python3
"""Empirical Fisher throughput: `fwsvd fisher` against PyTorch, on the same token ids.

The Fisher: for each of the encoder's linear layers (24 weights of bert-mini, and their biases),
the mean over examples of the squared gradient of that example's own loss (cross-entropy with the
true label), in eval mode (no dropout), as compressor/fisher.h computes it.

One command (from the repository root; Debian's python3 with python3-torch):

  /usr/bin/python3 bench/peers/fisher_torch.py --fwsvd build/tools/fwsvd --examples 512 \
      --threads 1,2 --rounds 3

What it does:
 1. Draws a seeded sample (Python's random.Random(seed).sample) of SST-2 train.tsv and tokenizes it
    once with wordpiece.py (transformers' BertTokenizer rules) into sample_ids.jsonl:
    {"input_ids": [...], "label": k}. Both fwsvd and PyTorch read these ids, so they compute on
    identical inputs. It also checks that fwsvd's own tokenizer agrees: `fwsvd run` on the text
    (sample.tsv) and on the ids (sample_ids.jsonl) must give identical logits.
 2. Computes the Fisher with `fwsvd fisher MODEL --data sample_ids.jsonl` and with every PyTorch
    method, and checks each against fwsvd: max |a - b| / max |b| per tensor <= --tol (1e-3).
 3. Times, interleaved in rounds, fwsvd and each PyTorch method at each thread count, in fresh
    processes (timing covers the Fisher computation only, not loading or tokenizing, for both), and
    prints examples/s medians and the ratio fwsvd / best PyTorch method.

PyTorch methods (torch 1.13, Debian):
  loop   one forward + backward per example (batch 1), grads of the target layers only
         (requires_grad off elsewhere), accumulate grad².
  vmap   functorch.vmap(functorch.grad(loss)) over the examples of a batch, padded to the batch's
         longest (examples sorted by length) with HF's additive attention mask.
  hooks  batched forward/backward (batches of --torch-batch, sorted by length, padded + mask);
         forward hooks keep each target linear's input X [B, T, in]; torch.autograd.grad of the
         summed loss w.r.t. the linears' outputs gives dY [B, T, out]; per-example gradients
         dYᵀX by torch.bmm (padded rows have dY = 0), squared and summed (Opacus/BackPACK style).
Settings: torch.set_num_threads(n), OPENBLAS_CORETYPE=SkylakeX, OMP_WAIT_POLICY=PASSIVE.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_np  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("FWSVD_SHARED_DIR", os.path.join(REPO, "..", "shared"))


def target_prefixes(layers):
    out = []
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        out += [p + "attention.self.query", p + "attention.self.key", p + "attention.self.value",
                p + "attention.output.dense", p + "intermediate.dense", p + "output.dense"]
    return out


# ----------------------------------------------------------------------------- worker (torch)

def worker(a):
    import torch
    import torch.nn.functional as F
    import torch_bert
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model, cfg = torch_bert.load_model(a.model)
    rows = []
    with open(a.ids) as f:
        for line in f:
            if line.strip():
                j = json.loads(line)
                rows.append((j["input_ids"], int(j["label"])))
    prefixes = target_prefixes(cfg["num_hidden_layers"])
    mods = dict(model.named_modules())
    # Our module names -> HF prefixes.
    rename = {"query": "attention.self.query", "key": "attention.self.key",
              "value": "attention.self.value", "attn_out": "attention.output.dense",
              "inter": "intermediate.dense", "out": "output.dense"}
    targets = {}  # HF prefix -> nn.Linear
    for i in range(cfg["num_hidden_layers"]):
        for ours, hf in rename.items():
            targets[f"bert.encoder.layer.{i}.{hf}"] = mods[f"layers.{i}.{ours}"]
    assert list(targets) == prefixes
    for p in model.parameters():
        p.requires_grad_(False)
    for lin in targets.values():
        lin.weight.requires_grad_(True)
        lin.bias.requires_grad_(True)
    acc = {p: [torch.zeros_like(l.weight), torch.zeros_like(l.bias)] for p, l in targets.items()}

    def padded(batch_rows):
        t = max(len(r[0]) for r in batch_rows)
        ids = torch.zeros(len(batch_rows), t, dtype=torch.long)
        mask = torch.zeros(len(batch_rows), t, dtype=torch.long)
        for b, (r, _) in enumerate(batch_rows):
            ids[b, :len(r)] = torch.tensor(r)
            mask[b, :len(r)] = 1
        labels = torch.tensor([lab for _, lab in batch_rows])
        return ids, torch.zeros_like(ids), mask, labels

    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    batches = [[rows[i] for i in order[s:s + a.torch_batch]]
               for s in range(0, len(order), a.torch_batch)]
    t0 = time.perf_counter()
    if a.method == "loop":
        for ids, lab in rows:
            x = torch.tensor([ids])
            loss = F.cross_entropy(model(x, torch.zeros_like(x)), torch.tensor([lab]))
            params = [t for l in targets.values() for t in (l.weight, l.bias)]
            grads = torch.autograd.grad(loss, params)
            for k, p in enumerate(targets):
                acc[p][0].addcmul_(grads[2 * k], grads[2 * k])
                acc[p][1].addcmul_(grads[2 * k + 1], grads[2 * k + 1])
    elif a.method == "hooks":
        saved = []
        hooks = [l.register_forward_hook(lambda m, inp, out: saved.append((inp[0], out)))
                 for l in targets.values()]
        for br in batches:
            saved.clear()
            ids, types, mask, labels = padded(br)
            loss = F.cross_entropy(model(ids, types, mask), labels, reduction="sum")
            dys = torch.autograd.grad(loss, [o for _, o in saved])
            with torch.no_grad():
                for p, (x, _), dy in zip(targets, saved, dys):
                    g = torch.bmm(dy.transpose(1, 2), x)  # [B, out, in]: per-example dL_e/dW
                    acc[p][0].add_(g.square_().sum(0))
                    acc[p][1].add_(dy.sum(1).square_().sum(0))
        for h in hooks:
            h.remove()
    elif a.method == "vmap":
        import functorch
        from torch.nn.utils import stateless
        names = [f"{n}" for n, p in model.named_parameters() if p.requires_grad]
        fixed = {n: p for n, p in model.named_parameters() if not p.requires_grad}

        def loss_one(params, ids, types, mask, label):
            full = dict(fixed)
            full.update(zip(names, params))
            logits = stateless.functional_call(model, full, (ids[None], types[None], mask[None]))
            return F.cross_entropy(logits, label[None])

        per_ex = functorch.vmap(functorch.grad(loss_one), in_dims=(None, 0, 0, 0, 0))
        params = tuple(dict(model.named_parameters())[n] for n in names)
        pos = {n: i for i, n in enumerate(names)}
        inv = {}
        for p, l in targets.items():
            ours = [n for n, m in mods.items() if m is l][0]
            inv[p] = (pos[ours + ".weight"], pos[ours + ".bias"])
        for br in batches:
            ids, types, mask, labels = padded(br)
            gs = per_ex(params, ids, types, mask, labels)
            with torch.no_grad():
                for p, (wi, bi) in inv.items():
                    acc[p][0].add_(gs[wi].square().sum(0))
                    acc[p][1].add_(gs[bi].square().sum(0))
    else:
        raise SystemExit(f"unknown method {a.method}")
    seconds = time.perf_counter() - t0
    n = len(rows)
    if a.out:
        out = {}
        for p, (w, b) in acc.items():
            out[p + ".weight"] = (w.detach() / n).numpy()
            out[p + ".bias"] = (b.detach() / n).numpy()
        safetensors_np.save(a.out, out, {"examples": n, "method": a.method})
    print(json.dumps({"peer": "torch", "method": a.method, "threads": torch.get_num_threads(),
                      "examples": n, "seconds": seconds, "examples_per_second": n / seconds}))


# ----------------------------------------------------------------------------- driver

def peer_env(threads):
    env = dict(os.environ)
    env.update({"OPENBLAS_CORETYPE": "SkylakeX", "OMP_WAIT_POLICY": "PASSIVE",
                "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)})
    return env


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def make_sample(a, work):
    import wordpiece
    with open(a.data, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        lines = [l.rstrip("\n") for l in f if l.strip()]
    si, li = header.index("sentence"), header.index("label")
    idx = random.Random(a.seed).sample(range(len(lines)), a.examples)
    tok = wordpiece.WordPiece(os.path.join(a.model, "vocab.txt"))
    tsv, ids = os.path.join(work, "sample.tsv"), os.path.join(work, "sample_ids.jsonl")
    with open(tsv, "w", encoding="utf-8") as ft, open(ids, "w") as fi:
        ft.write("sentence\tlabel\n")
        for i in idx:
            cols = lines[i].split("\t")
            ft.write(f"{cols[si]}\t{cols[li]}\n")
            fi.write(json.dumps({"input_ids": tok.encode(cols[si], a.max_len),
                                 "label": int(cols[li])}) + "\n")
    return tsv, ids


def fwsvd_logits(a, path):
    p = subprocess.run([a.fwsvd, "run", a.model, "--input", path, "--threads", "1"],
                       capture_output=True, text=True, check=True)
    return np.array([json.loads(l)["logits"] for l in p.stdout.splitlines() if l.strip()])


def compare(ref_path, got_path, suffix=".weight"):
    """Worst max |a - b| / max |b| over the tensors whose names end with suffix. The biases are
    left out by default: the key biases' true gradient is zero (softmax ignores a per-row
    constant), so their Fisher is rounding noise in both programs."""
    ref, _ = safetensors_np.load(ref_path)
    got, _ = safetensors_np.load(got_path)
    worst, worst_name, n = 0.0, None, 0
    for name, r in ref.items():
        if name not in got or not name.endswith(suffix):
            continue
        g = got[name].astype(np.float64)
        r = r.astype(np.float64)
        rel = np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-300)
        n += 1
        if rel > worst:
            worst, worst_name = rel, name
    return worst, worst_name, n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fwsvd", default=os.path.join(REPO, "build", "tools", "fwsvd"))
    ap.add_argument("--model", default=os.path.join(SHARED, "models", "bert-mini-sst2"))
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "glue", "SST-2", "train.tsv"))
    ap.add_argument("--examples", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="loop,vmap,hooks")
    ap.add_argument("--torch-batch", type=int, default=16)
    ap.add_argument("--fisher-batch", type=int, default=16, help="fwsvd fisher --fisher-batch")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/fwsvd-peers/fisher"))
    ap.add_argument("--skip-timing", action="store_true")
    # worker mode (one PyTorch Fisher in this process)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--ids", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--nthreads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.threads = a.nthreads
        return worker(a)

    a.fwsvd = os.path.abspath(a.fwsvd)
    os.makedirs(a.work, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    methods = a.methods.split(",")
    tsv, ids = make_sample(a, a.work)
    print(f"sample: {a.examples} examples of {a.data} (seed {a.seed}), ids in {ids}")

    # 1. fwsvd's tokenizer gives the same ids: identical logits from the text and from the ids.
    lt, li = fwsvd_logits(a, tsv), fwsvd_logits(a, ids)
    diff = float(np.max(np.abs(lt - li)))
    print(f"tokenizer check: fwsvd run on text vs on wordpiece.py ids: max |logit diff| = {diff:g}")
    if diff != 0.0:
        print("  (the ids differ from fwsvd's tokenization for some examples; both Fisher "
              "computations still read the same ids file)")

    def fwsvd_fisher(t, out):
        return run_json([a.fwsvd, "fisher", a.model, "--data", ids, "--out", out, "--threads",
                         str(t), "--fisher-batch", str(a.fisher_batch), "--json"],
                        env=peer_env(t))

    def torch_fisher(m, t, out=None):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--method", m, "--nthreads",
               str(t), "--ids", ids, "--model", a.model, "--torch-batch", str(a.torch_batch)]
        if out:
            cmd += ["--out", out]
        return run_json(cmd, env=peer_env(t))

    # 2. Agreement.
    ref = os.path.join(a.work, "fisher_fwsvd.safetensors")
    r = fwsvd_fisher(threads[0], ref)
    print(f"fwsvd fisher: {r['examples']} examples, {r['tensors']} tensors; "
          f"{r['examples_per_second']:.1f} ex/s")
    usable = []
    for m in methods:
        out = os.path.join(a.work, f"fisher_torch_{m}.safetensors")
        try:
            r = torch_fisher(m, threads[0], out)
        except RuntimeError as e:
            print(f"torch {m}: not usable: {str(e).splitlines()[-1]}")
            continue
        worst, name, n = compare(ref, out)
        ok = worst <= a.tol
        print(f"agreement torch {m} vs fwsvd: {n} tensors, max rel diff {worst:.2e} ({name}) "
              f"{'<=' if ok else '>'} {a.tol:g}; {r['examples_per_second']:.1f} ex/s")
        if ok:
            usable.append(m)
    if a.skip_timing or not usable:
        return

    # 3. Interleaved timing.
    res = {}
    for rnd in range(a.rounds):
        for t in threads:
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            r = fwsvd_fisher(t, os.path.join(a.work, "fisher_timing.safetensors"))
            res.setdefault(("fwsvd", t), []).append(r["examples_per_second"])
            line = [f"round {rnd + 1} threads {t} load {load}: fwsvd {r['examples_per_second']:.1f}"]
            for m in usable:
                r = torch_fisher(m, t)
                res.setdefault((m, t), []).append(r["examples_per_second"])
                line.append(f"torch-{m} {r['examples_per_second']:.1f}")
            print(", ".join(line) + " ex/s", flush=True)
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().strip()}")
    print(f"\n| threads | fwsvd ex/s | " + " | ".join(f"torch {m} ex/s" for m in usable)
          + " | best torch | fwsvd / best torch |")
    print("|---|---|" + "---|" * len(usable) + "---|---|")
    for t in threads:
        fw = statistics.median(res[("fwsvd", t)])
        meds = {m: statistics.median(res[(m, t)]) for m in usable}
        best = max(meds, key=meds.get)
        print(f"| {t} | {fw:.1f} | " + " | ".join(f"{meds[m]:.1f}" for m in usable)
              + f" | {best} | {fw / meds[best]:.2f}x |")


if __name__ == "__main__":
    main()
