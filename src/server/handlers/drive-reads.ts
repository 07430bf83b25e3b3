/**
 * Backpressure for FILE_READ (STYLE habit 2; issue 4 "streams from the blob with
 * backpressure"). The connection glue stops reading requests while the socket's write
 * buffer is over limits.writeHighWater, but the reads already taken in would each
 * still produce up to a frame of data. So each connection reads at most
 * READS_PER_CONN blobs at once, and a read starts only once the socket's unsent
 * output is below writeHighWater: a client that asks faster than it takes costs the
 * server at most writeHighWater plus a few frames, never a frame per request queued.
 */
import type { Connection } from '../connection.js';
import type { Limits } from '../limits.js';

export const READS_PER_CONN = 4;

interface Gate {
  active: number;
  waiting: Array<() => void>;
}

const gates = new WeakMap<Connection, Gate>();

/** Resolves with a release function once `conn` may read (see the file comment). */
export async function readGate(conn: Connection, limits: Limits): Promise<() => void> {
  let gate = gates.get(conn);
  if (!gate) gates.set(conn, (gate = { active: 0, waiting: [] }));
  const g = gate;
  if (g.active >= READS_PER_CONN) await new Promise<void>((resolve) => g.waiting.push(resolve));
  else g.active++;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    const next = g.waiting.shift();
    if (next) next(); // the slot passes on
    else g.active--;
  };
  try {
    await writable(conn, limits.writeHighWater);
  } catch (err) {
    release();
    throw err;
  }
  return release;
}

/** Resolves once the socket's unsent bytes are at most `highWater`, or it closed. */
function writable(conn: Connection, highWater: number): Promise<void> {
  const s = conn.socket;
  if (conn.isDead || s.destroyed || s.writableLength <= highWater) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}
