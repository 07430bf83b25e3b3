/**
 * The one logger factory (SPEC §3: logs are pino JSON lines on stderr).
 *
 * Contract: secrets never reach a log line. Code must not pass passwords or tokens to
 * the logger at all; the redact list below is a second net for the field names that
 * could carry them, in case a payload is ever logged whole.
 */
import { writeSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const REDACT = [
  'password', 'oldPassword', 'newPassword', 'token', 'passwordHash', 'tokenHash',
  '*.password', '*.oldPassword', '*.newPassword', '*.token', '*.passwordHash', '*.tokenHash',
];

export interface LoggerHandle {
  log: Logger;
  /** Writes out buffered lines; call before process.exit(). Never throws. */
  flush(): void;
}

/**
 * A logger writing JSON lines to stderr (fd 2) asynchronously, with `name` as a base
 * field. Lines are buffered, so callers that exit must call flush() first.
 */
export function createLogger(name: string, level: LevelWithSilent = 'info'): LoggerHandle {
  // minLength 0: a line goes out as soon as the event loop is free, so supervisors and
  // tests that wait for the "listening" line see it at once; writes stay asynchronous.
  const dest = pino.destination({ dest: 2, sync: false, minLength: 0 });
  const log = pino({ name, level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } }, dest);
  return {
    log,
    flush() {
      drainSync(dest);
    },
  };
}

/** The parts of sonic-boom 4 (pino's destination) that drainSync reads. */
interface SonicBoomBuffers {
  _bufs?: Array<string | Buffer>;
  _writingBuf?: string | Buffer;
  _writing?: boolean;
  _len?: number;
  flushSync(): void;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes out the destination's buffered lines synchronously, and never hangs.
 * sonic-boom's own flushSync() retries a failed write for ever unless the error is
 * EAGAIN: with stderr a pipe whose reader has gone (`chat-server start 2>&1 | head`,
 * a dead log shipper) every write fails with EPIPE, and a server told to stop would
 * hang in its last log flush instead of exiting (pino's exit hook calls flushSync
 * too, so the buffers are emptied here first). EAGAIN is retried for at most ~100 ms;
 * any other error drops the rest: the logs cannot reach anyone.
 */
function drainSync(dest: unknown): void {
  const sb = dest as SonicBoomBuffers;
  if (!Array.isArray(sb._bufs)) {
    try {
      sb.flushSync(); // another sonic-boom layout: the library's own flush
    } catch {
      // not ready yet, or stderr closed
    }
    return;
  }
  const pending: Array<string | Buffer> = [];
  if (!sb._writing && sb._writingBuf !== undefined && sb._writingBuf.length > 0) pending.push(sb._writingBuf);
  pending.push(...sb._bufs);
  sb._bufs.length = 0;
  if (!sb._writing) sb._writingBuf = '';
  sb._len = 0;
  let waits = 0;
  for (const item of pending) {
    let buf = typeof item === 'string' ? Buffer.from(item, 'utf8') : item;
    while (buf.length > 0) {
      try {
        buf = buf.subarray(writeSync(2, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 50) return;
        Atomics.wait(pause, 0, 0, 2);
      }
    }
  }
}

/** A logger that writes nothing, for in-process tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
