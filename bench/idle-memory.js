#!/usr/bin/env node
/**
 * Idle connections (SPEC §9: ≤ 3 KiB of server memory per connection at 5000 clients).
 *
 *   node bench/idle-memory.js [--quick] [--runs N] [--conns N] [--users N]
 *        [--targets bare,ours] [--out FILE] [--heap-snapshot DIR]
 *
 * Each target is a server in its own child process on 127.0.0.1:0, started with
 * --expose-gc; all the clients live in this process:
 *   ours   the real chat-server (bench/lib/server-proc.js: startServer() from
 *          dist/server/index.js), maxConnsPerIp raised above N, a cheap scrypt for the
 *          setup's REGISTERs. Setup: U users (default 50) REGISTER over short-lived
 *          connections, which are closed again. Then N connections (default 5000)
 *          each say HELLO, LOGIN with one of those users' session tokens (U users ×
 *          N/U devices each) and LISTEN {on: true}, and stay idle;
 *   bare   bench/lib/bare-server.js, a node:net server that accepts and does nothing:
 *          the same N connections are opened and send nothing. Node's own floor.
 * Token logins, not passwords: a password LOGIN creates and journals a new session
 * (state that outlives the connection) and costs an scrypt; the token path adds
 * nothing to the server's state, so the difference is the connections themselves.
 *
 * Memory is read after a full GC in the server (asked over its stdin,
 * bench/lib/proc.js): "before" once the server is up (for ours: after the setup, its
 * connections closed), "half" with N/2 connections, "after" with all N, and "idle"
 * once V8 has given back the young generation it grew during the burst (a few
 * seconds; bounded). Every reading checks the server's own count of open connections.
 * Per connection (÷ N):
 *   - rss (the figure compared with the target): VmRSS from /proc/PID/status (read
 *     by this process) minus V8's young generation (empty after a full GC, so pure
 *     reserve), idle minus before. What the process really holds: JS heap with its
 *     page overhead, native handles, malloc. The kernel's socket buffers are not in
 *     RSS (nor in any server's);
 *   - rssRaw: plain VmRSS, idle − before; rssBurst: plain VmRSS, after − before (the
 *     young generation still committed); rssMarginal: (after − half) ÷ (N − N/2),
 *     young generation excluded, i.e. without one-off costs (noisy);
 *   - heapExt: V8 heapUsed + external, idle − before (JS objects and buffers only).
 * Runs alternate bare and ours; each figure is the median of the runs. Connections
 * open in a bounded pool; every phase has a timeout, the whole a watchdog.
 * --heap-snapshot DIR writes a heap snapshot of each server with its N idle
 * connections (first run); bench/lib/heap-diff.js compares two of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION } from '../dist/protocol/commands.js';
import { RawClient } from './lib/raw-client.js';
import { startChild } from './lib/proc.js';
import { machine, median, parseFlags, pool, sleep } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const RUNS = Number(flags.runs ?? (QUICK ? 1 : 3));
const CONNS = Number(flags.conns ?? 5000);
const USERS = Math.min(CONNS, Number(flags.users ?? 50));
const CONNECT_CONCURRENCY = 200;
const PHASE_TIMEOUT_MS = 30_000;
const TOTAL_TIMEOUT_MS = 150_000;
const IDLE_WAIT_MS = 10_000;
const POLL_MS = 400;
/** A young generation this size or smaller has been given back (V8's minimum: 1 MiB). */
const IDLE_NEW_SPACE = 1024 * 1024;
const TARGET_KIB = 3;
const KIB = 1024;
const log = (...a) => console.error('[idle-memory]', ...a);

// ---- file descriptors --------------------------------------------------------------

/** [soft, hard] limit on open files of this process (Linux /proc), or undefined. */
function nofileLimits() {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const num = (s) => (s === 'unlimited' ? Infinity : Number(s));
    return m ? [num(m[1]), num(m[2])] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This process holds N client sockets and the server child N more. Node raises its
 * soft open-files limit to the hard limit when it starts, so only the hard limit
 * matters (checked here, in this process; the child inherits it).
 */
function ensureFdLimit() {
  const need = CONNS + 256;
  const lim = nofileLimits();
  if (!lim || lim[0] >= need) return;
  throw new Error(`open-files limit ${lim[0]} (hard ${lim[1]}) is below the ${need} needed for ${CONNS} connections; ` +
    `raise the hard limit (as root: ulimit -Hn ${need}, or prlimit --nofile=${need}:${need} -- node ...) or pass a smaller --conns`);
}

/** The commit measured, and whether src/ or bin/ had uncommitted changes. */
function gitDescribe() {
  const run = (args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  return { commit: run(['rev-parse', '--short', 'HEAD']), dirty: run(['status', '--porcelain', '--', 'src', 'bin']) !== '' };
}

// ---- helpers --------------------------------------------------------------------------

function withTimeout(p, ms, what) {
  let timer;
  const t = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Polls the server's memory report until it counts `n` open connections. */
async function memoryAt(srv, n, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = await srv.memory();
    if (!m.gc) throw new Error(`${what}: the server has no gc() (not started with --expose-gc)`);
    if (m.conns === n) return m;
    if (Date.now() > deadline) throw new Error(`${what}: server reports ${m.conns} open connections, expected ${n}`);
    await sleep(100);
  }
}

function range(from, to) {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function heapExt(m) {
  return m.heapUsed + m.external;
}

/** RSS without V8's young generation (empty after a full GC: pure reserve). */
function rssSansYoung(m) {
  return m.vmRss - m.spaces.new_space.physical;
}

/**
 * Waits (bounded) until V8 has given the young generation back. It grows during a
 * burst of connections (survivors make V8 enlarge it) and stays committed after a
 * forced GC; V8 shrinks it at a GC that sees a low allocation rate, i.e. once the
 * process has been idle for a few seconds. Polls with a full GC every POLL_MS.
 * Returns the seconds waited, or null when it did not shrink within IDLE_WAIT_MS.
 */
async function waitForIdleHeap(srv) {
  const t0 = performance.now();
  while (performance.now() - t0 < IDLE_WAIT_MS) {
    const m = await srv.memory();
    if (m.spaces.new_space.size <= IDLE_NEW_SPACE) return (performance.now() - t0) / 1000;
    await sleep(POLL_MS);
  }
  return null;
}

/**
 * before (GC'd) → open(0, N/2) → half (GC'd) → open(N/2, N) → after (GC'd) → wait for
 * the idle heap → idle (GC'd). Every reading must count the expected connections.
 */
async function measure(srv, label, open) {
  const n = CONNS;
  const h = Math.floor(n / 2);
  const before = await memoryAt(srv, 0, `${label}, before`);
  const t0 = performance.now();
  await withTimeout(open(0, h), PHASE_TIMEOUT_MS, `${label}: opening ${h} connections`);
  const connectSeconds1 = (performance.now() - t0) / 1000;
  const half = await memoryAt(srv, h, `${label}, half`);
  const t1 = performance.now();
  await withTimeout(open(h, n), PHASE_TIMEOUT_MS, `${label}: opening ${n - h} more connections`);
  const connectSeconds = connectSeconds1 + (performance.now() - t1) / 1000;
  const after = await memoryAt(srv, n, `${label}, after`);
  const idleWaitSeconds = await waitForIdleHeap(srv);
  const idle = await memoryAt(srv, n, `${label}, idle`);
  return {
    connectSeconds, idleWaitSeconds,
    rss: (rssSansYoung(idle) - rssSansYoung(before)) / n,
    rssRaw: (idle.vmRss - before.vmRss) / n,
    rssBurst: (after.vmRss - before.vmRss) / n,
    rssMarginal: (rssSansYoung(after) - rssSansYoung(half)) / (n - h),
    heapExt: (heapExt(idle) - heapExt(before)) / n,
    heapUsed: (idle.heapUsed - before.heapUsed) / n,
    external: (idle.external - before.external) / n,
    heapExtMarginal: (heapExt(after) - heapExt(half)) / (n - h),
    before: slim(before), half: slim(half), after: slim(after), idle: slim(idle),
  };
}

/** A memory reading without the heap spaces nobody reads. */
function slim(m) {
  const keep = ['new_space', 'old_space', 'large_object_space', 'code_space'];
  return { ...m, spaces: Object.fromEntries(keep.map((k) => [k, m.spaces[k]])) };
}

function rawConnect(host, port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)); }, 10_000);
    s.once('connect', () => { clearTimeout(timer); s.on('error', () => {}); resolve(s); });
    s.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Destroys sockets and waits (bounded) until they have closed. */
async function closeAll(sockets) {
  const closed = sockets.map((s) => (s.destroyed && s.closed ? undefined : new Promise((r) => s.once('close', r))));
  for (const s of sockets) s.destroy();
  await withTimeout(Promise.all(closed), 10_000, 'closing client sockets').catch((err) => log(err.message));
}

async function maybeSnapshot(srv, name, r) {
  if (!flags['heap-snapshot'] || r !== 0) return;
  const dir = String(flags['heap-snapshot']);
  mkdirSync(dir, { recursive: true });
  const { snapshot } = await srv.heapSnapshot(join(dir, `${name}-${CONNS}.heapsnapshot`));
  log(`heap snapshot of ${name} with ${CONNS} idle connections: ${snapshot}`);
}

// ---- one run per target ---------------------------------------------------------------

async function runBare(r) {
  const srv = await startChild(join(HERE, 'lib/bare-server.js'), {}, { nodeArgs: ['--expose-gc'] });
  const sockets = [];
  try {
    const res = await measure(srv, 'bare', (from, to) => pool(range(from, to), CONNECT_CONCURRENCY, async () => {
      sockets.push(await rawConnect(srv.host, srv.port));
    }));
    await maybeSnapshot(srv, 'bare', r);
    return res;
  } finally {
    await closeAll(sockets);
    await srv.stop();
  }
}

async function runOurs(tmp, r) {
  const dataDir = join(tmp, `ours-${r}`);
  mkdirSync(dataDir, { recursive: true });
  const srv = await startChild(join(HERE, 'lib/server-proc.js'), {
    dataDir,
    // Every client comes from 127.0.0.1; the default cap is 64 per address.
    limits: { maxConnsPerIp: CONNS + USERS + 100 },
    // Only the setup's REGISTERs hash passwords (the measured logins use tokens).
    extra: { scrypt: { N: 1024, r: 8, p: 1 } },
  }, { nodeArgs: ['--expose-gc'] });
  const clients = [];
  try {
    const tokens = await withTimeout(pool(range(0, USERS), 8, async (i) => {
      const c = await RawClient.connect({ host: srv.host, port: srv.port });
      try {
        const { token } = await c.request('REGISTER', { name: `idle${i}`, password: 'bench-password-1', device: 'bench' });
        return token;
      } finally {
        c.close();
      }
    }), PHASE_TIMEOUT_MS, `ours: registering ${USERS} users`);
    const res = await measure(srv, 'ours', (from, to) => pool(range(from, to), CONNECT_CONCURRENCY, async (i) => {
      const c = new RawClient(await rawConnect(srv.host, srv.port));
      clients.push(c);
      await c.request('HELLO', { version: PROTOCOL_VERSION, client: 'chat-suite-bench' });
      const u = i % USERS;
      await c.request('LOGIN', { name: `idle${u}`, token: tokens[u], device: 'bench' });
      await c.request('LISTEN', { on: true });
    }));
    const closed = clients.filter((c) => c.closed);
    if (closed.length) throw new Error(`ours: ${closed.length} connections closed while idle (${closed[0].closeReason ?? 'no reason'})`);
    await maybeSnapshot(srv, 'ours', r);
    return res;
  } finally {
    await closeAll(clients.map((c) => c.socket));
    const code = await srv.stop();
    if (code !== 0) log(`ours: server exited with ${code}: ${srv.stderrTail().slice(-2000)}`);
  }
}

// ---- main ---------------------------------------------------------------------------------

function summarize(runs) {
  const ok = runs.filter((x) => !x.error);
  const pick = (k) => median(ok.map((x) => x[k]));
  return {
    runs: runs.length, ok: ok.length,
    rss: pick('rss'), rssRaw: pick('rssRaw'), rssBurst: pick('rssBurst'), rssMarginal: pick('rssMarginal'),
    heapExt: pick('heapExt'), heapUsed: pick('heapUsed'), external: pick('external'), heapExtMarginal: pick('heapExtMarginal'),
    connectSeconds: pick('connectSeconds'), idleWaitSeconds: pick('idleWaitSeconds'),
    youngNotReturned: ok.filter((x) => x.idleWaitSeconds === null).length,
    errors: runs.filter((x) => x.error).map((x) => x.error),
    perRun: runs,
  };
}

const kib = (b) => `${(b / KIB).toFixed(2)} KiB`;

async function main() {
  ensureFdLimit();
  const watchdog = setTimeout(() => { log(`gave up after ${TOTAL_TIMEOUT_MS / 1000} s`); process.exit(1); }, TOTAL_TIMEOUT_MS);
  watchdog.unref();
  let targets = flags.targets ? String(flags.targets).split(',') : ['bare', 'ours'];
  const result = { bench: 'idle-memory', date: new Date().toISOString(), machine: machine(), quick: QUICK, runsPerFigure: RUNS,
    conns: CONNS, users: USERS, command: `node bench/idle-memory.js${QUICK ? ' --quick' : ''}`, git: gitDescribe(),
    target: `≤ ${TARGET_KIB} KiB per connection at 5000 clients`, comparedWith: 'rss', notes: [], targets: {} };
  if (targets.includes('ours') && !existsSync(join(ROOT, 'dist/server/index.js'))) {
    result.notes.push('dist/server/index.js does not exist yet: the real server was not measured');
    targets = targets.filter((t) => t !== 'ours');
  }
  const tmp = join(ROOT, '.bench-tmp', `idle-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const runs = Object.fromEntries(targets.map((t) => [t, []]));
  try {
    for (let r = 0; r < RUNS; r++) {
      // Alternate the order so both see the same machine noise.
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        let res;
        try {
          res = t === 'bare' ? await runBare(r) : await runOurs(tmp, r);
          const mib = (m) => `${(m.vmRss / 2 ** 20).toFixed(1)} MiB (young ${(m.spaces.new_space.physical / 2 ** 20).toFixed(1)})`;
          log(`${t} run ${r + 1}/${RUNS}: ${CONNS} connections in ${res.connectSeconds.toFixed(1)} s; per connection ` +
            `RSS ${kib(res.rss)} (young generation excluded; raw ${kib(res.rssRaw)} idle, ${kib(res.rssBurst)} right after the burst, ` +
            `marginal ${kib(res.rssMarginal)} from N/2 to N), ` +
            `heap+external ${kib(res.heapExt)} (heap ${kib(res.heapUsed)}, external ${kib(res.external)}; marginal ${kib(res.heapExtMarginal)}); ` +
            `server RSS ${mib(res.before)} → ${mib(res.after)} → idle ${mib(res.idle)}, ` +
            `young generation ${res.idleWaitSeconds === null ? `not returned in ${IDLE_WAIT_MS / 1000} s` : `returned after ${res.idleWaitSeconds.toFixed(1)} s`}`);
        } catch (err) {
          res = { error: err.message };
          log(`${t} run ${r + 1}/${RUNS} failed: ${err.message}`);
        }
        runs[t].push(res);
        await sleep(200);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const t of targets) result.targets[t] = summarize(runs[t]);
  const o = result.targets.ours;
  const b = result.targets.bare;
  if (o && Number.isFinite(o.rss)) {
    result.met = o.rss <= TARGET_KIB * KIB;
    if (b && Number.isFinite(b.rss)) {
      result.ratioRss = o.rss / b.rss;
      result.ratioHeapExt = o.heapExt / b.heapExt;
      result.oursOverBareRss = o.rss - b.rss;
    }
    log(`median per connection: ours RSS ${kib(o.rss)}, heap+external ${kib(o.heapExt)}` +
      (b ? `; bare node:net RSS ${kib(b.rss)}, heap+external ${kib(b.heapExt)}` : '') +
      `; target ≤ ${TARGET_KIB} KiB of RSS: ${result.met ? 'met' : 'NOT met'}`);
  }
  const out = flags.out ? String(flags.out) : null;
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  // Every socket and child is closed by now; exit anyway should a timed-out phase
  // have left a late connection behind.
  process.exit(0);
}

main().catch((err) => {
  console.error('[idle-memory] failed:', err.message ?? err);
  process.exit(1);
});
