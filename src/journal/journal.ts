/**
 * Append-only operation journal (first version: one file, data/journal.log).
 *
 * Record layout, big-endian:
 *   0  u32  bodyLength
 *   4  u32  crc32 of body (zlib.crc32, IEEE)
 *   8  body: u64 seq, then the op as UTF-8 JSON
 * Contract:
 *   - open() reads every record, checks CRC and that seqs go 1, 2, 3 … without gaps,
 *     and returns the ops. A torn or bad record at the very end (nothing valid after
 *     it) is truncated and reported in `truncatedBytes`; damage followed by more data
 *     throws JournalCorruptError naming the file and byte offset.
 *   - append(op) resolves only once the record is on disk (every byte written, then
 *     fdatasync; a short write is continued until the whole batch is out). Appends
 *     made while a flush is running are written and fsynced together by the next
 *     flush (group commit): many writers share one fsync, none skips it.
 *   - A failed write or fsync rejects every waiting append and the journal refuses
 *     further appends: memory is ahead of disk, so the owner must stop.
 * The operation-journal issue replaces this with segments, snapshots and a tail reader.
 */
import { closeSync, fsyncSync, openSync, readFileSync, ftruncateSync, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Op } from '../state/types.js';

export const JOURNAL_FILE = 'journal.log';
const HEAD = 8;

export class JournalCorruptError extends Error {
  constructor(readonly file: string, readonly offset: number, reason: string) {
    super(`journal ${file} is damaged at byte ${offset}: ${reason}`);
    this.name = 'JournalCorruptError';
  }
}

export function encodeRecord(op: Op): Buffer {
  const json = Buffer.from(JSON.stringify(op), 'utf8');
  const rec = Buffer.allocUnsafe(HEAD + 8 + json.length);
  rec.writeUInt32BE(8 + json.length, 0);
  rec.writeBigUInt64BE(BigInt(op.seq), HEAD);
  json.copy(rec, HEAD + 8);
  rec.writeUInt32BE(crc32(rec.subarray(HEAD)), 4);
  return rec;
}

export interface ReadResult {
  ops: Op[];
  /** Byte length of the valid prefix. */
  validBytes: number;
  /** Bytes of a torn tail that were (or would be) cut off. */
  truncatedBytes: number;
}

/** True when a structurally valid record (length fits, CRC matches) starts at `off`. */
function validRecordAt(buf: Buffer, off: number): boolean {
  if (off + HEAD > buf.length) return false;
  const len = buf.readUInt32BE(off);
  if (len < 9 || off + HEAD + len > buf.length) return false;
  return crc32(buf.subarray(off + HEAD, off + HEAD + len)) === buf.readUInt32BE(off + 4);
}

/**
 * Whether damage found at `off` is a torn tail (an interrupted final write) rather
 * than damage in the middle: nothing after it looks like a record. Checking only the
 * damaged record's own length field is not enough: a flipped bit there can make it
 * point past the end and would pass a whole valid suffix off as a torn tail, silently
 * dropping acknowledged records. Runs only on the error path.
 */
function isTornTail(buf: Buffer, off: number): boolean {
  for (let p = off + 1; p + HEAD + 9 <= buf.length; p++) {
    if (validRecordAt(buf, p)) return false;
  }
  return true;
}

/** Parses a journal image. Pure apart from the error it throws. */
export function parseJournal(buf: Buffer, file: string): ReadResult {
  const ops: Op[] = [];
  let off = 0;
  while (off < buf.length) {
    const bad = (reason: string): ReadResult => {
      // Torn tail: no valid record follows the damage. Anything valid after it means
      // damage in the middle, which must not be hidden (SPEC §8).
      if (isTornTail(buf, off)) return { ops, validBytes: off, truncatedBytes: buf.length - off };
      throw new JournalCorruptError(file, off, reason);
    };
    if (off + HEAD > buf.length) return bad('truncated header');
    const len = buf.readUInt32BE(off);
    if (len < 9 || off + HEAD + len > buf.length) return bad(`record length ${len} runs past the end`);
    const body = buf.subarray(off + HEAD, off + HEAD + len);
    if (crc32(body) !== buf.readUInt32BE(off + 4)) return bad('checksum mismatch');
    const seq = Number(body.readBigUInt64BE(0));
    let op: Op;
    try {
      op = JSON.parse(body.subarray(8).toString('utf8')) as Op;
    } catch {
      throw new JournalCorruptError(file, off, 'record body is not valid JSON');
    }
    const expected = ops.length + 1;
    if (seq !== expected || op.seq !== seq) throw new JournalCorruptError(file, off, `sequence ${seq}, expected ${expected}`);
    ops.push(op);
    off += HEAD + len;
  }
  return { ops, validBytes: off, truncatedBytes: 0 };
}

export class Journal {
  private pending: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private flushing = false;
  private failed: Error | undefined;

  private constructor(private readonly fh: FileHandle, readonly path: string) {}

  /** Opens (creating if needed) the journal in `dir`, truncating a torn tail. */
  static async open(dir: string): Promise<{ journal: Journal; ops: Op[]; truncatedBytes: number }> {
    const path = join(dir, JOURNAL_FILE);
    let result: ReadResult = { ops: [], validBytes: 0, truncatedBytes: 0 };
    const existed = existsSync(path);
    if (existed) {
      result = parseJournal(readFileSync(path), path);
      if (result.truncatedBytes > 0) {
        const fd = openSync(path, 'r+');
        try { ftruncateSync(fd, result.validBytes); fsyncSync(fd); } finally { closeSync(fd); }
      }
    }
    const fh = await open(path, 'a');
    if (!existed) {
      // Make the new file's directory entry durable too, or a crash could lose it.
      const dfd = openSync(dir, 'r');
      try { fsyncSync(dfd); } finally { closeSync(dfd); }
    }
    return { journal: new Journal(fh, path), ops: result.ops, truncatedBytes: result.truncatedBytes };
  }

  /** Resolves once `op` is durable. See the group-commit contract above. */
  append(op: Op): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    this.pending.push(encodeRecord(op));
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    // Let every append made in this turn of the event loop join the batch.
    await new Promise<void>((r) => setImmediate(r));
    while (this.pending.length > 0 && !this.failed) {
      const batch = Buffer.concat(this.pending);
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      try {
        await this.writeAll(batch);
        await this.fh.datasync();
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.failed = new Error(`journal write failed: ${(err as Error).message}`, { cause: err });
        for (const w of [...waiters, ...this.waiters]) w.reject(this.failed);
        this.waiters = [];
        this.pending = [];
      }
    }
    this.flushing = false;
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

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      if (!this.flushing) void this.flush();
      await new Promise<void>((r) => setTimeout(r, 1));
    }
    await this.fh.close();
  }
}
