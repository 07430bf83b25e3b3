/**
 * Random valid op histories for property tests of digests and snapshots.
 *
 * fast-check generates "intents" (an op kind and a few numbers); playIntents turns each
 * into a concrete op against the current state and keeps it only when apply() accepts
 * it (apply checks before it changes anything). Names come from small pools so that
 * ops collide: renames to taken names, deleted and re-created groups, reused keys.
 */
import fc from 'fast-check';
import { apply, ApplyError } from '../../../src/state/apply.js';
import type { Op, OpData, State } from '../../../src/state/types.js';

export type Intent = [kind: number, a: number, b: number, c: number, text: string];

export const intentArb: fc.Arbitrary<Intent> = fc.tuple(
  fc.nat(22), fc.nat(50), fc.nat(50), fc.nat(50), fc.string({ maxLength: 6, unit: 'binary' }),
);
/** Intents that create users ann, ben, cat, dan (a = index in USERS) and groups g1, g2, so random histories get going. */
const SEED: Intent[] = [[0, 0, 0, 1, ''], [0, 1, 1, 1, 'm'], [0, 2, 2, 1, ''], [0, 3, 3, 1, ''], [5, 0, 0, 0, ''], [5, 1, 1, 1, '']];

/** A random history; `seeded` puts SEED first (for histories that start from an empty state). */
export const intentsArb = (maxLength = 150, seeded = true): fc.Arbitrary<Intent[]> =>
  fc.array(intentArb, { maxLength, size: 'max' }).map((xs) => (seeded ? [...SEED, ...xs] : xs));

const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'Zed', 'Ábel'];
const DISPLAY = ['Ann', 'ANN', 'Ben', 'Cat', 'Dan', 'Eve', 'Zed', 'Ábel', 'boss'];
const GROUPS = ['g1', 'g2', 'g3', 'ops'];
const FILES = ['a.txt', 'B.pdf', 'ä.log'];
/** Few contents, so blobs are shared across names and groups (blobRefs counts > 1). */
const BLOBS = ['0', '1', 'a', 'f'].map((c) => c.repeat(64));
const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

function dataFor(state: State, [kind, a, b, c, text]: Intent): OpData {
  const u = pick(USERS, a);
  const v = pick(USERS, b);
  const g = pick(GROUPS, c);
  switch (kind) {
    case 0: return {
      type: 'user.create', name: u, displayName: pick(DISPLAY, b + c), passwordHash: `h${b}`,
      ...(c % 3 === 0 ? {} : { age: c }), ...(b % 3 === 0 ? {} : { gender: text }), admin: c % 5 === 0,
    };
    case 1: return { type: 'user.passwd', name: u, passwordHash: `p${b}` };
    case 2: return { type: 'user.rename', name: u, displayName: b % 4 === 0 ? `${text}x` : pick(DISPLAY, b) };
    case 3: return { type: 'session.create', name: u, tokenHash: `t${b % 6}`, device: text };
    case 4: return { type: 'session.revoke', name: u, tokenHash: `t${b % 6}` };
    case 5: return { type: 'group.create', group: g, owner: u, private: b % 2 === 0 };
    case 6: return { type: 'group.join', group: g, user: u };
    case 7: return { type: 'group.leave', group: g, user: u };
    case 8: return { type: 'group.invite', group: g, user: u, by: v };
    case 9: return { type: 'group.kick', group: g, user: u, by: v };
    case 10: return { type: 'group.delete', group: g, by: v };
    case 11: return { type: 'group.role', group: g, user: u, role: b % 2 === 0 ? 'admin' : 'member' };
    case 12: case 13: case 14:
      return { type: 'message.send', kind: 0, from: u, group: g, text, ...(b % 3 === 0 ? { idKey: `k${b % 5}` } : {}) };
    case 15: case 16: case 17:
      return { type: 'message.send', kind: 1, from: u, to: v, text, ...(c % 3 === 0 ? { idKey: `k${c % 5}` } : {}) };
    case 20: case 21:
      return { type: 'file.put', group: g, name: pick(FILES, b), size: c * 1000, sha256: pick(BLOBS, b + c), uploader: u };
    case 22:
      return { type: 'file.rm', group: g, name: pick(FILES, b), ...(a % 3 === 0 ? {} : { version: (c % 4) + 1 }), by: v };
    default:
      return { type: 'message.send', kind: 2, from: u, text, ...(a % 4 === 0 ? { idKey: `b${b % 3}` } : {}) };
  }
}

/**
 * Applies the intents that make valid ops to `state` (seq from the state, ts = 1000 +
 * seq), calling `also(op)` after each accepted one; returns the accepted ops.
 */
export function playIntents(state: State, intents: readonly Intent[], also?: (op: Op) => void): Op[] {
  const ops: Op[] = [];
  for (const intent of intents) {
    const op = { ...dataFor(state, intent), seq: state.seq + 1, ts: 1000 + state.seq } as Op;
    try {
      apply(state, op);
    } catch (err) {
      if (err instanceof ApplyError) continue;
      throw err;
    }
    ops.push(op);
    also?.(op);
  }
  return ops;
}

/**
 * Every field of a State as plain arrays in iteration order (Maps and Sets as entry
 * lists, message lists copied), so toStrictEqual checks contents and orders and the
 * result stays put while the state changes. displayNames has no iteration API: its
 * entries are compared sorted; blobRefs too (restore rebuilds it in another order).
 */
export function normalize(s: State): Record<keyof State, unknown> {
  const byKey = (s.displayNames as unknown as { byKey: Map<string, string> }).byKey;
  return {
    seq: s.seq,
    users: [...s.users].map(([k, u]) => [k, { ...u, sessions: [...u.sessions] }]),
    displayNames: [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    groups: [...s.groups].map(([k, g]) => [k, { ...g, members: [...g.members], invited: [...g.invited] }]),
    groupMessages: [...s.groupMessages].map(([k, l]) => [k, [...l]]),
    directMessages: [...s.directMessages].map(([k, l]) => [k, [...l]]),
    broadcasts: [...s.broadcasts],
    idempotency: [...s.idempotency],
    directPeers: [...s.directPeers].map(([k, set]) => [k, [...set]]),
    files: [...s.files].map(([g, m]) => [g, [...m].map(([k, e]) => [k, { ...e, versions: [...e.versions] }])]),
    // Derived and rebuilt by restore in its own order: compared as a sorted list.
    blobRefs: [...s.blobRefs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    messageCount: s.messageCount,
    messagesDigest: s.messagesDigest,
  };
}
