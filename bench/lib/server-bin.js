/**
 * The real `chat-server` binary (bin/chat-server.js start) as a benchmark target, for
 * what only the whole program shows: start-up time and resident memory.
 *
 *   const s = await startServerBin({ dataDir });
 *   s.startMs      // spawn → the "listening" log line (SPEC §3: the first line)
 *   s.rssAtListen  // VmRSS (bytes) when that line was read; s.peakAtListen = VmHWM
 *   await s.stop() // SIGTERM: the orderly shutdown; resolves with the exit code
 *
 * Listens on 127.0.0.1:0 (the address is taken from the line). The child is killed
 * with SIGKILL if this process exits first, so a crashed benchmark leaves no server
 * behind (it does not watch stdin as the bench/lib/proc.js children do).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild } from './proc.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const live = new Set();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/** {rss, peak} of a process in bytes from /proc/PID/status (NaN when unknown). */
export function procMemory(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => { const m = new RegExp(`${k}:\\s+(\\d+) kB`).exec(s); return m ? Number(m[1]) * 1024 : NaN; };
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

export async function startServerBin({ dataDir, args = [], timeoutMs = 120_000 }) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin/chat-server.js'), 'start', '--data', dataDir,
    '--listen', '127.0.0.1:0', '--log-level', 'info', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => { live.delete(child); resolve(code ?? sig); }));
  let tail = '';
  const lines = createInterface({ input: child.stderr });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`chat-server not listening after ${timeoutMs} ms\n${tail}`)); }, timeoutMs);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`chat-server exited (${code}) before listening\n${tail}`)); });
    lines.on('line', (line) => {
      tail = (tail + line + '\n').slice(-4000);
      let msg;
      try { msg = JSON.parse(line); } catch { return; }
      if (msg.msg === 'listening') {
        const at = performance.now();
        clearTimeout(timer);
        resolve({ at, mem: procMemory(child.pid), address: msg.address, seq: msg.seq });
      }
    });
  });
  const i = ready.address.lastIndexOf(':');
  return {
    pid: child.pid,
    host: ready.address.slice(0, i),
    port: Number(ready.address.slice(i + 1)),
    seq: ready.seq,
    startMs: ready.at - t0,
    rssAtListen: ready.mem.rss,
    peakAtListen: ready.mem.peak,
    memory: () => procMemory(child.pid),
    logTail: () => tail,
    stop: (graceMs = 30_000) => stopChild(child, exited, graceMs),
  };
}
