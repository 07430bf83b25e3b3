#!/usr/bin/env node
/**
 * What the V8 heap holds per connection, by object kind: compares two heap snapshots
 * (e.g. the ones `node bench/idle-memory.js --heap-snapshot DIR` writes: the bare
 * node:net server and ours, each with N idle connections) and prints, per kind
 * (node type and constructor or name), count and self size divided by N for each,
 * largest differences first.
 *
 *   node bench/lib/heap-diff.js DIR/bare-5000.heapsnapshot DIR/ours-5000.heapsnapshot [--per 5000] [--top 40]
 */
import { readFileSync } from 'node:fs';
import { parseFlags } from './stats.js';

const flags = parseFlags(process.argv.slice(2));
const files = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(i > 0 && all[i - 1].startsWith('--') && !all[i - 1].includes('=')));
const PER = Number(flags.per ?? 5000);
const TOP = Number(flags.top ?? 40);

function summarize(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const n = fields.length;
  const byKind = new Map();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += n) {
    const type = types[snap.nodes[i + iType]];
    let name = snap.strings[snap.nodes[i + iName]];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '';
    else if (type === 'code' || type === 'hidden' || type === 'array' || type === 'number') name = name.slice(0, 40);
    else name = name.split(/[ /]/)[0].slice(0, 60);
    const key = `${type}:${name}`;
    const size = snap.nodes[i + iSize];
    total += size;
    const e = byKind.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += size;
    byKind.set(key, e);
  }
  return { byKind, total };
}

const [a, b] = files.map(summarize);
const keys = new Set([...a.byKind.keys(), ...b.byKind.keys()]);
const rows = [...keys].map((k) => {
  const x = a.byKind.get(k) ?? { count: 0, size: 0 };
  const y = b.byKind.get(k) ?? { count: 0, size: 0 };
  return { k, ca: x.count / PER, sa: x.size / PER, cb: y.count / PER, sb: y.size / PER };
}).sort((p, q) => Math.abs(q.sb - q.sa) - Math.abs(p.sb - p.sa));
const f = (v, d = 1) => v.toFixed(d).padStart(8);
console.log(`per connection (÷ ${PER}); A = ${files[0]}, B = ${files[1]}`);
console.log(`${'kind'.padEnd(50)} ${'A count'.padStart(8)} ${'A bytes'.padStart(8)} ${'B count'.padStart(8)} ${'B bytes'.padStart(8)} ${'B − A'.padStart(8)}`);
for (const r of rows.slice(0, TOP)) console.log(`${r.k.slice(0, 50).padEnd(50)} ${f(r.ca, 2)} ${f(r.sa)} ${f(r.cb, 2)} ${f(r.sb)} ${f(r.sb - r.sa)}`);
console.log(`${'total self size'.padEnd(50)} ${''.padStart(8)} ${f(a.total / PER)} ${''.padStart(8)} ${f(b.total / PER)} ${f((b.total - a.total) / PER)}`);
