#!/usr/bin/env bash
# Latency of two fwsvd binaries (e.g. before and after a change) on the same models, interleaved:
# each round runs `fwsvd bench` of A then B (alternating which goes first) for every model and
# thread count, each in a fresh process; prints per configuration the median over the rounds of
# each run's median latency and the ratio B / A. Noise from other jobs hits both alike.
# Usage: bench/ab_latency.sh A_BINARY B_BINARY ROUNDS MODEL_DIR...
#   (THREADS="1 2", SEQ=128, SECONDS_PER_RUN=2 in the environment)
set -euo pipefail
a=$1 b=$2 rounds=$3
shift 3
threads=${THREADS:-1 2}
seq=${SEQ:-128}
secs=${SECONDS_PER_RUN:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median_ms() {  # BINARY MODEL THREADS
    "$1" bench "$2" --seq "$seq" --batch 1 --threads "$3" --seconds "$secs" --json |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["median_ms"])'
}
for ((r = 0; r < rounds; ++r)); do
    for m in "$@"; do
        for t in $threads; do
            key=$(basename "$m")-t$t
            if ((r % 2 == 0)); then order="a b"; else order="b a"; fi
            for which in $order; do
                bin=$a
                [ "$which" = b ] && bin=$b
                median_ms "$bin" "$m" "$t" >>"$tmp/$key.$which"
            done
        done
    done
    echo "round $((r + 1))/$rounds done, load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
echo "| model | threads | A median ms | B median ms | B / A |"
echo "|---|---|---|---|---|"
for m in "$@"; do
    for t in $threads; do
        key=$(basename "$m")-t$t
        python3 - "$tmp/$key.a" "$tmp/$key.b" "$(basename "$m")" "$t" <<'EOF'
import statistics, sys
a = statistics.median(float(x) for x in open(sys.argv[1]))
b = statistics.median(float(x) for x in open(sys.argv[2]))
print(f"| {sys.argv[3]} | {sys.argv[4]} | {a:.2f} | {b:.2f} | {b / a:.3f} |")
EOF
    done
done
