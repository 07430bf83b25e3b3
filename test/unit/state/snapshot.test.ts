/**
 * Snapshot images: restore(chunks(capture(A))) is A in every field and order, keeps
 * behaving like A, and an image keeps describing the capture while A moves on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apply, ApplyError } from '../../../src/state/apply.js';
import { stateDigest } from '../../../src/state/digest.js';
import {
  captureSnapshot, CHUNK_CHARS, restoreSnapshot, snapshotChunks, splitLines, SnapshotFormatError,
} from '../../../src/state/snapshot.js';
import { createState, type Op, type State, type StoredMessage } from '../../../src/state/types.js';
import { intentsArb, normalize, playIntents } from './gen-ops.js';

async function roundTrip(state: State, lastTs = 0): Promise<State> {
  const restored = await restoreSnapshot(splitLines(snapshotChunks(captureSnapshot(state, lastTs))));
  expect(restored.seq).toBe(state.seq);
  expect(restored.lastTs).toBe(lastTs);
  return restored.state;
}

/** For each idempotency key: is its message the very object stored in a conversation? */
function sharedIdempotency(s: State): boolean[] {
  const stored = new Set<StoredMessage>([...s.groupMessages.values(), ...s.directMessages.values(), s.broadcasts].flat());
  return [...s.idempotency.values()].map((m) => stored.has(m));
}

describe('snapshot image', () => {
  it('restores every field, index and iteration order, and the restored state keeps behaving the same', async () => {
    await fc.assert(fc.asyncProperty(intentsArb(), intentsArb(40, false), async (intents, more) => {
      const a = createState();
      playIntents(a, intents);
      const b = await roundTrip(a, 4242);
      expect(Object.keys(normalize(a)).sort()).toEqual(Object.keys(a).sort()); // normalize covers every field
      expect(normalize(b)).toStrictEqual(normalize(a));
      expect(stateDigest(b)).toBe(stateDigest(a));
      expect(sharedIdempotency(b)).toEqual(sharedIdempotency(a));
      // Same further ops: accepted and refused alike, same result.
      for (const op of playIntents(a, more)) apply(b, op);
      for (const intent of more) {
        const op = { type: 'group.join', group: 'g1', user: intent[4], seq: a.seq + 1, ts: 1 } as Op;
        const ra = (() => { try { apply(a, op); return 'ok'; } catch (e) { return (e as ApplyError).message; } })();
        const rb = (() => { try { apply(b, op); return 'ok'; } catch (e) { return (e as ApplyError).message; } })();
        expect(rb).toBe(ra);
      }
      expect(normalize(b)).toStrictEqual(normalize(a));
    }), { numRuns: 120 });
  });

  it('an image stays the state at capture while the live state changes', async () => {
    await fc.assert(fc.asyncProperty(intentsArb(), intentsArb(100, false), async (intents, more) => {
      const a = createState();
      playIntents(a, intents);
      const atCapture = normalize(a);
      const digest = stateDigest(a);
      const image = captureSnapshot(a);
      expect(image.stateDigest).toBe(digest);
      playIntents(a, more);
      const restored = await restoreSnapshot(splitLines(snapshotChunks(image)));
      expect(normalize(restored.state)).toStrictEqual(atCapture);
      expect(stateDigest(restored.state)).toBe(digest);
    }), { numRuns: 100 });
  });

  it('keeps messages of deleted groups that idempotency keys point at, and a re-created group starts empty', async () => {
    const s = createState();
    const ops = [
      { type: 'user.create', name: 'ann', passwordHash: 'h', displayName: 'Ann', admin: false },
      { type: 'group.create', group: 'g', owner: 'ann', private: false },
      { type: 'message.send', kind: 0, from: 'ann', group: 'g', text: 'kept by its key', idKey: 'k1' },
      { type: 'message.send', kind: 0, from: 'ann', group: 'g', text: 'gone' },
      { type: 'group.delete', group: 'g', by: 'ann' },
      { type: 'group.create', group: 'g', owner: 'ann', private: true },
      { type: 'message.send', kind: 0, from: 'ann', group: 'g', text: 'new', idKey: 'k2' },
    ];
    for (const d of ops) apply(s, { ...d, seq: s.seq + 1, ts: 10 } as Op);
    const r = await roundTrip(s);
    expect(r.idempotency.get('ann\nk1')).toMatchObject({ seq: 3, text: 'kept by its key', group: 'g' });
    expect(r.groupMessages.get('g')!.map((m) => m.text)).toEqual(['new']);
    expect(r.idempotency.get('ann\nk2')).toBe(r.groupMessages.get('g')![0]);
    expect(r.messageCount).toBe(3);
    expect(() => apply(r, { type: 'message.send', kind: 0, from: 'ann', group: 'g', text: 'x', idKey: 'k1', seq: 8, ts: 11 }))
      .toThrow(/idempotency key "k1" reused/);
  });

  it('streams a large state as whole lines in ~256 KiB chunks', () => {
    const s = createState();
    apply(s, { type: 'user.create', name: 'ann', passwordHash: 'h', displayName: 'Ann', admin: false, seq: 1, ts: 1 });
    apply(s, { type: 'user.create', name: 'ben', passwordHash: 'h', displayName: 'Ben', admin: false, seq: 2, ts: 1 });
    for (let i = 3; i <= 20_000; i++) {
      apply(s, { type: 'message.send', kind: 1, from: 'ann', to: 'ben', text: `message ${i} ${'x'.repeat(40)}`, seq: i, ts: i });
    }
    const chunks = [...snapshotChunks(captureSnapshot(s))];
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) {
      expect(c.endsWith('\n')).toBe(true);
      expect(c.length).toBeLessThan(CHUNK_CHARS + 1000);
    }
    expect([...splitLines(chunks)]).toHaveLength(1 + 2 + 19_998);
  });

  it('refuses an image that is cut short, reordered or not its format', async () => {
    const s = createState();
    playIntents(s, fc.sample(intentsArb(), { numRuns: 1, seed: 7 })[0]!);
    const lines = [...splitLines(snapshotChunks(captureSnapshot(s)))];
    expect(lines.length).toBeGreaterThan(10);
    await expect(restoreSnapshot(lines.slice(0, -1))).rejects.toThrow(SnapshotFormatError);
    await expect(restoreSnapshot(lines.slice(1))).rejects.toThrow(/state line/);
    await expect(restoreSnapshot([])).rejects.toThrow(/empty image/);
    await expect(restoreSnapshot([lines[0]!, '{"t":"user"'])).rejects.toThrow(/line 2: not JSON/);
    await expect(restoreSnapshot([lines[0]!, '{"t":"what"}'])).rejects.toThrow(/unknown line type/);
  });
});
