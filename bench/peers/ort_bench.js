#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node, CPU execution provider) on a classifier exported by
// torch_bert.py --export-onnx (inputs input_ids, token_type_ids int64 [batch, seq]; output
// logits). A graph without token_type_ids (DistilBERT's export: the model never reads it) is fed
// only the inputs it declares.
//
//   node ort_bench.js MODEL.onnx --input ids.jsonl              # logits per line, as JSON lines
//   node ort_bench.js MODEL.onnx --bench --seq 128 --batch 1 --threads 2 --seconds 3 --json
//
// Session options: intraOpNumThreads = --threads, interOpNumThreads 1, executionMode
// 'sequential', graphOptimizationLevel 'all' (ORT's fusions: LayerNorm, GELU, bias, MatMul+Add,
// attention where the pattern matches), CPU memory arena and memory patterns on (the defaults).
// onnxruntime-node is found through NODE_PATH (run_peers.py points it at
// ~/.cache/fwsvd-peers/node_modules).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
    const a = {model: null, input: null, bench: false, seq: 128, batch: 1, threads: 1,
               seconds: 3, warmup: 10, json: false, optimizedOut: null, vocab: 30522};
    for (let i = 0; i < argv.length; ++i) {
        const k = argv[i];
        const next = () => argv[++i];
        if (k === '--input') a.input = next();
        else if (k === '--bench') a.bench = true;
        else if (k === '--seq') a.seq = parseInt(next(), 10);
        else if (k === '--batch') a.batch = parseInt(next(), 10);
        else if (k === '--threads') a.threads = parseInt(next(), 10);
        else if (k === '--seconds') a.seconds = parseFloat(next());
        else if (k === '--warmup') a.warmup = parseInt(next(), 10);
        else if (k === '--vocab') a.vocab = parseInt(next(), 10);
        else if (k === '--json') a.json = true;
        else if (k === '--save-optimized') a.optimizedOut = next();
        else if (!a.model) a.model = k;
        else throw new Error(`unknown argument ${k}`);
    }
    if (!a.model) throw new Error('usage: ort_bench.js MODEL.onnx [--input F] [--bench ...]');
    return a;
}

function feeds(rowsIds, rowsTypes, batch, seq, inputNames) {
    const ids = new BigInt64Array(batch * seq);
    const types = new BigInt64Array(batch * seq);
    for (let b = 0; b < batch; ++b) {
        for (let t = 0; t < seq; ++t) {
            ids[b * seq + t] = BigInt(rowsIds[b][t]);
            types[b * seq + t] = BigInt(rowsTypes[b][t]);
        }
    }
    const all = {
        input_ids: new ort.Tensor('int64', ids, [batch, seq]),
        token_type_ids: new ort.Tensor('int64', types, [batch, seq]),
    };
    const f = {};
    for (const name of inputNames) {
        if (!(name in all)) throw new Error(`unexpected model input ${name}`);
        f[name] = all[name];
    }
    return f;
}

// Random ids in [0, vocab) from a fixed-seed LCG (the values do not change the work).
function randomRows(batch, seq, vocab) {
    let s = 1234n;
    const rows = [], types = [];
    for (let b = 0; b < batch; ++b) {
        const r = [];
        for (let t = 0; t < seq; ++t) {
            s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
            r.push(Number((s >> 33n) % BigInt(vocab)));
        }
        rows.push(r);
        types.push(new Array(seq).fill(0));
    }
    return [rows, types];
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const opts = {
        executionProviders: ['cpu'],
        intraOpNumThreads: a.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: true,
        enableMemPattern: true,
    };
    if (a.optimizedOut) opts.optimizedModelFilePath = a.optimizedOut;
    const session = await ort.InferenceSession.create(a.model, opts);
    if (a.input) {
        const lines = fs.readFileSync(a.input, 'utf8').split('\n').filter((l) => l.trim());
        for (const line of lines) {
            const j = JSON.parse(line);
            const ids = j.input_ids;
            const types = j.token_type_ids || new Array(ids.length).fill(0);
            const out = await session.run(feeds([ids], [types], 1, ids.length, session.inputNames));
            console.log(JSON.stringify({logits: Array.from(out.logits.data)}));
        }
    }
    if (a.bench) {
        const [rows, types] = randomRows(a.batch, a.seq, a.vocab);
        const f = feeds(rows, types, a.batch, a.seq, session.inputNames);
        for (let i = 0; i < a.warmup; ++i) await session.run(f);
        const ms = [];
        const start = process.hrtime.bigint();
        for (;;) {
            const t0 = process.hrtime.bigint();
            await session.run(f);
            const t1 = process.hrtime.bigint();
            ms.push(Number(t1 - t0) / 1e6);
            if (Number(t1 - start) / 1e9 >= a.seconds && ms.length >= 3) break;
        }
        ms.sort((x, y) => x - y);
        const n = ms.length;
        const median = n % 2 ? ms[(n - 1) / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
        const r = {peer: 'ort', seq: a.seq, batch: a.batch, threads: a.threads, runs: n,
                   median_ms: median, min_ms: ms[0], ort: ort.env.versions.node};
        if (a.json) console.log(JSON.stringify(r));
        else console.log(`ort: seq ${a.seq} batch ${a.batch} threads ${a.threads}: median ` +
                         `${median.toFixed(3)} ms, min ${ms[0].toFixed(3)} ms (${n} runs)`);
    }
}

main().catch((e) => {
    console.error(`ort_bench.js: ${e.stack || e}`);
    process.exit(1);
});
