/**
 * The local segment-file journal: the conformance suite, then what is specific to
 * files — the exact layout, short writes, write/fsync failures, torn headers, missing
 * or foreign segments, the v0 conversion and the lock-free offline reader.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { crc32c } from '../../../src/journal/crc32c.js';
import { encodeHeader, encodeRecord } from '../../../src/journal/format.js';
import { Journal, JournalCorruptError, JournalRangeError, listSegments, readJournalDir } from '../../../src/journal/journal.js';
import type { Op } from '../../../src/state/types.js';
import { verifyDataDir } from '../../../src/journal/verify.js';
import { collect, journalConformance, op } from './conformance.js';

/** FileHandle's prototype (the class is not exported), to spy on write/datasync. */
async function fileHandleProto() {
  const path = join(tmpdir(), `chat-fh-probe-${process.pid}`);
  const probe = await open(path, 'w');
  const proto = Object.getPrototypeOf(probe) as {
    write: (buf: Buffer, off?: number, len?: number) => Promise<{ bytesWritten: number; buffer: Buffer }>;
    datasync: () => Promise<void>;
  };
  await probe.close();
  rmSync(path, { force: true });
  return proto;
}

journalConformance({
  name: 'local segment files',
  open: (dir, opts) => Journal.open(dir, opts),
  files: (dir) => listSegments(dir).map((s) => s.path),
  async countSyncs() {
    const spy = vi.spyOn(await fileHandleProto(), 'datasync');
    return { count: () => spy.mock.calls.length, stop: () => spy.mockRestore() };
  },
});

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'chat-journal-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function write(dir: string, ops: Op[], segmentBytes?: number): Promise<string> {
  const { journal } = await Journal.open(dir, { segmentBytes });
  for (const o of ops) await journal.append(o);
  await journal.close();
  return journal.journalId;
}
const ops = (n: number): Op[] => Array.from({ length: n }, (_, i) => op(i + 1));
const seg = (dir: string, i: number): string => listSegments(dir)[i].path;

async function corrupt(dir: string): Promise<JournalCorruptError> {
  const err = await Journal.open(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(JournalCorruptError);
  return err as JournalCorruptError;
}

describe('segment file layout (docs/STORAGE.md)', () => {
  it('DIR/journal/<firstSeq, 20 digits>.seg: 48-byte header, then records framed as documented', async () => {
    const dir = tempDir();
    const id = await write(dir, [op(1, 'hi')]);
    expect(listSegments(dir).map((s) => s.rel)).toEqual(['journal/00000000000000000001.seg']);
    const buf = readFileSync(seg(dir, 0));
    expect(buf.toString('latin1', 0, 8)).toBe('CHATJRN1');
    expect(buf.readUInt16BE(8)).toBe(1);
    expect(buf.readUInt16BE(10)).toBe(48);
    expect(buf.toString('hex', 12, 28)).toBe(id);
    expect(buf.readBigUInt64BE(28)).toBe(1n);
    expect(buf.subarray(36, 44)).toEqual(Buffer.alloc(8));
    expect(buf.readUInt32BE(44)).toBe(crc32c(buf, 0, 44));
    const len = buf.readUInt32BE(48);
    expect(48 + 8 + len).toBe(buf.length);
    const body = buf.subarray(56);
    expect(buf.readUInt32BE(52)).toBe(crc32c(body));
    expect(body.readBigUInt64BE(0)).toBe(1n);
    expect(body.toString('hex', 8, 24)).toBe(id);
    expect(body.readBigUInt64BE(24)).toBe(BigInt(op(1).ts));
    expect(body[32]).toBe(13); // message.send
    expect(JSON.parse(body.toString('utf8', 33))).toEqual({ kind: 0, from: 'ann', group: 'dev', text: 'hi' });
  });
});

describe('local journal: writes and failures', () => {
  it('nothing reaches the file synchronously; the append resolves once the record is in it', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    const p = journal.append(op(1));
    expect(statSync(seg(dir, 0)).size).toBe(48);
    await p;
    expect(statSync(seg(dir, 0)).size).toBe(48 + encodeRecord(op(1), Buffer.from(journal.journalId, 'hex')).length);
    await journal.close();
  });

  it('a short write is continued: the append resolves only once the whole record is written', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    const proto = await fileHandleProto();
    const real = proto.write;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let calls = 0;
    vi.spyOn(proto, 'write').mockImplementation(async function (this: unknown, buf: Buffer, off = 0, len = buf.length - off) {
      calls++;
      if (calls === 1) return real.call(this, buf, off, Math.floor(len / 2));
      await gate;
      return real.call(this, buf, off, len);
    });
    const o = op(1, 'x'.repeat(1000));
    const recLen = encodeRecord(o, Buffer.from(journal.journalId, 'hex')).length;
    let resolved = false;
    const p = journal.append(o).then(() => { resolved = true; });
    for (let t = 0; calls < 2 && t < 2000; t++) await new Promise((r) => setTimeout(r, 1));
    expect(statSync(seg(dir, 0)).size).toBe(48 + Math.floor(recLen / 2));
    expect(resolved).toBe(false); // half a record is not durable
    expect(journal.durableSeq).toBe(0);
    release();
    await p;
    expect(statSync(seg(dir, 0)).size).toBe(48 + recLen);
    vi.restoreAllMocks();
    await journal.close();
    expect((await Journal.open(dir)).ops).toEqual([o]);
  });

  it('a write that writes nothing is a journal failure, not an endless loop or a false ack', async () => {
    const { journal } = await Journal.open(tempDir());
    vi.spyOn(await fileHandleProto(), 'write').mockImplementation(async (buf: Buffer) => ({ bytesWritten: 0, buffer: buf }));
    await expect(journal.append(op(1))).rejects.toThrow(/journal write failed: short write: 0 of \d+ bytes/);
    await expect(journal.append(op(2))).rejects.toThrow(/journal write failed/);
    vi.restoreAllMocks();
    await journal.close();
  });

  it('ENOSPC rejects every waiting append, those queued behind the batch and every later one', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    await journal.append(op(1));
    let fail!: () => void;
    const gate = new Promise<void>((r) => { fail = r; });
    let writing = false;
    vi.spyOn(await fileHandleProto(), 'write').mockImplementation(async () => {
      writing = true;
      await gate;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    const first = [journal.append(op(2)), journal.append(op(3))].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    while (!writing) await new Promise((r) => setTimeout(r, 1));
    const queued = [journal.append(op(4)), journal.append(op(5))].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    fail();
    for (const r of await Promise.all([...first, ...queued])) expect(r).toMatch(/^journal write failed: ENOSPC/);
    await expect(journal.append(op(6))).rejects.toThrow(/journal write failed: ENOSPC/);
    expect(journal.durableSeq).toBe(1);
    vi.restoreAllMocks();
    await journal.close();
    expect((await Journal.open(dir)).ops.map((o) => o.seq)).toEqual([1]);
  });

  it('EIO on fdatasync fails the journal the same way', async () => {
    const { journal } = await Journal.open(tempDir());
    vi.spyOn(await fileHandleProto(), 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const results = await Promise.allSettled([journal.append(op(1)), journal.append(op(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(journal.append(op(3))).rejects.toThrow(/journal write failed: EIO/);
    vi.restoreAllMocks();
    await journal.close();
  });
});

describe('local journal: damage and repair at open', () => {
  it('truncates a zero-filled tail (size extended, data never written)', async () => {
    const dir = tempDir();
    await write(dir, ops(2));
    appendFileSync(seg(dir, 0), Buffer.alloc(4096));
    const r = await Journal.open(dir);
    await r.journal.close();
    expect(r.ops).toHaveLength(2);
    expect(r.truncated).toMatchObject({ file: 'journal/00000000000000000001.seg', bytes: 4096 });
  });

  it('a flipped byte names the segment, offset and last good seq in one line', async () => {
    const dir = tempDir();
    await write(dir, ops(3));
    const buf = readFileSync(seg(dir, 0));
    const second = 48 + buf.readUInt32BE(48) + 8;
    buf[second + 20] ^= 0x01;
    writeFileSync(seg(dir, 0), buf);
    const err = await corrupt(dir);
    expect(err.message).toBe(`journal damaged: journal/00000000000000000001.seg at byte ${second} (after seq 1): checksum mismatch; run: chat-server verify --data ${dir}`);
    expect([err.file, err.offset, err.seq]).toEqual(['journal/00000000000000000001.seg', second, 1]);
    expect(readFileSync(seg(dir, 0))).toEqual(buf); // nothing was cut
  });

  it('a damaged length field in the middle is corruption, not a torn tail', async () => {
    const dir = tempDir();
    await write(dir, ops(3));
    const buf = readFileSync(seg(dir, 0));
    const second = 48 + buf.readUInt32BE(48) + 8;
    buf[second] = 0x7f;
    writeFileSync(seg(dir, 0), buf);
    expect((await corrupt(dir)).offset).toBe(second);
  });

  it('damage at the end of a segment that is not the last is corruption', async () => {
    const dir = tempDir();
    await write(dir, ops(20), 300);
    const file = seg(dir, 0);
    const buf = readFileSync(file);
    writeFileSync(file, buf.subarray(0, buf.length - 3));
    const err = await corrupt(dir);
    expect(err.file).toBe('journal/00000000000000000001.seg');
  });

  it('a missing middle segment names the missing seqs and the segments around it', async () => {
    const dir = tempDir();
    await write(dir, ops(20), 300);
    const segs = listSegments(dir);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    unlinkSync(segs[1].path);
    const err = await corrupt(dir);
    expect(err.message).toContain(`records ${segs[1].firstSeq}..${segs[2].firstSeq - 1} are missing: ${segs[0].rel} ends at seq ${segs[1].firstSeq - 1} and ${segs[2].rel} starts at seq ${segs[2].firstSeq}`);
    expect(err.file).toBe(segs[2].rel);
  });

  it('a first segment that does not start at seq 1 is corruption', async () => {
    const dir = tempDir();
    await write(dir, ops(20), 300);
    const segs = listSegments(dir);
    unlinkSync(segs[0].path);
    expect((await corrupt(dir)).message).toContain(`records 1..${segs[1].firstSeq - 1} are missing: the first segment ${segs[1].rel}`);
  });

  it('a segment of another journal is corruption', async () => {
    const dir = tempDir();
    await write(dir, ops(2));
    const other = tempDir();
    await write(other, ops(1));
    const otherId = Buffer.from(readFileSync(seg(other, 0)).subarray(12, 28));
    writeFileSync(join(dir, 'journal', '00000000000000000003.seg'), encodeHeader(otherId, 3));
    expect((await corrupt(dir)).message).toMatch(/00000000000000000003\.seg at byte 12 \(after seq 2\): segment belongs to another journal/);
  });

  it('a well-formed record carrying another journal id, or an unknown op code, is corruption', async () => {
    const dir = tempDir();
    const id = Buffer.from(await write(dir, ops(1)), 'hex');
    const foreign = encodeRecord(op(2), Buffer.alloc(16, 7));
    appendFileSync(seg(dir, 0), Buffer.concat([foreign, encodeRecord(op(3), id)]));
    expect((await corrupt(dir)).reason).toMatch(/^record belongs to another journal \(id 0707/);

    const d2 = tempDir();
    const id2 = Buffer.from(await write(d2, ops(1)), 'hex');
    const rec = encodeRecord(op(2), id2);
    rec[40] = 99;
    rec.writeUInt32BE(crc32c(rec, 8), 4);
    appendFileSync(seg(d2, 0), rec);
    expect((await corrupt(d2)).reason).toBe('unknown op type code 99 in seq 2');
  });

  it('removes a last segment whose header is torn (a crash during a roll), with a warning', async () => {
    const dir = tempDir();
    await write(dir, ops(3));
    const torn = join(dir, 'journal', '00000000000000000004.seg');
    writeFileSync(torn, encodeHeader(Buffer.alloc(16), 4).subarray(0, 30));
    const r = await Journal.open(dir);
    expect(r.ops).toHaveLength(3);
    expect(r.warnings).toEqual(['removed journal/00000000000000000004.seg: its header was torn (30 bytes) and it held no record, a crash while starting a segment']);
    expect(existsSync(torn)).toBe(false);
    await r.journal.append(op(4));
    await r.journal.close();
    expect((await Journal.open(dir)).ops).toHaveLength(4);
  });

  it('read() from before the oldest kept segment is a clear JournalRangeError', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir, { segmentBytes: 300 });
    for (let s = 1; s <= 20; s++) await journal.append(op(s));
    const after = { seq: 20, journalId: journal.journalId, journalDigest: journal.digest };
    await journal.close();
    unlinkSync(seg(dir, 0)); // retention removed it: the snapshot covers it
    const r = await Journal.open(dir, { segmentBytes: 300, after });
    expect(r.ops).toEqual([]);
    const oldest = listSegments(dir)[0].firstSeq;
    expect(() => r.journal.read(0)).toThrow(JournalRangeError);
    expect(() => r.journal.read(0)).toThrow(`records after seq 0 are no longer in the journal: the oldest kept segment starts at seq ${oldest}`);
    expect(await collect(r.journal.read(oldest - 1))).toEqual(Array.from({ length: 21 - oldest }, (_, i) => oldest + i));
    await r.journal.close();
  });
});

describe('replay without collecting', () => {
  it('open and readJournalDir hand each op to onOp in order as they read, and collect none', async () => {
    const dir = tempDir();
    await write(dir, ops(30), 400);
    const seen: number[] = [];
    const r = await Journal.open(dir, { segmentBytes: 400, onOp: (o) => seen.push(o.seq) });
    expect([seen, r.ops]).toEqual([ops(30).map((o) => o.seq), []]);
    await r.journal.close();
    const offline: Op[] = [];
    expect(readJournalDir(dir, { onOp: (o) => offline.push(o) }).ops).toEqual([]);
    expect(offline).toEqual(ops(30));
    // An op the caller cannot take ends open() with its error, before anything is changed.
    await expect(Journal.open(dir, { onOp: (o) => { if (o.seq === 7) throw new Error('refused seq 7'); } })).rejects.toThrow('refused seq 7');
  });
});

describe('a snapshot without its journal', () => {
  it('start-up, the offline reader and verify all refuse a journal dir with no segment when a snapshot needs the records after it', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    for (let s = 1; s <= 5; s++) await journal.append(op(s));
    const after = { seq: 3, journalId: journal.journalId, journalDigest: 'ab'.repeat(32) };
    await journal.close();
    rmSync(join(dir, 'journal'), { recursive: true }); // seqs 4 and 5 were only there
    const err = await Journal.open(dir, { after }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalCorruptError);
    expect((err as Error).message).toMatch(/no journal segment, but the snapshot at seq 3 needs the records after it/);
    expect(existsSync(join(dir, 'journal'))).toBe(false); // nothing was created in its place
    expect(() => readJournalDir(dir, { after })).toThrow(JournalCorruptError);
    const v = await verifyDataDir(dir, { after });
    expect(!v.ok && v.problem.reason).toMatch(/no journal segment/);
  });
});

describe('readers and retention', () => {
  it('a follower inside a segment that retention removes carries on from the next kept record, or gets JournalRangeError once it has fallen behind', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir, { segmentBytes: 300 });
    for (let s = 1; s <= 30; s++) await journal.append(op(s));
    const segs = listSegments(dir);
    expect(segs.length).toBeGreaterThanOrEqual(4);
    const ac = new AbortController();
    const follower = journal.follow(0, ac.signal)[Symbol.asyncIterator]();
    const seen: number[] = [];
    for (let k = 0; k < 2; k++) seen.push((await follower.next()).value.seq);
    // Remove the segment it is reading (it has read seq 2; seq 3.. are kept or not).
    const through = segs[1].firstSeq - 1;
    journal.removeSegmentsThrough(through);
    expect(listSegments(dir)[0].firstSeq).toBe(segs[1].firstSeq);
    while (seen.at(-1)! < 30) seen.push((await follower.next()).value.seq);
    // Records of the removed segment already in the reader's chunk are still handed out;
    // none is repeated and none skipped.
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    ac.abort();
    await follower.return?.(undefined);

    const lagging = journal.read(segs[2].firstSeq - 2)[Symbol.asyncIterator]();
    expect((await lagging.next()).value.seq).toBe(segs[2].firstSeq - 1);
    journal.removeSegmentsThrough(segs[3].firstSeq - 1); // the records it needs next are gone
    await expect((async () => { for (;;) if ((await lagging.next()).done) return; })()).rejects.toThrow(JournalRangeError);
    await journal.close();
  });

  it('followers aborted while waiting leave nothing behind in the journal', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    await journal.append(op(1));
    for (let k = 0; k < 50; k++) {
      const ac = new AbortController();
      const it = journal.follow(1, ac.signal)[Symbol.asyncIterator]();
      const next = it.next();
      await new Promise((r) => setImmediate(r));
      ac.abort();
      expect((await next).done).toBe(true);
    }
    expect((journal as unknown as { wakeups: unknown[] }).wakeups).toHaveLength(0);
    await journal.close();
  });
});

describe('v0 journal.log conversion', () => {
  function v0(o: Op): Buffer {
    const json = Buffer.from(JSON.stringify(o), 'utf8');
    const rec = Buffer.allocUnsafe(16 + json.length);
    rec.writeUInt32BE(8 + json.length, 0);
    rec.writeBigUInt64BE(BigInt(o.seq), 8);
    json.copy(rec, 16);
    rec.writeUInt32BE(crc32(rec.subarray(8)), 4);
    return rec;
  }

  it('converts once: same ops, a fresh id, journal.log kept as journal.log.v0-migrated, a torn v0 tail left out', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'journal.log'), Buffer.concat([...ops(3).map(v0), v0(op(4)).subarray(0, 10)]));
    const r = await Journal.open(dir);
    expect(r.ops).toEqual(ops(3));
    expect(r.warnings).toEqual([
      'converted the v0 journal journal.log (3 records) to segment files in journal/; the old file is kept as journal.log.v0-migrated',
      'journal.log had a torn record at its tail: 10 bytes left out of the conversion',
    ]);
    expect(existsSync(join(dir, 'journal.log'))).toBe(false);
    expect(existsSync(join(dir, 'journal.log.v0-migrated'))).toBe(true);
    await r.journal.append(op(4));
    await r.journal.close();
    const again = await Journal.open(dir);
    expect(again.ops).toEqual(ops(4));
    expect(again.warnings).toEqual([]);
    await again.journal.close();
  });

  it('a conversion cut short by a crash is redone from journal.log', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'journal.log'), Buffer.concat(ops(2).map(v0)));
    mkdirSync(join(dir, 'journal.migrating'));
    writeFileSync(join(dir, 'journal.migrating', '00000000000000000001.seg'), 'half');
    const r = await Journal.open(dir);
    expect(r.ops).toEqual(ops(2));
    expect(existsSync(join(dir, 'journal.migrating'))).toBe(false);
    await r.journal.close();
  });

  it('damage in the middle of journal.log stops the conversion naming journal.log', async () => {
    const dir = tempDir();
    const buf = Buffer.concat(ops(3).map(v0));
    const second = v0(op(1)).length;
    buf[second + 12] ^= 0xff;
    writeFileSync(join(dir, 'journal.log'), buf);
    const err = await corrupt(dir);
    expect(err.message).toMatch(new RegExp(`^journal damaged: journal.log at byte ${second} \\(after seq 1\\)`));
    expect(existsSync(join(dir, 'journal'))).toBe(false);
  });
});

describe('readJournalDir (offline, no lock)', () => {
  it('reads beside an open journal, never truncates, and reports a torn tail as the end of the read', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir, { segmentBytes: 300 });
    for (let s = 1; s <= 10; s++) await journal.append(op(s));
    const last = listSegments(dir).at(-1)!.path;
    appendFileSync(last, Buffer.from([0, 0, 1, 0, 9]));
    const size = statSync(last).size;
    const r = readJournalDir(dir);
    expect(r).toMatchObject({ journalId: journal.journalId, headSeq: 10, journalDigest: journal.digest, tail: { bytes: 5 } });
    expect(r.ops).toEqual(ops(10));
    expect(statSync(last).size).toBe(size);
    await journal.close();
  });

  it('an empty dir has no journal: CHAT_ERR_NOT_FOUND', () => {
    expect(() => readJournalDir(tempDir())).toThrow(/no journal in/);
  });
});
