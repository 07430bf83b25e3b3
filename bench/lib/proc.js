/**
 * Child processes for benchmarks: servers run in their own process so the clients'
 * CPU is not counted in the server's event loop. Every child here prints one JSON line
 * `{"ready":true,"host":...,"port":...}` on stdout once it listens, and exits when its
 * stdin closes (so a crashed benchmark never leaves servers behind) or on SIGTERM.
 *
 * The parent may also write one-line JSON commands on the child's stdin:
 *   {"cmd":"mem","id":N[,"gc":false]}
 *       → the child runs a full GC (when started with --expose-gc; not with gc:false),
 *         then answers {"mem":{id, gc, conns, rss, heapUsed, heapTotal, external,
 *         arrayBuffers, spaces}}: process.memoryUsage() after the GC, V8's heap spaces
 *         ({size, used, physical} bytes each) and what its status() adds (connections);
 *   {"cmd":"snapshot","id":N,"path":P}
 *       → full GC, v8.writeHeapSnapshot(P), then {"mem":{id, snapshot: P}}.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';

/**
 * Starts `node script JSON(opts)` and resolves once it reports ready (bounded by
 * timeoutMs). Returns {host, port, pid, child, cpuSeconds(), stop()}.
 */
export async function startChild(script, opts = {}, { timeoutMs = 30_000, nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, script, JSON.stringify(opts)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-8000); });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${script} not ready in ${timeoutMs} ms\n${stderr}`)); }, timeoutMs);
    child.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`${script} exited (${code ?? sig}) before ready\n${stderr}`)); });
    lines.on('line', (line) => {
      let msg;
      try { msg = JSON.parse(line); } catch { return; }
      if (msg.ready) { clearTimeout(timer); resolve(msg); }
    });
  });
  child.removeAllListeners('exit');
  let counterWaiters = [];
  const memWaiters = new Map(); // id -> resolve
  let nextMemId = 1;
  lines.on('line', (line) => {
    if (line.startsWith('{"mem"')) {
      const { mem } = JSON.parse(line);
      memWaiters.get(mem.id)?.(mem);
      memWaiters.delete(mem.id);
      return;
    }
    if (!line.startsWith('{"counters"')) return;
    const { counters } = JSON.parse(line);
    for (const w of counterWaiters.splice(0)) w(counters);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
  const command = (msg, timeoutMs) => {
    const id = nextMemId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { memWaiters.delete(id); reject(new Error(`${script}: no answer to ${msg.cmd} in ${timeoutMs} ms`)); }, timeoutMs);
      memWaiters.set(id, (mem) => { clearTimeout(timer); resolve({ ...mem, vmRss: procRssBytes(child.pid) }); });
      child.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
  };
  return {
    host: ready.host,
    port: ready.port,
    pid: child.pid,
    child,
    info: ready,
    stderrTail: () => stderr,
    /**
     * The child's counters (counters.js: socketWrites, socketBytes, fsyncs), or
     * undefined when it does not answer within a second.
     */
    counters() {
      return new Promise((resolve) => {
        const timer = setTimeout(() => { counterWaiters = counterWaiters.filter((w) => w !== done); resolve(undefined); }, 1000);
        const done = (v) => { clearTimeout(timer); resolve(v); };
        counterWaiters.push(done);
        child.kill('SIGUSR2');
      });
    },
    /**
     * Asks the child to run a full GC and report its memory (see the header), then
     * adds `vmRss` read from /proc/PID/status by this process. Rejects after timeoutMs.
     */
    memory({ gc = true, timeoutMs = 10_000 } = {}) {
      return command({ cmd: 'mem', gc }, timeoutMs);
    },
    /** Full GC, then a V8 heap snapshot of the child written to `path`. */
    heapSnapshot(path, timeoutMs = 60_000) {
      return command({ cmd: 'snapshot', path }, timeoutMs);
    },
    /** User+system CPU seconds the child has used so far (Linux /proc). */
    cpuSeconds: () => procCpuSeconds(child.pid),
    stop: (graceMs = 10_000) => stopChild(child, exited, graceMs),
  };
}

const TICKS = 100; // USER_HZ on Linux

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves with what `exited` (the child's
 * exit promise) resolves to. A child already gone is not signalled.
 */
export async function stopChild(child, exited, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

export function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS; // utime, stime
  } catch {
    return NaN;
  }
}

/** Resident set size of a process in bytes (Linux /proc), NaN when unknown. */
export function procRssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Called by child scripts: report readiness, answer the parent's commands on stdin
 * (`status()` gives extra fields for the memory report, e.g. {conns}, or a promise of
 * them), and exit when the parent goes away.
 */
export function reportReady(info, onStop, status = () => ({})) {
  process.stdout.write(`${JSON.stringify({ ready: true, ...info })}\n`);
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    input += d;
    let nl;
    while ((nl = input.indexOf('\n')) >= 0) {
      const line = input.slice(0, nl);
      input = input.slice(nl + 1);
      let msg;
      try { msg = JSON.parse(line); } catch { continue; }
      if (msg.cmd === 'mem') void memoryReport(msg, status);
      if (msg.cmd === 'snapshot') void snapshot(msg);
    }
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(0), 10_000);
    timer.unref();
    try { await onStop(); } finally { process.exit(0); }
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * Full GC (several passes, with turns in between so weak callbacks and freed native
 * handles are processed).
 */
async function fullGc() {
  const gc = globalThis.gc;
  for (let i = 0; gc && i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return Boolean(gc);
}

/** Full GC unless msg.gc === false, then one stdout line with the memory figures. */
async function memoryReport(msg, status) {
  const { id } = msg;
  const gc = msg.gc === false ? false : await fullGc();
  const extra = await status();
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name,
    { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size }]));
  process.stdout.write(`${JSON.stringify({ mem: { id, gc, ...extra, rss: m.rss, heapUsed: m.heapUsed,
    heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces } })}\n`);
}

async function snapshot({ id, path }) {
  await fullGc();
  const written = v8.writeHeapSnapshot(path);
  process.stdout.write(`${JSON.stringify({ mem: { id, snapshot: written } })}\n`);
}
