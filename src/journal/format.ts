/**
 * The journal's on-disk format (docs/STORAGE.md "Journal"): segment headers, records,
 * the op type code table and the journalDigest chain. PURE: no I/O.
 *
 * All integers are big-endian.
 *   Segment header (48 bytes):
 *     0 "CHATJRN1" | 8 u16 version (1) | 10 u16 header length (48) | 12 journal id (16)
 *     | 28 u64 firstSeq | 36 reserved zeros (8) | 44 u32 CRC-32C of bytes 0..44
 *   Record:
 *     0 u32 bodyLength | 4 u32 CRC-32C(body) | 8 body:
 *       u64 seq | journal id (16) | u64 ts | u8 op type code | payload: UTF-8 JSON of
 *       the op without seq, ts and type
 */
import * as nodeCrypto from 'node:crypto';
import { ZERO_DIGEST, type Op, type OpType } from '../state/types.js';
import { crc32c } from './crc32c.js';

export const MAGIC = Buffer.from('CHATJRN1', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 48;
/** bodyLength + CRC in front of every body. */
export const RECORD_HEAD = 8;
/** seq + journal id + ts + type code. */
export const BODY_FIXED = 8 + 16 + 8 + 1;
/** Smallest valid body: the fixed part and the payload "{}". */
export const MIN_BODY = BODY_FIXED + 2;
export const ID_BYTES = 16;
/** Bodies over this are damage, not records: no op comes near it (frame limits are far lower). */
export const MAX_BODY = 64 * 1024 * 1024;
/** journalDigest of an empty journal: 64 zeros (the same constant as the state's chains). */
export { ZERO_DIGEST };

/**
 * The stable op type codes. A code, once shipped, never changes meaning; new op types
 * (the drive's file ops) take new numbers.
 */
export const OP_CODES: Readonly<Record<OpType, number>> = {
  'user.create': 1,
  'user.passwd': 2,
  'user.rename': 3,
  'session.create': 4,
  'session.revoke': 5,
  'group.create': 6,
  'group.join': 7,
  'group.leave': 8,
  'group.invite': 9,
  'group.kick': 10,
  'group.delete': 11,
  'group.role': 12,
  'message.send': 13,
  'file.put': 14,
  'file.rm': 15,
};
const TYPE_BY_CODE = new Map<number, OpType>(Object.entries(OP_CODES).map(([t, c]) => [c, t as OpType]));

/** Name of the segment file whose first record has seq `firstSeq`: 20 zero-padded digits. */
export function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}
export const SEGMENT_NAME = /^(\d{20})\.seg$/;

/**
 * u64 fields hold safe integers (seqs, ms timestamps): two u32 writes, which cost a
 * fraction of BigInt conversions on the append path.
 */
function writeU64(buf: Buffer, v: number, off: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), off);
  buf.writeUInt32BE(v >>> 0, off + 4);
}

/** Reads a u64 as a number; values past 2^53 lose precision (they are damage anyway). */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * 0x1_0000_0000 + buf.readUInt32BE(off + 4);
}

export function encodeHeader(journalId: Buffer, firstSeq: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt16BE(FORMAT_VERSION, 8);
  h.writeUInt16BE(HEADER_BYTES, 10);
  journalId.copy(h, 12);
  writeU64(h, firstSeq, 28);
  h.writeUInt32BE(crc32c(h, 0, 44), 44);
  return h;
}

export type HeaderResult = { ok: true; journalId: Buffer; firstSeq: number } | { ok: false; reason: string };

/** Checks a segment header; `reason` says what is wrong. */
export function decodeHeader(buf: Buffer): HeaderResult {
  if (buf.length < HEADER_BYTES) return { ok: false, reason: `segment header is cut short (${buf.length} of ${HEADER_BYTES} bytes)` };
  if (!buf.subarray(0, 8).equals(MAGIC)) return { ok: false, reason: 'not a journal segment (bad magic)' };
  if (crc32c(buf, 0, 44) !== buf.readUInt32BE(44)) return { ok: false, reason: 'segment header checksum mismatch' };
  const version = buf.readUInt16BE(8);
  if (version !== FORMAT_VERSION) return { ok: false, reason: `segment format version ${version} is not supported (this program reads ${FORMAT_VERSION})` };
  if (buf.readUInt16BE(10) !== HEADER_BYTES) return { ok: false, reason: `segment header length ${buf.readUInt16BE(10)}, expected ${HEADER_BYTES}` };
  return { ok: true, journalId: Buffer.from(buf.subarray(12, 28)), firstSeq: readU64(buf, 28) };
}

/**
 * Encodes one record (one Buffer: the append path allocates nothing else but the JSON
 * string). `op.seq` must be a safe integer.
 */
export function encodeRecord(op: Op, journalId: Buffer): Buffer {
  const { seq, ts, type, ...rest } = op;
  const code = OP_CODES[type];
  if (code === undefined) throw new Error(`op type ${String(type)} has no journal code (add it to OP_CODES)`);
  const json = JSON.stringify(rest);
  const payloadLen = Buffer.byteLength(json, 'utf8');
  const bodyLen = BODY_FIXED + payloadLen;
  const rec = Buffer.allocUnsafe(RECORD_HEAD + bodyLen);
  rec.writeUInt32BE(bodyLen, 0);
  writeU64(rec, seq, 8);
  journalId.copy(rec, 16);
  writeU64(rec, ts, 32);
  rec[40] = code;
  rec.write(json, 41, payloadLen, 'utf8');
  rec.writeUInt32BE(crc32c(rec, RECORD_HEAD), 4);
  return rec;
}

/** True when a record whose length fits and whose CRC matches starts at `off`. */
export function validRecordAt(buf: Buffer, off: number): boolean {
  if (off + RECORD_HEAD > buf.length) return false;
  const len = buf.readUInt32BE(off);
  if (len < MIN_BODY || len > MAX_BODY || off + RECORD_HEAD + len > buf.length) return false;
  return crc32c(buf, off + RECORD_HEAD, off + RECORD_HEAD + len) === buf.readUInt32BE(off + 4);
}

export type FrameResult =
  | { ok: true; seq: number; end: number }
  | { ok: false; reason: string };

/**
 * Checks the record framed at `off` (length inside the buffer, CRC) and returns its seq
 * and where it ends. It does not decode the op (decodeOp does): a reader that only
 * forwards bytes need not parse JSON.
 */
export function frameAt(buf: Buffer, off: number): FrameResult {
  if (off + RECORD_HEAD > buf.length) return { ok: false, reason: 'record header is cut short' };
  const len = buf.readUInt32BE(off);
  if (len < MIN_BODY || len > MAX_BODY) return { ok: false, reason: `record length ${len} is impossible` };
  const end = off + RECORD_HEAD + len;
  if (end > buf.length) return { ok: false, reason: `record length ${len} runs past the end of the file` };
  if (crc32c(buf, off + RECORD_HEAD, end) !== buf.readUInt32BE(off + 4)) return { ok: false, reason: 'checksum mismatch' };
  return { ok: true, seq: readU64(buf, off + 8), end };
}

/** The journal id carried by the framed record at `off`. */
export function recordIdEquals(buf: Buffer, off: number, journalId: Buffer): boolean {
  return buf.compare(journalId, 0, ID_BYTES, off + 16, off + 32) === 0;
}

/**
 * Decodes the op of a framed record (frameAt said ok). Throws Error with a reason
 * (unknown type code, payload not JSON) that callers turn into JournalCorruptError.
 */
export function decodeOp(buf: Buffer, off: number, end: number): Op {
  const seq = readU64(buf, off + 8);
  const ts = readU64(buf, off + 32);
  const code = buf[off + 40];
  const type = TYPE_BY_CODE.get(code);
  if (type === undefined) throw new Error(`unknown op type code ${code} in seq ${seq}`);
  let payload: unknown;
  try {
    payload = JSON.parse(buf.toString('utf8', off + 41, end));
  } catch {
    throw new Error(`payload of seq ${seq} is not valid JSON`);
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new Error(`payload of seq ${seq} is not a JSON object`);
  // Same key order as Engine.commit builds ({ ...data, seq, ts }).
  return { type, ...(payload as object), seq, ts } as Op;
}

/**
 * One step of the journalDigest chain: sha256 hex of the previous digest (its 64 ASCII
 * hex characters) followed by the record body without its journal id, so two journals
 * holding the same records under different ids have the same digest.
 * `rec` is a whole encoded record starting at `off` and ending at `end`.
 */
export function digestStep(prev: string, rec: Buffer, off: number, end: number): string {
  // One buffer and the one-shot crypto.hash (Node ≥ 20.12): about half the cost of a
  // Hash object with three updates, paid once per appended record.
  const n = 64 + 8 + (end - off - RECORD_HEAD - 8 - ID_BYTES);
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  scratch.write(prev, 0, 64, 'latin1');
  rec.copy(scratch, 64, off + RECORD_HEAD, off + RECORD_HEAD + 8);
  rec.copy(scratch, 72, off + RECORD_HEAD + 8 + ID_BYTES, end);
  const data = scratch.subarray(0, n);
  return oneShot !== undefined ? oneShot('sha256', data, 'hex') : nodeCrypto.createHash('sha256').update(data).digest('hex');
}
let scratch = Buffer.allocUnsafe(4096);
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Buffer, enc: 'hex') => string }).hash;

export function idHex(id: Buffer): string {
  return id.toString('hex');
}
