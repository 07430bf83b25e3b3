/**
 * apply(): every op type, its invariants, all-or-nothing failure, determinism.
 */
import { describe, expect, it } from 'vitest';
import { apply, ApplyError } from '../../../src/state/apply.js';
import { canManage, canSee, groupsOf, visibleGroups } from '../../../src/state/queries.js';
import { createState, directKey, displayNameKey, idempotencyKey, type Op, type OpData, type State } from '../../../src/state/types.js';

/** Applies op data with consecutive seqs and a fake clock; returns the state and the ops. */
function build(data: OpData[], state: State = createState()): { state: State; ops: Op[] } {
  const ops: Op[] = [];
  for (const d of data) {
    const op = { ...d, seq: state.seq + 1, ts: 1000 + state.seq } as Op;
    apply(state, op);
    ops.push(op);
  }
  return { state, ops };
}

const user = (name: string, displayName = name): OpData => ({ type: 'user.create', name, passwordHash: `h-${name}`, displayName, admin: false });

function next(state: State, d: OpData): Op {
  return { ...d, seq: state.seq + 1, ts: 5000 } as Op;
}

describe('accounts and sessions', () => {
  it('user.create, rename, passwd, session.create/revoke', () => {
    const { state } = build([
      { ...user('ann', 'Ann'), age: 30, gender: 'f' } as OpData,
      { type: 'session.create', name: 'ann', tokenHash: 't1', device: 'laptop' },
      { type: 'session.create', name: 'ann', tokenHash: 't2', device: 'phone' },
      { type: 'session.revoke', name: 'ann', tokenHash: 't1' },
    ]);
    const ann = state.users.get('ann')!;
    expect(ann).toMatchObject({ name: 'ann', displayName: 'Ann', age: 30, gender: 'f', admin: false, createdTs: 1000 });
    expect([...ann.sessions.keys()]).toEqual(['t2']);
    expect(ann.sessions.get('t2')).toEqual({ device: 'phone', createdTs: 1002 });
    expect(state.displayNames.get('Ann')).toBe('ann');

    build([{ type: 'user.rename', name: 'ann', displayName: 'Annie' }], state);
    expect(state.displayNames.has('Ann')).toBe(false);
    expect(state.displayNames.get('Annie')).toBe('ann');
    build([{ type: 'user.passwd', name: 'ann', passwordHash: 'h2' }], state);
    expect(ann.passwordHash).toBe('h2');
    expect(ann.sessions.size).toBe(0);
    expect(state.seq).toBe(6);
  });

  it('refuses a taken name or display name and ops on unknown users', () => {
    const { state } = build([user('ann'), user('ben')]);
    expect(() => apply(state, next(state, user('ann', 'other')))).toThrow(ApplyError);
    expect(() => apply(state, next(state, user('cat', 'ben')))).toThrow(/display name "ben" taken/);
    expect(() => apply(state, next(state, { type: 'user.rename', name: 'ann', displayName: 'ben' }))).toThrow(ApplyError);
    expect(() => apply(state, next(state, { type: 'user.passwd', name: 'ghost', passwordHash: 'x' }))).toThrow(/no user "ghost"/);
    expect(() => apply(state, next(state, { type: 'session.create', name: 'ghost', tokenHash: 'x', device: 'd' }))).toThrow(ApplyError);
  });

  it('display names are unique as they read: case, width, compatibility forms and spacing fold together', () => {
    for (const [a, b] of [['Ann', 'ANN'], ['Ann', 'Ａｎｎ'], ['straße', 'STRASSE'], ['ﬁx', 'FIX'], ['Ann Lee', 'ann\u00A0lee'],
      ['Ann Lee', 'Ann   Lee'], ['Σίσυφος', 'ΣΊΣΥΦΟΣ'], ['café', 'cafe\u0301']]) {
      expect(displayNameKey(a), `${a} / ${b}`).toBe(displayNameKey(b));
    }
    expect(displayNameKey('Ann')).not.toBe(displayNameKey('Anne'));

    const { state } = build([user('ann', 'Ann'), user('ben', 'Ben')]);
    expect(state.displayNames.get('ANN')).toBe('ann');
    expect(state.displayNames.has('ａｎｎ')).toBe(true);
    expect(() => apply(state, next(state, user('cat', 'ＡＮＮ')))).toThrow(/display name "ＡＮＮ" taken/);
    expect(() => apply(state, next(state, { type: 'user.rename', name: 'ben', displayName: 'aNN' }))).toThrow(ApplyError);
    // The holder may change the case or form of their own name; the old form is not kept.
    build([{ type: 'user.rename', name: 'ann', displayName: 'ANN' }], state);
    expect(state.users.get('ann')!.displayName).toBe('ANN');
    expect(state.displayNames.get('ann')).toBe('ann');
    expect(state.displayNames.size).toBe(2);
    // Renaming away frees every form of the old name.
    build([{ type: 'user.rename', name: 'ann', displayName: 'Annie' }, user('cat', 'ann')], state);
    expect(state.displayNames.get('ANN')).toBe('cat');
    expect(state.displayNames.get('annie')).toBe('ann');
  });

  it('refuses an op whose seq does not follow', () => {
    const { state } = build([user('ann')]);
    expect(() => apply(state, { ...user('ben'), seq: 3, ts: 1 } as Op)).toThrow(/expected seq 2/);
    expect(() => apply(state, { ...user('ben'), seq: 1, ts: 1 } as Op)).toThrow(/expected seq 2/);
  });
});

describe('groups', () => {
  it('create, invite, join, role, kick, leave, delete', () => {
    const { state } = build([
      user('own'), user('adm'), user('mem'), user('inv'),
      { type: 'group.create', group: 'g', owner: 'own', private: true },
      { type: 'group.invite', group: 'g', user: 'adm', by: 'own' },
      { type: 'group.join', group: 'g', user: 'adm' },
      { type: 'group.invite', group: 'g', user: 'mem', by: 'own' },
      { type: 'group.join', group: 'g', user: 'mem' },
      { type: 'group.invite', group: 'g', user: 'inv', by: 'own' },
      { type: 'group.role', group: 'g', user: 'adm', role: 'admin' },
    ]);
    const g = state.groups.get('g')!;
    expect([...g.members]).toEqual([['own', 'owner'], ['adm', 'admin'], ['mem', 'member']]);
    expect([...g.invited]).toEqual(['inv']);
    expect(state.groupMessages.get('g')).toEqual([]);
    expect(canManage(g, 'adm')).toBe(true);
    expect(canManage(g, 'mem')).toBe(false);
    expect(canSee(g, 'inv')).toBe(true);
    expect(groupsOf(state, 'mem')).toEqual(['g']);
    expect(visibleGroups(state, 'nobody')).toEqual([]);

    build([
      { type: 'group.kick', group: 'g', user: 'inv', by: 'adm' },
      { type: 'group.kick', group: 'g', user: 'adm', by: 'own' },
      { type: 'group.leave', group: 'g', user: 'mem' },
    ], state);
    expect([...g.members.keys()]).toEqual(['own']);
    expect(g.invited.size).toBe(0);
    build([{ type: 'group.delete', group: 'g', by: 'own' }], state);
    expect(state.groups.has('g')).toBe(false);
    expect(state.groupMessages.has('g')).toBe(false);
  });

  it('enforces its invariants', () => {
    const { state } = build([user('own'), user('mem'), { type: 'group.create', group: 'g', owner: 'own', private: false },
      { type: 'group.join', group: 'g', user: 'mem' }]);
    const bad: OpData[] = [
      { type: 'group.create', group: 'g', owner: 'own', private: false }, // exists
      { type: 'group.create', group: 'h', owner: 'ghost', private: false }, // no owner
      { type: 'group.join', group: 'g', user: 'mem' }, // already a member
      { type: 'group.join', group: 'nope', user: 'mem' },
      { type: 'group.leave', group: 'g', user: 'own' }, // owner cannot leave
      { type: 'group.leave', group: 'g', user: 'ghost' },
      { type: 'group.invite', group: 'g', user: 'mem', by: 'own' }, // member
      { type: 'group.kick', group: 'g', user: 'own', by: 'mem' }, // owner
      { type: 'group.role', group: 'g', user: 'own', role: 'member' },
      { type: 'group.role', group: 'g', user: 'ghost', role: 'admin' },
      { type: 'group.delete', group: 'nope', by: 'own' },
    ];
    for (const d of bad) expect(() => apply(state, next(state, d)), d.type).toThrow(ApplyError);
  });
});

describe('messages', () => {
  it('stores group, direct and broadcast messages and idempotency keys', () => {
    const { state } = build([user('ann'), user('ben'), { type: 'group.create', group: 'g', owner: 'ann', private: false },
      { type: 'message.send', kind: 0, from: 'ann', group: 'g', text: 'hi', idKey: 'k' },
      { type: 'message.send', kind: 1, from: 'ben', to: 'ann', text: 'dm' },
      { type: 'message.send', kind: 1, from: 'ann', to: 'ben', text: 'dm back' },
      { type: 'message.send', kind: 2, from: 'ben', text: 'all' },
    ]);
    expect(state.groupMessages.get('g')).toEqual([{ seq: 4, kind: 0, from: 'ann', group: 'g', text: 'hi', ts: 1003 }]);
    expect(state.directMessages.get(directKey('ann', 'ben'))!.map((m) => m.text)).toEqual(['dm', 'dm back']);
    expect(directKey('ann', 'ben')).toBe(directKey('ben', 'ann'));
    expect(state.broadcasts).toEqual([{ seq: 7, kind: 2, from: 'ben', text: 'all', ts: 1006 }]);
    expect(state.idempotency.get(idempotencyKey('ann', 'k'))!.seq).toBe(4);
    const reuse: OpData = { type: 'message.send', kind: 2, from: 'ann', text: 'again', idKey: 'k' };
    expect(() => apply(state, next(state, reuse))).toThrow(/idempotency key/);
    expect(() => apply(state, next(state, { type: 'message.send', kind: 0, from: 'ann', group: 'nope', text: 'x' }))).toThrow(ApplyError);
    expect(() => apply(state, next(state, { type: 'message.send', kind: 1, from: 'ann', to: 'ghost', text: 'x' }))).toThrow(ApplyError);
    expect(() => apply(state, next(state, { type: 'message.send', kind: 2, from: 'ghost', text: 'x' }))).toThrow(ApplyError);
  });
});

// ---- determinism and all-or-nothing -------------------------------------------------

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomOp(r: () => number): OpData {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const u = pick(['a', 'b', 'c', 'd', 'e']);
  const v = pick(['a', 'b', 'c', 'd', 'e', 'ghost']);
  const g = pick(['g1', 'g2', 'g3']);
  switch (Math.floor(r() * 13)) {
    case 0: return user(u, pick(['A', 'B', 'C', 'D', 'E', u]));
    case 1: return { type: 'user.passwd', name: u, passwordHash: `p${r()}` };
    case 2: return { type: 'user.rename', name: u, displayName: pick(['X', 'Y', u]) };
    case 3: return { type: 'session.create', name: u, tokenHash: pick(['t1', 't2']), device: 'd' };
    case 4: return { type: 'session.revoke', name: u, tokenHash: pick(['t1', 't2']) };
    case 5: return { type: 'group.create', group: g, owner: u, private: r() < 0.5 };
    case 6: return { type: 'group.join', group: g, user: v };
    case 7: return { type: 'group.leave', group: g, user: v };
    case 8: return { type: 'group.invite', group: g, user: v, by: u };
    case 9: return { type: 'group.kick', group: g, user: v, by: u };
    case 10: return r() < 0.3 ? { type: 'group.delete', group: g, by: u } : { type: 'group.role', group: g, user: v, role: pick(['admin', 'member'] as const) };
    case 11: return { type: 'message.send', kind: 0, from: u, group: g, text: `t${r()}`, idKey: r() < 0.3 ? pick(['k1', 'k2']) : undefined };
    default: return r() < 0.5
      ? { type: 'message.send', kind: 1, from: u, to: v, text: 'dm' }
      : { type: 'message.send', kind: 2, from: u, text: 'all' };
  }
}

describe('determinism', () => {
  it('a refused op leaves the state untouched, and replaying the accepted ops gives an equal state', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const live = createState();
      const accepted: Op[] = [];
      let refused = 0;
      for (let i = 0; i < 400; i++) {
        const op = { ...randomOp(r), seq: live.seq + 1, ts: 1000 + i } as Op;
        const before = structuredClone(live);
        try {
          apply(live, op);
          accepted.push(op);
        } catch (err) {
          expect(err).toBeInstanceOf(ApplyError);
          expect(live).toEqual(before); // all or nothing
          refused++;
        }
      }
      expect(accepted.length).toBeGreaterThan(50);
      expect(refused).toBeGreaterThan(0);
      // Replay the ops as the journal stores them (JSON) into a fresh state.
      const replayed = createState();
      for (const op of accepted) apply(replayed, JSON.parse(JSON.stringify(op)) as Op);
      expect(replayed).toEqual(live);
      const again = createState();
      for (const op of accepted) apply(again, op);
      expect(again).toEqual(replayed);
    }
  });
});
