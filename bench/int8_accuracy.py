#!/usr/bin/python3
"""Task scores of fwsvd's int8 inference against f32 (--precision), model by model.

  python3 bench/int8_accuracy.py --fwsvd build/tools/fwsvd [--svd-rank 32] [--case DIR:DEV_TSV ...]

Default cases: the four fine-tuned bert-mini checkpoints of ../shared on their GLUE dev sets;
with --svd-rank R also their rank-R SVD factorisations (`fwsvd compress --method svd --rank R`,
written to a temporary folder), where int8 runs both factors of each layer. For each case it
runs `fwsvd eval DIR --data DEV_TSV --json --dump-logits` in f32 and in each int8 variant:

  int8          the default: activations per row, 7-bit weights where the CPU lacks VNNI
  per-tensor    --int8-activations tensor (one activation range per GEMM call)
  7-bit act.    --int8-reduce activations (8-bit weights, 7-bit activations; CPUs without VNNI)
  middle f32    --int8-middle f32 (factored cases only: the second factor and its input in f32)

and prints one table row per case: each variant's primary score and its difference from f32,
whether the default is within the target (0.5 point; 0.01 for MCC and Pearson), the default's
largest |logit difference| against the largest |logit|, and how many predicted labels changed.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bf16_accuracy import SHARED, TASKS, read_logits  # noqa: E402

VARIANTS = [("int8", []), ("per-tensor", ["--int8-activations", "tensor"]),
            ("7-bit act.", ["--int8-reduce", "activations"]),
            ("middle f32", ["--int8-middle", "f32"])]


def evaluate(fwsvd, model, data, precision, extra, out):
    cmd = [fwsvd, "eval", model, "--data", data, "--json", "--dump-logits", out, "--precision",
           precision] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    import json
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fwsvd", default=os.path.join(os.path.dirname(HERE), "build", "tools", "fwsvd"))
    ap.add_argument("--case", action="append", default=[],
                    help="MODEL_DIR:DEV_TSV (repeatable; default: the four bert-mini tasks)")
    ap.add_argument("--svd-rank", type=int, default=0,
                    help="also the default cases' rank-R SVD factorisations")
    ap.add_argument("--skip", default="",
                    help="--int8-skip REGEX for every int8 run (layers kept in f32)")
    a = ap.parse_args()
    base = [(os.path.join(SHARED, "models", m), os.path.join(SHARED, "data", "glue", d, "dev.tsv"))
            for m, d in TASKS]
    cases = [tuple(c.rsplit(":", 1)) + (False,) for c in a.case] or [b + (False,) for b in base]
    skip = ["--int8-skip", a.skip] if a.skip else []
    with tempfile.TemporaryDirectory() as tmp:
        if a.svd_rank and not a.case:
            for model, data in base:
                out = os.path.join(tmp, f"{os.path.basename(model)}-svd{a.svd_rank}")
                subprocess.run([a.fwsvd, "compress", model, "--method", "svd", "--rank",
                                str(a.svd_rank), "--out", out], check=True, capture_output=True)
                cases.append((out, data, True))
        names = [v for v, _ in VARIANTS]
        print("| model | examples | metric | f32 | " + " | ".join(names) +
              " | int8 within target | max abs logit diff (int8) | max abs logit | labels changed (int8) |")
        print("|---|---|---|---|" + "---|" * len(names) + "---|---|---|---|")
        for model, data, factored in cases:
            res, logits = {}, {}
            out = os.path.join(tmp, "f32.safetensors")
            res["f32"] = evaluate(a.fwsvd, model, data, "f32", [], out)
            logits["f32"] = read_logits(out)
            for name, extra in VARIANTS:
                if name == "middle f32" and not factored:
                    continue
                out = os.path.join(tmp, "v.safetensors")
                res[name] = evaluate(a.fwsvd, model, data, "int8", extra + skip, out)
                logits[name] = read_logits(out)
            (x, shape), (y, _) = logits["f32"], logits["int8"]
            diff = max(abs(u - v) for u, v in zip(x, y))
            scale = max(abs(u) for u in x)
            changed = "-"
            if len(shape) == 2 and shape[1] > 1:
                c = shape[1]
                arg = lambda v, i: max(range(c), key=lambda k: v[i * c + k])
                changed = f"{sum(arg(x, i) != arg(y, i) for i in range(shape[0]))} / {shape[0]}"
            f = res["f32"]["value"]
            metric = res["f32"]["metric"]
            target = 0.01 if metric in ("mcc", "pearson", "spearman") else 0.005
            cells = [f"{res[n]['value']:.4f} ({res[n]['value'] - f:+.4f})" if n in res else "-"
                     for n in names]
            ok = abs(res["int8"]["value"] - f) <= target
            print(f"| {os.path.basename(model.rstrip('/'))} | {res['f32']['examples']} | {metric} "
                  f"| {f:.4f} | " + " | ".join(cells) +
                  f" | {'yes' if ok else 'no'} (±{target}) | {diff:.4f} | {scale:.2f} | {changed} |",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
