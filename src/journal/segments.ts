/**
 * Reading a journal directory (DIR/journal/*.seg): the one scanner behind start-up
 * (Journal.open), the offline reader (readJournalDir) and `verify` (verifyDataDir), so
 * all three name the same first bad place in the same words.
 *
 * Contract of scanJournal():
 *   - segments are taken in firstSeq order; each header is checked (magic, version,
 *     CRC, journal id, firstSeq = its file name); they must chain: a segment starts
 *     at the seq after the previous one's last record, the first at seq 1 unless
 *     `after` (a snapshot) covers the seqs before it;
 *   - every record is framed (length, CRC-32C), carries the journal id and the next
 *     seq, and its op decodes; records after `after.seq` are handed to onOp in order
 *     and folded into the digest chain, which starts from `after.journalDigest`;
 *   - mode 'open'/'read' reads only the header of segments wholly at or before
 *     `after.seq` (start-up must not read the whole history); 'verify' reads all;
 *   - damage at the end of the LAST segment with no valid record after it is a torn
 *     tail (reported in `torn`, not thrown); a last segment whose header is torn and
 *     that holds no record is `tornHeader` (a crash during a roll). No segment file at
 *     all with `after` is damage (the journal after the snapshot is lost). Anything
 *     else throws JournalCorruptError. Nothing here writes.
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Op } from '../state/types.js';
import {
  decodeHeader, decodeOp, digestStep, encodeHeader, encodeRecord, frameAt, HEADER_BYTES, idHex, recordIdEquals,
  SEGMENT_NAME, segmentName, validRecordAt, ZERO_DIGEST,
} from './format.js';

export const JOURNAL_DIR = 'journal';
/** A sparse index entry is kept every this many records (plus each segment's first). */
export const INDEX_EVERY = 1000;

/** Where the journal is damaged. `file` is relative to the data dir. */
export interface JournalProblem {
  file: string;
  offset: number;
  /** The last good seq before the damage, when known. */
  seq?: number;
  reason: string;
}

/** The one-line description of a problem, shared by start-up and verify. */
export function describeProblem(p: JournalProblem): string {
  return `journal damaged: ${p.file} at byte ${p.offset}${p.seq !== undefined && p.seq > 0 ? ` (after seq ${p.seq})` : ''}: ${p.reason}`;
}

export class JournalCorruptError extends Error {
  readonly file: string;
  readonly offset: number;
  readonly seq: number | undefined;
  readonly reason: string;
  constructor(readonly problem: JournalProblem, dataDir: string) {
    super(`${describeProblem(problem)}; run: chat-server verify --data ${dataDir}`);
    this.name = 'JournalCorruptError';
    this.file = problem.file;
    this.offset = problem.offset;
    this.seq = problem.seq;
    this.reason = problem.reason;
  }
}

/** A snapshot's position: records up to `seq` are in it (Journal.open `after`). */
export interface AfterPoint {
  seq: number;
  /** 32 lowercase hex digits. */
  journalId: string;
  journalDigest: string;
}

export interface SegmentFile {
  firstSeq: number;
  path: string;
  /** Path relative to the data dir, as errors name it: journal/000…1.seg */
  rel: string;
}

/** One segment as the journal keeps it in memory after a scan. */
export interface SegmentInfo extends SegmentFile {
  /** Seq of its last record; firstSeq - 1 when empty. */
  lastSeq: number;
  /** Bytes of header plus whole records (the durable end). */
  size: number;
  /** Sparse index: idxSeq[i] starts at byte idxOff[i]. The first entry is the first record. */
  idxSeq: number[];
  idxOff: number[];
}

/** The segment files of `dataDir`, in firstSeq order. Other file names are ignored. */
export function listSegments(dataDir: string): SegmentFile[] {
  const dir = join(dataDir, JOURNAL_DIR);
  if (!existsSync(dir)) return [];
  const out: SegmentFile[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m) out.push({ firstSeq: Number(m[1]), path: join(dir, name), rel: `${JOURNAL_DIR}/${name}` });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

export interface ScanOptions {
  mode: 'open' | 'read' | 'verify';
  after?: AfterPoint;
  /** Every op with seq > after.seq, in order. */
  onOp?: (op: Op) => void;
}

export interface ScanResult {
  journalId: Buffer | undefined;
  segments: SegmentInfo[];
  headSeq: number;
  digest: string;
  /** Records checked (framed and CRC'd); segments read header-only are not counted. */
  records: number;
  torn?: { file: string; path: string; offset: number; bytes: number };
  tornHeader?: { file: string; path: string; bytes: number };
}

/**
 * Whether damage found at `off` is a torn tail (an interrupted final write) rather than
 * damage in the middle: no structurally valid record starts anywhere after it. Checking
 * only the damaged record's own length is not enough: a flipped bit there can point
 * past the end and would pass a whole valid suffix off as torn, silently dropping
 * acknowledged records. Runs only on the error path.
 */
export function isTornTail(buf: Buffer, off: number): boolean {
  for (let p = off + 1; p < buf.length; p++) if (validRecordAt(buf, p)) return false;
  return true;
}

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(HEADER_BYTES);
    const n = readSync(fd, b, 0, HEADER_BYTES, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** See the contract at the top of the file. Throws JournalCorruptError. */
export function scanJournal(dataDir: string, opts: ScanOptions): ScanResult {
  const files = listSegments(dataDir);
  const after = opts.after;
  const verify = opts.mode === 'verify';
  const bad = (p: JournalProblem): never => { throw new JournalCorruptError(p, dataDir); };
  const res: ScanResult = { journalId: undefined, segments: [], headSeq: 0, digest: ZERO_DIGEST, records: 0 };
  // Where the digest chain starts: from zero at seq 0, or from the snapshot.
  let chainFrom = 0;
  if (after !== undefined && !(verify && files.length > 0 && files[0].firstSeq === 1)) {
    chainFrom = after.seq;
    res.digest = after.journalDigest;
  }
  if (files.length === 0 && after !== undefined) {
    // Retention never removes the last segment: a snapshot with no journal at all means
    // DIR/journal/ was lost, and with it every record after the snapshot.
    bad({ file: `${JOURNAL_DIR}/`, offset: 0, reason: `no journal segment, but the snapshot at seq ${after.seq} needs the records after it (${JOURNAL_DIR}/ is missing or empty: restore it from a backup)` });
  }
  let last = 0; // last seq seen (or implied by a header-only segment)
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    const isLast = i === files.length - 1;
    const next = files[i + 1];
    const headerOnly = !verify && after !== undefined && next !== undefined && next.firstSeq <= after.seq + 1;
    const buf = headerOnly ? readHead(f.path) : readFileSync(f.path);
    const h = decodeHeader(buf);
    if (!h.ok) {
      if (isLast && !headerOnly && buf.length <= HEADER_BYTES) {
        res.tornHeader = { file: f.rel, path: f.path, bytes: buf.length };
        break;
      }
      bad({ file: f.rel, offset: 0, seq: last, reason: h.reason });
    }
    const { journalId, firstSeq } = h as { journalId: Buffer; firstSeq: number };
    if (res.journalId === undefined) {
      res.journalId = journalId;
      if (after !== undefined && after.journalId !== idHex(journalId)) {
        bad({ file: f.rel, offset: 12, reason: `the snapshot belongs to another journal (snapshot id ${after.journalId}, journal id ${idHex(journalId)})` });
      }
    } else if (!journalId.equals(res.journalId)) {
      bad({ file: f.rel, offset: 12, seq: last, reason: `segment belongs to another journal (id ${idHex(journalId)}, this journal is ${idHex(res.journalId)})` });
    }
    if (firstSeq !== f.firstSeq) bad({ file: f.rel, offset: 28, seq: last, reason: `header says the segment starts at seq ${firstSeq} but its name says ${f.firstSeq}` });
    if (i === 0) {
      const covered = after !== undefined ? after.seq : 0;
      if (firstSeq > covered + 1) {
        const from = covered + 1;
        bad({ file: f.rel, offset: 0, reason: `records ${from}..${firstSeq - 1} are missing: the first segment ${f.rel} starts at seq ${firstSeq}${after !== undefined ? ` and the snapshot ends at seq ${after.seq}` : ''} (a segment file is missing)` });
      }
    } else if (firstSeq !== last + 1) {
      const prev = files[i - 1].rel;
      bad(firstSeq > last + 1
        ? { file: f.rel, offset: 0, seq: last, reason: `records ${last + 1}..${firstSeq - 1} are missing: ${prev} ends at seq ${last} and ${f.rel} starts at seq ${firstSeq} (a segment file is missing)` }
        : { file: f.rel, offset: 0, seq: last, reason: `segment starts at seq ${firstSeq} but ${prev} already reaches seq ${last}` });
    }
    const seg: SegmentInfo = { ...f, lastSeq: firstSeq - 1, size: HEADER_BYTES, idxSeq: [], idxOff: [] };
    res.segments.push(seg);
    if (headerOnly) {
      seg.lastSeq = next.firstSeq - 1;
      seg.size = statSync(f.path).size;
      last = seg.lastSeq;
      continue;
    }
    last = firstSeq - 1;
    let off = HEADER_BYTES;
    let n = 0;
    while (off < buf.length) {
      const fr = frameAt(buf, off);
      if (!fr.ok) {
        if (isLast && isTornTail(buf, off)) {
          res.torn = { file: f.rel, path: f.path, offset: off, bytes: buf.length - off };
          break;
        }
        bad({ file: f.rel, offset: off, seq: last, reason: fr.reason });
      }
      const { seq, end } = fr as { seq: number; end: number };
      if (!recordIdEquals(buf, off, res.journalId!)) {
        bad({ file: f.rel, offset: off, seq: last, reason: `record belongs to another journal (id ${buf.toString('hex', off + 16, off + 32)}, this journal is ${idHex(res.journalId!)})` });
      }
      if (seq !== last + 1) bad({ file: f.rel, offset: off, seq: last, reason: `sequence ${seq}, expected ${last + 1}` });
      if (verify || seq > chainFrom) {
        let op: Op;
        try {
          op = decodeOp(buf, off, end);
        } catch (err) {
          return bad({ file: f.rel, offset: off, seq: last, reason: (err as Error).message });
        }
        if (seq > chainFrom) {
          res.digest = digestStep(res.digest, buf, off, end);
          if (opts.onOp !== undefined && (after === undefined || seq > after.seq)) opts.onOp(op);
        }
      }
      if (verify && after !== undefined && chainFrom === 0 && seq === after.seq && res.digest !== after.journalDigest) {
        bad({ file: f.rel, offset: off, seq: last, reason: `the snapshot's journalDigest at seq ${seq} does not match the journal's` });
      }
      if (n % INDEX_EVERY === 0) {
        seg.idxSeq.push(seq);
        seg.idxOff.push(off);
      }
      n++;
      last = seq;
      off = end;
    }
    res.records += n;
    seg.lastSeq = last;
    seg.size = off;
  }
  res.headSeq = last;
  if (after !== undefined && last < after.seq && res.segments.length > 0) {
    const s = res.segments[res.segments.length - 1];
    bad({ file: s.rel, offset: s.size, seq: last, reason: `the journal ends at seq ${last} but the snapshot is at seq ${after.seq}` });
  }
  return res;
}

/** fsync a directory, so a file created or renamed in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

function writeAllSync(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length;) {
    const n = writeSync(fd, buf, off, buf.length - off);
    if (!(n > 0)) throw new Error(`short write: ${off} of ${buf.length} bytes written, then none`);
    off += n;
  }
}

/**
 * Creates segment `firstSeq` holding only its header, durably: written, fdatasync'ed,
 * and the directory fsync'ed. Refuses to overwrite an existing file.
 */
export function createSegmentSync(journalDir: string, journalId: Buffer, firstSeq: number): string {
  const path = join(journalDir, segmentName(firstSeq));
  const fd = openSync(path, 'wx');
  try {
    writeAllSync(fd, encodeHeader(journalId, firstSeq));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(journalDir);
  return path;
}

/**
 * Writes `ops` (seq 1, 2, … or continuing `firstSeq`) as a complete journal into
 * `journalDir` (which must exist and be empty), rolling segments at `segmentBytes` the
 * way the live writer does, every file fsync'ed. For migration and test fixtures.
 */
export function writeJournalFiles(journalDir: string, journalId: Buffer, ops: Op[], segmentBytes: number, firstSeq = 1): void {
  let fd = -1;
  let size = 0;
  const closeCur = (): void => {
    if (fd >= 0) { fsyncSync(fd); closeSync(fd); fd = -1; }
  };
  const start = (seq: number): void => {
    closeCur();
    fd = openSync(join(journalDir, segmentName(seq)), 'wx');
    const h = encodeHeader(journalId, seq);
    writeAllSync(fd, h);
    size = h.length;
  };
  try {
    if (ops.length === 0) start(firstSeq);
    for (const op of ops) {
      if (fd < 0 || size >= segmentBytes) start(op.seq);
      const rec = encodeRecord(op, journalId);
      writeAllSync(fd, rec);
      size += rec.length;
    }
  } finally {
    closeCur();
  }
  fsyncDir(journalDir);
}
