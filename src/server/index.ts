/**
 * Programmatic API of the primary server, used by the CLI, tests and benches.
 *
 *   const srv = await startServer({ dataDir, listen: '127.0.0.1:0' });
 *   srv.address   // { host, port } actually bound
 *   await srv.close()   // the SIGTERM path: GOODBYE to clients, journal durable and closed
 *
 * Start-up opens (creating if missing) dataDir, takes its lock (another live process
 * on it: ChatError CHAT_ERR_CONFLICT), replays its journal (damage before the tail
 * throws JournalCorruptError) after its newest usable snapshot, then listens. The first log line is "listening" (SPEC
 * §3); warnings from start-up (a torn tail cut off, a stale lock taken over) follow it.
 */
import type { LevelWithSilent, Logger } from 'pino';
import { pino } from 'pino';
import { parseHostPort, type HostPort } from '../common/address.js';
import { BlobStore, type SweepResult } from '../drive/blob-store.js';
import { Engine } from './engine.js';
import { resolveLimits, type Limits } from './limits.js';
import { ChatServer } from './server.js';
import type { StorageOptions } from './storage-flags.js';

export { DEFAULT_LIMITS, type Limits } from './limits.js';
export { ListenError } from './server.js';
export { STORAGE_DEFAULTS, type Retention, type StorageOptions } from './storage-flags.js';

export interface StartOptions {
  dataDir: string;
  /** "HOST:PORT" or {host, port}; port 0 picks a free port. */
  listen: string | HostPort;
  /** Open (default) or closed registration. */
  registration?: boolean | 'open' | 'closed';
  limits?: Partial<Limits>;
  /** Snapshot thresholds, segment size, journal retention (storage-flags.ts; defaults STORAGE_DEFAULTS). */
  storage?: Partial<StorageOptions>;
  /** Used when no logger is given: a pino logger on stderr at this level (default info). */
  logLevel?: LevelWithSilent;
  logger?: Logger;
  /** Serve TLS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** scrypt cost for new password hashes; tests lower it. Default N=16384, r=8, p=1. */
  scrypt?: { N: number; r: number; p: number };
  /** What to do when the journal cannot be written. Default: log fatal, exit(1). */
  onJournalFailure?: (err: Error) => void;
}

export interface ServerHandle {
  /** The address actually bound. */
  readonly address: HostPort;
  readonly engine: Engine;
  readonly log: Logger;
  /** Connections open now (authenticated or not). */
  connectionCount(): number;
  /** Orderly shutdown (SPEC §3 SIGTERM); idempotent. */
  close(): Promise<void>;
}

export async function startServer(opts: StartOptions): Promise<ServerHandle> {
  const log = opts.logger ?? pino({ name: 'chat-server', level: opts.logLevel ?? 'info' }, pino.destination(2));
  const limits = resolveLimits(opts.limits);
  const where = typeof opts.listen === 'string' ? parseHostPort(opts.listen, '--listen') : opts.listen;
  const registration = opts.registration === undefined || opts.registration === true || opts.registration === 'open';
  const engine = await Engine.open({
    ...opts.storage, dataDir: opts.dataDir, log, onJournalFailure: opts.onJournalFailure, holder: 'chat-server start', deferWarnings: true,
  });
  let server: ChatServer;
  let swept: SweepResult;
  let blobs: BlobStore | undefined;
  try {
    // Temp files of cut uploads and blobs the journal never came to name (a crash
    // between a blob's rename and its file.put) go before anyone is served.
    blobs = BlobStore.open(opts.dataDir, (sha) => engine.state.blobRefs.has(sha));
    swept = await blobs.sweep(engine.state.blobRefs);
    // A bad TLS key throws here: close the journal and release the lock all the same.
    server = new ChatServer({ engine, dataDir: opts.dataDir, limits, registration, log, tls: opts.tls, scrypt: opts.scrypt, blobs });
    await server.listen(where);
  } catch (err) {
    engine.logStartupWarnings();
    await blobs?.close();
    await engine.close();
    throw err;
  }
  engine.logStartupWarnings();
  logSweep(log, swept);
  return {
    address: server.address,
    engine,
    log,
    connectionCount: () => server.connectionCount,
    close: () => server.close(),
  };
}

/** Start-up clean-up of the drive, logged after "listening" (SPEC §3: that line comes first). */
function logSweep(log: Logger, s: SweepResult): void {
  if (s.tmpRemoved > 0) log.warn({ files: s.tmpRemoved }, 'removed temp files of uploads cut by a stop or a crash');
  if (s.orphansRemoved > 0) log.warn({ blobs: s.orphansRemoved }, 'removed blobs no file version names (an upload or removal cut by a crash)');
  if (s.missing.length > 0) {
    log.error({ blobs: s.missing.length, first: s.missing[0] }, 'file versions name blobs missing from the data directory; run chat-server verify');
  }
}
