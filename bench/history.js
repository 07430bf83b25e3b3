#!/usr/bin/env node
/**
 * History at scale (issue 3: `chat history` answers from an index, fast with 10^6
 * stored messages; SPEC §4 history and search).
 *
 *   node bench/history.js [--quick] [--messages N] [--reps N] [--restarts N]
 *        [--writers W] [--gen-seconds S] [--dir DIR] [--keep-data DIR] [--out FILE]
 *
 * 1. Dataset: N messages (10^6; 10^5 with --quick) of 100 B sent through the real
 *    server (bench/lib/server-proc.js) by W = 16 users pipelining SENDs
 *    (bench/lib/history-data.js: 90 % in group "big", 5 % direct, 5 % in 8 small
 *    groups). Its wall time and rate are reported. Bounded by --gen-seconds (120):
 *    writers stop there and the report says how many were stored.
 *    --keep-data DIR builds into DIR and keeps it (with DIR.dataset.json); a later run
 *    with the same --keep-data reuses it and skips this step (delete DIR when the
 *    journal format changes).
 * 2. Restart: the real binary (bin/chat-server.js start, bench/lib/server-bin.js) on
 *    that data dir, time from spawn to its "listening" log line, VmRSS then and 2 s
 *    later, VmHWM (peak). Baseline, alternating: the same on an empty data dir.
 * 3. Queries, on the last restarted server, one connection logged in as hist0 (token):
 *    HISTORY (0x31) and SEARCH (0x32) requests, one at a time, round-robin over the
 *    query kinds so all see the same noise, REPS times each after one cold round
 *    (reported apart). Latency = request written → whole reply frame arrived
 *    (bench/lib/raw-client.js timedRequest; decoding excluded, reported beside).
 *    Baseline: PING round trips on the same connection, in the same rounds.
 * Every wait is bounded; temporary data lives under DIR (default .bench-tmp/).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawClient } from './lib/raw-client.js';
import { startChild } from './lib/proc.js';
import { startServerBin, procMemory } from './lib/server-bin.js';
import { fileSystemOf } from './lib/disk.js';
import { BIG, COMMON_WORD, RARE_WORD, buildHistory } from './lib/history-data.js';
import { fmtMs, fmtRate, machine, median, parseFlags, quantileSorted, sleep } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const MESSAGES = Number(flags.messages ?? (QUICK ? 100_000 : 1_000_000));
const REPS = Number(flags.reps ?? (QUICK ? 30 : 200));
const RESTARTS = Number(flags.restarts ?? (QUICK ? 1 : 3));
const WRITERS = Number(flags.writers ?? 16);
const GEN_SECONDS = Number(flags['gen-seconds'] ?? 120);
const log = (...a) => console.error('[history]', ...a);

/** The measured requests; `payload(ctx)` is built per call (durations are relative to now). */
const QUERIES = [
  { id: 'ping', what: 'PING round trip (baseline)', name: 'PING', payload: () => ({}) },
  { id: 'group-last50', what: 'group "big", last 50', cli: 'chat history -g big --last 50',
    name: 'HISTORY', payload: () => history(0, BIG, { last: 50 }) },
  { id: 'group-since-mid-last50', what: 'group "big", after a seq in the middle, last 50', cli: 'chat history -g big --since SEQ --last 50',
    name: 'HISTORY', payload: (x) => history(0, BIG, { afterSeq: x.midSeq, last: 50 }) },
  { id: 'group-since-mid-page', what: 'group "big", after a seq in the middle, first page (one frame)', cli: 'chat history -g big --since SEQ (first page)',
    name: 'HISTORY', payload: (x) => history(0, BIG, { afterSeq: x.midSeq }) },
  { id: 'group-age-last50', what: 'group "big", newer than a duration (the newer half), last 50', cli: 'chat history -g big --since DURATION --last 50',
    name: 'HISTORY', payload: (x) => history(0, BIG, { maxAgeMs: Date.now() - x.midWall, last: 50 }) },
  { id: 'group-age-page', what: 'group "big", newer than a duration (the newer half), first page', cli: 'chat history -g big --since DURATION (first page)',
    name: 'HISTORY', payload: (x) => history(0, BIG, { maxAgeMs: Date.now() - x.midWall }) },
  { id: 'direct-last50', what: 'direct thread hist0 ↔ hist1, last 50', cli: 'chat history --with hist1 --last 50',
    name: 'HISTORY', payload: () => history(1, 'hist1', { last: 50 }) },
  { id: 'search-rare', what: `search group "big" for a rare word ("${RARE_WORD}", ~1 in 10^5), first page of ≤ 50`, cli: `chat search -g big ${RARE_WORD}`,
    name: 'SEARCH', payload: () => ({ kind: 0, target: BIG, query: RARE_WORD, beforeSeq: 0, limit: 50 }) },
  { id: 'search-common', what: `search group "big" for a common word ("${COMMON_WORD}", 1 in 2), first page of ≤ 50`, cli: `chat search -g big ${COMMON_WORD}`,
    name: 'SEARCH', payload: () => ({ kind: 0, target: BIG, query: COMMON_WORD, beforeSeq: 0, limit: 50 }) },
];

function history(kind, target, { afterSeq = 0, maxAgeMs = 0, last = 0 } = {}) {
  return { kind, target, afterSeq, maxAgeMs: Math.max(0, Math.round(maxAgeMs)), last, upToSeq: 0 };
}

/** What a reply says about itself, and whether it is plausible for the query. */
function inspect(q, payload, x) {
  const msgs = payload.messages ?? [];
  const problems = [];
  if (q.name === 'HISTORY') {
    for (let i = 1; i < msgs.length; i++) if (msgs[i].seq <= msgs[i - 1].seq) { problems.push('not in seq order'); break; }
    if (q.id.endsWith('last50') && msgs.length !== 50) problems.push(`${msgs.length} messages, not 50`);
    if (q.id.includes('since-mid') && msgs.some((m) => m.seq <= x.midSeq)) problems.push('a message at or before afterSeq');
    if (q.id.startsWith('group') && msgs.some((m) => m.group !== BIG)) problems.push('a message of another conversation');
  } else if (q.name === 'SEARCH') {
    const word = q.id === 'search-rare' ? RARE_WORD : COMMON_WORD;
    if (msgs.some((m) => !m.text.split(/\W+/).includes(word))) problems.push(`a result without "${word}"`);
    for (let i = 1; i < msgs.length; i++) if (msgs[i].seq >= msgs[i - 1].seq) { problems.push('not newest first'); break; }
  }
  return { messages: msgs.length, more: payload.more, problems };
}

async function measureQueries(srv, user, x) {
  const c = await RawClient.connect({ host: srv.host, port: srv.port });
  try {
    await c.request('LOGIN', { name: user.name, token: user.token, device: 'bench-history' });
    const probe = await c.request('HISTORY', history(0, BIG, { last: 1 }));
    x.midSeq = Math.floor(Number(probe.upToSeq) / 2);
    x.headSeq = Number(probe.upToSeq);
    const samples = Object.fromEntries(QUERIES.map((q) => [q.id, { ms: [], decodedMs: [], cold: undefined, reply: undefined }]));
    for (let round = -1; round < REPS; round++) {
      for (const q of QUERIES) {
        const r = await c.timedRequest(q.name, q.payload(x), 60_000);
        const s = samples[q.id];
        if (round === -1) { s.cold = r.ms; s.reply = { ...inspect(q, r.payload, x), bytes: r.bytes }; continue; }
        s.ms.push(r.ms);
        s.decodedMs.push(r.decodedMs);
      }
    }
    const out = {};
    // What `chat search` does for a rare word: keep asking while the server says `more`
    // (each request examines a bounded slice, PROTOCOL.md SEARCH) until 50 matches or the start.
    const whole = { ms: [], cold: undefined, reply: undefined };
    for (let round = -1; round < Math.min(REPS, 30); round++) {
      const t0 = performance.now();
      let beforeSeq = 0, found = 0, pages = 0, bytes = 0, more = true;
      const msgs = [];
      while (more && found < 50) {
        const r = await c.timedRequest('SEARCH', { kind: 0, target: BIG, query: RARE_WORD, beforeSeq, limit: 50 - found }, 60_000);
        pages++;
        bytes += r.bytes;
        found += r.payload.messages.length;
        msgs.push(...r.payload.messages);
        more = r.payload.more;
        beforeSeq = Number(r.payload.nextBeforeSeq);
      }
      const ms = performance.now() - t0;
      if (round === -1) {
        whole.cold = ms;
        whole.reply = { ...inspect(QUERIES.find((q) => q.id === 'search-rare'), { messages: msgs, more }, x), bytes, pages };
      } else whole.ms.push(ms);
    }
    let wholeRow;
    {
      const v = Float64Array.from(whole.ms).sort();
      wholeRow = { what: `search group "big" for the rare word, every page until 50 matches or the oldest message (what \`chat search\` does)`,
        cli: `chat search -g big ${RARE_WORD} --last 50`, request: 'SEARCH ×pages', median: median(whole.ms), p90: quantileSorted(v, 0.9),
        p99: quantileSorted(v, 0.99), decodedMedian: median(whole.ms), cold: whole.cold, reps: whole.ms.length, ...whole.reply };
    }
    for (const q of QUERIES) {
      const s = samples[q.id];
      const v = Float64Array.from(s.ms).sort();
      out[q.id] = { what: q.what, cli: q.cli, request: q.name, median: median(s.ms), p90: quantileSorted(v, 0.9), p99: quantileSorted(v, 0.99),
        decodedMedian: median(s.decodedMs), cold: s.cold, reps: s.ms.length, ...s.reply };
    }
    out['search-rare-all'] = wholeRow;
    return out;
  } finally {
    c.close();
  }
}

async function main() {
  const result = { bench: 'history', date: new Date().toISOString(), machine: machine(), quick: QUICK, messagesWanted: MESSAGES,
    reps: REPS, restarts: RESTARTS, writers: WRITERS, command: `node bench/history.js${QUICK ? ' --quick' : ''}`, notes: [] };
  const out = flags.out ? String(flags.out) : null;
  const finish = () => {
    if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  };
  const base = flags.dir ? String(flags.dir) : join(ROOT, '.bench-tmp');
  const tmp = join(base, `history-${process.pid}`);
  const dataDir = flags['keep-data'] ? resolve(String(flags['keep-data'])) : join(tmp, 'data');
  const manifest = `${dataDir}.dataset.json`;
  const emptyDir = join(tmp, 'empty');
  mkdirSync(tmp, { recursive: true });
  let srv;
  try {
    // ---- 1. dataset ----
    let ds;
    if (flags['keep-data'] && existsSync(manifest)) {
      ds = JSON.parse(readFileSync(manifest, 'utf8'));
      result.notes.push(`dataset reused from ${dataDir} (built ${ds.builtAt})`);
      log(result.notes.at(-1));
    } else {
      rmSync(dataDir, { recursive: true, force: true });
      mkdirSync(dataDir, { recursive: true });
      const gen = await startChild(join(HERE, 'lib/server-proc.js'), {
        dataDir, limits: { maxConnsPerIp: WRITERS + 64 }, extra: { scrypt: { N: 1024, r: 8, p: 1 } },
      });
      try {
        const k0 = await gen.counters();
        const cpu0 = gen.cpuSeconds();
        log(`building ${MESSAGES} messages with ${WRITERS} writers (at most ${GEN_SECONDS} s)`);
        ds = await buildHistory({ host: gen.host, port: gen.port, total: MESSAGES, writers: WRITERS,
          deadline: performance.now() + GEN_SECONDS * 1000, log });
        const k1 = await gen.counters();
        ds.serverCpu = (gen.cpuSeconds() - cpu0) / ds.seconds;
        ds.fsyncs = k0 && k1 ? k1.fsyncs - k0.fsyncs : NaN;
        ds.serverMemory = procMemory(gen.pid);
        ds.builtAt = new Date().toISOString();
      } finally {
        const t = performance.now();
        await gen.stop(60_000);
        ds && (ds.stopMs = performance.now() - t);
      }
      if (!ds.complete) result.notes.push(`only ${ds.stored} of ${MESSAGES} messages stored within --gen-seconds ${GEN_SECONDS}`);
      if (ds.refused) result.notes.push(`${ds.refused} SENDs refused while building: ${ds.firstRefusal}`);
      if (flags['keep-data']) writeFileSync(manifest, `${JSON.stringify(ds, null, 2)}\n`);
      log(`stored ${ds.stored} messages in ${ds.seconds.toFixed(1)} s (${fmtRate(ds.rate)}/s, ${ds.fsyncs} fsyncs, ` +
        `server CPU ${(ds.serverCpu * 100).toFixed(0)}%, server RSS ${(ds.serverMemory.rss / 2 ** 20).toFixed(0)} MiB); clean stop ${fmtMs(ds.stopMs)}`);
    }
    result.dataset = { ...ds, users: undefined, dataDir, fileSystem: fileSystemOf(dataDir) };

    // ---- 2. restarts ----
    mkdirSync(emptyDir, { recursive: true });
    const full = [];
    const empty = [];
    for (let r = 0; r < RESTARTS; r++) {
      const e = await startServerBin({ dataDir: emptyDir });
      await e.stop();
      empty.push({ startMs: e.startMs, rssAtListen: e.rssAtListen });
      srv = await startServerBin({ dataDir, timeoutMs: 300_000 });
      await sleep(2000);
      const settled = srv.memory();
      const run = { startMs: srv.startMs, seq: srv.seq, rssAtListen: srv.rssAtListen, peakAtListen: srv.peakAtListen, rssAfter2s: settled.rss };
      full.push(run);
      log(`restart ${r + 1}/${RESTARTS}: listening after ${fmtMs(run.startMs)} (empty dir ${fmtMs(empty.at(-1).startMs)}), ` +
        `RSS ${(run.rssAtListen / 2 ** 20).toFixed(0)} MiB (2 s later ${(run.rssAfter2s / 2 ** 20).toFixed(0)} MiB, peak ${(run.peakAtListen / 2 ** 20).toFixed(0)} MiB)`);
      if (r < RESTARTS - 1) { await srv.stop(); srv = undefined; }
    }
    const pick = (xs, k) => median(xs.map((x) => x[k]));
    result.restart = {
      ours: { startMs: pick(full, 'startMs'), rssAtListen: pick(full, 'rssAtListen'), rssAfter2s: pick(full, 'rssAfter2s'),
        peakAtListen: pick(full, 'peakAtListen'), perRun: full },
      empty: { startMs: pick(empty, 'startMs'), rssAtListen: pick(empty, 'rssAtListen'), perRun: empty },
    };

    // ---- 3. queries ----
    const x = { midWall: ds.midWall };
    try {
      result.queries = await measureQueries(srv, ds.users[0], x);
      result.headSeq = x.headSeq;
      result.midSeq = x.midSeq;
      result.rssAfterQueries = srv.memory().rss;
      const ping = result.queries.ping.median;
      for (const [id, q] of Object.entries(result.queries)) {
        if (id !== 'ping') q.ratioToPing = q.median / ping;
        log(`${id}: median ${fmtMs(q.median)} (p99 ${fmtMs(q.p99)}, cold ${fmtMs(q.cold)}, decoded ${fmtMs(q.decodedMedian)}), ` +
          `${q.messages ?? 0} messages, ${q.bytes} B${q.more ? ', more' : ''}${q.problems?.length ? `; PROBLEMS: ${q.problems.join(', ')}` : ''}`);
        if (q.problems?.length) result.notes.push(`${id}: ${q.problems.join(', ')}`);
      }
    } catch (err) {
      result.notes.push(`queries not measured: ${err.message.split('\n')[0]}`);
      log(result.notes.at(-1));
    }
  } finally {
    if (srv) await srv.stop();
    if (!flags['keep-data']) rmSync(dataDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
  finish();
}

main().catch((err) => {
  console.error('[history] failed:', err.stack ?? err);
  process.exit(1);
});
