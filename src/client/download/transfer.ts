/**
 * The byte pump of a download: FILE_READ requests in a window, bytes written in order
 * to the part file, hashed as they land, and checkpoints appended to the resume log
 * behind them (SPEC §6 "at most one chunk sent twice").
 *
 * Contract of fetchRest():
 *  - no byte past `durable + chunk` is ever requested, where `durable` is the last
 *    checkpoint that is on disk: after a crash at any instant the next run starts at
 *    that checkpoint or a later one, so the server sends again at most `chunk` bytes;
 *  - a checkpoint of offset W is appended only after every byte below W was written
 *    and the part file fdatasync'ed (Checkpointer); one runs at a time, started every
 *    `checkpointEvery` bytes, while the reads go on (checkpointEvery < chunk keeps the
 *    window open during the fsync);
 *  - memory is the window: at most `window` replies of at most `readSize` bytes;
 *  - it resolves when all `size` bytes are written (the last checkpoint may still be
 *    running: call flush()), and rejects with the first failure (a network error
 *    from the connection, a server refusal, a local write error, the signal's reason),
 *    with the in-memory position (`p.written`, `p.hash`) still true for what is on
 *    disk, so the caller can go on from there on another connection.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ChatError } from '../../common/errors.js';
import type { ChatConnection } from '../connection.js';
import { writeAll, type ResumeEntry } from './resume-log.js';
import { localError } from './local-files.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Sizes of the pump; defaults below, smaller ones in tests. */
export interface Tuning {
  /** The most bytes requested past the durable checkpoint (SPEC §6 "one chunk"). */
  chunk: number;
  /** A checkpoint is started once this many bytes were written past the last one. */
  checkpointEvery: number;
  /** Bytes per FILE_READ (also capped by the server's maxFrame - 64). */
  readSize: number;
  /** FILE_READ requests in flight at most. */
  window: number;
}

export const DEFAULT_TUNING: Readonly<Tuning> = {
  chunk: 4 * MiB,
  checkpointEvery: 1 * MiB,
  readSize: 512 * KiB,
  window: 8,
};

/** The CHUNK of SPEC §6: what a crash can cost in bytes fetched twice. */
export const CHUNK = DEFAULT_TUNING.chunk;

/** What is on disk and known about it, shared between the pump and its caller. */
export interface Position {
  /** Bytes written to the part file, in order from 0 (all hashed into `hash`). */
  written: number;
  hash: Hash;
  /** Data bytes received in this run (including any fetched twice across reconnects). */
  received: number;
}

/**
 * Appends checkpoints behind the writes: fdatasync(part), then the log record, one
 * at a time. `durable` is the last one known to be on disk.
 */
export class Checkpointer {
  durable: number;
  private running: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly part: FileHandle, private readonly entry: ResumeEntry, start: number,
    private readonly every: number) {
    this.durable = start;
  }

  /** Starts a checkpoint of `written` when `every` new bytes are written and none runs. */
  maybe(written: number): void {
    if (!this.running && written - this.durable >= this.every) this.start(written);
  }

  /** Throws the failure of an earlier checkpoint (a full disk), if any. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for the running checkpoint, then makes `written` durable and logged. */
  async flush(written: number): Promise<void> {
    await this.running;
    this.check();
    if (written > this.durable) {
      this.start(written);
      await this.running;
      this.check();
    }
  }

  private start(offset: number): void {
    const run = (async () => {
      try {
        await this.part.datasync();
      } catch (err) {
        throw new ChatError('CHAT_ERR_USAGE', `cannot write the part file: ${localError(err)}`, { cause: err });
      }
      await this.entry.append(offset);
      this.durable = offset;
    })();
    this.running = run.catch((err: unknown) => { this.failure ??= err; }).finally(() => { this.running = undefined; });
  }
}

export interface FetchJob {
  group: string;
  name: string;
  version: number;
  size: number;
  part: FileHandle;
  checkpointer: Checkpointer;
  tuning: Tuning;
  onProgress?: (done: number, size: number) => void;
  signal?: AbortSignal;
  /** Test hook: called with each FILE_READ as it is sent. */
  onRead?: (offset: number, length: number, durable: number) => void;
}

interface Read { offset: number; length: number; reply: Promise<{ data?: unknown }> }

/** Fetches bytes [p.written, size) over `conn` (see the module contract). */
export async function fetchRest(conn: ChatConnection, job: FetchJob, p: Position): Promise<void> {
  const { tuning, checkpointer: ckpt } = job;
  const maxFrame = Number(conn.hello.maxFrame) || 1024 * 1024;
  const readSize = Math.max(1, Math.min(tuning.readSize, maxFrame - 64));
  const inflight: Read[] = [];
  let next = p.written;
  const issue = (): void => {
    const limit = Math.min(job.size, ckpt.durable + tuning.chunk);
    while (inflight.length < tuning.window && next < limit) {
      const length = Math.min(readSize, limit - next);
      job.onRead?.(next, length, ckpt.durable);
      const reply = conn.request('FILE_READ', { group: job.group, name: job.name, version: job.version, offset: next, length });
      reply.catch(() => undefined); // awaited below in order; never an unhandled rejection
      inflight.push({ offset: next, length, reply });
      next += length;
    }
  };
  try {
    while (p.written < job.size) {
      job.signal?.throwIfAborted();
      ckpt.check();
      issue();
      if (inflight.length === 0) {
        // Every allowed byte is written: wait for a checkpoint to open the window.
        await ckpt.flush(p.written);
        continue;
      }
      const r = inflight.shift()!;
      const data = (await until(job.signal, r.reply)).data;
      if (!(data instanceof Uint8Array) || data.length !== r.length) {
        throw new ChatError('CHAT_ERR_PROTOCOL',
          `the server answered a read of ${r.length} bytes of "${job.name}" v${job.version} at offset ${r.offset} with ${data instanceof Uint8Array ? data.length : 'no'} bytes`);
      }
      try {
        await writeAll(job.part, data, r.offset);
      } catch (err) {
        throw new ChatError('CHAT_ERR_USAGE', `cannot write the part file: ${localError(err)}`, { cause: err });
      }
      p.hash.update(data);
      p.written += data.length;
      p.received += data.length;
      job.onProgress?.(p.written, job.size);
      ckpt.maybe(p.written);
    }
  } finally {
    inflight.length = 0; // their rejections are already handled
  }
}

/** `p`, or the signal's reason as soon as it is aborted. */
export function until<T>(signal: AbortSignal | undefined, p: Promise<T>): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
