#!/usr/bin/env python3
"""Sums a `perf record` profile of `fwsvd bench` into the categories of bench/RESULTS.md.

  DNNL_JIT_PROFILE=2 perf record -D 4000 -o OUT build/tools/fwsvd bench MODEL --threads T \
      --seconds 6 --warmup 5
  python3 bench/perf_categories.py OUT [--by-thread]

Shares are of all CPU samples (with --by-thread, per thread id as well).
"""
import argparse
import collections
import re
import subprocess

RULES = [  # first match wins: (substring of the perf line, category)
    ("quantize_u8", "int8: quantising GEMM inputs"),
    ("min_max", "int8: quantising GEMM inputs"),
    ("dequantize_i32", "int8: scaling GEMM outputs"),
    ("[JIT]", "GEMM (oneDNN JIT kernels)"),
    ("libdnnl", "oneDNN other (dispatch, execute)"),
    ("PackedMatmul", "oneDNN other (dispatch, execute)"),
    ("attention_shared", "attention: claiming and waiting for shared units"),
    ("bcast", "attention"),
    ("attention", "attention"),
    ("inference_item", "attention"),
    ("column_softmax", "attention"),
    ("row_scheme", "attention"),
    ("gelu", "GELU"),
    ("activation", "GELU"),
    ("layernorm", "LayerNorm"),
    ("embedding", "embedding"),
    ("libgomp", "OpenMP wait/spin (libgomp)"),
    ("kernel.kallsyms", "kernel (interrupts, page faults)"),
    ("sum_head_blocks", "head sums of merged V/O layers"),
    ("memmove", "memcpy (Q/K/V factor split, merged keys)"),
    ("memcpy", "memcpy (Q/K/V factor split, merged keys)"),
    ("memset", "memcpy (Q/K/V factor split, merged keys)"),
]


def categories(path, by_thread):
    sort = "pid,dso,symbol" if by_thread else "dso,symbol"
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", sort,
                          "--stdio"], capture_output=True, text=True, check=True).stdout
    total = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(.*)", line)
        if not m:
            continue
        pct, rest = float(m.group(1)), m.group(2)
        cat = next((c for key, c in RULES if key in rest), "other")
        prefix = rest.split()[0] + " " if by_thread else ""
        total[prefix + cat] += pct
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("perf_data")
    ap.add_argument("--by-thread", action="store_true")
    a = ap.parse_args()
    for cat, pct in sorted(categories(a.perf_data, a.by_thread).items(), key=lambda x: -x[1]):
        print(f"{pct:6.1f}%  {cat}")


if __name__ == "__main__":
    main()
