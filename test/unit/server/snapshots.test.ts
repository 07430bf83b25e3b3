/**
 * The engine with snapshots (issue 3): written every N records once durable, restored
 * at start-up with only the later ops replayed, a damaged newest one skipped for the
 * older one, the same digests with and without snapshots, journal retention (covered
 * removes only wholly covered segments, keep removes nothing), commits racing a write,
 * a failed write that only warns, close() abandoning a write; and the storage flags.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { listSegments } from '../../../src/journal/journal.js';
import { SNAPSHOT_DIR, snapshotName } from '../../../src/journal/snapshot-file.js';
import { verifyDataDir } from '../../../src/journal/verify.js';
import { Engine, type EngineOptions } from '../../../src/server/engine.js';
import { addUser } from '../../../src/server/offline.js';
import { parseSize, parseStorageFlags, STORAGE_DEFAULTS } from '../../../src/server/storage-flags.js';
import { stateDigest } from '../../../src/state/digest.js';
import { captureLogger, holdSyncs, sleep, useScratchDirs } from './helpers.js';

const dir = useScratchDirs();
type Logs = Array<Record<string, unknown>>;

const user = (name: string) => ({ type: 'user.create' as const, name, passwordHash: 'h', displayName: name, admin: false });
/** Keeps the state's size steady, so the "half the last snapshot" rule never delays one. */
const passwd = (i: number) => ({ type: 'user.passwd' as const, name: 'ann', passwordHash: `h${i}` });
const dm = (from: string, to: string, text: string, idKey?: string) => ({ type: 'message.send' as const, kind: 1 as const, from, to, text, idKey });

function open(d: string, opts: Partial<EngineOptions> = {}, logs?: Logs): Promise<Engine> {
  return Engine.open({ dataDir: d, log: logs ? captureLogger(logs, 'debug') : silentLogger(), ...opts });
}
const snapSeqs = (d: string): number[] => (existsSync(join(d, SNAPSHOT_DIR)) ? readdirSync(join(d, SNAPSHOT_DIR)) : [])
  .filter((n) => n.endsWith('.snap')).map((n) => Number(n.slice(0, 20))).sort((a, b) => a - b);
const tempFiles = (d: string): string[] => (existsSync(join(d, SNAPSHOT_DIR)) ? readdirSync(join(d, SNAPSHOT_DIR)) : []).filter((n) => n.startsWith('.tmp-'));
const digests = (e: Engine) => ({ seq: e.seq, journalDigest: e.journalDigest, stateDigest: stateDigest(e.state) });

/** ann, then `n` password changes (seq 1 + n), committed one by one; waits for snapshot writes at every multiple of `every`. */
async function passwdRun(e: Engine, from: number, to: number, every = 10): Promise<void> {
  if (from === 1) await e.commit(user('ann'));
  for (let s = Math.max(from, 2); s <= to; s++) {
    await e.commit(passwd(s));
    if (s % every === 0) await e.whenSnapshotsIdle();
  }
}

/** A state with users, direct threads, broadcasts and idempotency keys: 3 + n ops; waits for snapshot writes at every multiple of `every`. */
async function mixedRun(e: Engine, n: number, every: number): Promise<void> {
  for (const u of ['ann', 'bob', 'cy']) await e.commit(user(u));
  for (let i = 0; i < n; i++) {
    const op = await e.commit(i % 3 === 0 ? { type: 'message.send', kind: 2, from: 'ann', text: `all ${i}` } : dm(i % 2 ? 'bob' : 'cy', 'ann', `m${i}`, i % 5 === 0 ? `k${i}` : undefined));
    if (op.seq % every === 0) await e.whenSnapshotsIdle();
  }
}

describe('writing snapshots', () => {
  it('writes one every N records, naming the journal digest at its seq, and keeps the newest two', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 10 });
    const digestAt = new Map<number, string>();
    await e.commit(user('ann'));
    for (let s = 2; s <= 35; s++) {
      await e.commit(passwd(s));
      digestAt.set(s, e.journalDigest);
      if (s === 10) {
        await e.whenSnapshotsIdle();
        expect(snapSeqs(d)).toEqual([10]);
      }
      if (s % 10 === 0) await e.whenSnapshotsIdle();
    }
    expect(snapSeqs(d)).toEqual([20, 30]);
    const header = JSON.parse(readFileSync(join(d, SNAPSHOT_DIR, snapshotName(30)), 'utf8').split('\n')[0]!);
    expect(header).toMatchObject({ seq: 30, journalId: e.journalId, journalDigest: digestAt.get(30) });
    await e.close();
  });

  it('never writes a snapshot before its records are durable', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 5 });
    mkdirSync(join(d, SNAPSHOT_DIR)); // so that a write that did not wait would create its temp file at once
    const hold = await holdSyncs();
    try {
      const commits = [e.commit(user('ann')), ...[2, 3, 4, 5].map((s) => e.commit(passwd(s)))];
      await sleep(50); // plenty of turns for a write that did not wait
      expect(hold.waiting()).toBeGreaterThan(0);
      expect(e.isDurable(5)).toBe(false);
      expect([snapSeqs(d), tempFiles(d)]).toEqual([[], []]);
      hold.release();
      await Promise.all(commits);
      await e.whenSnapshotsIdle();
      expect(snapSeqs(d)).toEqual([5]);
    } finally {
      hold.restore();
    }
    await e.close();
  });

  it('a failed write is a warning; commits go on and the next threshold writes one', async () => {
    const d = dir();
    const logs: Logs = [];
    const e = await open(d, { snapshotRecords: 10 }, logs);
    writeFileSync(join(d, SNAPSHOT_DIR), 'not a directory');
    await passwdRun(e, 1, 15);
    expect(logs.some((l) => l.level === 40 && String(l.msg).startsWith('could not write a snapshot') && l.seq === 10)).toBe(true);
    expect(e.seq).toBe(15);
    rmSync(join(d, SNAPSHOT_DIR));
    await passwdRun(e, 16, 20);
    expect(snapSeqs(d)).toEqual([20]);
    await e.close();
  });

  it('close() abandons a write in flight, leaving no temp file, and the next start is whole', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 10 });
    const commits = [e.commit(user('ann')), ...Array.from({ length: 9 }, (_, i) => e.commit(passwd(i + 2)))];
    await e.close(); // the snapshot at seq 10 is still waiting for its records
    await Promise.all(commits);
    expect(tempFiles(d)).toEqual([]);
    const again = await open(d);
    expect(again.seq).toBe(10);
    await again.close();
  });

  it('a commit storm while snapshots are written keeps every op', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 300, segmentBytes: 64 * 1024 });
    for (const u of ['ann', 'bob']) await e.commit(user(u));
    const long = 'x'.repeat(200);
    // Each round is one batch of concurrent commits; snapshot writes (several 256 KiB
    // chunks once the state is large) run between and across rounds.
    for (let round = 0; round < 40; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => e.commit(dm(i % 2 ? 'ann' : 'bob', i % 2 ? 'bob' : 'ann', `${round}-${i} ${long}`))));
    }
    const before = digests(e);
    await e.close();
    expect(snapSeqs(d).length).toBeGreaterThan(0);
    const again = await open(d);
    expect(again.snapshotSeq).toBeGreaterThan(2);
    expect(digests(again)).toEqual(before);
    expect(again.state.messageCount).toBe(4000);
    await again.close();
  });
});

describe('starting from a snapshot', () => {
  it('replays only the ops after the newest snapshot: damage in a segment it covers does not stop start-up (verify still finds it)', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 25, segmentBytes: 512 });
    await mixedRun(e, 57, 25); // seq 60: snapshots at 25 and 50
    await e.whenSnapshotsIdle();
    const before = digests(e);
    await e.close();
    expect(snapSeqs(d)).toEqual([25, 50]);
    const first = listSegments(d)[0]!;
    expect(listSegments(d)[1]!.firstSeq).toBeLessThanOrEqual(25); // wholly covered
    const buf = readFileSync(first.path);
    buf[buf.length - 10] ^= 0xff; // inside its last record, not its header
    writeFileSync(first.path, buf);
    const again = await open(d);
    expect(again.snapshotSeq).toBe(50);
    expect(digests(again)).toEqual(before);
    await again.close();
    const v = await verifyDataDir(d);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.problem.file).toBe(first.rel);
  });

  it('a damaged newest snapshot is skipped with a warning for the older one, with the same state', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 10 });
    await passwdRun(e, 1, 25);
    const before = digests(e);
    await e.close();
    expect(snapSeqs(d)).toEqual([10, 20]);
    const path = join(d, SNAPSHOT_DIR, snapshotName(20));
    const buf = readFileSync(path);
    buf[Math.floor(buf.length / 2)] ^= 0x01;
    writeFileSync(path, buf);
    const logs: Logs = [];
    const again = await open(d, {}, logs);
    expect(again.snapshotSeq).toBe(10);
    expect(digests(again)).toEqual(before);
    expect(logs.some((l) => l.level === 40 && String(l.msg).includes(snapshotName(20)) && String(l.msg).includes('using an older snapshot'))).toBe(true);
    await again.close();
  });

  it('reports the same digests as a replay of the whole journal with the snapshots deleted', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 20, segmentBytes: 1024 });
    await mixedRun(e, 70, 20);
    await e.whenSnapshotsIdle();
    await e.close();
    const plain = dir();
    cpSync(d, plain, { recursive: true });
    rmSync(join(plain, SNAPSHOT_DIR), { recursive: true });
    const fromSnap = await open(d);
    const fromJournal = await open(plain);
    expect(fromSnap.snapshotSeq).toBeGreaterThan(0);
    expect(fromJournal.snapshotSeq).toBe(0);
    expect(digests(fromSnap)).toEqual(digests(fromJournal));
    expect(digests(fromSnap).seq).toBe(73);
    await Promise.all([fromSnap.close(), fromJournal.close()]);
  });

  it('restores the clock floor: timestamps never go backwards after a restart', async () => {
    const d = dir();
    const future = 4_000_000_000_000;
    const now = vi.spyOn(Date, 'now').mockReturnValue(future);
    const e = await open(d, { snapshotRecords: 10 });
    await passwdRun(e, 1, 10); // the snapshot is the last thing: no op after it to replay
    await e.close();
    now.mockRestore();
    const again = await open(d);
    expect(again.snapshotSeq).toBe(10);
    expect((await again.commit(passwd(11))).ts).toBeGreaterThanOrEqual(future);
    await again.close();
  });

  it('removes leftover temp files at start, and offline useradd works on a dir with snapshots', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 10 });
    await passwdRun(e, 1, 12);
    await e.close();
    writeFileSync(join(d, SNAPSHOT_DIR, '.tmp-11-99999'), 'half a snapshot');
    await addUser({ dataDir: d, name: 'bea', password: 'password1', log: silentLogger(), scrypt: { N: 1024, r: 8, p: 1 } });
    expect(tempFiles(d)).toEqual([]);
    const again = await open(d);
    expect([again.snapshotSeq, again.seq, again.state.users.has('bea')]).toEqual([10, 13, true]);
    await again.close();
  });
});

describe('journal retention', () => {
  it('covered removes exactly the segments the oldest kept snapshot covers; the state survives restarts and falling back', async () => {
    const d = dir();
    const logs: Logs = [];
    const e = await open(d, { snapshotRecords: 10, segmentBytes: 300, retention: 'covered' }, logs);
    await passwdRun(e, 1, 45);
    const before = digests(e);
    await e.close();
    expect(snapSeqs(d)).toEqual([30, 40]);
    const removals = logs.filter((l) => String(l.msg).startsWith('journal retention'));
    expect(removals.length).toBeGreaterThan(0);
    const kept = listSegments(d);
    const removed = removals.flatMap((l) => (l.removed as string[]).map((rel) => ({ rel, through: l.through as number })));
    // Every segment ever written, in order: a removed one's last seq is the next one's first - 1.
    const all = [...removed.map((r) => Number(r.rel.slice(8, 28))), ...kept.map((s) => s.firstSeq)].sort((a, b) => a - b);
    expect(all[0]).toBe(1);
    for (const r of removed) {
      const i = all.indexOf(Number(r.rel.slice(8, 28)));
      expect(all[i + 1]! - 1).toBeLessThanOrEqual(r.through);
    }
    // …and nothing wholly covered was left behind: the first kept segment holds seq 31.
    expect(kept[0]!.firstSeq).toBeLessThanOrEqual(31);
    expect(kept.length > 1 ? kept[1]!.firstSeq : Infinity).toBeGreaterThan(31);
    const again = await open(d);
    expect(digests(again)).toEqual(before);
    await again.close();
    rmSync(join(d, SNAPSHOT_DIR, snapshotName(40))); // the newest is lost: the oldest still works
    const fallback = await open(d);
    expect(fallback.snapshotSeq).toBe(30);
    expect(digests(fallback)).toEqual(before);
    await fallback.close();
  });

  it('covered removes nothing while only one snapshot exists: that snapshot damaged still leaves a dir that starts', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 10, segmentBytes: 300, retention: 'covered' });
    await passwdRun(e, 1, 15);
    const before = digests(e);
    await e.close();
    expect(snapSeqs(d)).toEqual([10]);
    expect(listSegments(d)[0]!.firstSeq).toBe(1);
    const path = join(d, SNAPSHOT_DIR, snapshotName(10));
    const buf = readFileSync(path);
    buf[Math.floor(buf.length / 2)] ^= 0x01;
    writeFileSync(path, buf);
    const again = await open(d); // the whole journal is still there
    expect(again.snapshotSeq).toBe(0);
    expect(digests(again)).toEqual(before);
    await again.close();
  });

  it('a damaged newest snapshot seen at start-up is pruned, not the verified older one, so a fallback stays', async () => {
    const d = dir();
    const e = await open(d, { snapshotRecords: 10, segmentBytes: 300, retention: 'covered' });
    await passwdRun(e, 1, 25);
    await e.close();
    expect(snapSeqs(d)).toEqual([10, 20]);
    const damage = (seq: number): void => {
      const path = join(d, SNAPSHOT_DIR, snapshotName(seq));
      const buf = readFileSync(path);
      buf[Math.floor(buf.length / 2)] ^= 0x01;
      writeFileSync(path, buf);
    };
    damage(20);
    const again = await open(d, { snapshotRecords: 10, segmentBytes: 300, retention: 'covered' });
    expect(again.snapshotSeq).toBe(10);
    let s = 26;
    while (!snapSeqs(d).some((q) => q > 25)) {
      await again.commit(passwd(s++));
      await again.whenSnapshotsIdle();
    }
    const newest = snapSeqs(d).at(-1)!;
    expect(snapSeqs(d)).toEqual([10, newest]); // the damaged 20 went, the verified 10 stayed
    const before = digests(again);
    await again.close();
    damage(newest); // the newest goes bad too: the verified older one still starts the server
    const fallback = await open(d);
    expect(fallback.snapshotSeq).toBe(10);
    expect(digests(fallback)).toEqual(before);
    await fallback.close();
  });

  it('keep (the default) removes nothing', async () => {
    const d = dir();
    const logs: Logs = [];
    const e = await open(d, { snapshotRecords: 10, segmentBytes: 300 }, logs);
    await passwdRun(e, 1, 45);
    await e.close();
    expect(snapSeqs(d)).toEqual([30, 40]);
    const segs = listSegments(d);
    expect(segs[0]!.firstSeq).toBe(1);
    expect(segs.length).toBeGreaterThan(5);
    expect(logs.some((l) => String(l.msg).startsWith('journal retention'))).toBe(false);
    expect((await verifyDataDir(d)).ok).toBe(true);
  });
});

describe('storage flags', () => {
  it('defaults, sizes with suffixes, and one-line errors', () => {
    expect(parseStorageFlags({})).toEqual({ storage: STORAGE_DEFAULTS });
    expect(parseStorageFlags({ snapshotRecords: '20', snapshotBytes: '64k', segmentBytes: '4096', journalRetention: 'covered' }))
      .toEqual({ storage: { snapshotRecords: 20, snapshotBytes: 65536, segmentBytes: 4096, retention: 'covered' } });
    expect([parseSize('2M'), parseSize('1G'), parseSize('1.5M'), parseSize('-1')]).toEqual([2 * 1024 ** 2, 1024 ** 3, NaN, NaN]);
    expect(parseStorageFlags({ segmentBytes: '100' })).toEqual({ error: expect.stringMatching(/^--segment-bytes must be a whole number from 4096 .* got "100"$/) });
    expect(parseStorageFlags({ snapshotRecords: '1e3' })).toEqual({ error: expect.stringMatching(/^--snapshot-records must be a whole number/) });
    expect(parseStorageFlags({ journalRetention: 'all' })).toEqual({ error: '--journal-retention must be keep or covered, got "all"' });
  });
});
