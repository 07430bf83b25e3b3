#!/usr/bin/env node
/**
 * `npm run bench`: every benchmark in sequence, each in its own process, then one
 * markdown table on stdout and the raw figures in bench/results/latest.json (plus
 * the table in bench/results/latest.md). docs/PERFORMANCE.md quotes these files.
 *
 *   node bench/run-all.js [--quick] [--only fanout,send-startup,idle-memory,durable-writes,history,drive]
 *
 * --quick: fewer runs per figure, a shorter paced phase, 1 s write runs, a history
 * of 10^5 messages instead of 10^6 and a 256 MiB drive file instead of 1 GiB (about two minutes in all); the full run takes
 * several minutes on 2 cores (building the 10^6-message history alone ~30-60 s).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtMs, fmtRate, machine, parseFlags } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const BENCHES = [
  { id: 'fanout', script: 'bench/fanout.js', nodeArgs: ['--expose-gc'], timeoutMs: 240_000 },
  { id: 'send-startup', script: 'bench/send-startup.js', nodeArgs: [], timeoutMs: 120_000 },
  { id: 'idle-memory', script: 'bench/idle-memory.js', nodeArgs: [], timeoutMs: 180_000 },
  { id: 'durable-writes', script: 'bench/durable-writes.js', nodeArgs: [], timeoutMs: 240_000 },
  // Building 10^6 messages is bounded at 120 s, each restart at 300 s.
  { id: 'history', script: 'bench/history.js', nodeArgs: [], timeoutMs: 900_000 },
  { id: 'drive', script: 'bench/drive.js', nodeArgs: [], timeoutMs: 600_000 },
];
const only = flags.only ? String(flags.only).split(',') : BENCHES.map((b) => b.id);

const tmp = join(ROOT, '.bench-tmp', `run-all-${process.pid}`);
mkdirSync(tmp, { recursive: true });
const started = Date.now();
const results = { date: new Date().toISOString(), machine: machine(), quick: QUICK, command: `npm run bench${QUICK ? ' -- --quick' : ''}`,
  git: gitDescribe(), benches: {} };

for (const b of BENCHES.filter((x) => only.includes(x.id))) {
  const out = join(tmp, `${b.id}.json`);
  const args = [...b.nodeArgs, b.script, '--out', out, ...(QUICK ? ['--quick'] : [])];
  console.error(`[run-all] node ${args.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], timeout: b.timeoutMs });
  let data;
  try { data = JSON.parse(readFileSync(out, 'utf8')); } catch { data = undefined; }
  results.benches[b.id] = data ?? { error: `exited ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}` };
  results.benches[b.id].wallSeconds = (Date.now() - t0) / 1000;
}
rmSync(tmp, { recursive: true, force: true });
results.wallSeconds = (Date.now() - started) / 1000;

const table = render(results);
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(HERE, 'results', 'latest.md'), `${table}\n`);
process.stdout.write(`${table}\n`);

/** The commit measured, and whether src/ or bin/ had uncommitted changes. */
function gitDescribe() {
  const run = (args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  return { commit: run(['rev-parse', '--short', 'HEAD']), dirty: run(['status', '--porcelain', '--', 'src', 'bin']) !== '' };
}

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : 'n/a';
}

function render(res) {
  const m = res.machine;
  const lines = [
    `Run ${res.date} at ${res.git.commit}${res.git.dirty ? ' (with uncommitted src/bin changes)' : ''} (${res.command}, ${res.wallSeconds.toFixed(0)} s), ${m.nproc} cores (${m.cpu}), Node ${m.node}, Linux ${m.kernel}, load ${m.loadavg}`,
    '',
    '| figure | ours (median) | baseline (median) | ours / baseline | SPEC §9 target | detail |',
    '|---|---|---|---|---|---|',
  ];
  const f = res.benches.fanout;
  if (f?.scenarios) {
    if (f.fsync) {
      lines.push(`| disk: 200 B append + fdatasync, one at a time (journal's file system) | — | p50 ${fmtMs(f.fsync.p50)}, p99 ${fmtMs(f.fsync.p99)} | — | (context) | ${fmtRate(f.fsync.perSecond)} fsyncs/s |`);
    }
    for (const p of Object.values(f.pipe ?? {})) {
      lines.push(`| raw node:net pipe, ${p.conns} conn(s), ${p.frameBytes} B frames | — | ${fmtRate(p.rate)} frames/s | — | (ceiling) | ${p.mbps.toFixed(0)} MB/s |`);
    }
    for (const sc of Object.values(f.scenarios)) {
      const o = sc.targets.ours;
      const n = sc.targets.naive;
      const errs = [...(o?.errors ?? []), ...(n?.errors ?? [])];
      const err = errs.length ? `; ${errs.length} failed run(s): ${errs[0]}` : '';
      const lost = (o?.missing || o?.extra) ? `; DELIVERY COUNT WRONG: ${o.missing} missing, ${o.extra} extra` : '';
      const sys = o && Number.isFinite(o.messagesPerFsync)
        ? `; ${o.messagesPerFsync.toFixed(1)} msgs/fsync, ${o.deliveriesPerWrite.toFixed(1)} deliveries/socket write` : '';
      if (sc.rate) {
        lines.push(`| ${sc.what}: p99 latency | ${o ? fmtMs(o.p99) : 'not measured'} | ${n ? fmtMs(n.p99) : 'n/a'} (naive relay) | ${ratio(o?.p99, n?.p99)} | ${sc.target} | p50 ${o ? fmtMs(o.p50) : 'n/a'} vs ${n ? fmtMs(n.p50) : 'n/a'}; server CPU ${o ? `${(o.serverCpu * 100).toFixed(0)}%` : 'n/a'}${sys}${lost}${err} |`);
      } else {
        lines.push(`| ${sc.what} | ${o ? `${fmtRate(o.rate)} deliveries/s` : 'not measured'} | ${n ? `${fmtRate(n.rate)}/s` : 'n/a'} (naive relay) | ${ratio(o?.rate, n?.rate)} | ${sc.target} | p50/p99 ${o ? `${fmtMs(o.p50)} / ${fmtMs(o.p99)}` : 'n/a'} (naive ${n ? `${fmtMs(n.p50)} / ${fmtMs(n.p99)}` : 'n/a'}); server CPU ${o ? `${(o.serverCpu * 100).toFixed(0)}%` : 'n/a'}${sys}${lost}${err} |`);
      }
    }
    for (const note of f.notes ?? []) lines.push(`| fan-out | ${note} | | | | |`);
  } else if (f) {
    lines.push(`| fan-out | failed: ${f.error} | | | | |`);
  }
  const s = res.benches['send-startup'];
  if (s?.send) {
    lines.push(`| \`chat send\` one-shot wall time | ${s.send.median.toFixed(1)} ms | ${s.nodeE0.median.toFixed(1)} ms (\`node -e 0\`) | ${ratio(s.send.median, s.nodeE0.median)} | ≤ 2× \`node -e 0\` | ${s.runs} runs each, token login |`);
  } else if (s) {
    lines.push(`| \`chat send\` one-shot wall time | ${s.error ?? s.notes?.join('; ') ?? 'not measured'} | | | ≤ 2× \`node -e 0\` | |`);
  }
  const im = res.benches['idle-memory'];
  const what = `idle connections: server RSS per connection at ${im?.conns ?? 5000} clients (HELLO, token LOGIN, LISTEN)`;
  if (im?.targets?.ours || im?.targets?.bare) {
    const o = im.targets.ours;
    const b = im.targets.bare;
    const k = (x) => (Number.isFinite(x) ? `${(x / 1024).toFixed(2)} KiB` : 'n/a');
    const errs = [...(o?.errors ?? []), ...(b?.errors ?? [])];
    lines.push(`| ${what} | ${o ? k(o.rss) : 'not measured'} | ${b ? k(b.rss) : 'n/a'} (bare node:net server) | ${ratio(o?.rss, b?.rss)} | ≤ 3 KiB (of RSS) | ` +
      `V8 heap used + external ${k(o?.heapExt)} vs ${k(b?.heapExt)}; RSS right after the connection burst ${k(o?.rssBurst)} vs ${k(b?.rssBurst)} ` +
      `(young generation, returned after ~${Number.isFinite(o?.idleWaitSeconds) ? o.idleWaitSeconds.toFixed(0) : '?'} s idle); ${im.runsPerFigure} run(s)` +
      `${errs.length ? `; ${errs.length} failed run(s): ${errs[0]}` : ''}${im.notes?.length ? `; ${im.notes.join('; ')}` : ''} |`);
  } else if (im) {
    lines.push(`| ${what} | ${im.error ?? im.notes?.join('; ') ?? 'not measured'} | | | ≤ 3 KiB | |`);
  }
  renderDurable(res.benches['durable-writes'], lines);
  renderHistory(res.benches.history, lines);
  renderDrive(res.benches.drive, lines);
  return lines.join('\n');
}

function renderDurable(d, lines) {
  if (!d?.scenarios) {
    if (d) lines.push(`| durable acknowledged writes | ${d.error ?? d.notes?.join('; ') ?? 'not measured'} | | | ≥ 3k/s (1 writer), ≥ 50k/s (50) | |`);
    return;
  }
  const fs = d.fileSystem ? `; data on ${d.fileSystem.type} (${d.fileSystem.device}, ${d.fileSystem.mountPoint})` : '';
  for (const s of Object.values(d.scenarios)) {
    const o = s.ours;
    const errs = o.errors.length ? `; ${o.errors.length} failed run(s): ${o.errors[0]}` : '';
    const refused = o.refused ? `; ${o.refused} SENDs REFUSED` : '';
    lines.push(`| ${s.what}: acknowledged writes/s | ${fmtRate(o.rate)}/s | ${fmtRate(s.disk.recordsPerSecond)} records/s ` +
      `(Node loop: 150 B write + fdatasync, ${s.disk.perFsync} record${s.disk.perFsync > 1 ? 's' : ''} per fsync) | ${ratio(o.rate, s.disk.recordsPerSecond)} | ${s.target} | ` +
      `ack latency p50 ${fmtMs(o.p50)}, p99 ${fmtMs(o.p99)}; ${Number.isFinite(o.writesPerFsync) ? o.writesPerFsync.toFixed(1) : 'n/a'} writes per fsync; ` +
      `server CPU ${Number.isFinite(o.serverCpu) ? `${(o.serverCpu * 100).toFixed(0)}%` : 'n/a'}; disk fsync p50 ${fmtMs(s.disk.fsyncP50)}, p99 ${fmtMs(s.disk.fsyncP99)}; ` +
      `${o.ok} runs of ${d.seconds} s${fs}${refused}${errs} |`);
  }
}

function renderHistory(h, lines) {
  if (!h?.dataset) {
    if (h) lines.push(`| history at 10^6 messages | ${h.error ?? h.notes?.join('; ') ?? 'not measured'} | | | | |`);
    return;
  }
  const ds = h.dataset;
  const n = fmtRate(ds.stored);
  const mib = (x) => (Number.isFinite(x) ? `${(x / 2 ** 20).toFixed(0)} MiB` : 'n/a');
  const target = 'fast at 10^6 (issue 3)';
  if (Number.isFinite(ds.rate)) {
    lines.push(`| history: storing ${n} messages of 100 B through the server (${h.writers} writers pipelining) | ${fmtRate(ds.rate)} messages/s | — | — | (setup) | ` +
      `${ds.seconds.toFixed(1)} s; ${ds.fsyncs} fsyncs; server RSS after ${mib(ds.serverMemory?.rss)}${ds.complete ? '' : '; INCOMPLETE (time bound)'} |`);
  }
  const r = h.restart;
  if (r) {
    lines.push(`| restart with ${n} stored messages: spawn → "listening" | ${fmtMs(r.ours.startMs)} | ${fmtMs(r.empty.startMs)} (empty data dir) | ${ratio(r.ours.startMs, r.empty.startMs)} | (context) | ` +
      `RSS at listening ${mib(r.ours.rssAtListen)} (empty dir ${mib(r.empty.rssAtListen)}), 2 s later ${mib(r.ours.rssAfter2s)}, peak ${mib(r.ours.peakAtListen)}; ${r.ours.perRun.length} run(s) |`);
  }
  const ping = h.queries?.ping;
  for (const [id, q] of Object.entries(h.queries ?? {})) {
    if (id === 'ping') continue;
    lines.push(`| ${q.request} at ${n} messages: ${q.what} | ${fmtMs(q.median)} | ${fmtMs(ping.median)} (PING round trip) | ${ratio(q.median, ping.median)} | ${target} | ` +
      `p99 ${fmtMs(q.p99)}, first call ${fmtMs(q.cold)}; ${q.messages} message(s), ${(q.bytes / 1024).toFixed(1)} KiB${q.more ? ', more' : ''}; ` +
      `with client decoding ${fmtMs(q.decodedMedian)}; ${q.reps} reps${q.problems?.length ? `; PROBLEMS: ${q.problems.join(', ')}` : ''} |`);
  }
  for (const note of h.notes ?? []) lines.push(`| history | ${note} | | | | |`);
}

function renderDrive(d, lines) {
  if (!d?.download) {
    if (d) lines.push(`| drive transfers | ${d.error ?? 'not measured'} | | | ≥ 70% of raw loopback (issue 4) | |`);
    return;
  }
  const mib = (x) => (Number.isFinite(x) ? `${(x / 2 ** 20).toFixed(0)} MiB` : 'n/a');
  const size = `${(d.sizeBytes / 2 ** 30).toFixed(d.sizeBytes >= 2 ** 30 ? 0 : 2)} GiB`;
  const raw = `${d.raw.gbps.toFixed(2)} GB/s (node:net pipe file → file)`;
  const fsInfo = d.fileSystem ? `; files on ${d.fileSystem.type}` : '';
  lines.push(`| \`chat-get\` of ${size} to a file (whole process) | ${d.download.gbps.toFixed(2)} GB/s | ${raw} | ${ratio(d.download.gbps, d.raw.gbps)} | ≥ 0.7× raw (issue 4) | ` +
    `transfer alone (its --json seconds) ${d.download.gbpsTransfer.toFixed(2)} GB/s; peak RSS ${mib(d.download.peakRss)}; raw pipe into nothing ${d.rawNull.gbps.toFixed(2)} GB/s; ${d.runs} runs${fsInfo} |`);
  if (d.curlFtp) {
    lines.push(`| \`chat-get\` of ${size} vs curl from vsftpd to a file (SPEC §9 baseline) | ${d.download.gbps.toFixed(2)} GB/s | ${d.curlFtp.gbps.toFixed(2)} GB/s (curl process, no fsync) | ${ratio(d.download.gbps, d.curlFtp.gbps)} | ≥ 1.2× curl | chat-get fsyncs every 1 MiB checkpoint and verifies sha256; ${d.runs} runs |`);
  } else {
    for (const n of d.notes ?? []) lines.push(`| drive | ${n} | | | | |`);
  }
  lines.push(`| \`chat upload\` of ${size} (whole process, server stores + fsyncs the blob) | ${d.upload.gbps.toFixed(2)} GB/s | ${raw} | ${ratio(d.upload.gbps, d.raw.gbps)} | ≥ 0.7× raw (issue 4) | ` +
    `peak RSS ${mib(d.upload.peakRss)}; server RSS after ${mib(d.serverRss)}; ${d.runs} runs |`);
}
