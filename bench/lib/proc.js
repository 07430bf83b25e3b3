/**
 * Child processes for benchmarks: servers run in their own process so the clients'
 * CPU is not counted in the server's event loop. Every child here prints one JSON line
 * `{"ready":true,"host":...,"port":...}` on stdout once it listens, and exits when its
 * stdin closes (so a crashed benchmark never leaves servers behind) or on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

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
  lines.on('line', (line) => {
    if (!line.startsWith('{"counters"')) return;
    const { counters } = JSON.parse(line);
    for (const w of counterWaiters.splice(0)) w(counters);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
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
    /** User+system CPU seconds the child has used so far (Linux /proc). */
    cpuSeconds: () => procCpuSeconds(child.pid),
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

const TICKS = 100; // USER_HZ on Linux

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

/** Called by child scripts: report readiness and exit when the parent goes away. */
export function reportReady(info, onStop) {
  process.stdout.write(`${JSON.stringify({ ready: true, ...info })}\n`);
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
