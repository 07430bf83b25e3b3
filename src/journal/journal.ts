/**
 * The operation journal: append-only segment files in DIR/journal/ (layout in
 * docs/STORAGE.md and format.ts), written with group commit, read back by seq.
 *
 * Contract:
 *   - open() takes over a data dir (the caller holds DIR/LOCK): converts a v0
 *     journal.log once, checks every segment it must (segments.ts scanJournal),
 *     truncates a torn tail of the last segment (fsync'ed) and removes a last segment
 *     whose header is torn, reports both, and throws JournalCorruptError for damage
 *     anywhere else. It returns the ops after `after.seq` (a snapshot's position), or
 *     hands them to `onOp` one by one as it reads.
 *   - append(op) encodes the record at once (so `headSeq` and `digest` describe every
 *     op appended so far) and resolves only once it is durable: every byte written,
 *     then fdatasync; a short write is continued. Appends made while a flush runs are
 *     written and synced together by the next flush (group commit): one write and one
 *     fdatasync per batch, none skipped.
 *   - Before a batch, a segment of segmentBytes or more is closed and the next one
 *     created (header written and synced, directory fsync'ed); a record never spans
 *     segments.
 *   - A failed write or fsync rejects every waiting append, and the journal refuses
 *     further appends: memory is ahead of disk, so the owner must stop.
 *   - read(S) yields every durable record after S up to the durable head as of the
 *     call; follow(S) goes on yielding each new record once it is durable, exactly
 *     once and in order, until aborted or closed. Nothing not yet durable is yielded.
 *   - removeSegmentsThrough(seq) (retention) deletes whole segments at or before a
 *     snapshot's seq, never the one being written. A read or follow inside a removed
 *     segment carries on from the next kept record if it is the one it needs, else
 *     fails with JournalRangeError.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../state/types.js';
import { digestStep, encodeHeader, encodeRecord, HEADER_BYTES, idHex, readU64, segmentName } from './format.js';
import { migrateV0 } from './migrate.js';
import { locate, readRange, type JournalRecord, type SegmentSource } from './reader.js';
import {
  createSegmentSync, fsyncDir, INDEX_EVERY, JOURNAL_DIR, scanJournal, type AfterPoint, type SegmentInfo,
} from './segments.js';

export { JournalCorruptError, JOURNAL_DIR, listSegments, type AfterPoint, type JournalProblem } from './segments.js';
export { encodeRecord, OP_CODES } from './format.js';
export { JournalRangeError, readJournalDir, type JournalRecord, type OfflineJournal } from './reader.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export interface JournalOptions {
  /** Roll to a new segment once the current one holds this many bytes. Default 64 MiB. */
  segmentBytes?: number;
  /** A snapshot's position: ops up to after.seq are not returned; the digest continues from it. */
  after?: AfterPoint;
  /**
   * Receives each op after `after.seq` in order while the segments are read, instead
   * of collecting them in OpenResult.ops: replaying a long journal then never holds
   * every op in memory at once. An exception it throws ends open() with that error.
   */
  onOp?: (op: Op) => void;
}

export interface OpenResult {
  journal: Journal;
  /** Ops after `after.seq` (all without `after`), in order; empty when `onOp` took them. */
  ops: Op[];
  /** A torn tail cut off the last segment: `file` relative to the data dir. */
  truncated?: { file: string; offset: number; bytes: number };
  /** Other things open() repaired or converted, one line each, for the log. */
  warnings: string[];
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class Journal implements SegmentSource {
  /** 32 lowercase hex digits. */
  readonly journalId: string;
  private readonly dir: string;
  private pending: Buffer[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;
  private closed = false;
  /** Seq and digest of the last op appended (durable or not). */
  private head: number;
  private chain: string;
  private durable: number;
  /** Followers waiting for the next durable batch. */
  private wakeups: Array<() => void> = [];
  /** Encoded bytes appended since open (snapshot scheduling counts journal growth). */
  private appended = 0;

  private constructor(
    readonly dataDir: string,
    private readonly id: Buffer,
    private readonly segments: SegmentInfo[],
    private fh: FileHandle,
    private readonly segmentBytes: number,
    headSeq: number,
    digest: string,
  ) {
    this.dir = join(dataDir, JOURNAL_DIR);
    this.journalId = idHex(id);
    this.head = headSeq;
    this.durable = headSeq;
    this.chain = digest;
  }

  /** See the contract at the top of the file. */
  static async open(dataDir: string, opts: JournalOptions = {}): Promise<OpenResult> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!(segmentBytes > HEADER_BYTES)) throw new Error(`segmentBytes must be over ${HEADER_BYTES}`);
    const warnings = migrateV0(dataDir, segmentBytes);
    const dir = join(dataDir, JOURNAL_DIR);
    const ops: Op[] = [];
    // Scanned before DIR/journal/ is created: a missing journal must stay visible as such.
    const scan = scanJournal(dataDir, { mode: 'open', after: opts.after, onOp: opts.onOp ?? ((op) => ops.push(op)) });
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      fsyncDir(dataDir);
    }
    if (scan.tornHeader !== undefined) {
      // A crash while a roll wrote the new header: it holds no record.
      unlinkSync(scan.tornHeader.path);
      fsyncDir(dir);
      warnings.push(`removed ${scan.tornHeader.file}: its header was torn (${scan.tornHeader.bytes} bytes) and it held no record, a crash while starting a segment`);
    }
    let truncated: OpenResult['truncated'];
    if (scan.torn !== undefined) {
      const fd = openSync(scan.torn.path, 'r+');
      try { ftruncateSync(fd, scan.torn.offset); fsyncSync(fd); } finally { closeSync(fd); }
      truncated = { file: scan.torn.file, offset: scan.torn.offset, bytes: scan.torn.bytes };
    }
    let id = scan.journalId;
    const segs = scan.segments;
    if (segs.length === 0) {
      // A new journal, or one whose only segment was a torn header (scanJournal refuses
      // a snapshot with no segment at all): a snapshot's id and position carry on.
      id = opts.after !== undefined ? Buffer.from(opts.after.journalId, 'hex') : randomBytes(16);
      const firstSeq = (opts.after?.seq ?? 0) + 1;
      const path = createSegmentSync(dir, id, firstSeq);
      segs.push({ firstSeq, path, rel: `${JOURNAL_DIR}/${segmentName(firstSeq)}`, lastSeq: firstSeq - 1, size: HEADER_BYTES, idxSeq: [], idxOff: [] });
    }
    const fh = await open(segs[segs.length - 1].path, 'a');
    const journal = new Journal(dataDir, id!, segs, fh, segmentBytes, segs[segs.length - 1].lastSeq, scan.digest);
    return { journal, ops, truncated, warnings };
  }

  /** Seq of the last op appended (durable or not). */
  get headSeq(): number {
    return this.head;
  }

  /** journalDigest at headSeq (docs/STORAGE.md): maintained as ops are appended. */
  get digest(): string {
    return this.chain;
  }

  /** Highest seq on disk; every seq up to it is durable. */
  get durableSeq(): number {
    return this.durable;
  }

  /** Encoded record bytes appended since open (durable or not). */
  get bytesAppended(): number {
    return this.appended;
  }

  segmentList(): readonly SegmentInfo[] {
    return this.segments;
  }

  /**
   * Retention (docs/STORAGE.md "Retention"): deletes the segment files whose every
   * record has seq <= `seq`, oldest first, never the segment being written (the last),
   * then fsyncs DIR/journal. The caller must hold a snapshot at `seq` or later that a
   * restart can use: the records removed are gone for good. Returns the removed files
   * relative to the data dir. A read or follow inside a removed segment carries on
   * when the next record it needs is kept, else gets JournalRangeError, like one
   * starting before the oldest kept segment.
   */
  removeSegmentsThrough(seq: number): string[] {
    const removed: string[] = [];
    while (this.segments.length > 1 && this.segments[0].lastSeq <= seq) {
      const seg = this.segments[0];
      unlinkSync(seg.path);
      this.segments.shift();
      removed.push(seg.rel);
    }
    if (removed.length > 0) fsyncDir(this.dir);
    return removed;
  }

  /** Resolves once `op` is durable. `op.seq` must be headSeq + 1. See the contract above. */
  append(op: Op): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('journal closed'));
    if (op.seq !== this.head + 1) return Promise.reject(new Error(`journal append out of order: seq ${op.seq} after ${this.head} (a bug)`));
    const rec = encodeRecord(op, this.id);
    this.head = op.seq;
    this.appended += rec.length;
    this.chain = digestStep(this.chain, rec, 0, rec.length);
    this.pending.push(rec);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.flushing === undefined) this.flushing = this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    // Let every append made in this turn of the event loop join the batch.
    await new Promise<void>((r) => setImmediate(r));
    while (this.pending.length > 0 && !this.failed) {
      const records = this.pending;
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      try {
        let seg = this.segments[this.segments.length - 1];
        if (seg.size >= this.segmentBytes) seg = await this.roll(readU64(records[0], 8));
        const batch = records.length === 1 ? records[0] : Buffer.concat(records);
        await this.writeAll(batch);
        await this.fh.datasync();
        this.advance(seg, records);
        for (const w of waiters) w.resolve();
        for (const wake of this.wakeups.splice(0)) wake();
      } catch (err) {
        this.failed = new Error(`journal write failed: ${(err as Error).message}`, { cause: err });
        for (const w of [...waiters, ...this.waiters]) w.reject(this.failed);
        this.waiters = [];
        this.pending = [];
      }
    }
    this.flushing = undefined;
  }

  /** Records the durable batch in the segment's size, last seq and sparse index. */
  private advance(seg: SegmentInfo, records: Buffer[]): void {
    let off = seg.size;
    let n = seg.lastSeq - seg.firstSeq + 1;
    for (const r of records) {
      if (n % INDEX_EVERY === 0) {
        seg.idxSeq.push(seg.firstSeq + n);
        seg.idxOff.push(off);
      }
      off += r.length;
      n++;
    }
    seg.size = off;
    seg.lastSeq = seg.firstSeq + n - 1;
    this.durable = seg.lastSeq;
  }

  /** Closes the full segment and starts segment `firstSeq` (header durable, dir fsync'ed). */
  private async roll(firstSeq: number): Promise<SegmentInfo> {
    const name = segmentName(firstSeq);
    const path = join(this.dir, name);
    // O_APPEND like the segment open() continues: every write lands at the end.
    const fh = await open(path, 'ax');
    try {
      const header = encodeHeader(this.id, firstSeq);
      const { bytesWritten } = await fh.write(header, 0, header.length);
      if (bytesWritten !== header.length) throw new Error(`short write of the segment header of ${name}`);
      await fh.datasync();
      const dh = await open(this.dir, 'r');
      try { await dh.sync(); } finally { await dh.close(); }
    } catch (err) {
      await fh.close();
      throw err;
    }
    await this.fh.close();
    this.fh = fh;
    const seg: SegmentInfo = { firstSeq, path, rel: `${JOURNAL_DIR}/${name}`, lastSeq: firstSeq - 1, size: HEADER_BYTES, idxSeq: [], idxOff: [] };
    this.segments.push(seg);
    return seg;
  }

  /**
   * write() may write fewer bytes than asked (a signal, a nearly full disk, some
   * network filesystems): write the rest until all of it is out. A write of zero bytes
   * makes no progress and counts as a failure like an error does.
   */
  private async writeAll(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
      if (!(bytesWritten > 0)) throw new Error(`short write: ${off} of ${buf.length} bytes written, then none`);
      off += bytesWritten;
    }
  }

  /**
   * Every durable record after `afterSeq`, up to the durable head as of this call.
   * Throws JournalRangeError (at once) when those records are no longer kept.
   */
  read(afterSeq: number): AsyncIterable<JournalRecord> {
    const pos = locate(this.segments, afterSeq);
    return readRange(this, pos, this.durable);
  }

  /**
   * Every record after `afterSeq`, then each new one as it becomes durable, in order
   * and exactly once, until `signal` aborts or the journal closes (the iteration then
   * ends without an error). Throws JournalRangeError (at once) like read().
   */
  follow(afterSeq: number, signal?: AbortSignal): AsyncIterable<JournalRecord> {
    const pos = locate(this.segments, afterSeq);
    return this.followFrom(pos, signal);
  }

  private async *followFrom(pos: ReturnType<typeof locate>, signal?: AbortSignal): AsyncGenerator<JournalRecord> {
    const aborted = (): boolean => signal?.aborted === true;
    while (!this.closed && !aborted()) {
      if (pos.lastSeq < this.durable) {
        for await (const rec of readRange(this, pos, this.durable)) {
          yield rec;
          if (aborted()) return;
        }
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener('abort', done);
          // Aborted while idle: leave no closure behind (a flush empties the list itself).
          const i = this.wakeups.indexOf(done);
          if (i >= 0) this.wakeups.splice(i, 1);
          resolve();
        };
        this.wakeups.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Waits for pending appends, then closes the file and ends every follow(). */
  async close(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.wakeups.splice(0)) wake();
    await this.fh.close();
  }
}
