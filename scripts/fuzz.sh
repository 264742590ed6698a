#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with libFuzzer (clang, ASan + UBSan): configures a clang
# build in build-fuzz (-DFWSVD_FUZZ=ON), builds the targets of fuzz/, seeds each corpus from
# ../shared (copied, never written there), runs each target for SECONDS_PER_TARGET and fails if
# any target crashes, leaks, hangs or trips a sanitizer. Targets run in parallel, FWSVD_FUZZ_JOBS
# at a time (default: the number of cores). Corpora grow in build-fuzz/corpus/ across runs;
# crash inputs land in build-fuzz/artifacts/TARGET/ and the summary in build-fuzz/summary.tsv.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
all=(fuzz_safetensors fuzz_config fuzz_low_rank fuzz_tokenizer_load fuzz_tokenizer_text
     fuzz_wordpiece fuzz_tsv fuzz_jsonl)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
shared=${FWSVD_SHARED_DIR:-../shared}
[ -d "$shared/models" ] || { echo "fuzz.sh: shared data not found at $shared" >&2; exit 1; }
shared=$(cd "$shared" && pwd)
jobs=${FWSVD_FUZZ_JOBS:-$(nproc)}
for tool in clang clang++ python3; do
    command -v "$tool" >/dev/null || {
        echo "fuzz.sh: $tool not found (apt-get install clang libclang-rt-14-dev python3)" >&2
        exit 1
    }
done
out=build-fuzz

echo "== building the fuzz targets (clang, ASan + UBSan + libFuzzer)"
cmake -S . -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFWSVD_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j"$(nproc)" --target "${targets[@]}"

echo "== seeding the corpora from $shared"
seeds=$out/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
python3 - "$shared" "$seeds" <<'EOF'
import json, os, struct, sys
shared, seeds = sys.argv[1], sys.argv[2]
def put(target, name, data):
    d = os.path.join(seeds, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
def read(*p):
    with open(os.path.join(shared, *p), "rb") as f:
        return f.read()
models = sorted(m for m in os.listdir(os.path.join(shared, "models"))
                if os.path.isdir(os.path.join(shared, "models", m)))
# safetensors: small real files, and small synthetic ones.
for m in models:
    p = os.path.join(shared, "models", m, "reference_dev_logits.safetensors")
    if os.path.exists(p):
        put("fuzz_safetensors", m + "_logits", read("models", m, "reference_dev_logits.safetensors"))
put("fuzz_safetensors", "tiny-cls", read("golden", "tiny-cls", "model.safetensors"))
def st(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data
put("fuzz_safetensors", "two", st({"__metadata__": {"format": "pt"},
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F16", "shape": [1, 2], "data_offsets": [8, 12]}}, bytes(12)))
put("fuzz_safetensors", "empty_tensor", st({"z": {"dtype": "I64", "shape": [0, 3], "data_offsets": [0, 0]}}))
# config.json, with and without a low_rank block.
configs = [read("models", m, "config.json") for m in models]
configs += [read("golden", g, "config.json") for g in ("tiny-cls", "tiny-reg")]
for i, c in enumerate(configs):
    put("fuzz_config", "config%d" % i, c)
    put("fuzz_low_rank", "config%d" % i, c)
tiny = json.loads(read("golden", "tiny-cls", "config.json"))
pre = "bert.encoder.layer.%d."
names = ["attention.self.query", "attention.self.key", "attention.self.value",
         "attention.output.dense", "intermediate.dense", "output.dense"]
for k, r in enumerate((1, 4, 16, 32)):
    c = dict(tiny)
    c["low_rank"] = {"format": "fwsvd-low-rank-1", "method": "fwsvd", "rank_rule": "ratio=0.5",
                     "layers": None,
                     "ranks": {pre % l + n: min(r, 32) for l in range(2) for n in names[k % 6:]}}
    put("fuzz_low_rank", "low_rank%d" % k, json.dumps(c))
    put("fuzz_config", "low_rank%d" % k, json.dumps(c))
# tokenizer folders: byte 0 selects vocab.txt / tokenizer.json / tokenizer_config.json.
mini = "models/bert-mini-sst2"
put("fuzz_tokenizer_load", "vocab", b"\x00" + read(mini, "vocab.txt")[:4000])
tj = json.loads(read(mini, "tokenizer.json"))
vocab = tj.get("model", {}).get("vocab", {})
if isinstance(vocab, dict):
    tj["model"]["vocab"] = dict(list(vocab.items())[:300])
put("fuzz_tokenizer_load", "tokenizer_json", b"\x01" + json.dumps(tj).encode())
put("fuzz_tokenizer_load", "tokenizer_config", b"\x02" + read(mini, "tokenizer_config.json"))
# texts: the golden tokenizer cases and some GLUE sentences, with option bytes.
cases = json.loads(read("golden", "tokenizer_cases.json"))
texts = []
for v in cases.values():
    for kind in v.values():
        if isinstance(kind, list):
            for c in kind:
                if isinstance(c, dict):
                    texts += [c[k] for k in ("text", "text_a", "text_b", "text_pair") if isinstance(c.get(k), str)]
seen = set()
for i, t in enumerate(texts):
    if t in seen or len(seen) >= 400:
        continue
    seen.add(t)
    put("fuzz_wordpiece", "case%d" % i, bytes([(i * 37) & 255]) + t.encode())
    put("fuzz_tokenizer_text", "case%d" % i, bytes([(i * 37) & 255]) + t.encode())
# data files: heads of the GLUE dev sets as TSV, and JSON Lines made from them.
for task in sorted(os.listdir(os.path.join(shared, "data", "glue"))):
    p = os.path.join(shared, "data", "glue", task, "dev.tsv")
    if not os.path.exists(p):
        continue
    lines = read("data", "glue", task, "dev.tsv").split(b"\n")[:20]
    put("fuzz_tsv", task, b"\x00" + b"\n".join(lines) + b"\n")
    header = lines[0].decode().split("\t")
    rows = [dict(zip(header, l.decode("utf-8", "replace").split("\t"))) for l in lines[1:] if l]
    jl = "".join(json.dumps({"text": r.get("sentence") or r.get("sentence1") or r.get("#1 String", "x"),
                             "label": r.get("label") or r.get("score") or r.get("Quality")}) + "\n"
                 for r in rows)
    put("fuzz_jsonl", task, b"\x00" + jl.encode())
put("fuzz_jsonl", "pairs", b"\x00" + b'{"text": "a b", "text_pair": "c", "label": 1}\n{"sentence1": "x", "sentence2": "y", "label": "0"}\n')
put("fuzz_jsonl", "ids", b"\x00" + b'{"input_ids": [101, 7592, 102], "token_type_ids": [0, 0, 0], "label": 2.5}\n')
EOF

declare -A dict=([fuzz_safetensors]=safetensors [fuzz_config]=config [fuzz_low_rank]=config
                 [fuzz_tokenizer_load]=tokenizer [fuzz_tokenizer_text]=tokenizer
                 [fuzz_wordpiece]=tokenizer [fuzz_tsv]=data
                 [fuzz_jsonl]=data)
declare -A maxlen=([fuzz_safetensors]=32768 [fuzz_config]=8192 [fuzz_low_rank]=8192
                   [fuzz_tokenizer_load]=65536 [fuzz_tokenizer_text]=4096 [fuzz_wordpiece]=4096
                   [fuzz_tsv]=8192
                   [fuzz_jsonl]=8192)

# The model families' tokenizers (tests/golden/<family>) for fuzz_tokenizer_text.
tokenizer_dirs=$(find "$PWD/tests/golden" -mindepth 1 -maxdepth 1 -type d | sort | paste -sd:)

run_one() {
    local t=$1
    local corpus=$out/corpus/$t artifacts=$out/artifacts/$t log=$out/logs/$t.log
    mkdir -p "$corpus" "$artifacts" "$out/logs"
    cp -n "$seeds/$t"/* "$corpus"/ 2>/dev/null || true
    # Exit status: libFuzzer's (0 when nothing was found). -timeout: an input running longer
    # than 10 s is a hang; -rss_limit_mb: using more memory is a finding too.
    FWSVD_FUZZ_VOCAB="$shared/models/bert-mini-sst2/vocab.txt" \
    FWSVD_FUZZ_TOKENIZER_DIRS="$tokenizer_dirs" \
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$out/fuzz/$t" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
        -max_len="${maxlen[$t]}" -dict="fuzz/dicts/${dict[$t]}.dict" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
}

echo "== fuzzing ${#targets[@]} targets for ${secs} s each, $jobs at a time"
declare -A pid status
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    pid[$t]=$!
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
failed=0
printf "target\texecs\tcov\tft\tcorpus\tresult\n" >"$out/summary.tsv"
for t in "${targets[@]}"; do
    if wait "${pid[$t]}"; then status[$t]=ok; else status[$t]=FAILED; failed=1; fi
    log=$out/logs/$t.log
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(find "$out/corpus/$t" -type f | wc -l)
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" \
        "${status[$t]}" >>"$out/summary.tsv"
    if [ "${status[$t]}" != ok ]; then
        echo "== $t FAILED (log: $log, inputs: $out/artifacts/$t/)" >&2
        grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$log" | head -20 >&2 || true
    fi
done
column -t -s $'\t' "$out/summary.tsv"
if [ "$failed" -ne 0 ]; then
    echo "== fuzzing found problems" >&2
    exit 1
fi
echo "== no crashes"
