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
 *  - replies are written in order by a PartWriter while the next replies arrive, and
 *    hashed once written, so a write, a hash and the network overlap;
 *  - memory is bounded by `chunk`: at most `window` reads in flight, and the replies
 *    received and not yet written, all within `durable + chunk`;
 *  - it resolves when all `size` bytes are written (the last checkpoint may still be
 *    running: call flush()), and rejects with the first failure (a network error
 *    from the connection, a server refusal, a local write error, the signal's reason)
 *    once the writes queued before it have settled, with the in-memory position
 *    (`p.written`, `p.hash`) true for what is on disk, so the caller can go on from
 *    there on another connection.
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ChatError } from '../../common/errors.js';
import type { ChatConnection } from '../connection.js';
import { writeAll, type ResumeEntry } from './resume-log.js';
import { localError } from './local-files.js';
import { until } from '../../common/abort.js';

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

/**
 * readSize is the largest a frame allows (maxFrame - 64, 1 MiB - 64 by default): half
 * the requests and replies of 512 KiB reads, each of which costs both processes a
 * syscall and a turn (chat-get of 512 MiB: 0.76 -> 0.67 s, medians of 9 on 2 cores).
 */
export const DEFAULT_TUNING: Readonly<Tuning> = {
  chunk: 4 * MiB,
  checkpointEvery: 1 * MiB,
  readSize: 1 * MiB,
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

  /** The running checkpoint's end (never rejects), or undefined when none runs. */
  get pending(): Promise<void> | undefined {
    return this.running;
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

/**
 * Writes the replies to the part file one after another, in order, without the pump
 * waiting for each: once a write is done the next one starts, and only then are the
 * bytes just written hashed and counted (`p.written`), so the hashing of one reply
 * runs while the next is being written, and `p.written` and `p.hash` always describe
 * exactly the bytes on the file. What waits here is bounded by the reads, which never
 * pass `durable + chunk`.
 */
class PartWriter {
  private readonly queue: Array<{ data: Uint8Array; offset: number }> = [];
  private busy = false;
  private running: Promise<void> | undefined;
  private failure: unknown;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly job: FetchJob, private readonly p: Position) {}

  /** Throws the failure of an earlier write (a full disk), if any. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  push(data: Uint8Array, offset: number): void {
    this.queue.push({ data, offset });
    if (!this.busy) this.next();
  }

  /** Resolves once every queued write is done or one failed (check() says which). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves when the write running now settles; undefined when none runs. */
  get current(): Promise<void> | undefined {
    return this.busy ? this.running : undefined;
  }

  private next(): void {
    const w = this.queue[0];
    if (!w || this.failure !== undefined) {
      this.busy = false;
      this.queue.length = 0;
      for (const wake of this.idleWaiters.splice(0)) wake();
      return;
    }
    this.busy = true;
    this.running = writeAll(this.job.part, w.data, w.offset).then(() => {
      this.queue.shift();
      this.next(); // the next write goes to the thread pool first, then this one is hashed
      const { p, job } = this;
      p.hash.update(w.data);
      p.written += w.data.length;
      job.onProgress?.(p.written, job.size);
      job.checkpointer.maybe(p.written);
    }, (err: unknown) => {
      this.failure = new ChatError('CHAT_ERR_USAGE', `cannot write the part file: ${localError(err)}`, { cause: err });
      this.next();
    });
    this.running.catch(() => undefined);
  }
}

/** Fetches bytes [p.written, size) over `conn` (see the module contract). */
export async function fetchRest(conn: ChatConnection, job: FetchJob, p: Position): Promise<void> {
  const { tuning, checkpointer: ckpt } = job;
  const maxFrame = Number(conn.hello.maxFrame) || 1024 * 1024;
  const readSize = Math.max(1, Math.min(tuning.readSize, maxFrame - 64));
  const inflight: Read[] = [];
  const writer = new PartWriter(job, p);
  let next = p.written;
  let received = p.written;
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
    while (received < job.size) {
      job.signal?.throwIfAborted();
      ckpt.check();
      writer.check();
      issue();
      if (inflight.length === 0) {
        // Every allowed byte is here: the window opens when a checkpoint ends. Wait for
        // the one running, or for a write (which may start one), and ask again at once;
        // only when neither runs, make what is written durable now.
        const events = [ckpt.pending, writer.current].filter((e) => e !== undefined);
        if (events.length > 0) await Promise.race(events);
        else await ckpt.flush(p.written);
        continue;
      }
      const r = inflight.shift()!;
      const data = (await until(job.signal, r.reply)).data;
      if (!(data instanceof Uint8Array) || data.length !== r.length) {
        throw new ChatError('CHAT_ERR_PROTOCOL',
          `the server answered a read of ${r.length} bytes of "${job.name}" v${job.version} at offset ${r.offset} with ${data instanceof Uint8Array ? data.length : 'no'} bytes`);
      }
      writer.push(data, r.offset);
      received += data.length;
      p.received += data.length;
    }
  } catch (err) {
    inflight.length = 0; // their rejections are already handled
    await writer.idle(); // p.written and p.hash are final once the queued writes are
    writer.check(); // a local write failure first: it is not one to retry
    throw err;
  }
  await writer.idle();
  writer.check();
}

