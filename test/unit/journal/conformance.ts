/**
 * The journal conformance suite (STYLE habit 7): what every journal backend promises,
 * run by each backend's test file with a factory. The local segment-file journal runs
 * it in journal.test.ts.
 *
 * Damage tests need to reach the stored bytes, so a backend exposes its files.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Journal, JournalOptions, JournalRecord, OpenResult } from '../../../src/journal/journal.js';
import type { Op } from '../../../src/state/types.js';

export interface JournalBackend {
  name: string;
  open(dir: string, opts?: JournalOptions): Promise<OpenResult>;
  /** The files that hold the journal's records, oldest first. */
  files(dir: string): string[];
  /** Starts counting durability syncs (fdatasync) made by journals of this backend. */
  countSyncs(): Promise<{ count(): number; stop(): void }>;
}

export function op(seq: number, text = `message ${seq}`): Op {
  return { type: 'message.send', kind: 0, from: 'ann', group: 'dev', text, seq, ts: 1_700_000_000_000 + seq };
}

export async function collect(it: AsyncIterable<JournalRecord>, limit = Infinity): Promise<number[]> {
  const seqs: number[] = [];
  for await (const r of it) {
    seqs.push(r.seq);
    if (seqs.length >= limit) break;
  }
  return seqs;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export function journalConformance(backend: JournalBackend): void {
  const dirs: string[] = [];
  const open: Journal[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'chat-journal-conf-'));
    dirs.push(d);
    return d;
  };
  const openJ = async (dir: string, opts?: JournalOptions): Promise<OpenResult> => {
    const r = await backend.open(dir, opts);
    open.push(r.journal);
    return r;
  };
  afterEach(async () => {
    for (const j of open.splice(0)) await j.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  /** A closed journal holding ops 1..n, in several segments when segmentBytes is small. */
  async function written(n: number, segmentBytes?: number): Promise<{ dir: string; digest: string; id: string }> {
    const dir = tempDir();
    const { journal } = await backend.open(dir, { segmentBytes });
    for (let s = 1; s <= n; s++) await journal.append(op(s));
    const res = { dir, digest: journal.digest, id: journal.journalId };
    await journal.close();
    return res;
  }

  describe(`journal conformance: ${backend.name}`, () => {
    it('a new journal is empty, has a 32-hex-digit id and the zero digest', async () => {
      const { journal, ops, warnings, truncated } = await openJ(tempDir());
      expect(ops).toEqual([]);
      expect(warnings).toEqual([]);
      expect(truncated).toBeUndefined();
      expect(journal.journalId).toMatch(/^[0-9a-f]{32}$/);
      expect(journal.digest).toBe('0'.repeat(64));
      expect(journal.durableSeq).toBe(0);
    });

    it('append resolves only once durable; durableSeq follows in seq order; reopen returns the same ops, id and digest', async () => {
      const dir = tempDir();
      const { journal } = await openJ(dir);
      const ops = [op(1), op(2, 'héllo ✓ \u{1F600}\n'), { ...op(3), type: 'user.create', name: 'bob', passwordHash: 'h', displayName: 'Bob', admin: false } as Op];
      const p = journal.append(ops[0]);
      expect(journal.headSeq).toBe(1);
      expect(journal.durableSeq).toBe(0); // nothing is durable synchronously
      await p;
      expect(journal.durableSeq).toBe(1);
      await Promise.all(ops.slice(1).map((o) => journal.append(o)));
      expect(journal.durableSeq).toBe(3);
      const { digest, journalId } = journal;
      expect(digest).not.toBe('0'.repeat(64));
      await journal.close();
      const again = await openJ(dir);
      expect(again.ops).toEqual(ops);
      expect(again.journal.digest).toBe(digest);
      expect(again.journal.journalId).toBe(journalId);
      await again.journal.append(op(4));
      expect(again.journal.durableSeq).toBe(4);
    });

    it('refuses an append out of seq order', async () => {
      const { journal } = await openJ(tempDir());
      await expect(journal.append(op(2))).rejects.toThrow(/out of order/);
    });

    it('group commit: 200 concurrent appends share a few syncs, each acknowledged only after one', async () => {
      const { journal } = await openJ(tempDir());
      const syncs = await backend.countSyncs();
      try {
        const acked: Array<[seq: number, syncsBefore: number]> = [];
        await Promise.all(Array.from({ length: 200 }, (_, i) => journal.append(op(i + 1)).then(() => acked.push([i + 1, syncs.count()]))));
        expect(syncs.count()).toBeGreaterThan(0);
        expect(syncs.count()).toBeLessThan(10);
        expect(acked.every(([, n]) => n > 0)).toBe(true);
        expect(acked.map(([s]) => s)).toEqual(acked.map(([s]) => s).sort((a, b) => a - b)); // acknowledged in seq order
      } finally {
        syncs.stop();
      }
    });

    it('the digest does not depend on the journal id: same records, same digest', async () => {
      const a = await written(20);
      const b = await written(20);
      expect(a.id).not.toBe(b.id);
      expect(a.digest).toBe(b.digest);
      const c = await written(19);
      expect(c.digest).not.toBe(a.digest);
    });

    it('rolls segments at segmentBytes; a record never spans two; reopen reads across them', async () => {
      const { dir, digest } = await written(60, 600);
      const files = backend.files(dir);
      expect(files.length).toBeGreaterThanOrEqual(3);
      const { ops, journal } = await openJ(dir, { segmentBytes: 600 });
      expect(ops.map((o) => o.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(journal.digest).toBe(digest);
      expect(await collect(journal.read(0))).toEqual(ops.map((o) => o.seq));
    });

    it('cuts a torn last record at every cut point, reports it, and goes on appending', async () => {
      const { dir } = await written(5);
      const last = backend.files(dir).at(-1)!;
      const whole = readFileSync(last);
      const { journal: probe } = await openJ(dir);
      const lastRecord = await lastBytes(probe);
      await probe.close();
      const base = whole.length - lastRecord.length;
      for (let cut = 1; cut < lastRecord.length; cut++) {
        writeFileSync(last, whole.subarray(0, base + cut));
        const r = await backend.open(dir);
        expect(r.ops.map((o) => o.seq), `cut ${cut}`).toEqual([1, 2, 3, 4]);
        expect(r.truncated).toMatchObject({ offset: base, bytes: cut });
        expect(statSync(last).size).toBe(base);
        await r.journal.close();
      }
      const r = await openJ(dir);
      await r.journal.append(op(5, 'again'));
      await r.journal.close();
      expect((await openJ(dir)).ops.at(-1)).toEqual(op(5, 'again'));
    });

    it('a flipped bit anywhere never silently loses an acknowledged record', async () => {
      const { dir } = await written(12, 400);
      const files = backend.files(dir);
      expect(files.length).toBeGreaterThanOrEqual(3);
      const originals = files.map((f) => readFileSync(f));
      const { journal: probe } = await openJ(dir);
      const lastRecordLen = (await lastBytes(probe)).length;
      await probe.close();
      const all = Array.from({ length: 12 }, (_, i) => op(i + 1));
      let errors = 0;
      for (let f = 0; f < files.length; f++) {
        const isLast = f === files.length - 1;
        // Every byte of each header and one in three after it (each open costs ~5 ms).
        for (let pos = 0; pos < originals[f].length; pos += pos < 48 ? 1 : 3) {
          const damaged = Buffer.from(originals[f]);
          damaged[pos] ^= 1 << (pos % 8);
          writeFileSync(files[f], damaged);
          const r = await backend.open(dir).catch((e: Error) => e);
          if (r instanceof Error) {
            expect(r.name, `${files[f]} byte ${pos}`).toBe('JournalCorruptError');
            errors++;
          } else {
            await r.journal.close();
            const inLastRecord = isLast && pos >= originals[f].length - lastRecordLen;
            // Only damage to the very last record may pass as a torn tail.
            expect(r.ops, `${files[f]} byte ${pos}`).toEqual(inLastRecord ? all.slice(0, 11) : all);
            expect(inLastRecord ? r.truncated?.bytes : 0, `${files[f]} byte ${pos}`).toBe(inLastRecord ? lastRecordLen : 0);
          }
          for (let g = 0; g < files.length; g++) writeFileSync(files[g], originals[g]);
        }
      }
      expect(errors).toBeGreaterThan(0);
    });

    it('read(S) yields exactly the durable records after S, from any S, in order', async () => {
      const { dir } = await written(40, 500);
      const { journal } = await openJ(dir, { segmentBytes: 500 });
      for (const s of [0, 1, 7, 20, 39, 40, 45]) {
        expect(await collect(journal.read(s)), `after ${s}`).toEqual(Array.from({ length: Math.max(0, 40 - s) }, (_, i) => s + i + 1));
      }
      const recs: JournalRecord[] = [];
      for await (const r of journal.read(38)) recs.push(r);
      expect(recs.map((r) => r.op)).toEqual([op(39), op(40)]);
      expect(recs[0].ts).toBe(op(39).ts);
      // A read ends at the durable head as of the call, not at later appends.
      const it = journal.read(38);
      await journal.append(op(41));
      expect(await collect(it)).toEqual([39, 40]);
    });

    it('read never yields a record that is not durable yet', async () => {
      const { journal } = await openJ(tempDir());
      await journal.append(op(1));
      const pending = journal.append(op(2));
      expect(await collect(journal.read(0))).toEqual([1]);
      await pending;
      expect(await collect(journal.read(0))).toEqual([1, 2]);
    });

    it('follow(S) with concurrent writers sees exactly S+1..N once each, in order, across segment rolls', async () => {
      const dir = tempDir();
      const { journal } = await openJ(dir, { segmentBytes: 700 });
      for (let s = 1; s <= 10; s++) await journal.append(op(s));
      const ac = new AbortController();
      const seen: number[] = [];
      const durableAtYield: boolean[] = [];
      const following = (async () => {
        for await (const r of journal.follow(5, ac.signal)) {
          seen.push(r.seq);
          durableAtYield.push(r.seq <= journal.durableSeq);
          if (r.seq === 150) ac.abort();
        }
      })();
      let next = 11;
      // Five writers, each appending in bursts, interleaved with the follower.
      await Promise.all(Array.from({ length: 5 }, async () => {
        for (let k = 0; k < 28; k++) {
          await journal.append(op(next++));
          if (k % 3 === 0) await tick();
        }
      }));
      await following;
      expect(seen).toEqual(Array.from({ length: 145 }, (_, i) => i + 6));
      expect(durableAtYield.every(Boolean)).toBe(true);
      expect(backend.files(dir).length).toBeGreaterThanOrEqual(3);
    });

    it('a follower far behind reads the old segments, then catches up live; close ends it', async () => {
      const { dir } = await written(50, 500);
      const { journal } = await openJ(dir, { segmentBytes: 500 });
      const seen: number[] = [];
      let caughtUp!: () => void;
      const atHead = new Promise<void>((r) => { caughtUp = r; });
      const following = (async () => {
        for await (const r of journal.follow(0)) {
          seen.push(r.seq);
          if (r.seq === 50) caughtUp();
        }
      })();
      await atHead;
      for (let s = 51; s <= 70; s++) await journal.append(op(s));
      while (seen.length < 70) await tick();
      await journal.close();
      await following; // ends once the journal closes
      expect(seen).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    });

    it('open with `after`: returns only later ops, continues the digest, reads only headers before it', async () => {
      const dir = tempDir();
      const { journal } = await backend.open(dir, { segmentBytes: 400 });
      for (let s = 1; s <= 20; s++) await journal.append(op(s));
      const after = { seq: 20, journalId: journal.journalId, journalDigest: journal.digest };
      for (let s = 21; s <= 30; s++) await journal.append(op(s));
      const full = journal.digest;
      await journal.close();
      const files = backend.files(dir);
      expect(files.length).toBeGreaterThanOrEqual(3);
      // Damage the middle of the first segment (wholly before seq 20): start-up does not read it.
      const first = readFileSync(files[0]);
      first[first.length - 5] ^= 0x40;
      writeFileSync(files[0], first);
      const r = await openJ(dir, { segmentBytes: 400, after });
      expect(r.ops.map((o) => o.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 21));
      expect(r.journal.digest).toBe(full);
      expect(r.journal.headSeq).toBe(30);
      await r.journal.close();
      await expect(backend.open(dir)).rejects.toThrow(/journal damaged/); // without `after` it is read and caught
    });

    it('open with an `after` from another journal or past the head is corruption', async () => {
      const { dir, id, digest } = await written(5);
      await expect(backend.open(dir, { after: { seq: 3, journalId: 'ab'.repeat(16), journalDigest: digest } })).rejects.toThrow(/snapshot belongs to another journal/);
      await expect(backend.open(dir, { after: { seq: 9, journalId: id, journalDigest: digest } })).rejects.toThrow(/journal ends at seq 5 but the snapshot is at seq 9/);
    });
  });

  /** The encoded bytes of the journal's last durable record. */
  async function lastBytes(j: Journal): Promise<Buffer> {
    let last: Buffer = Buffer.alloc(0);
    for await (const r of j.read(Math.max(0, j.durableSeq - 1))) last = r.bytes;
    return last;
  }
}
