/**
 * The journal: round trip, group commit, torn-tail recovery, damage in the middle.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeRecord, Journal, JOURNAL_FILE, JournalCorruptError } from '../../../src/journal/journal.js';
import type { Op } from '../../../src/state/types.js';

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

function op(seq: number, text = `message ${seq}`): Op {
  return { seq, ts: 1_700_000_000_000 + seq, type: 'message.send', kind: 2, from: 'ann', text };
}

/** Opens, reads and closes. */
async function readOps(dir: string): Promise<Op[]> {
  const { journal, ops } = await Journal.open(dir);
  await journal.close();
  return ops;
}

/** FileHandle's prototype (the class is not exported), to spy on write/datasync. */
async function fileHandleProto(dir: string) {
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as {
    write: (buf: Buffer, off?: number, len?: number) => Promise<{ bytesWritten: number; buffer: Buffer }>;
    datasync: () => Promise<void>;
  };
  await probe.close();
  return proto;
}

async function write(dir: string, ops: Op[]): Promise<void> {
  const { journal } = await Journal.open(dir);
  for (const o of ops) await journal.append(o);
  await journal.close();
}

describe('Journal', () => {
  it('round-trips ops through a temp dir, including non-ASCII text', async () => {
    const dir = tempDir();
    const first = await Journal.open(dir);
    expect(first.ops).toEqual([]);
    const ops = [op(1), op(2, 'héllo ✓ \u{1F600}\n'), op(3)];
    for (const o of ops) await first.journal.append(o);
    await first.journal.close();
    const again = await Journal.open(dir);
    expect(again.ops).toEqual(ops);
    expect(again.truncatedBytes).toBe(0);
    await again.journal.append(op(4));
    await again.journal.close();
    expect((await readOps(dir)).map((o) => o.seq)).toEqual([1, 2, 3, 4]);
  });

  it('group commit: 100 concurrent appends share fsyncs, all durable and re-read in order', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    // FileHandle is not exported; take its prototype from a handle.
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(proto, 'datasync');
    const ops = Array.from({ length: 100 }, (_, i) => op(i + 1));
    await Promise.all(ops.map((o) => journal.append(o)));
    expect(datasync.mock.calls.length).toBeGreaterThan(0);
    expect(datasync.mock.calls.length).toBeLessThan(10);
    await journal.close();
    expect(await readOps(dir)).toEqual(ops);
  });

  it('append resolves only after the record is on disk', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    const p = journal.append(op(1));
    expect(statSync(join(dir, JOURNAL_FILE)).size).toBe(0); // nothing written synchronously
    await p;
    expect(statSync(join(dir, JOURNAL_FILE)).size).toBe(encodeRecord(op(1)).length);
    await journal.close();
  });

  it('truncates a torn record at the tail and reports the bytes cut', async () => {
    const dir = tempDir();
    await write(dir, [op(1), op(2)]);
    const file = join(dir, JOURNAL_FILE);
    const good = statSync(file).size;
    const torn = encodeRecord(op(3)).subarray(0, 20);
    appendFileSync(file, torn);
    const { journal, ops, truncatedBytes } = await Journal.open(dir);
    expect(ops.map((o) => o.seq)).toEqual([1, 2]);
    expect(truncatedBytes).toBe(torn.length);
    expect(statSync(file).size).toBe(good);
    await journal.append(op(3));
    await journal.close();
    expect((await readOps(dir)).map((o) => o.seq)).toEqual([1, 2, 3]);
  });

  it('truncates a zero-filled tail (size extended, data never written)', async () => {
    const dir = tempDir();
    await write(dir, [op(1)]);
    appendFileSync(join(dir, JOURNAL_FILE), Buffer.alloc(4096));
    const { ops, truncatedBytes, journal } = await Journal.open(dir);
    await journal.close();
    expect(ops).toHaveLength(1);
    expect(truncatedBytes).toBe(4096);
  });

  it('a flipped byte in a middle record is JournalCorruptError naming its offset', async () => {
    const dir = tempDir();
    const ops = [op(1), op(2), op(3)];
    await write(dir, ops);
    const file = join(dir, JOURNAL_FILE);
    const buf = readFileSync(file);
    const second = encodeRecord(ops[0]).length; // offset of record 2
    buf[second + 20] ^= 0x01;
    writeFileSync(file, buf);
    const err = await Journal.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalCorruptError);
    expect((err as JournalCorruptError).offset).toBe(second);
    expect((err as Error).message).toContain(`byte ${second}`);
    expect(readFileSync(file)).toEqual(buf); // nothing was cut
  });

  it('a damaged length field in the middle is corruption, not a torn tail', async () => {
    const dir = tempDir();
    const ops = [op(1), op(2), op(3)];
    await write(dir, ops);
    const file = join(dir, JOURNAL_FILE);
    const buf = readFileSync(file);
    const second = encodeRecord(ops[0]).length;
    buf[second] = 0x7f; // length now runs far past the end of the file
    writeFileSync(file, buf);
    const err = await Journal.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalCorruptError);
    expect((err as JournalCorruptError).offset).toBe(second);
    expect(statSync(file).size).toBe(buf.length);
  });

  it('a short write is continued: the append resolves only once the whole record is written', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    const proto = await fileHandleProto(dir);
    const real = proto.write;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let calls = 0;
    // First call: write only half of what was asked. Later calls wait for the gate.
    vi.spyOn(proto, 'write').mockImplementation(async function (this: unknown, buf: Buffer, off = 0, len = buf.length - off) {
      calls++;
      if (calls === 1) return real.call(this, buf, off, Math.floor(len / 2));
      await gate;
      return real.call(this, buf, off, len);
    });
    const rec = encodeRecord(op(1, 'x'.repeat(1000)));
    let resolved = false;
    const p = journal.append(op(1, 'x'.repeat(1000))).then(() => { resolved = true; });
    for (let t = 0; calls < 2 && !resolved && t < 2000; t++) await new Promise((r) => setTimeout(r, 1));
    expect(statSync(join(dir, JOURNAL_FILE)).size).toBe(Math.floor(rec.length / 2));
    expect(resolved).toBe(false); // half a record is not durable
    release();
    await p;
    expect(statSync(join(dir, JOURNAL_FILE)).size).toBe(rec.length);
    vi.restoreAllMocks();
    await journal.close();
    expect(await readOps(dir)).toEqual([op(1, 'x'.repeat(1000))]);
  });

  it('a write that writes nothing is a journal failure, not an endless loop or a false ack', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    const proto = await fileHandleProto(dir);
    vi.spyOn(proto, 'write').mockImplementation(async (buf: Buffer) => ({ bytesWritten: 0, buffer: buf }));
    await expect(journal.append(op(1))).rejects.toThrow(/journal write failed: short write: 0 of \d+ bytes/);
    await expect(journal.append(op(2))).rejects.toThrow(/journal write failed/);
    vi.restoreAllMocks();
    await journal.close();
  });

  it('ENOSPC on write rejects every waiting append, those queued behind the batch and every later one', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    await journal.append(op(1));
    const proto = await fileHandleProto(dir);
    let fail!: () => void;
    const gate = new Promise<void>((r) => { fail = r; });
    let writing = false;
    vi.spyOn(proto, 'write').mockImplementation(async () => {
      writing = true;
      await gate;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    const first = [journal.append(op(2)), journal.append(op(3))].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    while (!writing) await new Promise((r) => setTimeout(r, 1));
    // Queued while the failing batch is being written: they ride on the next batch.
    const queued = [journal.append(op(4)), journal.append(op(5))].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    fail();
    for (const r of await Promise.all([...first, ...queued])) expect(r).toMatch(/^journal write failed: ENOSPC/);
    await expect(journal.append(op(6))).rejects.toThrow(/journal write failed: ENOSPC/);
    vi.restoreAllMocks();
    await journal.close(); // closing a failed journal still works
    expect((await readOps(dir)).map((o) => o.seq)).toEqual([1]);
  });

  it('EIO on fdatasync fails the journal the same way', async () => {
    const dir = tempDir();
    const { journal } = await Journal.open(dir);
    const proto = await fileHandleProto(dir);
    vi.spyOn(proto, 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const results = await Promise.allSettled([journal.append(op(1)), journal.append(op(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(journal.append(op(3))).rejects.toThrow(/journal write failed: EIO/);
    vi.restoreAllMocks();
    await journal.close();
  });

  it('a gap in the sequence is corruption', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, JOURNAL_FILE), Buffer.concat([encodeRecord(op(1)), encodeRecord(op(3))]));
    await expect(Journal.open(dir)).rejects.toThrow(/sequence 3, expected 2/);
  });
});
