#!/usr/bin/env python3
"""Compression methods against each other on our own models, in one command.

For each bert-mini task model in ../shared/models: the dev metric of the dense model, and of
every compression method (`fwsvd compress --method ...`) at several budgets of the encoder's
linear weights (--param-ratio), with uniform and greedy rank allocation, without fine-tuning.
Statistics (Fisher, input mean |x|, E[x x^T]) come once per task from `fwsvd stats` on a seeded
sample of the training file; `--method auto` ranks its candidates on the next --holdout examples
of the same shuffle. Writes a Markdown report (tables, the commands, the issue's targets checked
on the numbers) and an SVG plot of metric against the fraction of encoder linear weights kept.

Everything it reports is read from the JSON that the fwsvd commands print or write; nothing is
typed in. Results are cached in --work (one JSON per step): delete that folder (or pass --fresh)
to recompute; a cached step is reused only if the command that made it is the same.

Extending it: a recovery stage after compression (`--recover finetune`: one epoch of
`fwsvd finetune` with the model's own TRAINING.json settings; `--recover distil`: the same with
`--teacher` the dense task model) adds columns; a new stage is one entry in RECOVERY below (a
function from the compressed folder to a model folder to evaluate).

    python3 bench/paper_table.py                          # everything, writes docs/RESULTS.md
    python3 bench/paper_table.py --tasks sst2 --budgets 0.2 --methods svd,whiten --jobs 2
"""
import argparse
import csv
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

TASKS = {
    "sst2": "SST-2",
    "stsb": "STS-B",
    "mrpc": "MRPC",
    "cola": "CoLA",
}
# The metrics each task's table shows (the model's own primary metric first).
TASK_METRICS = {
    "sst2": ["accuracy"],
    "stsb": ["pearson"],
    "mrpc": ["f1", "mcc"],
    "cola": ["mcc"],
}
METHODS = ["svd", "fwsvd", "asvd", "whiten", "fisher-whiten", "fw2", "tfwsvd", "auto"]
BASELINES = ["svd", "fwsvd"]  # the paper's methods, which the targets compare against

_print_lock = threading.Lock()


def log(msg):
    with _print_lock:
        print(msg, file=sys.stderr, flush=True)


def run_cmd(cmd, stdout_json=False):
    """Runs an fwsvd command; returns the last JSON line of its output (stdout_json) or None."""
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    t0 = time.time()
    env = dict(os.environ, FWSVD_NO_PROGRESS="1")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"command failed with exit code {p.returncode}: {' '.join(cmd)}\n{p.stderr}")
    if not stdout_json:
        return {"_wall_s": time.time() - t0}
    lines = [l for l in p.stdout.splitlines() if l.strip().startswith("{")]
    out = json.loads(lines[-1])
    out["_wall_s"] = time.time() - t0
    return out


# Paths a cache key leaves out (set by main), so that a cache made on another machine or in
# another checkout is reused: the fwsvd binary, the shared folder and the work folder.
KEY_PATHS = {}


def key_of(cmd):
    key = " ".join(cmd)
    for name, path in sorted(KEY_PATHS.items(), key=lambda kv: -len(kv[1])):
        key = key.replace(path, name)
    return key


def is_cached(path, cmd):
    if not os.path.exists(path):
        return False
    with open(path) as f:
        return json.load(f).get("_command") == key_of(cmd)


def cached(path, cmd, compute):
    """The JSON stored at path if it was made by the same command, else compute() stored there."""
    key = key_of(cmd)
    if os.path.exists(path):
        with open(path) as f:
            value = json.load(f)
        if value.get("_command") == key:
            return value
    value = compute()
    value["_command"] = key
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)
    return value


def count_examples(path):
    with open(path, newline="") as f:
        return sum(1 for _ in f) - 1  # header


def dev_labels(path):
    """The dev file's labels (floats), from the column each GLUE file keeps them in."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    for name in ("label", "Quality", "score"):
        if name in header:
            col = header.index(name)
            return [float(r[col]) for r in rows[1:] if len(r) > col]
    return []


def trivial_baseline(metric, labels):
    """The metric of the best constant prediction on these labels."""
    if not labels or metric in ("mcc", "pearson", "spearman"):
        return 0.0
    p = sum(1 for y in labels if y == 1) / len(labels)
    if metric == "accuracy":
        return max(p, 1 - p)
    if metric == "f1":
        return 2 * p / (1 + p)  # everything predicted positive
    return 0.0


class Task:
    def __init__(self, args, name):
        self.args, self.name = args, name
        glue = os.path.join(args.shared, "data", "glue", TASKS[name])
        self.model = os.path.join(args.shared, "models", f"bert-mini-{name}")
        self.train, self.dev = os.path.join(glue, "train.tsv"), os.path.join(glue, "dev.tsv")
        self.work = os.path.join(args.work, name)
        os.makedirs(self.work, exist_ok=True)
        with open(os.path.join(self.model, "TRAINING.json")) as f:
            self.training = json.load(f)
        n = count_examples(self.train)
        # auto's held-out slice comes after the statistics' examples in the same shuffle.
        self.holdout = min(args.holdout, n // 5)
        self.examples = min(args.examples, n - self.holdout)
        self.stats_path = os.path.join(self.work, "stats.safetensors")
        self.labels = dev_labels(self.dev)
        self.lock = threading.Lock()

    def threads(self):
        return ["--threads", str(self.args.threads)] if self.args.threads else []

    def eval_cmd(self, model_dir):
        return [self.args.fwsvd, "eval", model_dir, "--data", self.dev, "--json"] + self.threads()

    def evaluate(self, model_dir, tag):
        cmd = self.eval_cmd(model_dir)
        return cached(os.path.join(self.work, f"eval-{tag}.json"), cmd,
                      lambda: run_cmd(cmd, stdout_json=True))

    def stats_cmd(self):
        return [self.args.fwsvd, "stats", self.model, "--data", self.train, "--stats",
                "fisher,input-mean,input-cov", "--examples", str(self.examples), "--seed",
                str(self.args.seed), "--out", self.stats_path, "--json"] + self.threads()

    def stats(self, need_file=False):
        """The statistics' summary; need_file: the file itself must exist too."""
        cmd = self.stats_cmd()
        path = os.path.join(self.work, "stats.json")
        with self.lock:
            if need_file and not os.path.exists(self.stats_path) and os.path.exists(path):
                os.remove(path)  # the cache outlived the file
            return cached(path, cmd, lambda: run_cmd(cmd, stdout_json=True))

    def compress(self, method, budget, alloc, need_folder=False, emb=None):
        """The compression report (cached); need_folder: the model folder must exist too; emb:
        also factor the word embeddings at this rank (--embeddings)."""
        tag = f"{method}-{alloc}-{budget}" + (f"-e{emb}" if emb else "")
        out = os.path.join(self.work, tag)
        report = os.path.join(self.work, f"report-{tag}.json")
        cmd = [self.args.fwsvd, "compress", self.model, "--method", method, "--param-ratio",
               str(budget), "--allocate", alloc, "--stats", self.stats_path, "--out", out,
               "--report", report] + self.threads()
        if emb:
            cmd += ["--embeddings", str(emb)]
        if method == "tfwsvd":
            cmd += ["--iters", str(self.args.tfwsvd_iters)]
        if method == "auto":
            cmd += ["--data", self.train, "--holdout", str(self.holdout)]

        def compute():
            self.stats(need_file=True)
            if os.path.exists(out):
                shutil.rmtree(out)
            r = run_cmd(cmd)
            with open(report) as f:
                rep = json.load(f)
            rep["_wall_s"] = r["_wall_s"]
            return rep

        path = os.path.join(self.work, f"compress-{tag}.json")
        if need_folder and not os.path.exists(out) and os.path.exists(path):
            os.remove(path)  # the cache outlived the folder
        return tag, out, cached(path, cmd, compute)

    def finetune(self, model_dir, tag, teacher=False):
        """One epoch of fwsvd finetune with the model's TRAINING.json lr and batch; teacher:
        distillation from the dense task model (--teacher, default --kd-alpha/--temperature)."""
        out = model_dir + ("-kd" if teacher else "-ft")
        t = self.training
        cmd = [self.args.fwsvd, "finetune", model_dir, "--data", self.train, "--dev", self.dev,
               "--out", out, "--epochs", "1", "--lr", str(t["lr"]), "--batch", str(t["batch"]),
               "--seed", str(self.args.seed), "--json"] + self.threads()
        if teacher:
            cmd += ["--teacher", self.model]

        def compute():
            if os.path.exists(out):
                shutil.rmtree(out)
            return run_cmd(cmd, stdout_json=True)

        path = os.path.join(self.work, f"{'distil' if teacher else 'finetune'}-{tag}.json")
        if not os.path.exists(out) and os.path.exists(path):
            os.remove(path)  # the cache outlived the folder
        cached(path, cmd, compute)

    def latency(self, model_dir, tag, threads, shape=None):
        """fwsvd bench of model_dir (cached). shape: a name for the model's shape (its ranks):
        models of one shape are timed once, whatever method made them."""
        cmd = [self.args.fwsvd, "bench", model_dir, "--seq", "128", "--threads", str(threads),
               "--seconds", str(self.args.latency_seconds), "--json"]
        key = cmd if shape is None else [c if c != model_dir else f"<shape {shape}>" for c in cmd]
        name = f"bench-{tag}-t{threads}.json" if shape is None else f"bench-{shape}-t{threads}.json"
        return cached(os.path.join(self.work, name), key,
                      lambda: run_cmd(cmd, stdout_json=True))


# Recovery stages after compression: name -> (column label, the folder it evaluates given the
# compressed folder, a function(task, compressed folder, tag) that makes that folder). "none"
# evaluates the compressed model as it is.
RECOVERY = {
    "none": ("no", lambda folder: folder, lambda task, folder, tag: None),
    "finetune": ("1 epoch", lambda folder: folder + "-ft",
                 lambda task, folder, tag: task.finetune(folder, tag)),
    "distil": ("1 epoch of distillation from the dense model", lambda folder: folder + "-kd",
               lambda task, folder, tag: task.finetune(folder, tag, teacher=True)),
}


def task_results(args, task, pool):
    """The dense model's results and the statistics; main adds the rows (row_of)."""
    name = task.name
    res = {"task": name, "rows": [], "holdout": task.holdout}
    res["dense"] = task.evaluate(task.model, "dense")
    res["hf_score"] = task.training["dev_score"]
    res["trivial"] = {m: trivial_baseline(m, task.labels) for m in TASK_METRICS[name]}
    res["stats"] = task.stats()
    res["stats"]["examples_asked"] = task.examples
    if args.latency:
        res["dense_latency"] = {t: task.latency(task.model, "dense", t) for t in (1, 2)}
    return res


def shape_of(rep):
    """A short name for a compressed model's shape: its layers' ranks and the embeddings' rank."""
    ranks = [(l.get("prefix"), l.get("rank")) for l in rep.get("layers", [])]
    ranks.append(("word_embeddings", (rep.get("word_embeddings") or {}).get("rank")))
    return "shape-" + hashlib.sha1(json.dumps(ranks).encode()).hexdigest()[:12]


def row_of(args, task, method, budget, alloc, recover, emb=None):
    tag, folder, rep = task.compress(method, budget, alloc, emb=emb)
    etag = tag if recover == "none" else f"{tag}-{recover}"
    _, out_dir, make = RECOVERY[recover]
    # The folders are needed only for steps not cached yet.
    need = not is_cached(os.path.join(task.work, f"eval-{etag}.json"),
                         task.eval_cmd(out_dir(folder)))
    shape = shape_of(rep)
    if args.latency and recover == "none":
        need = need or not all(
            os.path.exists(os.path.join(task.work, f"bench-{shape}-t{t}.json")) for t in (1, 2))
    if need:
        tag, folder, rep = task.compress(method, budget, alloc, need_folder=True, emb=emb)
        make(task, folder, tag)
    ev = task.evaluate(out_dir(folder), etag)
    row = {"method": method, "budget": budget, "allocation": alloc, "recover": recover,
           "metric": ev["metric"], "value": ev["value"], "metrics": ev["metrics"],
           "kept": rep["encoder_linear"]["fraction"],
           "whole": rep["whole_model"]["fraction"],
           "compress_seconds": rep.get("seconds"),
           "chosen": rep.get("method"), "refit": rep.get("refit", False), "embeddings": emb,
           "params": rep["whole_model"]["params_after"],
           "params_before": rep["whole_model"]["params_before"]}
    if args.latency and recover == "none":
        row["latency_ms"] = {t: task.latency(folder, tag, t, shape)["median_ms"]
                             for t in (1, 2)}
    return row


def holds(res, row):
    """Whether every metric of the task's tables (MRPC: F1 and MCC) is within one point (0.01)
    of the dense model's: F1 alone rewards a model that drifts towards always answering the
    majority class, as MRPC's F1 does."""
    return all(metric_of(row, m) >= res["dense"]["metrics"].get(m) - 0.01 - 1e-12
               for m in TASK_METRICS[res["task"]])


def compact_search(args, task, res, method):
    """The smallest whole model that keeps the primary metric within one point of dense after
    one epoch of distillation, for one method: first the smallest --compact-budgets entry (uniform
    ranks) that holds, walking up from the smallest; then, at that budget, the word embeddings
    factored at each --compact-embeddings rank from the largest down, stopping at the first that
    fails. Not exhaustive: it assumes a model that fails does not hold at a smaller size."""
    tried, best = [], None
    for b in sorted(args.compact_budgets):
        r = row_of(args, task, method, b, "uniform", "distil")
        tried.append(r)
        if holds(res, r):
            best = r
            break
    if best is not None:
        for e in sorted(args.compact_embeddings, reverse=True):
            r = row_of(args, task, method, best["budget"], "uniform", "distil", emb=e)
            tried.append(r)
            if not holds(res, r):
                break
            best = r
    return {"method": method, "tried": tried, "best": best}


def config_of(row):
    return (f"{100 * row['budget']:.0f}% of the encoder" +
            (f", embeddings rank {row['embeddings']}" if row["embeddings"] else ""))


def compact_section(args, results):
    out = ["## The compact-model claim: the smallest whole model within 1 point, after one epoch "
           "of distillation\n",
           f"Per task and method, `compact_search` in bench/paper_table.py: the smallest encoder "
           f"budget of {', '.join(f'{100 * b:.0f}%' for b in sorted(args.compact_budgets))} "
           f"(uniform ranks) whose model keeps every metric of the task's tables within 0.01 of dense "
           f"after one epoch of `fwsvd finetune --teacher` (the dense model), then at that "
           f"budget the word embeddings factored (`--embeddings`) at ranks "
           f"{', '.join(str(e) for e in sorted(args.compact_embeddings, reverse=True))} in turn "
           f"until one fails. The whole model counts every parameter (embeddings, encoder, "
           f"head) as `fwsvd compress` reports it. The search is not exhaustive: it assumes "
           f"that a model that fails does not hold at a smaller size.\n",
           "| task | method | smallest that holds | whole model params | kept | reduction | "
           "metrics (dense) | tried (whole model kept: metrics) |", "|---|---|---|---|---|---|---|---|"]
    for res in results:
        metrics = TASK_METRICS[res["task"]]
        d = res["dense"]["metrics"]

        def ms(r):
            return ", ".join(f"{m} {fmt(metric_of(r, m))}" for m in metrics)

        dense_s = ", ".join(fmt(d.get(m)) for m in metrics)
        for c in res.get("compact", []):
            tried = "; ".join(f"{config_of(r)} ({100 * r['whole']:.1f}%): {ms(r)}"
                              for r in c["tried"])
            b = c["best"]
            if b is None:
                out.append(f"| {res['task']} | {c['method']} | none | – | – | – | – "
                           f"({dense_s}) | {tried} |")
                continue
            out.append(f"| {res['task']} | {c['method']} | {config_of(b)} | {b['params']:,} of "
                       f"{b['params_before']:,} | {100 * b['whole']:.1f}% | "
                       f"{1 / b['whole']:.2f}x | {ms(b)} ({dense_s}) | {tried} |")
    out.append("")
    return out


def fmt(x, nd=4):
    return "–" if x is None else f"{x:.{nd}f}"


def metric_of(row, metric):
    return row["metrics"].get(metric, row["value"] if row["metric"] == metric else None)


def best_new(rows, metric, budget, alloc, recover="none"):
    """The best method other than svd/fwsvd (auto included) at this budget and allocation."""
    cands = [r for r in rows if r["budget"] == budget and r["allocation"] == alloc and
             r["recover"] == recover and r["method"] not in BASELINES]
    return max(cands, key=lambda r: metric_of(r, metric), default=None)


def best_baseline(rows, metric, budget, alloc, recover="none"):
    cands = [r for r in rows if r["budget"] == budget and r["allocation"] == alloc and
             r["recover"] == recover and r["method"] in BASELINES]
    return max(cands, key=lambda r: metric_of(r, metric), default=None)


def targets(args, results):
    """The issue's targets, checked on these numbers."""
    lines = []
    fails, checked = [], 0
    for res in results:
        metric = TASK_METRICS[res["task"]][0]
        dense = res["dense"]["metrics"].get(metric, res["dense"]["value"])
        trivial = res["trivial"][metric]
        if dense <= trivial:
            lines.append(f"- {res['task']}: the dense model's {metric} {fmt(dense)} is not above "
                         f"the trivial baseline {fmt(trivial)}: not counted.")
            continue
        for alloc in args.allocations:
            for b in args.budgets:
                new, base = (best_new(res["rows"], metric, b, alloc),
                             best_baseline(res["rows"], metric, b, alloc))
                if not new or not base:
                    continue
                checked += 1
                if metric_of(new, metric) < metric_of(base, metric):
                    fails.append(f"{res['task']} {alloc} {100 * b:.0f}% ({new['method']} "
                                 f"{fmt(metric_of(new, metric))} < {base['method']} "
                                 f"{fmt(metric_of(base, metric))})")
    lines.append(f"- Best new method >= max(svd, fwsvd) at the same budget and allocation: "
                 f"{checked - len(fails)} of {checked} (task, allocation, budget) cells hold"
                 + (": fails at " + "; ".join(fails) + "." if fails else "."))
    sst = next((r for r in results if r["task"] == "sst2"), None)
    if sst:
        for b in (0.1, 0.2):
            if b not in args.budgets:
                continue
            for alloc in args.allocations:
                new, base = (best_new(sst["rows"], "accuracy", b, alloc),
                             best_baseline(sst["rows"], "accuracy", b, alloc))
                if new and base:
                    d = metric_of(new, "accuracy") - metric_of(base, "accuracy")
                    lines.append(f"- SST-2 at {100 * b:.0f}% kept ({alloc}): best new "
                                 f"{new['method']} {fmt(metric_of(new, 'accuracy'))} vs "
                                 f"{base['method']} {fmt(metric_of(base, 'accuracy'))}: "
                                 f"{100 * d:+.2f} points (target +4: "
                                 f"{'holds' if d >= 0.04 else 'does not hold'}).")
        dense = sst["dense"]["value"]
        ok = [r for r in sst["rows"] if r["recover"] == "none" and r["kept"] <= 0.30 and
              r["value"] >= dense - 0.01]
        best30 = max((r for r in sst["rows"] if r["recover"] == "none" and r["kept"] <= 0.30),
                     key=lambda r: r["value"], default=None)
        if best30:
            lines.append(f"- SST-2 within 1 point of dense ({fmt(dense)}) at <= 30% kept without "
                         f"fine-tuning: {'holds' if ok else 'does not hold'}; the best at <= 30% "
                         f"is {best30['method']} ({best30['allocation']}, "
                         f"{100 * best30['kept']:.1f}% kept) at {fmt(best30['value'])} "
                         f"({100 * (best30['value'] - dense):+.2f} points).")
    base_pairs = closer = 0
    for res in results:
        metric = TASK_METRICS[res["task"]][0]
        dense = res["dense"]["metrics"].get(metric, res["dense"]["value"])
        by = {(r["method"], r["budget"], r["allocation"]): r for r in res["rows"]
              if r["recover"] == "none"}
        for (m, b, a), r in by.items():
            if m == "svd" and ("fwsvd", b, a) in by:
                base_pairs += 1
                f = by[("fwsvd", b, a)]
                closer += abs(dense - metric_of(f, metric)) < abs(dense - metric_of(r, metric))
    if base_pairs:
        lines.append(f"- The paper's claim (FWSVD closer to dense than SVD): {closer} of "
                     f"{base_pairs} (task, budget, allocation) pairs.")
    return lines


def write_markdown(args, results, command, path):
    out = ["# Compression methods on the bert-mini task models\n",
           "Produced by (nothing in this file is typed in by hand except the prose under "
           "*Reading*):\n", "```\n" + command + "\n```\n",
           f"Each column is a budget of the encoder's linear weights (`--param-ratio`, the "
           f"fraction kept: dense in·out, factored r·(in + out), biases excluded) with uniform "
           f"ranks or greedy allocation (`--allocate greedy`, ranks multiples of 16, "
           f"sensitivity kfac); the cell is the dev metric without fine-tuning. Statistics: "
           f"`fwsvd stats` on min({args.examples}, n − holdout) training examples sampled with "
           f"seed {args.seed}; `auto` ranks its candidates (the closed-form methods, each with "
           f"and without `--refit`) by the error rate on the next `holdout` examples of the "
           f"same shuffle; tfwsvd runs {args.tfwsvd_iters} iterations. Under each table: the "
           f"fraction kept per budget and the method auto chose.\n"]
    for res in results:
        d = res["dense"]
        s = res["stats"]
        out.append(f"## {res['task']}\n")
        dense_s = ", ".join(f"{m} {fmt(d['metrics'].get(m))}" for m in TASK_METRICS[res["task"]])
        trivial_s = ", ".join(f"{m} {fmt(v)}" for m, v in res["trivial"].items())
        out.append(f"Dense: {dense_s} (transformers reported {fmt(res['hf_score'])}); trivial "
                   f"baseline {trivial_s}. Statistics: {s['examples']} examples in "
                   f"{s['seconds']:.1f} s ({s['threads']} threads); auto held out "
                   f"{res['holdout']}.\n")
        for recover in args.recover:
            rows = [r for r in res["rows"] if r["recover"] == recover]
            cols = [(a, b) for a in args.allocations for b in args.budgets]
            for metric in TASK_METRICS[res["task"]]:
                label = RECOVERY[recover][0]
                out.append(f"{metric}, fine-tuning: {label}\n")
                out.append("| method | " + " | ".join(f"{a} {100 * b:.0f}%" for a, b in cols)
                           + " |")
                out.append("|---|" + "---|" * len(cols))
                out.append(f"| dense | " + " | ".join(fmt(d["metrics"].get(metric))
                                                      for _ in cols) + " |")
                by = {(r["method"], r["allocation"], r["budget"]): r for r in rows}
                for m in args.methods:
                    cells = []
                    for a, b in cols:
                        r = by.get((m, a, b))
                        if not r:
                            cells.append("–")
                            continue
                        v = metric_of(r, metric)
                        new = best_new(rows, metric, b, a, recover)
                        base = best_baseline(rows, metric, b, a, recover)
                        bold = r is new or (r is base and new is not None and
                                            metric_of(base, metric) >= metric_of(new, metric))
                        cells.append(f"**{fmt(v)}**" if bold else fmt(v))
                    out.append(f"| {m} | " + " | ".join(cells) + " |")
                out.append("")
            kept = []
            for a, b in cols:
                r = next((r for r in rows if r["allocation"] == a and r["budget"] == b), None)
                kept.append(f"{100 * r['kept']:.1f}% ({100 * r['whole']:.0f}% of the model)"
                            if r else "–")
            out.append("| kept | " + " | ".join(kept) + " |")
            out.append("|---|" + "---|" * len(cols))
            autos = []
            for a, b in cols:
                r = next((r for r in rows if r["method"] == "auto" and r["allocation"] == a and
                          r["budget"] == b), None)
                autos.append(f"{r['chosen']}{' +refit' if r['refit'] else ''}" if r else "–")
            out.append("| auto chose | " + " | ".join(autos) + " |")
            if args.latency and recover == "none":
                for t in (1, 2):
                    lat = []
                    for a, b in cols:
                        ms = sorted({r["latency_ms"][t] for r in rows if r["allocation"] == a
                                     and r["budget"] == b and "latency_ms" in r})
                        # Greedy ranks differ between methods: the range over them.
                        lat.append("–" if not ms else fmt(ms[0], 2) if len(ms) == 1 else
                                   f"{ms[0]:.2f}–{ms[-1]:.2f}")
                    dl = res["dense_latency"][t]["median_ms"]
                    out.append(f"| ms/forward, seq 128, {t} thread{'s' if t > 1 else ''} "
                               f"(dense {dl:.2f}) | " + " | ".join(lat) + " |")
            out.append("")
        out.append("Bold: per column, the best new method, and svd/fwsvd where they are at least "
                   "as good.\n")
    if any(res.get("compact") for res in results):
        out.extend(compact_section(args, results))
    out.append("## The issue's targets, checked on these numbers\n")
    out.extend(targets(args, results))
    out.append("")
    out.append(f"![metric against encoder linear weights kept]({os.path.basename(args.svg)})\n")
    # The analysis is prose written by a person after reading the tables above; it lives in its
    # own file so that regenerating the tables never rewrites it.
    reading = args.reading
    if reading and os.path.exists(reading):
        out.append("## Reading\n")
        with open(reading) as f:
            out.append(f.read().rstrip() + "\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


COLORS = {"svd": "#d62728", "fwsvd": "#1f77b4", "asvd": "#ff7f0e", "whiten": "#2ca02c",
          "fisher-whiten": "#9467bd", "fw2": "#8c564b", "tfwsvd": "#e377c2", "auto": "#17becf"}


def write_svg(args, results, path):
    w, h = 460, 320
    cols = 2
    rows_n = (len(results) + 1) // 2
    W, H = cols * w, rows_n * h + 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    for i, res in enumerate(results):
        metric = TASK_METRICS[res["task"]][0]
        rows = [r for r in res["rows"] if r["recover"] == "none"]
        ox, oy = (i % cols) * w, (i // cols) * h
        x0, y0, pw, ph = ox + 60, oy + 30, w - 90, h - 80
        dense = res["dense"]["metrics"].get(metric, res["dense"]["value"])
        vals = [metric_of(r, metric) for r in rows] + [dense]
        lo, hi = min(vals), max(vals)
        pad = 0.05 * (hi - lo or 1)
        lo, hi = lo - pad, hi + pad
        kx_hi = max([r["kept"] for r in rows] + [0.1]) * 1.08

        def X(k):
            return x0 + pw * k / kx_hi

        def Y(v):
            return y0 + ph * (1 - (v - lo) / (hi - lo))

        parts.append(f'<text x="{ox + w / 2}" y="{oy + 18}" text-anchor="middle" '
                     f'font-weight="bold">{res["task"]} ({metric})</text>')
        parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" '
                     f'stroke="#888"/>')
        for t in range(5):
            v = lo + (hi - lo) * t / 4
            parts.append(f'<text x="{x0 - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
            k = kx_hi * t / 4
            parts.append(f'<text x="{X(k):.1f}" y="{y0 + ph + 16}" text-anchor="middle">'
                         f'{100 * k:.0f}%</text>')
        parts.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 34}" text-anchor="middle">'
                     f'encoder linear weights kept</text>')
        parts.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{Y(dense):.1f}" y2="{Y(dense):.1f}" '
                     f'stroke="#444" stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{x0 + pw - 4}" y="{Y(dense) - 4:.1f}" text-anchor="end" '
                     f'fill="#444">dense</text>')
        for method in args.methods:
            color = COLORS.get(method, "#444")
            for alloc in args.allocations:
                pts = sorted((r["kept"], metric_of(r, metric)) for r in rows
                             if r["method"] == method and r["allocation"] == alloc)
                if not pts:
                    continue
                dash = ' stroke-dasharray="4,3"' if alloc == "greedy" else ""
                path_d = " ".join(f"{X(k):.1f},{Y(v):.1f}" for k, v in pts)
                parts.append(f'<polyline points="{path_d}" fill="none" stroke="{color}" '
                             f'stroke-width="1.6"{dash}/>')
                for k, v in pts:
                    parts.append(f'<circle cx="{X(k):.1f}" cy="{Y(v):.1f}" r="2.5" '
                                 f'fill="{color}"/>')
    lx, ly = 20, H - 30
    for method in args.methods:
        parts.append(f'<circle cx="{lx}" cy="{ly - 4}" r="4" fill="{COLORS.get(method, "#444")}"/>'
                     f'<text x="{lx + 8}" y="{ly}">{method}</text>')
        lx += 18 + 8 * len(method)
    parts.append(f'<text x="20" y="{H - 10}">solid: uniform ranks; dashed: greedy allocation'
                 f'</text>')
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
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--budgets", default="0.1,0.2,0.4,0.6",
                    help="fractions of the encoder's linear weights kept (--param-ratio)")
    ap.add_argument("--allocations", default="uniform,greedy")
    ap.add_argument("--recover", default="none",
                    help="comma-separated recovery stages: " + ", ".join(RECOVERY))
    ap.add_argument("--examples", type=int, default=8000)
    ap.add_argument("--holdout", type=int, default=1000)
    ap.add_argument("--tfwsvd-iters", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="--threads of every fwsvd command")
    ap.add_argument("--jobs", type=int, default=1, help="compressions run at once")
    ap.add_argument("--latency", action="store_true",
                    help="also time every compressed model (fwsvd bench, seq 128, 1 and 2 "
                         "threads)")
    ap.add_argument("--latency-seconds", type=float, default=2,
                    help="fwsvd bench --seconds of each latency measurement")
    ap.add_argument("--compact", default="",
                    help="methods whose smallest model within 1 point after distillation is "
                         "searched (compact_search)")
    ap.add_argument("--compact-budgets", default="0.1,0.2,0.4,0.6")
    ap.add_argument("--compact-embeddings", default="128,64,32")
    ap.add_argument("--out", default=os.path.join(root, "docs", "RESULTS.md"))
    ap.add_argument("--svg", default=os.path.join(root, "docs", "results.svg"))
    ap.add_argument("--fresh", action="store_true", help="delete cached results first")
    ap.add_argument("--reading", default=os.path.join(here, "paper_table_reading.md"),
                    help="prose appended as the Reading section ('' for none)")
    args = ap.parse_args()
    args.methods = args.methods.split(",")
    args.budgets = [float(b) for b in args.budgets.split(",")]
    args.allocations = args.allocations.split(",")
    args.recover = args.recover.split(",")
    args.compact = [m for m in args.compact.split(",") if m]
    args.compact_budgets = [float(b) for b in args.compact_budgets.split(",")]
    args.compact_embeddings = [int(e) for e in args.compact_embeddings.split(",")]
    for r in args.recover:
        if r not in RECOVERY:
            sys.exit(f"--recover: unknown stage '{r}' (known: {', '.join(RECOVERY)})")
    if not os.path.exists(args.fwsvd):
        sys.exit(f"{args.fwsvd} not found: build first (cmake -S . -B build && "
                 f"cmake --build build -j)")
    if args.fresh and os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    KEY_PATHS.update({"$FWSVD": os.path.abspath(args.fwsvd), "$SHARED":
                      os.path.abspath(args.shared), "$WORK": os.path.abspath(args.work)})
    args.fwsvd, args.shared, args.work = (os.path.abspath(args.fwsvd),
                                          os.path.abspath(args.shared),
                                          os.path.abspath(args.work))
    command = "python3 bench/paper_table.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    tasks = [Task(args, t) for t in args.tasks.split(",")]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        # Every task's statistics at once, then every compression of every task, the slow
        # methods (auto, tfwsvd) first.
        results = list(pool.map(lambda t: task_results(args, t, pool), tasks))
        jobs = [(i, m, b, a, r) for i in range(len(tasks)) for r in args.recover
                for a in args.allocations for b in args.budgets for m in args.methods]
        jobs.sort(key=lambda j: j[1] not in ("auto", "tfwsvd"))
        rows = list(pool.map(lambda j: (j[0], row_of(args, tasks[j[0]], *j[1:])), jobs))
        for i, row in rows:
            results[i]["rows"].append(row)
        pairs = [(i, m) for i in range(len(tasks)) for m in args.compact]
        for (i, _), c in zip(pairs, pool.map(
                lambda p: compact_search(args, tasks[p[0]], results[p[0]], p[1]), pairs)):
            results[i].setdefault("compact", []).append(c)
    write_svg(args, results, args.svg)
    write_markdown(args, results, command.strip(), args.out)
    log(f"wrote {args.out} and {args.svg}")


if __name__ == "__main__":
    main()
