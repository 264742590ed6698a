#!/usr/bin/env python3
"""The FWSVD paper's comparison on our own models, in one command.

For each bert-mini task model in ../shared/models: the dev metric of the dense model, of SVD and
FWSVD at several ranks without fine-tuning (Fisher from a seeded sample of training examples),
and of both at one rank after fine-tuning the compressed model for one epoch. Writes a Markdown
report (tables, the command, a check of the paper's claims computed from the numbers) and an SVG
plot of metric against the fraction of encoder linear-layer parameters kept.

Everything it reports is read from the JSON that the fwsvd commands print; nothing is typed in.
Results are cached in --work: delete that folder (or pass --fresh) to recompute.

    python3 bench/paper_table.py                 # all four tasks, writes docs/RESULTS.md
    python3 bench/paper_table.py --tasks sst2 --ranks 32 --examples 500   # a quick look
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

TASKS = {
    "sst2": "SST-2",
    "stsb": "STS-B",
    "mrpc": "MRPC",
    "cola": "CoLA",
}

# What transformers' own scripts call each metric, for reading TRAINING.json.
METRIC_NAMES = {"acc": "accuracy", "pearson": "pearson", "f1": "f1", "mcc": "mcc"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd):
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}")


def run_json(cmd):
    """Runs an fwsvd command that prints one JSON object; returns it."""
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"command failed with exit code {p.returncode}: {' '.join(cmd)}")
    lines = [l for l in p.stdout.splitlines() if l.strip().startswith("{")]
    out = json.loads(lines[-1])
    out["_wall_s"] = time.time() - t0
    return out


def cached(path, compute):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    value = compute()
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)
    return value


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def layer_errors(report):
    """Mean plain and Fisher-weighted relative reconstruction errors over factored layers."""
    plain, fisher = [], []
    for layer in report.get("layers", []):
        if not layer.get("factored"):
            continue
        plain.append(layer.get("rel_error"))
        fisher.append(layer.get("fisher_rel_error"))
    return mean(plain), mean(fisher)


def task_results(args, task):
    glue = os.path.join(args.shared, "data", "glue", TASKS[task])
    model = os.path.join(args.shared, "models", f"bert-mini-{task}")
    train, dev = os.path.join(glue, "train.tsv"), os.path.join(glue, "dev.tsv")
    work = os.path.join(args.work, task)
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(model, "TRAINING.json")) as f:
        training = json.load(f)
    fw = args.fwsvd
    threads = ["--threads", str(args.threads)] if args.threads else []

    def evaluate(model_dir, name):
        return cached(os.path.join(work, f"eval-{name}.json"),
                      lambda: run_json([fw, "eval", model_dir, "--data", dev, "--json"] + threads))

    res = {"task": task, "hf_score": training["dev_score"],
           "hf_metric": METRIC_NAMES[training["dev_metric"]], "rows": []}
    res["dense"] = evaluate(model, "dense")
    fisher_path = os.path.join(work, "fisher.safetensors")
    res["fisher"] = cached(os.path.join(work, "fisher.json"), lambda: run_json(
        [fw, "fisher", model, "--data", train, "--examples", str(args.examples), "--seed",
         str(args.seed), "--out", fisher_path, "--json"] + threads))
    for method in ("svd", "fwsvd"):
        for rank in args.ranks:
            name = f"{method}-r{rank}"
            out = os.path.join(work, name)
            report_path = os.path.join(work, f"report-{name}.json")

            def compress():
                if os.path.exists(out):
                    shutil.rmtree(out)
                run([fw, "compress", model, "--method", method, "--rank", str(rank),
                     "--fisher", fisher_path, "--out", out, "--report", report_path] + threads)
                with open(report_path) as f:
                    return json.load(f)

            report = cached(os.path.join(work, f"compress-{name}.json"), compress)
            ev = evaluate(out, name)
            plain, fisher_err = layer_errors(report)
            row = {"method": method, "rank": rank, "finetuned": False, "metric": ev["metric"],
                   "value": ev["value"], "metrics": ev["metrics"],
                   "kept": report["encoder_linear"]["fraction"],
                   "err_plain": plain, "err_fisher": fisher_err}
            res["rows"].append(row)
            if rank == args.ft_rank:
                ft_out = os.path.join(work, f"{name}-ft")

                def finetune():
                    if os.path.exists(ft_out):
                        shutil.rmtree(ft_out)
                    return run_json([fw, "finetune", out, "--data", train, "--dev", dev, "--out",
                                     ft_out, "--epochs", "1", "--lr", str(training["lr"]),
                                     "--batch", str(training["batch"]), "--seed",
                                     str(args.seed), "--json"] + threads)

                ft = cached(os.path.join(work, f"finetune-{name}.json"), finetune)
                ev_ft = evaluate(ft_out, f"{name}-ft")
                res["rows"].append(dict(row, finetuned=True, value=ev_ft["value"],
                                        metrics=ev_ft["metrics"],
                                        finetune_seconds=ft["runs"][-1]["seconds"]))
    return res


def fmt(x, nd=4):
    return "–" if x is None else f"{x:.{nd}f}"


def claims(results):
    """The paper's claims, checked pair by pair (same task, same rank, no fine-tuning)."""
    larger_err = closer = svd_worse_by = 0
    pairs = []
    for res in results:
        dense = res["dense"]["value"]
        by = {(r["method"], r["rank"], r["finetuned"]): r for r in res["rows"]}
        for (method, rank, ft), r in by.items():
            if method != "svd" or ft:
                continue
            f = by.get(("fwsvd", rank, False))
            if not f:
                continue
            pairs.append((res["task"], rank, r, f, dense))
    n = len(pairs)
    lines = []
    larger_err = sum(1 for _, _, s, f, _ in pairs
                     if f["err_plain"] is not None and f["err_plain"] > s["err_plain"])
    smaller_ferr = sum(1 for _, _, s, f, _ in pairs
                       if f["err_fisher"] is not None and s["err_fisher"] is not None
                       and f["err_fisher"] < s["err_fisher"])
    closer = sum(1 for _, _, s, f, d in pairs if abs(d - f["value"]) < abs(d - s["value"]))
    lines.append(f"- FWSVD's plain reconstruction error ‖W−Ŵ‖/‖W‖ is larger than SVD's in "
                 f"{larger_err} of {n} (task, rank) pairs; its Fisher-weighted error is smaller "
                 f"in {smaller_ferr} of {n}.")
    lines.append(f"- FWSVD's dev metric is closer to the dense model's than SVD's in {closer} "
                 f"of {n} pairs.")
    collapse = []
    for task, rank, s, f, d in pairs:
        # "Collapse": SVD loses more than half of the dense model's margin over its worst pair.
        drop_s, drop_f = d - s["value"], d - f["value"]
        if drop_s > 0.1 * abs(d) + 0.05 and drop_s > 2 * max(drop_f, 0.0):
            collapse.append(f"{task} rank {rank} (SVD {fmt(s['value'])}, FWSVD "
                            f"{fmt(f['value'])}, dense {fmt(d)})")
    if collapse:
        lines.append("- Cases where SVD falls far below the dense model while FWSVD does not "
                     "(SVD loses more than 0.05 + 10% of the dense score and more than twice "
                     "FWSVD's loss): " + "; ".join(collapse) + ".")
    else:
        lines.append("- No (task, rank) pair where SVD falls far below dense while FWSVD holds "
                     "(criterion: SVD loses more than 0.05 + 10% of the dense score and more than "
                     "twice FWSVD's loss).")
    ft_pairs = []
    for res in results:
        by = {(r["method"], r["finetuned"]): r for r in res["rows"] if r["finetuned"]}
        if ("svd", True) in by and ("fwsvd", True) in by:
            ft_pairs.append((res["task"], by[("svd", True)], by[("fwsvd", True)],
                             res["dense"]["value"]))
    if ft_pairs:
        better = sum(1 for _, s, f, d in ft_pairs if abs(d - f["value"]) < abs(d - s["value"]))
        lines.append(f"- After one epoch of fine-tuning, FWSVD is closer to dense than SVD on "
                     f"{better} of {len(ft_pairs)} tasks.")
    return lines


def write_markdown(args, results, command, path):
    out = []
    out.append("# FWSVD against SVD on the bert-mini task models\n")
    out.append("Produced by (nothing in this file is typed in by hand except the prose under "
               "*Reading*):\n")
    out.append("```\n" + command + "\n```\n")
    out.append(f"Fisher: {args.examples} training examples sampled with seed {args.seed}; "
               f"fine-tuning: one epoch over the full training set with the learning rate and "
               f"batch size of the model's own TRAINING.json, seed {args.seed}. *kept* is the "
               f"fraction of the encoder's linear-layer weights that remain (README, "
               f"`--param-ratio`). Errors are means over the factored layers of "
               f"‖W−Ŵ‖_F/‖W‖_F (plain) and of the Fisher-weighted version.\n")
    for res in results:
        d = res["dense"]
        out.append(f"## {res['task']} ({d['metric']})\n")
        out.append(f"Dense: {fmt(d['value'])} (transformers reported {fmt(res['hf_score'])}). "
                   f"Fisher: {res['fisher']['examples']} examples in "
                   f"{res['fisher']['seconds']:.1f} s.\n")
        # Classification tasks also show accuracy and MCC: F1 rewards a model that drifts towards
        # the positive class (MRPC), and MCC is CoLA's own metric anyway.
        extra = [m for m in ("accuracy", "mcc") if m in d.get("metrics", {}) and m != d["metric"]]
        out.append("| method | rank | fine-tuned | kept | " + d["metric"] +
                   " | Δ vs dense | " + "".join(f"{m} | " for m in extra) +
                   "plain err | Fisher-weighted err |")
        out.append("|---|---|---|---|---|---|" + "---|" * len(extra) + "---|---|")
        ex = lambda metrics: "".join(f"{fmt(metrics.get(m))} | " for m in extra)
        out.append(f"| dense | – | – | 100.0% | {fmt(d['value'])} | – | "
                   f"{ex(d.get('metrics', {}))}– | – |")
        rows = sorted(res["rows"], key=lambda r: (r["finetuned"], r["rank"], r["method"]))
        for r in rows:
            out.append(f"| {r['method']} | {r['rank']} | {'1 epoch' if r['finetuned'] else 'no'} "
                       f"| {100 * r['kept']:.1f}% | {fmt(r['value'])} | "
                       f"{r['value'] - d['value']:+.4f} | {ex(r.get('metrics', {}))}"
                       f"{fmt(r['err_plain'])} | {fmt(r['err_fisher'])} |")
        out.append("")
    out.append("## The paper's claims, checked on these numbers\n")
    out.extend(claims(results))
    out.append("")
    out.append(f"![metric against parameters kept]({os.path.basename(args.svg)})\n")
    # The analysis is prose written by a person after reading the tables above; it lives in its
    # own file so that regenerating the tables never rewrites it.
    reading = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_table_reading.md")
    if os.path.exists(reading):
        out.append("## Reading\n")
        with open(reading) as f:
            out.append(f.read().rstrip() + "\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


def write_svg(results, path):
    w, h = 440, 300
    cols = 2
    rows_n = (len(results) + 1) // 2
    W, H = cols * w, rows_n * h + 30
    colors = {"svd": "#d62728", "fwsvd": "#1f77b4"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    for i, res in enumerate(results):
        ox, oy = (i % cols) * w, (i // cols) * h
        x0, y0, pw, ph = ox + 60, oy + 30, w - 90, h - 80
        dense = res["dense"]["value"]
        vals = [r["value"] for r in res["rows"]] + [dense]
        lo, hi = min(vals), max(vals)
        pad = 0.05 * (hi - lo or 1)
        lo, hi = lo - pad, hi + pad
        kept = [r["kept"] for r in res["rows"]] + [1.0]
        kx_lo, kx_hi = 0.0, max(kept) * 1.05

        def X(k):
            return x0 + pw * (k - kx_lo) / (kx_hi - kx_lo)

        def Y(v):
            return y0 + ph * (1 - (v - lo) / (hi - lo))

        parts.append(f'<text x="{ox + w / 2}" y="{oy + 18}" text-anchor="middle" '
                     f'font-weight="bold">{res["task"]} ({res["dense"]["metric"]})</text>')
        parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" '
                     f'stroke="#888"/>')
        for t in range(5):
            v = lo + (hi - lo) * t / 4
            parts.append(f'<text x="{x0 - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
            k = kx_lo + (kx_hi - kx_lo) * t / 4
            parts.append(f'<text x="{X(k):.1f}" y="{y0 + ph + 16}" text-anchor="middle">'
                         f'{100 * k:.0f}%</text>')
        parts.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 34}" text-anchor="middle">'
                     f'encoder linear weights kept</text>')
        parts.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{Y(dense):.1f}" y2="{Y(dense):.1f}" '
                     f'stroke="#444" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{x0 + pw - 4}" y="{Y(dense) - 4:.1f}" text-anchor="end" '
                     f'fill="#444">dense</text>')
        for method, color in colors.items():
            pts = sorted((r["kept"], r["value"]) for r in res["rows"]
                         if r["method"] == method and not r["finetuned"])
            if pts:
                path_d = " ".join(f"{X(k):.1f},{Y(v):.1f}" for k, v in pts)
                parts.append(f'<polyline points="{path_d}" fill="none" stroke="{color}" '
                             f'stroke-width="2"/>')
                for k, v in pts:
                    parts.append(f'<circle cx="{X(k):.1f}" cy="{Y(v):.1f}" r="3.5" '
                                 f'fill="{color}"/>')
            for r in res["rows"]:
                if r["method"] == method and r["finetuned"]:
                    parts.append(f'<rect x="{X(r["kept"]) - 5:.1f}" y="{Y(r["value"]) - 5:.1f}" '
                                 f'width="10" height="10" fill="none" stroke="{color}" '
                                 f'stroke-width="2"/>')
    ly = H - 12
    parts.append(f'<circle cx="20" cy="{ly - 4}" r="4" fill="{colors["svd"]}"/>'
                 f'<text x="30" y="{ly}">SVD</text>'
                 f'<circle cx="80" cy="{ly - 4}" r="4" fill="{colors["fwsvd"]}"/>'
                 f'<text x="90" y="{ly}">FWSVD</text>'
                 f'<rect x="150" y="{ly - 9}" width="10" height="10" fill="none" stroke="#444"/>'
                 f'<text x="166" y="{ly}">after 1 epoch of fine-tuning</text>')
    parts.append("</svg>")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(parts) + "\n")
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fwsvd", default=os.path.join(root, "build", "tools", "fwsvd"))
    ap.add_argument("--shared", default=os.environ.get("FWSVD_SHARED_DIR",
                                                       os.path.join(root, "..", "shared")))
    ap.add_argument("--work", default=os.path.join(root, "out", "paper_table"))
    ap.add_argument("--tasks", default="sst2,stsb,mrpc,cola")
    ap.add_argument("--ranks", default="16,32,64,96")
    ap.add_argument("--examples", type=int, default=8000)
    ap.add_argument("--ft-rank", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(root, "docs", "RESULTS.md"))
    ap.add_argument("--svg", default=os.path.join(root, "docs", "results.svg"))
    ap.add_argument("--fresh", action="store_true", help="delete cached results first")
    args = ap.parse_args()
    args.ranks = [int(r) for r in args.ranks.split(",")]
    if not os.path.exists(args.fwsvd):
        sys.exit(f"{args.fwsvd} not found: build first (cmake -S . -B build && "
                 f"cmake --build build -j)")
    if args.fresh and os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    command = "python3 bench/paper_table.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    results = [task_results(args, t) for t in args.tasks.split(",")]
    write_svg(results, args.svg)
    write_markdown(args, results, command.strip(), args.out)
    log(f"wrote {args.out} and {args.svg}")


if __name__ == "__main__":
    main()
