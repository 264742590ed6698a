#!/usr/bin/env bash
# One process against two ranks (mpirun -np 2) for fwsvd fisher, eval and finetune on bert-mini
# (../shared), on the two cores of one machine: 1 process x 1 thread, 1 process x 2 threads,
# 2 ranks x 1 thread. Prints one line per run (best wall time of REPEAT runs, default 3).
# Usage: bench/mpi_scaling.sh [BUILD_DIR]   (docs/SCALING.md has the results)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fwsvd="$(pwd)/$build/tools/fwsvd"
shared=${FWSVD_SHARED_DIR:-../shared}
repeat=${REPEAT:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FWSVD_NO_PROGRESS=1 OMP_WAIT_POLICY=PASSIVE
mpirun=(mpirun --oversubscribe --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY)
model="$shared/models/bert-mini-sst2"
train="$shared/data/glue/SST-2/train.tsv"
dev="$shared/data/glue/SST-2/dev.tsv"

best() {  # best LABEL COMMAND...: the best wall time over $repeat runs
    local label=$1 t best=
    shift
    for _ in $(seq "$repeat"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    printf "%-44s %7.2f s\n" "$label" "$best"
}

fisher=(fisher "$model" --data "$train" --examples 512 --seed 1 --fisher-batch 16)
best "fisher 512 ex, 1 process x 1 thread" "$fwsvd" "${fisher[@]}" --threads 1 --out "$tmp/f.st"
best "fisher 512 ex, 1 process x 2 threads" "$fwsvd" "${fisher[@]}" --threads 2 --out "$tmp/f.st"
best "fisher 512 ex, 2 ranks x 1 thread" "${mpirun[@]}" "$fwsvd" "${fisher[@]}" --threads 1 \
    --out "$tmp/f.st"

ev=(eval "$model" --data "$dev")
best "eval 872 ex, 1 process x 1 thread" "$fwsvd" "${ev[@]}" --threads 1
best "eval 872 ex, 1 process x 2 threads" "$fwsvd" "${ev[@]}" --threads 2
best "eval 872 ex, 2 ranks x 1 thread" "${mpirun[@]}" "$fwsvd" "${ev[@]}" --threads 1

# The first 4,096 training examples: tokenizing all 67k on every rank would hide the steps.
head -4097 "$train" >"$tmp/train4k.tsv"
ft=(finetune "$model" --data "$tmp/train4k.tsv" --max-steps 24 --batch 32 --seed 1)
best "finetune 24 steps of 32, 1 process x 1 thread" "$fwsvd" "${ft[@]}" --threads 1 \
    --out "$tmp/ft1"
best "finetune 24 steps of 32, 1 process x 2 threads" "$fwsvd" "${ft[@]}" --threads 2 \
    --out "$tmp/ft2"
best "finetune 24 steps of 32, 2 ranks x 1 thread" "${mpirun[@]}" "$fwsvd" "${ft[@]}" \
    --threads 1 --out "$tmp/ft3"
