#!/usr/bin/env node
/**
 * Durable acknowledged writes (SPEC §9: fsync before the ack; ≥ 3k/s with 1 writer,
 * ≥ 50k/s with 50 writers).
 *
 *   node bench/durable-writes.js [--quick] [--runs N] [--seconds S] [--writers 1,50]
 *        [--dir DIR] [--out FILE]
 *
 * Starts the real server (bench/lib/server-proc.js: startServer() from dist/) on
 * 127.0.0.1:0 with a fresh data dir under DIR (default .bench-tmp/ in the repo, the
 * file system the other benches journal to; the report names it). W writers, each its
 * own connection logged in as its own user (REGISTER, LISTEN left off, so no pushes),
 * each sending to a group of its own of which it is the only member. Each writer keeps
 * exactly ONE SEND in flight: it writes the next only once the reply to the previous
 * has arrived, and the server replies only after the message's journal record is
 * durable (SPEC §8). So an acknowledged write = a SEND reply received.
 * A run lasts S seconds: writers stop issuing at S, their last SEND is still counted.
 * Figures per run: acks/s = acks ÷ time from the first write to the last ack; ack
 * latency p50/p99 (write → reply, in this process); fsyncs the server made (counters,
 * so writes per fsync shows the group commit); server CPU.
 * Baseline, alternating run by run with ours on the same file system:
 * bench/lib/disk.js fsyncLoop(): a synchronous Node loop of write() + fdatasync() of
 * 150-byte records, one record per fsync (what 1 writer could get at best) and W
 * records per fsync (the ideal group commit for W writers). Medians over the runs.
 * Every wait is bounded (RUN_TIMEOUT_MS beyond S).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawClient } from './lib/raw-client.js';
import { startChild } from './lib/proc.js';
import { fileSystemOf, fsyncLoop } from './lib/disk.js';
import { fmtMs, fmtRate, machine, median, parseFlags, pool, quantileSorted, sleep } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const RUNS = Number(flags.runs ?? (QUICK ? 3 : 5));
const SECONDS = Number(flags.seconds ?? (QUICK ? 1 : 3));
const WRITERS = String(flags.writers ?? '1,50').split(',').map(Number);
const TEXT_BYTES = 100;
const RUN_TIMEOUT_MS = 30_000;
const log = (...a) => console.error('[durable-writes]', ...a);

const TARGETS = { 1: '≥ 3k/s', 50: '≥ 50k/s' };

function text(w, i) {
  const head = `durable write ${w}/${i} `;
  return head + 'x'.repeat(Math.max(0, TEXT_BYTES - head.length));
}

/**
 * One run: the first W clients each keep one SEND in flight for `seconds`.
 * Resolves {acks, errors, seconds, rate, p50, p99, fsyncs, writesPerFsync, serverCpu}.
 */
async function runOurs(srv, clients, W, seconds) {
  const writers = clients.slice(0, W);
  const cap = 4_000_000;
  const lat = new Float64Array(cap);
  let n = 0;
  let acks = 0;
  let errors = 0;
  let firstError;
  let active = W;
  let finish;
  const done = new Promise((r) => { finish = r; });
  const k0 = await srv.counters();
  const cpu0 = srv.cpuSeconds();
  const me0 = process.cpuUsage();
  const t0 = performance.now();
  const tEnd = t0 + seconds * 1000;
  writers.forEach((c, w) => {
    let sentAt = 0;
    let i = 0;
    let seenErrors = c.sendErrors;
    const fire = () => {
      sentAt = performance.now();
      c.socket.write(c.sendFrame(c.group, text(w, i++)));
    };
    c.onSendReply = () => {
      const now = performance.now();
      if (c.sendErrors !== seenErrors) {
        seenErrors = c.sendErrors;
        errors++;
        firstError ??= c.firstSendError;
      } else {
        acks++;
        if (n < cap) lat[n++] = now - sentAt;
      }
      if (now < tEnd && !c.closed) fire();
      else {
        c.onSendReply = undefined;
        if (--active === 0) finish(now);
      }
    };
    fire();
  });
  let timer;
  const tLast = await Promise.race([done, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${active} writer(s) still waiting for an ack ${RUN_TIMEOUT_MS} ms after the run's end`)),
      seconds * 1000 + RUN_TIMEOUT_MS);
  })]).finally(() => clearTimeout(timer));
  const cpu1 = srv.cpuSeconds();
  const me = process.cpuUsage(me0);
  const k1 = await srv.counters();
  const elapsed = (tLast - t0) / 1000;
  const v = lat.subarray(0, n).sort();
  const fsyncs = k0 && k1 ? k1.fsyncs - k0.fsyncs : NaN;
  return {
    acks, errors, firstError, seconds: elapsed, rate: acks / elapsed,
    p50: quantileSorted(v, 0.5), p99: quantileSorted(v, 0.99), max: n ? v[n - 1] : NaN,
    fsyncs, writesPerFsync: fsyncs > 0 ? acks / fsyncs : NaN, serverCpu: (cpu1 - cpu0) / elapsed,
    clientCpu: (me.user + me.system) / 1e6 / elapsed,
  };
}

async function main() {
  const result = { bench: 'durable-writes', date: new Date().toISOString(), machine: machine(), quick: QUICK, runs: RUNS,
    seconds: SECONDS, textBytes: TEXT_BYTES, command: `node bench/durable-writes.js${QUICK ? ' --quick' : ''}`,
    scenarios: {}, notes: [] };
  const out = flags.out ? String(flags.out) : null;
  const base = flags.dir ? String(flags.dir) : join(ROOT, '.bench-tmp');
  const tmp = join(base, `durable-${process.pid}`);
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir, { recursive: true });
  result.fileSystem = fileSystemOf(dataDir);
  log(`data in ${result.fileSystem.dir} (${result.fileSystem.type} on ${result.fileSystem.device}, mounted at ${result.fileSystem.mountPoint})`);

  const maxW = Math.max(...WRITERS);
  const srv = await startChild(join(HERE, 'lib/server-proc.js'), {
    dataDir,
    limits: { maxConnsPerIp: maxW + 64 },
    // Only the setup's REGISTERs hash passwords; nothing measured does.
    extra: { scrypt: { N: 1024, r: 8, p: 1 } },
  });
  const clients = [];
  try {
    const setup = await pool(Array.from({ length: maxW }, (_, i) => i), 8, async (i) => {
      const c = await RawClient.connect({ host: srv.host, port: srv.port });
      c.name = `writer${i}`;
      c.group = `durable-${i}`;
      await c.request('REGISTER', { name: c.name, password: 'bench-password-1', device: 'bench' });
      await c.request('GROUP_CREATE', { group: c.group, private: false });
      return c;
    });
    clients.push(...setup);
    log(`${maxW} writers registered; ${RUNS} runs of ${SECONDS} s per figure`);

    for (const W of WRITERS) {
      const warm = await runOurs(srv, clients, W, Math.min(0.3, SECONDS)); // unmeasured: JIT, disk cache
      if (warm.errors) throw new Error(`SEND refused during warm-up: ${warm.firstError}`);
      const ours = [];
      const disk = [];
      for (let r = 0; r < RUNS; r++) {
        try {
          ours.push(await runOurs(srv, clients, W, SECONDS));
        } catch (err) {
          ours.push({ error: err.message });
        }
        disk.push(fsyncLoop(tmp, { recordBytes: 150, perFsync: W, seconds: SECONDS }));
        const o = ours[ours.length - 1];
        const d = disk[disk.length - 1];
        log(`W=${W} run ${r + 1}/${RUNS}: ours ${o.error ?? `${fmtRate(o.rate)} acks/s, p50 ${fmtMs(o.p50)}, p99 ${fmtMs(o.p99)}, ` +
          `${o.writesPerFsync.toFixed(1)} writes/fsync, server CPU ${(o.serverCpu * 100).toFixed(0)}%, bench ${(o.clientCpu * 100).toFixed(0)}%`}; ` +
          `disk ${fmtRate(d.recordsPerSecond)} records/s (${W}/fsync, fsync p50 ${fmtMs(d.fsyncP50)})`);
        await sleep(100);
      }
      const ok = ours.filter((o) => !o.error);
      const pick = (k) => median(ok.map((o) => o[k]));
      result.scenarios[`w${W}`] = {
        writers: W, target: TARGETS[W] ?? '(none)',
        what: `durable acknowledged writes, ${W} writer${W > 1 ? 's' : ''}, one SEND in flight each`,
        ours: { rate: pick('rate'), p50: pick('p50'), p99: pick('p99'), writesPerFsync: pick('writesPerFsync'),
          serverCpu: pick('serverCpu'), clientCpu: pick('clientCpu'), ok: ok.length, errors: ours.filter((o) => o.error).map((o) => o.error),
          refused: ok.reduce((s, o) => s + o.errors, 0), perRun: ours },
        disk: { recordsPerSecond: median(disk.map((d) => d.recordsPerSecond)), perFsync: W,
          fsyncP50: median(disk.map((d) => d.fsyncP50)), fsyncP99: median(disk.map((d) => d.fsyncP99)), perRun: disk },
      };
      const s = result.scenarios[`w${W}`];
      s.ratio = s.ours.rate / s.disk.recordsPerSecond;
      log(`W=${W}: ours ${fmtRate(s.ours.rate)} acks/s (p99 ${fmtMs(s.ours.p99)}), disk ${fmtRate(s.disk.recordsPerSecond)} records/s, ` +
        `ratio ${s.ratio.toFixed(2)}, target ${s.target}`);
    }
  } finally {
    for (const c of clients) c.close();
    await srv.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  console.error('[durable-writes] failed:', err.stack ?? err);
  process.exit(1);
});
