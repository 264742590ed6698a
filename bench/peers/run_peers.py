#!/usr/bin/python3
"""fwsvd against PyTorch and ONNX Runtime, same checkpoints, same machine, same run.

One command, from the repository root (Debian's python3: python3-torch, python3-onnx,
python3-numpy; node + onnxruntime-node; see bench/RESULTS.md for the measured table):

  FWSVD_SETUP_PEERS=1 bash scripts/setup.sh        # once: the Debian packages
  /usr/bin/python3 bench/peers/run_peers.py --fwsvd build/tools/fwsvd --rounds 5 --seconds 3

Steps:
 1. fwsvd: uses --fwsvd (default build/tools/fwsvd; built with CMake into build/ when that default
    is missing). onnxruntime-node: installed once with `npm install --ignore-scripts` into
    --cache (default ~/.cache/fwsvd-peers; its post-install download is not needed, the CPU
    library linux/x64/libonnxruntime.so.1 ships inside the package).
 2. Models (cached in --cache, never in the repository; --models picks them): a BERT-base-shaped
    random classifier (base: `fwsvd init --preset base --vocab
    ../shared/data/vocab/bert-base-uncased-vocab.txt`), its rank-64 factored version (base-r64:
    `fwsvd compress --method svd --rank 64`), when present ../shared/models/bert-mini-sst2 and
    its rank-64 version (mini, mini-r64), and, on request, the other families at that shape
    (issue 16): distilbert-base (`fwsvd init --family distilbert --preset base --vocab ...`, 12
    layers as the preset gives), distilbert-base-6l (the same with --layers 6, DistilBERT-base's
    depth) and roberta-base (`fwsvd init --family roberta --preset base --tokenizer
    tests/golden/roberta`: that golden's small BPE, so a 360-token embedding table; the encoder
    is RoBERTa-base's). Each is exported to ONNX by torch_bert.py (torch.onnx.export, opset 14,
    dynamic batch and sequence axes), which follows config.json's model_type.
 3. Agreement: `fwsvd run --input ids.jsonl`, torch_bert.py and ort_bench.js on the same input
    ids (lengths 128, 77, 9: [CLS] or <s>, random non-special tokens, [SEP] or </s>); max |logit difference| must stay <= --tol (1e-3 absolute).
 4. Timing, interleaved: for each round, for each model and thread count, fwsvd bench, PyTorch and
    ORT one after the other (--seconds each, after 10 warm-up forwards), each in a fresh process.
    Before each round (with --wait-each: before each model and thread count) it waits (up to
    --wait-max seconds) for the 1-minute load average to fall below --max-load (and, with
    --max-busy, the CPUs' busy share over 2 s below that) and prints the load at every
    measurement. The table gives the medians over the rounds of each run's median latency, and
    the ratios fwsvd/ORT and fwsvd/PyTorch.
    fwsvd runs the last layer past its Q/K/V for the [CLS] rows only (the logits read nothing
    else of it); PyTorch and ORT run the model's graph as Hugging Face's BERT does. For the same
    work on both sides, ORT also runs a second export with that pruning (torch_bert.py
    --cls-last-layer), timed in the same round: the last two columns.
 5. int8 (--int8, on by default): fwsvd `--precision int8`, PyTorch's
    torch.quantization.quantize_dynamic on the encoder's nn.Linear (torch_bert.py --int8; the
    engine it ran is printed) and ONNX Runtime on the graph of its dynamic quantisation
    (ort_quantize.py: DynamicQuantizeLinear + MatMulInteger, as quantize_dynamic writes it; ORT
    fuses it into DynamicQuantizeMatMul) of the same export, in the same rounds. Agreement first:
    each one's int8 logits against PyTorch's f32 logits, within --int8-tol of the largest |logit|.
    A third table gives the int8 medians and ratios, and a last one every precision side by side.
 6. bf16 (--bf16, on by default where the CPU has AVX512_BF16): fwsvd also runs each model with
    `--precision bf16` (weights and GEMM inputs rounded to bfloat16, f32 accumulation) in the same
    rounds; its logits are checked against PyTorch's within --bf16-tol relative to the largest
    |logit|, and a second table gives its medians and ratios. The peers stay f32 (neither has a
    bf16 CPU path for these graphs here), so that table compares different arithmetic: it says so.

Peer settings (each the best found on this machine; see RESULTS.md):
  PyTorch 1.13 (Debian): torch.set_num_threads(n), set_num_interop_threads(1),
    torch.inference_mode() (eager) or torch.no_grad() (jit), --torch-mode (default eager),
    OPENBLAS_CORETYPE=SkylakeX on CPUs with AVX-512 (Debian's OpenBLAS 0.3.21 misdetected the
    first test machine's EPYC; elsewhere its own detection),
    OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=n, OMP_WAIT_POLICY from --torch-wait-policy.
  ONNX Runtime (onnxruntime-node, CPU EP): intraOpNumThreads n, interOpNumThreads 1,
    executionMode sequential, graphOptimizationLevel 'all'.
  fwsvd: `fwsvd bench MODEL --seq --batch --threads n --seconds S --json` (its defaults).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.environ.get("FWSVD_SHARED_DIR", os.path.join(REPO, "..", "shared"))
sys.path.insert(0, HERE)


def cpu_has(flag):
    with open("/proc/cpuinfo") as f:
        return f" {flag}" in f.read()


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def sh(cmd, env=None, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                           f"{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return p


def last_json(p):
    return json.loads(p.stdout.strip().splitlines()[-1])


class Peers:
    def __init__(self, a):
        self.a = a
        self.node_modules = os.path.join(a.cache, "node_modules")

    # -- environments
    def torch_env(self, threads, variant=None):
        v = variant or {}
        env = dict(os.environ)
        env.update({"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)})
        # SkylakeX: Debian's OpenBLAS misdetected the AVX-512 EPYC of the first runs; on a CPU
        # without AVX-512 it would fault (illegal instruction), and its own detection is right.
        coretype = v.get("coretype", "SkylakeX" if cpu_has("avx512f") else "")
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        wait = v.get("wait", self.a.torch_wait_policy)
        if wait:
            env["OMP_WAIT_POLICY"] = wait
        blas = v.get("blas", self.a.openblas_dir)
        if blas:
            env["LD_LIBRARY_PATH"] = blas + ":" + env.get("LD_LIBRARY_PATH", "")
        return env

    def node_env(self):
        env = dict(os.environ)
        env["NODE_PATH"] = self.node_modules
        return env

    # -- setup
    def ensure_fwsvd(self):
        a = self.a
        if not os.path.exists(a.fwsvd):
            if os.path.abspath(a.fwsvd) != os.path.join(REPO, "build", "tools", "fwsvd"):
                raise SystemExit(f"{a.fwsvd}: not found")
            print("building build/tools/fwsvd ...", flush=True)
            subprocess.run(["cmake", "-S", REPO, "-B", os.path.join(REPO, "build"),
                            "-DCMAKE_BUILD_TYPE=Release"], check=True)
            subprocess.run(["cmake", "--build", os.path.join(REPO, "build"), "-j",
                            "--target", "fwsvd"], check=True)

    def ensure_ort(self):
        pkg = os.path.join(self.node_modules, "onnxruntime-node")
        if not os.path.isdir(pkg):
            os.makedirs(self.a.cache, exist_ok=True)
            pj = os.path.join(self.a.cache, "package.json")
            if not os.path.exists(pj):
                with open(pj, "w") as f:
                    f.write('{"name": "fwsvd-peers", "private": true}\n')
            print(f"npm install --ignore-scripts onnxruntime-node (in {self.a.cache}) ...", flush=True)
            subprocess.run(["npm", "install", "--ignore-scripts", "onnxruntime-node"],
                           cwd=self.a.cache, check=True)
        lib = os.path.join(pkg, "bin", "napi-v6", "linux", "x64", "libonnxruntime.so.1")
        if not os.path.exists(lib):
            raise SystemExit(f"{lib}: missing (onnxruntime-node without its CPU library)")
        v = sh(["node", "-e", "console.log(require('onnxruntime-node').env.versions.node)"],
               env=self.node_env()).stdout.strip()
        return v

    def ensure_models(self):
        a, c = self.a, self.a.cache
        models = []
        base = os.path.join(c, "bert-base-random")
        if "base" in a.models or "base-r64" in a.models:
            if not os.path.exists(os.path.join(base, "model.safetensors")):
                print("fwsvd init --preset base ...", flush=True)
                sh([a.fwsvd, "init", "--preset", "base", "--vocab", a.vocab, "--num-labels", "2",
                    "--seed", "0", "--out", base])
        if "base" in a.models:
            models.append(("bert-base (random) dense", "base", base))
        if "base-r64" in a.models:
            r64 = os.path.join(c, "bert-base-random-svd64")
            if not os.path.exists(os.path.join(r64, "model.safetensors")):
                print("fwsvd compress --method svd --rank 64 (BERT-base) ...", flush=True)
                sh([a.fwsvd, "compress", base, "--method", "svd", "--rank", "64", "--out", r64])
            models.append(("bert-base (random) rank 64", "base-r64", r64))
        # The other families at BERT-base's shape (issue 16): `fwsvd init --family F --preset
        # base`; distilbert-base-6l is DistilBERT-base's own depth (6 layers).
        for key, family, extra, label in (
                ("distilbert-base", "distilbert", [], "distilbert-base (random, 12 layers) dense"),
                ("distilbert-base-6l", "distilbert", ["--layers", "6"],
                 "distilbert-base (random, 6 layers) dense"),
                ("roberta-base", "roberta", [], "roberta-base (random) dense")):
            if key not in a.models:
                continue
            d = os.path.join(c, key + "-random")
            if not os.path.exists(os.path.join(d, "model.safetensors")):
                tok = (["--vocab", a.vocab] if family == "distilbert"
                       else ["--tokenizer", a.roberta_tokenizer])
                print(f"fwsvd init --family {family} --preset base {' '.join(extra)} ...", flush=True)
                sh([a.fwsvd, "init", "--family", family, "--preset", "base", "--num-labels", "2",
                    "--seed", "0", "--out", d] + tok + extra)
            models.append((label, key, d))
        mini = os.path.join(SHARED, "models", "bert-mini-sst2")
        if os.path.exists(os.path.join(mini, "model.safetensors")):
            if "mini" in a.models:
                models.append(("bert-mini-sst2 dense", "mini", mini))
            if "mini-r64" in a.models:
                m64 = os.path.join(c, "bert-mini-sst2-svd64")
                if not os.path.exists(os.path.join(m64, "model.safetensors")):
                    sh([a.fwsvd, "compress", mini, "--method", "svd", "--rank", "64", "--out", m64])
                models.append(("bert-mini-sst2 rank 64", "mini-r64", m64))
        out = []
        for label, key, d in models:
            onnx = os.path.join(c, "onnx", key + ".onnx")
            src = os.path.join(d, "model.safetensors")
            onnx_cls = os.path.join(c, "onnx", key + "-cls-last-layer.onnx")
            for path, extra in ((onnx, []), (onnx_cls, ["--cls-last-layer"])):
                if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(src):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    print(f"exporting {os.path.basename(path)} to ONNX ...", flush=True)
                    sh([sys.executable, os.path.join(HERE, "torch_bert.py"), d, "--export-onnx",
                        path] + extra, env=self.torch_env(1))
            onnx_int8 = os.path.join(c, "onnx", key + "-int8.onnx")
            if a.int8 and (not os.path.exists(onnx_int8)
                           or os.path.getmtime(onnx_int8) < os.path.getmtime(onnx)):
                p = sh([sys.executable, os.path.join(HERE, "ort_quantize.py"), onnx, onnx_int8])
                print(f"ort_quantize.py {os.path.basename(onnx)}: {p.stdout.strip()}", flush=True)
            with open(os.path.join(d, "config.json")) as f:
                vocab = json.load(f)["vocab_size"]
            out.append({"label": label, "key": key, "dir": d, "onnx": onnx, "onnx_cls": onnx_cls,
                        "onnx_int8": onnx_int8, "vocab": vocab})
        return out

    # -- agreement
    def agreement(self, m):
        import random
        rng = random.Random(7)
        ids_path = os.path.join(self.a.cache, f"agree_{m['key']}.jsonl")
        cls, sep, lo = special_ids(m["dir"], m["vocab"])
        with open(ids_path, "w") as f:
            for n in (128, 77, 9):
                ids = [cls] + [rng.randrange(lo, m["vocab"]) for _ in range(n - 2)] + [sep]
                f.write(json.dumps({"input_ids": ids}) + "\n")
        def logits(p):
            return [json.loads(l)["logits"] for l in p.stdout.splitlines() if l.strip()]
        fw = logits(sh([self.a.fwsvd, "run", m["dir"], "--input", ids_path, "--threads", "1"]))
        fb = (logits(sh([self.a.fwsvd, "run", m["dir"], "--input", ids_path, "--threads", "1",
                         "--precision", "bf16"])) if self.a.bf16 else None)
        tq = logits(sh([sys.executable, os.path.join(HERE, "torch_bert.py"), m["dir"],
                        "--input", ids_path, "--threads", "1"], env=self.torch_env(1)))
        oq = logits(sh(["node", os.path.join(HERE, "ort_bench.js"), m["onnx"], "--input",
                        ids_path, "--threads", "1"], env=self.node_env()))
        oc = logits(sh(["node", os.path.join(HERE, "ort_bench.js"), m["onnx_cls"], "--input",
                        ids_path, "--threads", "1"], env=self.node_env()))
        i8 = {}
        if self.a.int8:
            i8["fwsvd"] = logits(sh([self.a.fwsvd, "run", m["dir"], "--input", ids_path,
                                     "--threads", "1", "--precision", "int8"]))
            tp = sh([sys.executable, os.path.join(HERE, "torch_bert.py"), m["dir"], "--input",
                     ids_path, "--threads", "1", "--int8"], env=self.torch_env(1))
            self.torch_int8 = tp.stderr.strip().splitlines()[-1] if tp.stderr.strip() else ""
            i8["torch"] = logits(tp)
            i8["ORT"] = logits(sh(["node", os.path.join(HERE, "ort_bench.js"), m["onnx_int8"],
                                   "--input", ids_path, "--threads", "1"], env=self.node_env()))
        def maxdiff(x, y):
            assert len(x) == len(y) == 3, (len(x), len(y))
            return max(abs(u - v) for rx, ry in zip(x, y) for u, v in zip(rx, ry))
        scale = max(abs(v) for r in fw for v in r)
        return {"fwsvd_torch": maxdiff(fw, tq), "fwsvd_ort": maxdiff(fw, oq),
                "torch_ort": maxdiff(tq, oq), "fwsvd_ort_cls": maxdiff(fw, oc),
                "bf16_torch": maxdiff(fb, tq) if fb else None, "max_abs_logit": scale,
                "int8_f32": {k: maxdiff(v, tq) for k, v in i8.items()},
                "int8_pairs": {f"{x}-{y}": maxdiff(i8[x], i8[y])
                               for x, y in (("fwsvd", "torch"), ("fwsvd", "ORT"), ("torch", "ORT"))
                               if x in i8 and y in i8}}

    # -- timing
    def time_fwsvd(self, m, t, precision="f32"):
        a = self.a
        p = sh([a.fwsvd, "bench", m["dir"], "--seq", str(a.seq), "--batch", str(a.batch),
                "--threads", str(t), "--seconds", str(a.seconds), "--json", "--precision",
                precision])
        return last_json(p)["median_ms"]

    def time_torch(self, m, t, variant=None, int8=False):
        a = self.a
        mode = (variant or {}).get("mode", a.torch_mode)
        p = sh([sys.executable, os.path.join(HERE, "torch_bert.py"), m["dir"], "--bench",
                "--seq", str(a.seq), "--batch", str(a.batch), "--threads", str(t), "--seconds",
                str(a.seconds), "--mode", mode, "--json"] + (["--int8"] if int8 else []),
               env=self.torch_env(t, variant))
        return last_json(p)["median_ms"]

    def time_ort(self, m, t, cls_last_layer=False, int8=False):
        a = self.a
        onnx = m["onnx_int8"] if int8 else m["onnx_cls"] if cls_last_layer else m["onnx"]
        p = sh(["node", os.path.join(HERE, "ort_bench.js"), onnx, "--bench", "--seq",
                str(a.seq), "--batch", str(a.batch), "--threads", str(t), "--seconds",
                str(a.seconds), "--vocab", str(m["vocab"]), "--json"], env=self.node_env())
        return last_json(p)["median_ms"]


def special_ids(model_dir, vocab_size):
    """[CLS]/<s> id, [SEP]/</s> id, and the lowest id for random text tokens (past the specials,
    so that no text token is RoBERTa's padding id, which would move the position ids)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    if os.path.exists(os.path.join(model_dir, "vocab.txt")):  # WordPiece (BERT, DistilBERT)
        with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
            vocab = f.read().splitlines()
        cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
        specials = [cls, sep]
    else:  # byte-level BPE (RoBERTa): <s> A </s>
        cls, sep = cfg.get("bos_token_id", 0), cfg.get("eos_token_id", 2)
        with open(os.path.join(model_dir, "vocab.json"), encoding="utf-8") as f:
            v = json.load(f)
        specials = [cls, sep, cfg.get("pad_token_id", 1)] + [
            v[t] for t in ("<s>", "</s>", "<pad>", "<unk>", "<mask>") if t in v]
    return cls, sep, 999 if vocab_size > 2000 else max(specials) + 1


def busy_fraction(seconds=2.0):
    """Share of all CPUs' time spent busy over the next `seconds` (from /proc/stat): unlike the
    1-minute load average it does not lag behind a job that just started or ended."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


def wait_for_quiet(a):
    """Waits (up to --wait-max s) for load1 < --max-load and, with --max-busy, for the CPUs'
    busy share over 2 s below it; returns the load."""
    if a.max_load <= 0:
        return load1()
    def quiet():
        return load1() < a.max_load and (a.max_busy <= 0 or busy_fraction() < a.max_busy)
    start = time.time()
    while not quiet() and time.time() - start < a.wait_max:
        time.sleep(15)
    l = load1()
    if not quiet():
        msg = (f"load {l:.2f} (limit {a.max_load}) or CPU busy share (limit {a.max_busy}) still "
               f"high after {a.wait_max:.0f} s")
        if a.strict_quiet:
            raise SystemExit(f"{msg}: not measuring (--strict-quiet)")
        print(f"  warning: {msg}; measuring anyway", flush=True)
    return l


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fwsvd", default=os.path.join(REPO, "build", "tools", "fwsvd"))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/fwsvd-peers"))
    ap.add_argument("--vocab", default=os.path.join(SHARED, "data", "vocab", "bert-base-uncased-vocab.txt"))
    ap.add_argument("--models", default="base,base-r64,mini,mini-r64",
                    help="comma-separated: base (alias bert-base), base-r64, mini, mini-r64, "
                         "distilbert-base, distilbert-base-6l, roberta-base")
    ap.add_argument("--roberta-tokenizer", default=os.path.join(REPO, "tests", "golden", "roberta"),
                    help="tokenizer folder for roberta-base's `fwsvd init --tokenizer` (its vocabulary "
                         "size becomes the model's: the golden's small BPE, which changes only the "
                         "embedding table's size)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--tol", type=float, default=1e-3, help="max |logit difference| allowed")
    ap.add_argument("--bf16", default="auto", choices=["auto", "on", "off"],
                    help="also time fwsvd --precision bf16 (auto: when the CPU has AVX512_BF16)")
    ap.add_argument("--bf16-tol", type=float, default=0.05,
                    help="max |bf16 logit - PyTorch's| / max |logit| allowed")
    ap.add_argument("--int8", default="on", choices=["on", "off"],
                    help="also time int8: fwsvd --precision int8, PyTorch quantize_dynamic, ONNX "
                         "Runtime on its dynamic quantisation's graph")
    ap.add_argument("--int8-tol", type=float, default=0.25,
                    help="max |int8 logit - PyTorch's f32 logit| / max |logit| allowed")
    ap.add_argument("--torch-mode", default="eager", choices=["eager", "trace", "freeze", "optimize"])
    ap.add_argument("--torch-wait-policy", default="PASSIVE",
                    help="OMP_WAIT_POLICY for PyTorch ('' leaves it unset)")
    ap.add_argument("--openblas-dir", default="",
                    help="LD_LIBRARY_PATH for PyTorch's BLAS, e.g. /usr/lib/x86_64-linux-gnu/openblas-openmp "
                         "(default: the system's libblas.so.3 alternative)")
    ap.add_argument("--max-load", type=float, default=1.0)
    ap.add_argument("--wait-max", type=float, default=1800)
    ap.add_argument("--max-busy", type=float, default=0.0,
                    help="also wait until the CPUs' busy share over 2 s is below this (0: off)")
    ap.add_argument("--strict-quiet", action="store_true",
                    help="stop with an error instead of measuring when the machine stays busy "
                         "past --wait-max")
    ap.add_argument("--wait-each", action="store_true",
                    help="wait for quiet before each model and thread count, not only each round")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--explore", action="store_true",
                    help="time PyTorch settings (jit modes, OMP_WAIT_POLICY, OpenBLAS build, "
                         "OPENBLAS_CORETYPE) interleaved instead")
    a = ap.parse_args()
    a.fwsvd = os.path.abspath(a.fwsvd)
    a.models = ["base" if k == "bert-base" else k for k in a.models.split(",")]
    if a.bf16 == "auto":
        with open("/proc/cpuinfo") as f:
            a.bf16 = " avx512_bf16" in f.read()
    else:
        a.bf16 = a.bf16 == "on"
    a.int8 = a.int8 == "on"
    threads = [int(t) for t in a.threads.split(",")]

    peers = Peers(a)
    peers.ensure_fwsvd()
    ort_version = peers.ensure_ort()
    import torch
    print(f"fwsvd {sh([a.fwsvd, '--version']).stdout.strip()}, torch {torch.__version__}, "
          f"onnxruntime-node {ort_version}, {os.cpu_count()} CPUs", flush=True)
    models = peers.ensure_models()

    ok = True
    for m in models:
        d = peers.agreement(m)
        good = max(d["fwsvd_torch"], d["fwsvd_ort"], d["torch_ort"], d["fwsvd_ort_cls"]) <= a.tol
        ok &= good
        print(f"agreement {m['label']}: max |logit diff| fwsvd-torch {d['fwsvd_torch']:.2e}, "
              f"fwsvd-ORT {d['fwsvd_ort']:.2e}, torch-ORT {d['torch_ort']:.2e}, "
              f"fwsvd-ORT [CLS]-only last layer {d['fwsvd_ort_cls']:.2e} "
              f"(|logits| up to {d['max_abs_logit']:.3f}; tolerance {a.tol:g}) "
              f"{'OK' if good else 'FAILED'}", flush=True)
        if d["bf16_torch"] is not None:
            rel = d["bf16_torch"] / max(d["max_abs_logit"], 1e-30)
            good_bf16 = rel <= a.bf16_tol
            ok &= good_bf16
            print(f"agreement {m['label']} bf16: max |logit diff| fwsvd bf16-torch "
                  f"{d['bf16_torch']:.2e}, {rel:.2e} of the largest |logit| (tolerance "
                  f"{a.bf16_tol:g}) {'OK' if good_bf16 else 'FAILED'}", flush=True)
        if d["int8_f32"]:
            rel = {k: v / max(d["max_abs_logit"], 1e-30) for k, v in d["int8_f32"].items()}
            good_int8 = max(rel.values()) <= a.int8_tol
            ok &= good_int8
            print(f"agreement {m['label']} int8 against PyTorch f32: max |logit diff| "
                  + ", ".join(f"{k} {d['int8_f32'][k]:.2e} ({rel[k]:.3f} of the largest |logit|)"
                              for k in d["int8_f32"])
                  + "; between the int8 runs " + ", ".join(f"{k} {v:.2e}"
                                                            for k, v in d["int8_pairs"].items())
                  + f" (tolerance {a.int8_tol:g}) {'OK' if good_int8 else 'FAILED'}", flush=True)
    if a.int8:
        print(f"PyTorch int8: {getattr(peers, 'torch_int8', '')}", flush=True)
    if not ok:
        raise SystemExit("logits disagree beyond the tolerance")
    if a.skip_timing:
        return

    if a.explore:
        # PyTorch settings, interleaved: jit modes, OMP_WAIT_POLICY, OpenBLAS build, CPU type.
        ob = "/usr/lib/x86_64-linux-gnu/openblas-"
        variants = {
            "eager": {"mode": "eager"},
            "eager ACTIVE": {"mode": "eager", "wait": "ACTIVE"},
            "eager wait unset": {"mode": "eager", "wait": ""},
            "eager openblas-openmp": {"mode": "eager", "blas": ob + "openmp"},
            "eager openblas-pthread": {"mode": "eager", "blas": ob + "pthread"},
            "eager no CORETYPE": {"mode": "eager", "coretype": ""},
            "trace": {"mode": "trace"},
            "freeze": {"mode": "freeze"},
            "optimize": {"mode": "optimize"},
        }
        res = {}
        for r in range(a.rounds):
            l = wait_for_quiet(a)
            for m in models:
                for t in threads:
                    line = []
                    for name, v in variants.items():
                        ms = peers.time_torch(m, t, v)
                        res.setdefault((m["key"], t, name), []).append(ms)
                        line.append(f"{name} {ms:.2f}")
                    print(f"round {r + 1} load {l:.2f}->{load1():.2f} {m['key']} t{t}: "
                          + ", ".join(line), flush=True)
        print("\n| model | threads | " + " | ".join(variants) + " |")
        print("|---|---|" + "---|" * len(variants))
        for m in models:
            for t in threads:
                print(f"| {m['key']} | {t} | " + " | ".join(
                    f"{statistics.median(res[(m['key'], t, n)]):.2f}" for n in variants) + " |")
        return

    res, loads = {}, []
    for r in range(a.rounds):
        l = wait_for_quiet(a)
        for m in models:
            for t in threads:
                if a.wait_each:
                    wait_for_quiet(a)
                l0 = load1()
                f = peers.time_fwsvd(m, t)
                p = peers.time_torch(m, t)
                o = peers.time_ort(m, t)
                oc = peers.time_ort(m, t, cls_last_layer=True)
                fb = peers.time_fwsvd(m, t, "bf16") if a.bf16 else None
                fi = peers.time_fwsvd(m, t, "int8") if a.int8 else None
                pi = peers.time_torch(m, t, int8=True) if a.int8 else None
                oi = peers.time_ort(m, t, int8=True) if a.int8 else None
                l1 = load1()
                loads += [l0, l1]
                for k, v in (("fwsvd", f), ("torch", p), ("ort", o), ("ort_cls", oc),
                             ("fwsvd_bf16", fb), ("fwsvd_int8", fi), ("torch_int8", pi),
                             ("ort_int8", oi)):
                    if v is not None:
                        res.setdefault((m["key"], t, k), []).append(v)
                print(f"round {r + 1} load {l0:.2f}->{l1:.2f} {m['label']}, {t} thread(s): "
                      f"fwsvd {f:.2f} ms, torch {p:.2f} ms, ORT {o:.2f} ms, "
                      f"ORT [CLS]-only last layer {oc:.2f} ms"
                      + (f", fwsvd bf16 {fb:.2f} ms" if fb is not None else "")
                      + (f", fwsvd int8 {fi:.2f} ms, torch int8 {pi:.2f} ms, ORT int8 {oi:.2f} ms"
                         if fi is not None else ""), flush=True)
    print(f"\nseq {a.seq}, batch {a.batch}; medians over {a.rounds} rounds of each run's median "
          f"({a.seconds:g} s per run); 1-min load during the runs {min(loads):.2f}-{max(loads):.2f}\n")
    print("| model | threads | fwsvd ms | PyTorch ms | ORT ms | fwsvd/ORT | fwsvd/PyTorch "
          "| ORT [CLS]-only last layer ms | fwsvd/that |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in models:
        for t in threads:
            f, p, o, oc = (statistics.median(res[(m["key"], t, k)])
                           for k in ("fwsvd", "torch", "ort", "ort_cls"))
            print(f"| {m['label']} | {t} | {f:.2f} | {p:.2f} | {o:.2f} | {f / o:.2f} | {f / p:.2f} "
                  f"| {oc:.2f} | {f / oc:.2f} |")
    if a.bf16:
        print("\nfwsvd --precision bf16 (bf16 weights and GEMM inputs, f32 accumulation) against the "
              "same f32 peer runs: different arithmetic, not a like-for-like ratio\n")
        print("| model | threads | fwsvd bf16 ms | fwsvd f32 ms | bf16/f32 | bf16/ORT | bf16/PyTorch "
              "| bf16/ORT [CLS]-only last layer |")
        print("|---|---|---|---|---|---|---|---|")
        for m in models:
            for t in threads:
                fb, f, p, o, oc = (statistics.median(res[(m["key"], t, k)])
                                   for k in ("fwsvd_bf16", "fwsvd", "torch", "ort", "ort_cls"))
                print(f"| {m['label']} | {t} | {fb:.2f} | {f:.2f} | {fb / f:.2f} | {fb / o:.2f} "
                      f"| {fb / p:.2f} | {fb / oc:.2f} |")
    if a.int8:
        med = lambda m, t, k: statistics.median(res[(m["key"], t, k)])
        print("\nint8: fwsvd --precision int8, PyTorch quantize_dynamic "
              f"({getattr(peers, 'torch_int8', '')}), ONNX Runtime on its dynamic quantisation's "
              "graph; each against the others' int8 and its own f32 in the same rounds\n")
        print("| model | threads | fwsvd int8 ms | PyTorch int8 ms | ORT int8 ms | fwsvd/ORT int8 "
              "| fwsvd/PyTorch int8 | fwsvd int8/f32 | PyTorch int8/f32 | ORT int8/f32 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for m in models:
            for t in threads:
                fi, pi, oi = (med(m, t, k) for k in ("fwsvd_int8", "torch_int8", "ort_int8"))
                f, p, o = (med(m, t, k) for k in ("fwsvd", "torch", "ort"))
                print(f"| {m['label']} | {t} | {fi:.2f} | {pi:.2f} | {oi:.2f} | {fi / oi:.2f} "
                      f"| {fi / pi:.2f} | {fi / f:.2f} | {pi / p:.2f} | {oi / o:.2f} |")
    print("\nEvery precision, medians in ms (fwsvd / ONNX Runtime / PyTorch)\n")
    precs = ["f32"] + (["bf16"] if a.bf16 else []) + (["int8"] if a.int8 else [])
    print("| model | threads | " + " | ".join(precs) + " |")
    print("|---|---|" + "---|" * len(precs))
    for m in models:
        for t in threads:
            cells = []
            for pr in precs:
                sfx = "" if pr == "f32" else "_" + pr
                vals = [statistics.median(res[(m["key"], t, k + sfx)])
                        if (m["key"], t, k + sfx) in res else None
                        for k in ("fwsvd", "ort", "torch")]
                cells.append(" / ".join("-" if v is None else f"{v:.2f}" for v in vals))
            print(f"| {m['label']} | {t} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
