/**
 * One-time conversion of the v0 journal (DIR/journal.log: u32 length, u32 IEEE CRC-32
 * of the body, body = u64 seq + the op as JSON) into segment files.
 *
 * Contract of migrateV0(): when DIR/journal.log exists and DIR/journal/ does not, every
 * v0 op is read (a torn tail is dropped, damage elsewhere throws JournalCorruptError
 * naming journal.log), written as a new journal with a fresh id into
 * DIR/journal.migrating/, fsync'ed, renamed to DIR/journal/, and only then is
 * journal.log renamed to journal.log.v0-migrated. A crash at any point leaves either
 * the v0 file in charge (the half-written journal.migrating/ is removed and the
 * conversion redone) or the new journal complete (the rename of journal.log is
 * finished). Returns the warnings to log.
 */
import { existsSync, readFileSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Op } from '../state/types.js';
import { fsyncDir, JOURNAL_DIR, JournalCorruptError, writeJournalFiles } from './segments.js';

export const V0_FILE = 'journal.log';
export const V0_MIGRATED = 'journal.log.v0-migrated';
const MIGRATING_DIR = 'journal.migrating';

function v0ValidAt(buf: Buffer, off: number): boolean {
  if (off + 8 > buf.length) return false;
  const len = buf.readUInt32BE(off);
  if (len < 9 || off + 8 + len > buf.length) return false;
  return crc32(buf.subarray(off + 8, off + 8 + len)) === buf.readUInt32BE(off + 4);
}

/** Parses a v0 journal image: its ops and the bytes of a torn tail left out. */
export function parseV0(buf: Buffer, dataDir: string): { ops: Op[]; tornBytes: number } {
  const ops: Op[] = [];
  const bad = (off: number, reason: string): never => {
    throw new JournalCorruptError({ file: V0_FILE, offset: off, seq: ops.length, reason }, dataDir);
  };
  let off = 0;
  while (off < buf.length) {
    if (!v0ValidAt(buf, off)) {
      // Same torn-tail rule as the segments: nothing valid may follow the damage.
      for (let p = off + 1; p < buf.length; p++) if (v0ValidAt(buf, p)) bad(off, 'checksum mismatch or bad length');
      return { ops, tornBytes: buf.length - off };
    }
    const len = buf.readUInt32BE(off);
    const body = buf.subarray(off + 8, off + 8 + len);
    const seq = Number(body.readBigUInt64BE(0));
    let op: Op;
    try {
      op = JSON.parse(body.toString('utf8', 8)) as Op;
    } catch {
      return bad(off, 'record body is not valid JSON');
    }
    if (seq !== ops.length + 1 || op.seq !== seq) bad(off, `sequence ${seq}, expected ${ops.length + 1}`);
    ops.push(op);
    off += 8 + len;
  }
  return { ops, tornBytes: 0 };
}

/** See the contract at the top of the file. */
export function migrateV0(dataDir: string, segmentBytes: number): string[] {
  const v0 = join(dataDir, V0_FILE);
  const target = join(dataDir, JOURNAL_DIR);
  const tmp = join(dataDir, MIGRATING_DIR);
  if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
  if (!existsSync(v0)) return [];
  if (existsSync(target)) {
    // A crash came between the two renames: the new journal is complete.
    renameSync(v0, join(dataDir, V0_MIGRATED));
    fsyncDir(dataDir);
    return [`finished an interrupted conversion of ${V0_FILE}: renamed it to ${V0_MIGRATED}`];
  }
  const { ops, tornBytes } = parseV0(readFileSync(v0), dataDir);
  mkdirSync(tmp);
  writeJournalFiles(tmp, randomBytes(16), ops, segmentBytes);
  renameSync(tmp, target);
  fsyncDir(dataDir);
  renameSync(v0, join(dataDir, V0_MIGRATED));
  fsyncDir(dataDir);
  const warnings = [`converted the v0 journal ${V0_FILE} (${ops.length} records) to segment files in ${JOURNAL_DIR}/; the old file is kept as ${V0_MIGRATED}`];
  if (tornBytes > 0) warnings.push(`${V0_FILE} had a torn record at its tail: ${tornBytes} bytes left out of the conversion`);
  return warnings;
}
