/**
 * Syscall-level counters for a benchmark server process, without touching src/: wraps
 * net.Socket.prototype.write and FileHandle.prototype.datasync/sync (the journal's
 * fsync) with a counter each. On SIGUSR2 the process prints one stdout line
 * `{"counters":{socketWrites, socketBytes, fsyncs}}`; the parent (proc.js counters())
 * diffs two readings around a run. The cost is one extra function call per write.
 */
import net from 'node:net';
import { open } from 'node:fs/promises';

const c = { socketWrites: 0, socketBytes: 0, fsyncs: 0 };

export async function installCounters() {
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function countedWrite(data, ...rest) {
    c.socketWrites++;
    if (data && typeof data.length === 'number') c.socketBytes += data.length;
    return write.call(this, data, ...rest);
  };
  const fh = await open('/dev/null', 'r');
  const proto = Object.getPrototypeOf(fh);
  await fh.close();
  for (const m of ['datasync', 'sync']) {
    const orig = proto[m];
    proto[m] = function countedSync(...args) {
      c.fsyncs++;
      return orig.apply(this, args);
    };
  }
  process.on('SIGUSR2', () => process.stdout.write(`${JSON.stringify({ counters: { ...c } })}\n`));
}
