/**
 * Reading records back out of the segment files: the range reader behind
 * Journal.read/follow (which the replica issue streams over the network) and the
 * lock-free offline reader for tools (`chat-server status --data` while a server runs).
 *
 * Contract: readers only ever read bytes below a segment's recorded durable size
 * (SegmentInfo.size, advanced by the writer after fdatasync), so they never see a
 * record that a crash could take back, nor half of one being written.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Op } from '../state/types.js';
import { decodeOp, frameAt, HEADER_BYTES, idHex } from './format.js';
import { JournalCorruptError, scanJournal, type AfterPoint, type SegmentInfo } from './segments.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChatError } from '../common/errors.js';
import { V0_FILE } from './migrate.js';

/** One durable record as a reader hands it out. */
export interface JournalRecord {
  seq: number;
  ts: number;
  op: Op;
  /** The whole encoded record (length, CRC, body) exactly as on disk. */
  bytes: Buffer;
}

/** A read that starts before the oldest segment still kept (a later issue answers it with a snapshot). */
export class JournalRangeError extends Error {
  constructor(readonly afterSeq: number, readonly oldestSeq: number) {
    super(`records after seq ${afterSeq} are no longer in the journal: the oldest kept segment starts at seq ${oldestSeq}; start from a snapshot`);
    this.name = 'JournalRangeError';
  }
}

/** What a range read needs from the journal: its data dir and live segment list. */
export interface SegmentSource {
  readonly dataDir: string;
  /**
   * Oldest first. Entries grow (size, lastSeq), a roll appends one, and retention
   * (removeSegmentsThrough) drops the oldest: a reader finds its segment by firstSeq
   * each time, never by index.
   */
  segmentList(): readonly SegmentInfo[];
}

/** Where a reader stands: in segment `segFirst` at byte `offset`, having passed `lastSeq`. */
export interface ReadPosition {
  segFirst: number;
  offset: number;
  lastSeq: number;
}

function segmentIndex(segs: readonly SegmentInfo[], seq: number): number {
  let lo = 0;
  let hi = segs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segs[mid].firstSeq <= seq) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The position to read "every record after `afterSeq`" from, found through the sparse
 * index (never a scan from seq 1). Throws JournalRangeError when those records are gone.
 */
export function locate(segs: readonly SegmentInfo[], afterSeq: number): ReadPosition {
  if (segs.length === 0) throw new Error('journal has no segments');
  const want = afterSeq + 1;
  if (want < segs[0].firstSeq) throw new JournalRangeError(afterSeq, segs[0].firstSeq);
  const s = segs[segmentIndex(segs, want)];
  let offset = HEADER_BYTES;
  for (let j = s.idxSeq.length - 1; j >= 0; j--) {
    if (s.idxSeq[j] <= want) { offset = s.idxOff[j]; break; }
  }
  return { segFirst: s.firstSeq, offset, lastSeq: afterSeq };
}

const CHUNK = 256 * 1024;

/**
 * Yields the records after `pos.lastSeq` up to `untilSeq` (or the durable end, if
 * sooner), advancing `pos` as it goes so a caller can resume from it. Records are
 * CRC-checked again; damage throws JournalCorruptError. A segment removed by retention
 * under the reader is stepped over when the records it still needs are kept, else
 * JournalRangeError.
 */
export async function* readRange(src: SegmentSource, pos: ReadPosition, untilSeq: number): AsyncGenerator<JournalRecord> {
  let fh: FileHandle | undefined;
  let fhSeg = -1;
  try {
    while (pos.lastSeq < untilSeq) {
      const segs = src.segmentList();
      const i = segmentIndex(segs, pos.segFirst);
      const seg = segs[i];
      if (seg.firstSeq !== pos.segFirst) {
        // Retention removed the segment this reader was in. If the next record is still
        // kept, carry on from it (no gap, no repeat); else the reader has fallen behind.
        Object.assign(pos, locate(segs, pos.lastSeq));
        continue;
      }
      if (pos.offset >= seg.size) {
        if (i + 1 >= segs.length) return; // nothing more is durable
        pos.segFirst = segs[i + 1].firstSeq;
        pos.offset = HEADER_BYTES;
        continue;
      }
      if (fh === undefined || fhSeg !== seg.firstSeq) {
        await fh?.close();
        fh = undefined;
        fh = await open(seg.path, 'r');
        fhSeg = seg.firstSeq;
      }
      const file = fh;
      // Read at least one whole record: grow the chunk to the record's length.
      let want = Math.min(seg.size - pos.offset, CHUNK);
      let buf = Buffer.allocUnsafe(want);
      await readFully(file, buf, pos.offset);
      const first = buf.length >= 4 ? 8 + buf.readUInt32BE(0) : 8;
      if (first > want && pos.offset + first <= seg.size) {
        want = first;
        buf = Buffer.allocUnsafe(want);
        await readFully(file, buf, pos.offset);
      }
      let off = 0;
      while (off < buf.length && pos.lastSeq < untilSeq) {
        const fr = frameAt(buf, off);
        if (!fr.ok) {
          if (off > 0) break; // the chunk ends inside this record: read on from here
          throw new JournalCorruptError({ file: seg.rel, offset: pos.offset, seq: pos.lastSeq, reason: fr.reason }, src.dataDir);
        }
        const base = pos.offset;
        pos.offset += fr.end - off;
        if (fr.seq > pos.lastSeq) {
          if (fr.seq !== pos.lastSeq + 1) {
            throw new JournalCorruptError({ file: seg.rel, offset: base, seq: pos.lastSeq, reason: `sequence ${fr.seq}, expected ${pos.lastSeq + 1}` }, src.dataDir);
          }
          let op: Op;
          try {
            op = decodeOp(buf, off, fr.end);
          } catch (err) {
            throw new JournalCorruptError({ file: seg.rel, offset: base, seq: pos.lastSeq, reason: (err as Error).message }, src.dataDir);
          }
          pos.lastSeq = fr.seq;
          yield { seq: fr.seq, ts: op.ts, op, bytes: buf.subarray(off, fr.end) };
        }
        off = fr.end;
      }
    }
  } finally {
    await fh?.close();
  }
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let got = 0; got < buf.length;) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) throw new Error(`segment file ended early at byte ${position + got}`);
    got += bytesRead;
  }
}

export interface OfflineJournal {
  /** 32 lowercase hex digits. */
  journalId: string;
  /** Records after `after.seq` (all when no `after`), in order; empty when `onOp` took them. */
  ops: Op[];
  headSeq: number;
  journalDigest: string;
  segments: number;
  /** Bytes after the last whole record of the last segment: maybe a write in progress. */
  tail?: { file: string; offset: number; bytes: number };
}

/**
 * Reads a data dir's journal without taking the lock and without changing anything,
 * for tools that may run beside a live server. A torn tail just ends the read (it may
 * be a write in progress). `onOp` receives each op as it is read instead of `ops`
 * collecting them (a long journal is never held whole). Throws JournalCorruptError for damage, ChatError
 * CHAT_ERR_NOT_FOUND when the dir has no journal.
 */
export function readJournalDir(dataDir: string, opts: { after?: AfterPoint; onOp?: (op: Op) => void } = {}): OfflineJournal {
  const ops: Op[] = [];
  const r = scanJournal(dataDir, { mode: 'read', after: opts.after, onOp: opts.onOp ?? ((op) => ops.push(op)) });
  if (r.journalId === undefined) {
    if (existsSync(join(dataDir, V0_FILE))) {
      throw new ChatError('CHAT_ERR_NOT_FOUND', `${dataDir} holds a v0 ${V0_FILE}; start chat-server on it once to convert it`);
    }
    throw new ChatError('CHAT_ERR_NOT_FOUND', `no journal in ${dataDir}`);
  }
  return {
    journalId: idHex(r.journalId), ops, headSeq: r.headSeq, journalDigest: r.digest, segments: r.segments.length,
    tail: r.torn && { file: r.torn.file, offset: r.torn.offset, bytes: r.torn.bytes },
  };
}
