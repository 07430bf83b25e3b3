/**
 * The one logger factory (SPEC §3: logs are pino JSON lines on stderr).
 *
 * Contract: secrets never reach a log line. Code must not pass passwords or tokens to
 * the logger at all; the redact list below is a second net for the field names that
 * could carry them, in case a payload is ever logged whole.
 */
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
      try {
        dest.flushSync();
      } catch {
        // Not ready yet or stderr closed: nothing more can be done.
      }
    },
  };
}

/** A logger that writes nothing, for in-process tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
