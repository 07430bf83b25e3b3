/** Small statistics and reporting helpers shared by the benchmarks. */
import os from 'node:os';
import { readFileSync } from 'node:fs';

/** Median of the finite numbers in `xs` (NaN when there are none). */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** q-quantile (0..1) of a sorted typed array or array, nearest-rank. */
export function quantileSorted(sorted, q, n = sorted.length) {
  if (n === 0) return NaN;
  const i = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return sorted[i];
}

/** Machine description for the report: the figures only mean something beside it. */
export function machine() {
  let kernel = os.release();
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  let loadavg = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try { nproc = Number(readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').split(' ')[0]) / 100000 || nproc; } catch { /* no cgroup v2 limit */ }
  return { nproc, cpus: os.cpus().length, cpu, node: process.version, kernel, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavg };
}

export function parseFlags(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[a.slice(2)] = argv[++i];
    else flags[a.slice(2)] = true;
  }
  return flags;
}

export function fmtRate(x) {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export function fmtMs(x) {
  if (!Number.isFinite(x)) return 'n/a';
  return x >= 100 ? `${x.toFixed(0)} ms` : x >= 10 ? `${x.toFixed(1)} ms` : `${x.toFixed(2)} ms`;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs fn over items with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
