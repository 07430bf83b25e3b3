/**
 * Snapshot files on real temp dirs: round trip, damaged newer snapshots skipped for
 * older ones, atomic writes (no partial file under a final name, temp files cleaned),
 * a write that runs while the live state keeps changing, pruning, the policy.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  listSnapshots, loadLatestSnapshot, pruneSnapshots, shouldSnapshot, SNAPSHOT_DEFAULTS, SNAPSHOT_DIR,
  snapshotName, verifySnapshotFile, writeSnapshot,
} from '../../../src/journal/snapshot-file.js';
import { apply } from '../../../src/state/apply.js';
import { stateDigest } from '../../../src/state/digest.js';
import { captureSnapshot } from '../../../src/state/snapshot.js';
import { createState, type Op, type State } from '../../../src/state/types.js';
import { intentsArb, normalize, playIntents } from '../state/gen-ops.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'chat-snap-test-'));
  dirs.push(d);
  return d;
}

const META = { journalId: 'ab'.repeat(16), journalDigest: 'cd'.repeat(32), lastTs: 99 };

/** A random history (fixed seed) with a message whose text a test can find in the file. */
function history(seed: number, ops = 1): State {
  const s = createState();
  playIntents(s, fc.sample(intentsArb(), { numRuns: ops, seed }).flat());
  apply(s, { type: 'user.create', name: `u${s.seq}`, passwordHash: 'h', displayName: `U${s.seq}`, admin: false, seq: s.seq + 1, ts: 5 });
  apply(s, { type: 'message.send', kind: 2, from: `u${s.seq - 1}`, text: `flip-me-${s.seq}`, seq: s.seq + 1, ts: 5 } as Op);
  return s;
}

async function snap(dir: string, s: State): Promise<string> {
  return (await writeSnapshot(dir, captureSnapshot(s, 7), META)).path;
}

describe('snapshot files', () => {
  it('round trip: header, state, digests, verify; nothing else left in the directory', async () => {
    const dir = tempDir();
    const s = history(1, 3);
    const { path, seq, bytes } = await writeSnapshot(dir, captureSnapshot(s, 7), META);
    expect(path).toBe(join(dir, SNAPSHOT_DIR, snapshotName(s.seq)));
    expect(snapshotName(42)).toBe('00000000000000000042.snap');
    expect(seq).toBe(s.seq);
    expect(bytes).toBe(statSync(path).size);
    expect(readdirSync(join(dir, SNAPSHOT_DIR))).toEqual([snapshotName(s.seq)]);

    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n').slice(0, -1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      magic: 'chat-suite snapshot', format: 1, ...META, seq: s.seq, stateDigest: stateDigest(s), lastTs: 99,
    });
    const trailer = JSON.parse(lines.at(-1)!);
    expect(trailer).toEqual({
      end: true, lines: lines.length - 2,
      sha256: createHash('sha256').update(text.slice(0, text.length - lines.at(-1)!.length - 1)).digest('hex'),
    });

    const { snapshot, warnings, removed } = await loadLatestSnapshot(dir);
    expect(warnings).toEqual([]);
    expect(removed).toEqual([]);
    expect(snapshot).toMatchObject({ path, seq: s.seq, ...META, stateDigest: stateDigest(s), lastTs: 99 });
    expect(normalize(snapshot!.state)).toStrictEqual(normalize(s));
    expect(await verifySnapshotFile(path)).toEqual({ ok: true, seq: s.seq });
  });

  it('no snapshot directory: nothing to load, nothing listed', async () => {
    const dir = tempDir();
    expect(await loadLatestSnapshot(dir)).toEqual({ snapshot: undefined, warnings: [], removed: [] });
    expect(await listSnapshots(dir)).toEqual([]);
  });

  it('a truncated or byte-flipped newer snapshot is skipped, with a warning, for the older one', async () => {
    const dir = tempDir();
    const s = history(2);
    const older = await snap(dir, s);
    const olderDigest = stateDigest(s);
    playIntents(s, fc.sample(intentsArb(), { numRuns: 1, seed: 3 })[0]!);
    apply(s, { type: 'message.send', kind: 2, from: 'ann', text: 'flip-me-newer', seq: s.seq + 1, ts: 6 });
    const newer = await snap(dir, s);
    const good = readFileSync(newer);

    const damages: Array<[string, (b: Buffer) => Buffer, RegExp]> = [
      ['cut in half', (b) => b.subarray(0, b.length >> 1), /cut short/],
      ['last newline missing', (b) => b.subarray(0, b.length - 1), /cut short/],
      ['trailer missing', (b) => b.subarray(0, b.lastIndexOf(10, b.length - 2) + 1), /cut short/],
      ['letter flipped in a message', (b) => { const c = Buffer.from(b); c[c.indexOf('flip-me-newer')] ^= 1; return c; }, /checksum mismatch/],
      ['quote flipped', (b) => { const c = Buffer.from(b); c[c.indexOf('"', c.length >> 1)] ^= 0x20; return c; }, /checksum mismatch/],
      ['header damaged', (b) => { const c = Buffer.from(b); c[3] ^= 0x40; return c; }, /header/],
    ];
    for (const [what, damage, reason] of damages) {
      writeFileSync(newer, damage(good));
      const v = await verifySnapshotFile(newer);
      expect(v.ok, what).toBe(false);
      expect(!v.ok && v.reason, what).toMatch(reason);
      const { snapshot, warnings } = await loadLatestSnapshot(dir);
      expect(snapshot?.path, what).toBe(older);
      expect(stateDigest(snapshot!.state)).toBe(olderDigest);
      expect(warnings, what).toHaveLength(1);
      expect(warnings[0]).toContain(newer);
      expect(warnings[0]).toMatch(reason);
      expect(warnings[0]).toContain('using an older snapshot');
    }
    // Only one, damaged: nothing loads, and the warning says the journal is replayed.
    rmSync(older);
    const { snapshot, warnings } = await loadLatestSnapshot(dir);
    expect(snapshot).toBeUndefined();
    expect(warnings[0]).toContain('replaying the journal from its start');
  });

  it('a file whose checksum holds but whose state is not the header\'s stateDigest is refused', async () => {
    const dir = tempDir();
    const s = history(4);
    const path = await snap(dir, s);
    const lines = readFileSync(path, 'utf8').split('\n').slice(0, -2);
    lines[0] = lines[0]!.replace(/"stateDigest":"[0-9a-f]{64}"/, `"stateDigest":"${'e'.repeat(64)}"`);
    const body = lines.map((l) => l + '\n').join('');
    const trailer = { end: true, lines: lines.length - 1, sha256: createHash('sha256').update(body).digest('hex') };
    writeFileSync(path, body + JSON.stringify(trailer) + '\n');
    expect(await verifySnapshotFile(path)).toEqual({ ok: false, reason: 'restored state does not match the header\'s stateDigest' });
  });

  it('atomic: a leftover temp file is ignored and removed; a failed write leaves neither a temp nor a final file', async () => {
    const dir = tempDir();
    const s = history(5);
    const path = await snap(dir, s);
    const snapDir = join(dir, SNAPSHOT_DIR);
    const leftover = join(snapDir, `.tmp-${s.seq + 10}-12345`);
    writeFileSync(leftover, '{"magic":"chat-suite snapshot"'); // a crash in the middle of a write
    expect(await listSnapshots(dir)).toEqual([{ seq: s.seq, path }]);
    const { snapshot, removed } = await loadLatestSnapshot(dir);
    expect(snapshot?.seq).toBe(s.seq);
    expect(removed).toEqual([leftover]);
    expect(existsSync(leftover)).toBe(false);

    // The rename cannot replace a non-empty directory standing at the final name.
    apply(s, { type: 'message.send', kind: 2, from: 'ann', text: 'x', seq: s.seq + 1, ts: 9 });
    const blocked = join(snapDir, snapshotName(s.seq));
    mkdirSync(join(blocked, 'x'), { recursive: true });
    await expect(writeSnapshot(dir, captureSnapshot(s), META)).rejects.toThrow();
    expect(readdirSync(snapDir).sort()).toEqual([snapshotName(s.seq - 1), snapshotName(s.seq)]);
    expect(statSync(blocked).isDirectory()).toBe(true);
  });

  it('a large snapshot is written while the live state keeps changing, and holds the state at capture', async () => {
    const dir = tempDir();
    const s = createState();
    apply(s, { type: 'user.create', name: 'ann', passwordHash: 'h', displayName: 'Ann', admin: false, seq: 1, ts: 1 });
    apply(s, { type: 'user.create', name: 'ben', passwordHash: 'h', displayName: 'Ben', admin: false, seq: 2, ts: 1 });
    apply(s, { type: 'group.create', group: 'g', owner: 'ann', private: false, seq: 3, ts: 1 });
    const send = (): void => {
      const seq = s.seq + 1;
      const d = seq % 3 === 0 ? { kind: 0, group: 'g' } : seq % 3 === 1 ? { kind: 1, to: 'ben' } : { kind: 2 };
      apply(s, { type: 'message.send', from: 'ann', text: `m${seq} ${'y'.repeat(60)}`, idKey: `k${seq}`, ...d, seq, ts: seq } as Op);
    };
    for (let i = 0; i < 30_000; i++) send();
    const atCapture = normalize(s);
    const image = captureSnapshot(s, 1);
    const writing = writeSnapshot(dir, image, META);
    let during = 0;
    let done = false;
    void writing.finally(() => { done = true; });
    const churn = (): void => {
      if (done) return;
      send();
      apply(s, { type: 'user.rename', name: 'ann', displayName: `Ann${s.seq}`, seq: s.seq + 1, ts: 1 });
      if (during === 5) { // the captured array of "g" must survive both
        apply(s, { type: 'group.delete', group: 'g', by: 'ann', seq: s.seq + 1, ts: 1 });
        apply(s, { type: 'group.create', group: 'g', owner: 'ben', private: true, seq: s.seq + 1, ts: 1 });
      }
      during++;
      setImmediate(churn);
    };
    setImmediate(churn);
    const { bytes } = await writing;
    expect(bytes).toBeGreaterThan(2 * 256 * 1024);
    expect(during).toBeGreaterThan(5); // the event loop ran between chunks
    const { snapshot } = await loadLatestSnapshot(dir);
    expect(snapshot!.seq).toBe(image.seq);
    expect(normalize(snapshot!.state)).toStrictEqual(atCapture);
  });

  it('refuses a second write of the same seq while one is running', async () => {
    const dir = tempDir();
    const image = captureSnapshot(history(6));
    const first = writeSnapshot(dir, image, META);
    await expect(writeSnapshot(dir, image, META)).rejects.toThrow(/already being written/);
    await first;
  });

  it('prune keeps the newest N and removes stale temp files', async () => {
    const dir = tempDir();
    const s = history(8);
    const paths: string[] = [];
    for (let i = 0; i < 4; i++) {
      paths.push(await snap(dir, s));
      apply(s, { type: 'message.send', kind: 2, from: 'ann', text: `${i}`, seq: s.seq + 1, ts: 9 });
    }
    const leftover = join(dir, SNAPSHOT_DIR, '.tmp-1-1');
    writeFileSync(leftover, '');
    expect(await pruneSnapshots(dir)).toEqual([leftover, paths[0], paths[1]]);
    expect((await listSnapshots(dir)).map((x) => x.path)).toEqual(paths.slice(2));
    expect(await pruneSnapshots(dir, 1)).toEqual([paths[2]]);
    expect(await pruneSnapshots(dir, 1)).toEqual([]);
    await expect(pruneSnapshots(dir, 0)).rejects.toThrow(/keep must be/);
  });
});

describe('shouldSnapshot', () => {
  it('every N records or M bytes, but never before half the last snapshot\'s size of journal', () => {
    const p = { everyRecords: 10, everyBytes: 1000 };
    expect(shouldSnapshot({ recordsSince: 9, bytesSince: 999, lastSnapshotBytes: 0 }, p)).toBe(false);
    expect(shouldSnapshot({ recordsSince: 10, bytesSince: 5, lastSnapshotBytes: 0 }, p)).toBe(true);
    expect(shouldSnapshot({ recordsSince: 1, bytesSince: 1000, lastSnapshotBytes: 0 }, p)).toBe(true);
    expect(shouldSnapshot({ recordsSince: 500, bytesSince: 4999, lastSnapshotBytes: 10_000 }, p)).toBe(false);
    expect(shouldSnapshot({ recordsSince: 500, bytesSince: 5000, lastSnapshotBytes: 10_000 }, p)).toBe(true);
    expect(SNAPSHOT_DEFAULTS).toEqual({ everyRecords: 100_000, everyBytes: 64 * 1024 * 1024 });
    expect(shouldSnapshot({ recordsSince: 100_000, bytesSince: 1, lastSnapshotBytes: 0 })).toBe(true);
    expect(shouldSnapshot({ recordsSince: 99_999, bytesSince: 1, lastSnapshotBytes: 0 })).toBe(false);
  });
});
