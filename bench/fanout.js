#!/usr/bin/env node
/**
 * Group fan-out benchmark (SPEC §9 rows 1-4).
 *
 *   node --expose-gc bench/fanout.js [--quick] [--runs N] [--targets naive,ours]
 *        [--scenarios ID,ID] [--paced-seconds S] [--out FILE] [--profile-server DIR]
 *
 * Every target is a server in its own child process on 127.0.0.1:0:
 *   ours   the real chat-server (dist/server/index.js startServer), journal in a temp
 *          dir under .bench-tmp/: every SEND is durable (fsync, group commit) before it
 *          is answered and fanned out;
 *   naive  bench/lib/naive-relay.js: in-memory, one socket.write() per delivery;
 *   pipe   bench/lib/pipe-source.js: pre-built MESSAGE frames pushed through node:net
 *          with no per-frame work (the ceiling for this client process and loopback).
 * The clients all live in this process (bench/lib/raw-client.js): each connects, says
 * HELLO, REGISTERs a fresh user, turns LISTEN on and joins the scenario's group.
 * S senders pipeline their messages (100-byte texts, SEND kind 0, batches of 50 per
 * write); a delivery is one MESSAGE push received by any member. Throughput is the
 * deliveries counted between the first write and the moment every non-sending member
 * has all S×M messages and every SEND has its reply. Latency is receive time minus the
 * send time stamped into the text (same process clock); in the pipelined scenarios it
 * is mostly queueing, in the paced one it is the real per-message latency.
 * Runs of ours and naive alternate, so both see the same machine noise; each figure
 * is the median over the runs. Every wait is bounded (RUN_TIMEOUT_MS).
 * --profile-server DIR writes a V8 CPU profile of our server process into DIR.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawClient, messageStamp, stampedText } from './lib/raw-client.js';
import { startChild } from './lib/proc.js';
import { fmtMs, fmtRate, machine, median, parseFlags, pool, quantileSorted, sleep } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const RUNS = Number(flags.runs ?? (QUICK ? 3 : 5));
const PACED_SECONDS = Number(flags['paced-seconds'] ?? (QUICK ? 2 : 4));
const TEXT_BYTES = 100;
const BATCH = 50;
const RUN_TIMEOUT_MS = 60_000;
const MAX_CONNS = 5000;

export const SCENARIOS = [
  { id: 'fanout-50x1x2000', members: 50, senders: 1, msgs: 2000,
    what: 'group fan-out, 50 members, 1 sender pipelining 2000 × 100 B', target: '≥ 0.8M deliveries/s' },
  { id: 'fanout-200x10x200', members: 200, senders: 10, msgs: 200,
    what: 'group fan-out, 200 members, 10 senders × 200 × 100 B', target: '≥ 1.2M deliveries/s' },
  { id: 'fanout-1000x1x200', members: 1000, senders: 1, msgs: 200,
    what: 'group fan-out, 1000 members, 1 sender × 200 × 100 B', target: '≥ 0.9M deliveries/s' },
  { id: 'paced-200x10x100hz', members: 200, senders: 10, rate: 100, seconds: PACED_SECONDS,
    what: `paced: 200 members, 10 senders at 100 msg/s each for ${PACED_SECONDS} s`, target: 'p99 ≤ 10 ms' },
];

const log = (...a) => console.error('[fanout]', ...a);
const gc = globalThis.gc ?? (() => {});

// ---- targets ------------------------------------------------------------------------

async function startTarget(kind, tmp) {
  if (kind === 'naive') return startChild(join(HERE, 'lib/naive-relay.js'), {});
  const dataDir = join(tmp, 'ours-data');
  mkdirSync(dataDir, { recursive: true });
  return startChild(join(HERE, 'lib/server-proc.js'), {
    dataDir,
    // Raise the per-IP connection cap: every benchmark client comes from 127.0.0.1.
    limits: { maxConnsPerIp: MAX_CONNS },
    // Only the setup's 1000 REGISTERs hash passwords; a cheaper scrypt keeps that
    // unmeasured phase short. Nothing measured depends on it.
    extra: { scrypt: { N: 1024, r: 8, p: 1 } },
  }, { nodeArgs: flags['profile-server'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['profile-server']}`] : [] });
}

/** A pool of registered, listening clients on one server. */
async function connectPool(srv, n, kind) {
  const t0 = performance.now();
  // Registration hashes a password (scrypt) on the server; a bounded pool keeps the
  // server's thread pool busy without piling up thousands of pending requests.
  const clients = await pool(Array.from({ length: n }, (_, i) => i), kind === 'ours' ? 8 : 64, (i) =>
    RawClient.registered({ host: srv.host, port: srv.port, name: `u${i}` }));
  log(`${kind}: ${n} clients registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return clients;
}

async function setupGroup(clients, group) {
  await clients[0].request('GROUP_CREATE', { group, private: false });
  await pool(clients.slice(1), 32, (c) => c.request('GROUP_JOIN', { group }));
  await sleep(200); // let membership pushes drain before measuring
}

// ---- one measured run -----------------------------------------------------------------

function latencyRecorder(cap) {
  const lat = new Float64Array(cap);
  let n = 0;
  return {
    record(buf, start) {
      const s = messageStamp(buf, start);
      if (s >= 0 && n < cap) lat[n++] = performance.now() * 1000 - s;
    },
    /** {p50, p99, max} in ms. */
    summary() {
      const v = lat.subarray(0, n).sort();
      return { samples: n, p50: quantileSorted(v, 0.5) / 1000, p99: quantileSorted(v, 0.99) / 1000, max: n ? v[n - 1] / 1000 : NaN };
    },
  };
}

/**
 * Runs one scenario once on `members` (already in `group`). Senders are the first S.
 * Resolves to the run's figures; never waits longer than RUN_TIMEOUT_MS (+ pacing).
 */
async function runOnce(srv, members, sc, group) {
  const senders = members.slice(0, sc.senders);
  const receivers = members.slice(sc.senders);
  const perSender = sc.rate ? Math.round(sc.rate * sc.seconds) : sc.msgs;
  const expectedEach = sc.senders * perSender;
  const lat = latencyRecorder(members.length * expectedEach + 1024);
  for (const c of members) c.messages = 0;
  // One member per run re-decodes every push with decodeFrame() to check the fast scan.
  const checker = members[members.length - 1];
  checker.validate = true;

  let remaining = receivers.length;
  let resolveReceivers;
  const receiversDone = new Promise((r) => { resolveReceivers = r; });
  for (const c of senders) c.onMessage = lat.record;
  for (const c of receivers) {
    c.onMessage = (buf, start) => {
      lat.record(buf, start);
      if (c.messages === expectedEach && --remaining === 0) resolveReceivers();
    };
  }

  const k0 = await srv.counters();
  gc();
  const cpu0 = process.cpuUsage();
  const srvCpu0 = srv.cpuSeconds();
  const t0 = performance.now();
  const sending = sc.rate
    ? Promise.all(senders.map((c, si) => paced(c, si, sc, group, t0, perSender)))
    : Promise.all(senders.map((c, si) => burst(c, si, group, perSender)));
  const budget = RUN_TIMEOUT_MS + (sc.seconds ?? 0) * 1000;
  let timer;
  const timeout = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`run timed out after ${budget} ms`)), budget); });
  let error;
  try {
    await Promise.race([Promise.all([
      sending.then(() => Promise.all(senders.map((c) => c.whenIdle(budget)))),
      receivers.length ? receiversDone : Promise.resolve(),
    ]), timeout]);
  } catch (err) {
    error = err.message;
  }
  // The run ends when the last receiver is complete and every SEND is answered: now.
  const t1 = performance.now();
  clearTimeout(timer);
  const seconds = (t1 - t0) / 1000;
  const deliveries = members.reduce((s, c) => s + c.messages, 0);
  const cpu = process.cpuUsage(cpu0);
  const srvCpu = srv.cpuSeconds() - srvCpu0;
  const closed = members.filter((c) => c.closed);
  const sendErrors = senders.reduce((s, c) => s + c.sendErrors, 0);
  if (closed.length) error = `${error ? `${error}; ` : ''}${closed.length} connections closed (${closed[0].closeReason ?? 'no reason'})`;
  if (sendErrors) error = `${error ? `${error}; ` : ''}${sendErrors} SENDs refused (${senders.find((c) => c.firstSendError)?.firstSendError})`;
  await sleep(150); // stragglers (e.g. a sender's own copy) are not counted, only noted
  const late = members.reduce((s, c) => s + c.messages, 0) - deliveries;
  // Exactly-once check: every member (the senders too: the server echoes a group
  // message to its sender's listening connections) ends with exactly S×M pushes.
  let missing = 0;
  let extra = 0;
  for (const c of members) {
    if (c.messages < expectedEach) missing += expectedEach - c.messages;
    else extra += c.messages - expectedEach;
  }
  for (const c of members) c.onMessage = undefined;
  checker.validate = false;
  const k1 = await srv.counters();
  const sent = sc.senders * perSender;
  const sys = k0 && k1 ? {
    fsyncs: k1.fsyncs - k0.fsyncs,
    socketWrites: k1.socketWrites - k0.socketWrites,
    messagesPerFsync: k1.fsyncs > k0.fsyncs ? sent / (k1.fsyncs - k0.fsyncs) : null, // null: no journal (naive)
    deliveriesPerWrite: (deliveries + late) / Math.max(1, k1.socketWrites - k0.socketWrites),
  } : {};
  return {
    deliveries, seconds, rate: deliveries / seconds, ...lat.summary(), late, missing, extra,
    clientCpu: (cpu.user + cpu.system) / 1e6 / seconds,
    ...sys,
    serverCpu: srvCpu / seconds,
    ...(error ? { error } : {}),
  };
}

async function burst(c, si, group, n) {
  for (let i = 0; i < n && !c.closed; i += BATCH) {
    const frames = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) frames.push(c.sendFrame(group, stampedText(TEXT_BYTES, `${si}.${j}`)));
    const wait = c.write(Buffer.concat(frames));
    // Yield between batches so the receivers in this process keep reading.
    await (wait ?? new Promise((r) => setImmediate(r)));
  }
}

async function paced(c, si, sc, group, t0, n) {
  const period = 1000 / sc.rate;
  const offset = (si * period) / sc.senders; // spread the senders over the period
  for (let k = 0; k < n && !c.closed; k++) {
    const wait = t0 + offset + k * period - performance.now();
    if (wait > 0.5) await sleep(wait);
    await c.write(c.sendFrame(group, stampedText(TEXT_BYTES, `${si}.${k}`)));
  }
}

// ---- raw pipe ceiling -------------------------------------------------------------------

async function pipeRun(conns, framesPerConn) {
  const src = await startChild(join(HERE, 'lib/pipe-source.js'), { frames: framesPerConn });
  try {
    gc();
    const t0 = performance.now();
    const clients = await Promise.all(Array.from({ length: conns }, () => new Promise((resolve, reject) => {
      const s = net.connect({ host: src.host, port: src.port });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    })));
    await Promise.race([
      Promise.all(clients.map((c) => new Promise((r) => (c.socket.destroyed ? r() : c.socket.once('close', r))))),
      sleep(RUN_TIMEOUT_MS),
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const frames = clients.reduce((s, c) => s + c.messages, 0);
    for (const c of clients) c.close();
    return { frames, seconds, rate: frames / seconds, mbps: (frames * src.info.frameBytes) / seconds / 1e6, frameBytes: src.info.frameBytes };
  } finally {
    await src.stop();
  }
}

async function fsyncProbe(dir, n = 300) {
  const fh = await open(join(dir, 'fsync-probe.log'), 'a');
  const buf = Buffer.alloc(200, 0x61);
  const ts = new Float64Array(n);
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await fh.write(buf);
      await fh.datasync();
      ts[i] = performance.now() - t;
    }
  } finally {
    await fh.close();
  }
  ts.sort();
  return { samples: n, p50: quantileSorted(ts, 0.5), p99: quantileSorted(ts, 0.99), perSecond: 1000 / quantileSorted(ts, 0.5) };
}

// ---- main ---------------------------------------------------------------------------------

function summarize(runs) {
  const ok = runs.filter((r) => !r.error);
  const pick = (k) => median(ok.map((r) => r[k]));
  return {
    runs: runs.length, ok: ok.length,
    rate: pick('rate'), p50: pick('p50'), p99: pick('p99'), max: pick('max'),
    deliveries: pick('deliveries'), serverCpu: pick('serverCpu'), clientCpu: pick('clientCpu'),
    fsyncs: pick('fsyncs'), messagesPerFsync: pick('messagesPerFsync'), deliveriesPerWrite: pick('deliveriesPerWrite'),
    missing: runs.reduce((s, r) => s + r.missing, 0), extra: runs.reduce((s, r) => s + r.extra, 0),
    errors: runs.filter((r) => r.error).map((r) => r.error),
    perRun: runs,
  };
}

async function main() {
  const wanted = flags.scenarios ? String(flags.scenarios).split(',') : SCENARIOS.map((s) => s.id);
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s.id));
  const haveServer = existsSync(join(ROOT, 'dist/server/index.js'));
  let targets = flags.targets ? String(flags.targets).split(',') : ['naive', 'ours'];
  const notes = [];
  if (targets.includes('ours') && !haveServer) {
    notes.push('dist/server/index.js does not exist yet: the real server was not measured');
    targets = targets.filter((t) => t !== 'ours');
  }
  const tmp = join(ROOT, '.bench-tmp', `fanout-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const result = { bench: 'fanout', date: new Date().toISOString(), machine: machine(), quick: QUICK, runsPerFigure: RUNS,
    textBytes: TEXT_BYTES, command: `node --expose-gc bench/fanout.js${QUICK ? ' --quick' : ''}`, notes, pipe: {}, scenarios: {} };

  // What durability costs on this disk: append 200 B + fdatasync, one at a time, in the
  // same file system as the server's journal (its group commit does one per batch).
  result.fsync = await fsyncProbe(tmp);
  log(`disk: write+fdatasync p50 ${fmtMs(result.fsync.p50)}, p99 ${fmtMs(result.fsync.p99)} (${fmtRate(result.fsync.perSecond)}/s one at a time)`);

  // Raw pipe ceiling: one connection, and 50 (the first scenario's width).
  const pipeFrames = QUICK ? 1_000_000 : 2_000_000;
  for (const conns of [1, 50]) {
    const runs = [];
    for (let r = 0; r < RUNS; r++) runs.push(await pipeRun(conns, Math.round(pipeFrames / conns)));
    result.pipe[`conns${conns}`] = { conns, frameBytes: runs[0].frameBytes, rate: median(runs.map((x) => x.rate)), mbps: median(runs.map((x) => x.mbps)), perRun: runs };
    log(`raw pipe, ${conns} conn(s): ${fmtRate(result.pipe[`conns${conns}`].rate)} frames/s of ${runs[0].frameBytes} B (${result.pipe[`conns${conns}`].mbps.toFixed(0)} MB/s)`);
  }

  const servers = {};
  const pools = {};
  const maxMembers = Math.max(...scenarios.map((s) => s.members), 0);
  try {
    for (const t of targets) {
      servers[t] = await startTarget(t, tmp);
      pools[t] = await connectPool(servers[t], maxMembers, t);
    }
    for (const sc of scenarios) {
      const runs = Object.fromEntries(targets.map((t) => [t, []]));
      for (const t of targets) await setupGroup(pools[t].slice(0, sc.members), `g-${sc.id}`.slice(0, 32));
      // One unmeasured warm-up run per target: the first pass through the hot paths
      // runs in V8's interpreter and is typically half the speed of the rest.
      for (const t of targets) await runOnce(servers[t], pools[t].slice(0, sc.members), { ...sc, seconds: Math.min(sc.seconds ?? 0, 1) }, `g-${sc.id}`.slice(0, 32));
      for (let r = 0; r < RUNS; r++) {
        for (const t of targets) {
          const res = await runOnce(servers[t], pools[t].slice(0, sc.members), sc, `g-${sc.id}`.slice(0, 32));
          runs[t].push(res);
          log(`${sc.id} ${t} run ${r + 1}/${RUNS}: ${fmtRate(res.rate)} deliveries/s (${res.deliveries} in ${res.seconds.toFixed(3)} s), ` +
            `p50 ${fmtMs(res.p50)} p99 ${fmtMs(res.p99)}, server cpu ${(res.serverCpu * 100).toFixed(0)}%, client cpu ${(res.clientCpu * 100).toFixed(0)}%, ` +
            `${res.fsyncs} fsyncs${res.messagesPerFsync ? ` (${res.messagesPerFsync.toFixed(1)} msgs each)` : ''}, ${res.deliveriesPerWrite?.toFixed(1)} deliveries/write` +
            (res.missing || res.extra ? ` MISSING ${res.missing} EXTRA ${res.extra}` : '') +
            (res.error ? ` ERROR ${res.error}` : ''));
          await sleep(100);
        }
      }
      result.scenarios[sc.id] = { ...sc, targets: Object.fromEntries(targets.map((t) => [t, summarize(runs[t])])) };
    }
  } finally {
    for (const t of Object.keys(pools)) for (const c of pools[t]) c.close();
    for (const t of Object.keys(servers)) {
      const code = await servers[t].stop();
      if (code !== 0) log(`${t} server exited with ${code}: ${servers[t].stderrTail().slice(-2000)}`);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  const out = flags.out ? String(flags.out) : null;
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  console.error('[fanout] failed:', err.stack ?? err);
  process.exit(1);
});
