#!/usr/bin/python3
"""Task scores and logits of fwsvd's f32 and bf16 inference (--precision), model by model.

  python3 bench/bf16_accuracy.py --fwsvd build/tools/fwsvd [--case DIR:DEV_TSV ...]

Default cases: the four fine-tuned bert-mini checkpoints of ../shared on their GLUE dev sets. For
each case it runs `fwsvd eval DIR --data DEV_TSV --json --dump-logits` twice (f32, bf16) and
prints one table row: both primary scores and their difference, the largest |logit difference|
against the largest |logit|, and how many predicted labels changed (classification).
"""
import argparse
import array
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.environ.get("FWSVD_SHARED_DIR", os.path.join(REPO, "..", "shared"))
TASKS = [("bert-mini-sst2", "SST-2"), ("bert-mini-stsb", "STS-B"), ("bert-mini-mrpc", "MRPC"),
         ("bert-mini-cola", "CoLA")]


def read_logits(path):
    """The one float32 tensor of a safetensors file: (values, shape)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    t = header[name]
    if t["dtype"] != "F32":
        raise SystemExit(f"{path}: {name} is {t['dtype']}, expected F32")
    begin, end = t["data_offsets"]
    values = array.array("f")
    values.frombytes(raw[8 + n + begin:8 + n + end])
    return values, t["shape"]


def evaluate(fwsvd, model, data, precision, out):
    p = subprocess.run([fwsvd, "eval", model, "--data", data, "--json", "--dump-logits", out,
                        "--precision", precision], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"fwsvd eval {model} --precision {precision} failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fwsvd", default=os.path.join(REPO, "build", "tools", "fwsvd"))
    ap.add_argument("--case", action="append", default=[],
                    help="MODEL_DIR:DEV_TSV (repeatable; default: the four bert-mini tasks)")
    a = ap.parse_args()
    cases = [tuple(c.rsplit(":", 1)) for c in a.case] or [
        (os.path.join(SHARED, "models", m), os.path.join(SHARED, "data", "glue", d, "dev.tsv"))
        for m, d in TASKS]
    print("| model | examples | metric | f32 | bf16 | bf16 - f32 | max abs logit diff "
          "| max abs logit | labels changed |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model, data in cases:
            res, logits = {}, {}
            for precision in ("f32", "bf16"):
                out = os.path.join(tmp, precision + ".safetensors")
                res[precision] = evaluate(a.fwsvd, model, data, precision, out)
                logits[precision] = read_logits(out)
            (x, shape), (y, _) = logits["f32"], logits["bf16"]
            diff = max(abs(u - v) for u, v in zip(x, y))
            scale = max(abs(u) for u in x)
            changed = "-"
            if len(shape) == 2 and shape[1] > 1:
                c = shape[1]
                arg = lambda v, i: max(range(c), key=lambda k: v[i * c + k])
                changed = f"{sum(arg(x, i) != arg(y, i) for i in range(shape[0]))} / {shape[0]}"
            f, b = res["f32"]["value"], res["bf16"]["value"]
            print(f"| {os.path.basename(model.rstrip('/'))} | {res['f32']['examples']} "
                  f"| {res['f32']['metric']} | {f:.4f} | {b:.4f} | {b - f:+.4f} | {diff:.4f} "
                  f"| {scale:.2f} | {changed} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
