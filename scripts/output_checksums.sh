#!/usr/bin/env bash
# SHA-256 of what the fwsvd commands write on the bert-mini models of ../shared: eval logits
# (f32 and bf16), Fisher files, compressed and fine-tuned checkpoints, an initialised model, the
# inspect and run outputs. A refactoring that must not change any output runs this before and
# after and compares the two lists (`diff before.txt after.txt`).
# Usage: scripts/output_checksums.sh [BUILD_DIR] > checksums.txt   (about 3 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fwsvd="$build/tools/fwsvd"
shared=${FWSVD_SHARED_DIR:-../shared}
models="$shared/models"
glue="$shared/data/glue"
# A fixed folder: outputs record the paths they were made from (config.json's low_rank block).
tmp=/tmp/fwsvd-output-checksums
rm -rf "$tmp"
mkdir -p "$tmp"
export FWSVD_NO_PROGRESS=1
t=(--threads 2)

sum() {  # sum LABEL FILE...: one line per file, named by LABEL and the file's base name
    local label=$1
    shift
    for f in "$@"; do echo "$(sha256sum <"$f" | cut -c1-64)  $label/$(basename "$f")"; done
}

for task in sst2:SST-2 stsb:STS-B mrpc:MRPC cola:CoLA; do
    name=${task%%:*}
    dir=${task#*:}
    "$fwsvd" eval "$models/bert-mini-$name" --data "$glue/$dir/dev.tsv" "${t[@]}" \
        --dump-logits "$tmp/eval-$name.safetensors" --json >"$tmp/eval-$name.json"
    sum "eval $name" "$tmp/eval-$name.safetensors"
done
# bf16 only where the CPU has AVX512_BF16 (fwsvd refuses it elsewhere).
if grep -qw avx512_bf16 /proc/cpuinfo; then
    "$fwsvd" eval "$models/bert-mini-sst2" --data "$glue/SST-2/dev.tsv" "${t[@]}" \
        --precision bf16 --dump-logits "$tmp/eval-bf16.safetensors" --json >/dev/null
    sum "eval sst2 bf16" "$tmp/eval-bf16.safetensors"
else
    echo "skipped  eval sst2 bf16 (no AVX512_BF16)"
fi

"$fwsvd" fisher "$models/bert-mini-sst2" --data "$glue/SST-2/train.tsv" --examples 400 "${t[@]}" \
    --out "$tmp/fisher-sst2.safetensors" >/dev/null
"$fwsvd" fisher "$models/bert-mini-stsb" --data "$glue/STS-B/train.tsv" --examples 200 --all \
    "${t[@]}" --out "$tmp/fisher-stsb-all.safetensors" >/dev/null
sum fisher "$tmp/fisher-sst2.safetensors" "$tmp/fisher-stsb-all.safetensors"

"$fwsvd" compress "$models/bert-mini-sst2" --method fwsvd --rank 16 \
    --fisher "$tmp/fisher-sst2.safetensors" --out "$tmp/sst2-fwsvd16" "${t[@]}" \
    --report "$tmp/sst2-fwsvd16-report.json" >/dev/null
"$fwsvd" compress "$models/bert-mini-sst2" --method svd --rank 32 --out "$tmp/sst2-svd32" \
    "${t[@]}" >/dev/null
"$fwsvd" compress "$models/bert-mini-mrpc" --method svd --param-ratio 0.3 \
    --layers 'intermediate|output\.dense' --out "$tmp/mrpc-svd-p03" "${t[@]}" >/dev/null
for m in sst2-fwsvd16 sst2-svd32 mrpc-svd-p03; do
    sum "compress $m" "$tmp/$m/model.safetensors" "$tmp/$m/config.json"
done
"$fwsvd" eval "$tmp/sst2-fwsvd16" --data "$glue/SST-2/dev.tsv" "${t[@]}" \
    --dump-logits "$tmp/eval-sst2-fwsvd16.safetensors" >/dev/null
sum "eval sst2-fwsvd16" "$tmp/eval-sst2-fwsvd16.safetensors"
"$fwsvd" inspect "$tmp/sst2-fwsvd16" --json >"$tmp/inspect.json"
sum inspect "$tmp/inspect.json"

"$fwsvd" finetune "$tmp/sst2-svd32" --data "$glue/SST-2/train.tsv" --max-steps 12 --batch 16 \
    "${t[@]}" --out "$tmp/sst2-svd32-ft" >/dev/null
"$fwsvd" finetune "$models/bert-mini-uncased" --data "$glue/STS-B/train.tsv" --max-steps 8 \
    --batch 8 --num-labels 1 "${t[@]}" --out "$tmp/stsb-ft" >/dev/null
sum "finetune sst2-svd32" "$tmp/sst2-svd32-ft/model.safetensors" "$tmp/sst2-svd32-ft/config.json"
sum "finetune stsb" "$tmp/stsb-ft/model.safetensors" "$tmp/stsb-ft/config.json"

"$fwsvd" init --preset tiny --vocab "$shared/data/vocab/bert-base-uncased-vocab.txt" --seed 3 \
    --num-labels 3 --out "$tmp/init-tiny" >/dev/null
sum init "$tmp/init-tiny/model.safetensors" "$tmp/init-tiny/config.json" \
    "$tmp/init-tiny/tokenizer_config.json"

"$fwsvd" run "$models/bert-mini-mrpc" --pair "The cat sat." "A cat was sitting." \
    --text "single text" "${t[@]}" >"$tmp/run.jsonl"
sum run "$tmp/run.jsonl"
