#!/usr/bin/env node
// Prints the demo's table and writes OUT/results.svg from the JSON that fwsvd wrote in OUT.
// Usage: node scripts/demo_report.js OUT "svd fwsvd" "1 4 16" EMB_RANK
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2];
const methods = (process.argv[3] || 'svd fwsvd').split(/\s+/).filter(Boolean);
const ranks = (process.argv[4] || '1 4 16').split(/\s+/).filter(Boolean).map(Number);
const emb = Number(process.argv[5] || 0);
const read = (f) => JSON.parse(fs.readFileSync(path.join(out, f), 'utf8'));

const rows = [];
const dense = {method: 'dense', rank: '-', eval: read('eval-dense.json'),
               bench: read('bench-dense.json'), kept: 1.0, params: null, whole: 1.0};
rows.push(dense);
for (const method of methods) {
    for (const r of ranks) {
        const name = `${method}-r${r}-e${emb}`;
        const rep = read(`report-${name}.json`);
        rows.push({method, rank: r, eval: read(`eval-${name}.json`),
                   bench: read(`bench-${name}.json`), kept: rep.encoder_linear.fraction,
                   params: rep.whole_model.params_after, whole: rep.whole_model.fraction,
                   params_before: rep.whole_model.params_before});
    }
}
dense.params = rows[1].params_before;

const metric = dense.eval.metric;
const pad = (s, n) => String(s).padEnd(n);
const lines = [];
lines.push(`${pad('method', 14)} ${pad('rank', 5)} ${pad('params', 9)} ${pad('model', 7)} ` +
           `${pad('enc.lin.', 9)} ${pad(metric, 9)} ${pad('latency ms', 11)} speed-up`);
for (const r of rows) {
    lines.push(`${pad(r.method, 14)} ${pad(r.rank, 5)} ${pad(r.params, 9)} ` +
               `${pad((100 * r.whole).toFixed(1) + '%', 7)} ` +
               `${pad((100 * r.kept).toFixed(1) + '%', 9)} ${pad(r.eval.value.toFixed(4), 9)} ` +
               `${pad(r.bench.median_ms.toFixed(2), 11)} ` +
               `${(dense.bench.median_ms / r.bench.median_ms).toFixed(2)}x`);
}
const table = lines.join('\n');
console.log(`dev ${metric} on ${dense.eval.examples} e-mails; latency: median of fwsvd bench ` +
            `(seq 128, batch 1, ${dense.bench.threads} threads); ` +
            (emb > 0 ? `word embeddings factored at rank ${emb} in every compressed row`
                     : 'word embeddings dense'));
console.log(table);
fs.writeFileSync(path.join(out, 'results.txt'), table + '\n');

// SVG: metric against the fraction of encoder linear weights kept.
const W = 520, H = 340, x0 = 70, y0 = 30, pw = 420, ph = 240;
const vals = rows.map((r) => r.eval.value);
let lo = Math.min(...vals), hi = Math.max(...vals);
const padv = 0.05 * (hi - lo || 1);
lo -= padv;
hi += padv;
const X = (k) => x0 + pw * k / 1.05;
const Y = (v) => y0 + ph * (1 - (v - lo) / (hi - lo));
const svg = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
             `font-family="sans-serif" font-size="12">`,
             `<rect width="${W}" height="${H}" fill="white"/>`,
             `<rect x="${x0}" y="${y0}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
             `<text x="${x0 + pw / 2}" y="18" text-anchor="middle" font-weight="bold">` +
             `spam-assassin dev ${metric} by method</text>`];
for (let t = 0; t <= 4; ++t) {
    const v = lo + (hi - lo) * t / 4, k = 1.05 * t / 4;
    svg.push(`<text x="${x0 - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(3)}</text>`);
    svg.push(`<text x="${X(k).toFixed(1)}" y="${y0 + ph + 16}" text-anchor="middle">${(100 * k).toFixed(0)}%</text>`);
}
svg.push(`<text x="${x0 + pw / 2}" y="${y0 + ph + 34}" text-anchor="middle">encoder linear weights kept</text>`);
svg.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${Y(dense.eval.value).toFixed(1)}" ` +
         `y2="${Y(dense.eval.value).toFixed(1)}" stroke="#444" stroke-dasharray="5,4"/>`);
const palette = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const colors = {};
methods.forEach((m, i) => { colors[m] = palette[i % palette.length]; });
for (const m of methods) {
    const pts = rows.filter((r) => r.method === m).sort((a, b) => a.kept - b.kept);
    svg.push(`<polyline fill="none" stroke="${colors[m]}" stroke-width="2" points="` +
             pts.map((r) => `${X(r.kept).toFixed(1)},${Y(r.eval.value).toFixed(1)}`).join(' ') + '"/>');
    for (const r of pts) {
        svg.push(`<circle cx="${X(r.kept).toFixed(1)}" cy="${Y(r.eval.value).toFixed(1)}" r="4" fill="${colors[m]}"/>`);
    }
}
let lx = x0;
for (const m of methods) {
    svg.push(`<circle cx="${lx + 5}" cy="${H - 14}" r="4" fill="${colors[m]}"/><text x="${lx + 13}" y="${H - 10}">${m}</text>`);
    lx += 20 + 7 * m.length;
}
svg.push(`<line x1="${lx}" x2="${lx + 25}" y1="${H - 14}" y2="${H - 14}" stroke="#444" stroke-dasharray="5,4"/><text x="${lx + 30}" y="${H - 10}">dense</text>`);
svg.push('</svg>');
fs.writeFileSync(path.join(out, 'results.svg'), svg.join('\n') + '\n');
console.log(`chart: ${path.join(out, 'results.svg')}`);
