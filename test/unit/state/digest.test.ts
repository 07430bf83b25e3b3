/**
 * stateDigest: pinned definition, independence from insertion order, sensitivity to
 * every canonical field, blindness to derived indexes.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apply } from '../../../src/state/apply.js';
import { stateDigest } from '../../../src/state/digest.js';
import { createState, ZERO_DIGEST, type Op, type OpData, type State } from '../../../src/state/types.js';
import { intentsArb, playIntents } from './gen-ops.js';

function build(data: OpData[], state: State = createState()): State {
  for (const d of data) apply(state, { ...d, seq: state.seq + 1, ts: 1000 + state.seq } as Op);
  return state;
}

const sample = (): State => build([
  { type: 'user.create', name: 'ben', passwordHash: 'hb', displayName: 'Ben', admin: true },
  { type: 'user.create', name: 'ann', passwordHash: 'ha', displayName: 'Ann', age: 30, gender: 'f', admin: false },
  { type: 'session.create', name: 'ann', tokenHash: 't2', device: 'phone' },
  { type: 'session.create', name: 'ann', tokenHash: 't1', device: 'laptop' },
  { type: 'group.create', group: 'ops', owner: 'ben', private: true },
  { type: 'group.invite', group: 'ops', user: 'ann', by: 'ben' },
  { type: 'group.create', group: 'dev', owner: 'ann', private: false },
  { type: 'group.join', group: 'dev', user: 'ben' },
  { type: 'message.send', kind: 0, from: 'ann', group: 'dev', text: 'hi' },
  { type: 'message.send', kind: 1, from: 'ben', to: 'ann', text: 'yo', idKey: 'k' },
]);

describe('stateDigest', () => {
  it('follows the definition in docs/STORAGE.md "Digests" byte for byte', () => {
    const s = sample();
    const lines = [
      ['chat-suite state', 1], ['seq', 10], ['users', 2],
      ['ann', 'Ann', 'ha', 30, 'f', false, 1001, [['t1', 'laptop', 1003], ['t2', 'phone', 1002]]],
      ['ben', 'Ben', 'hb', null, null, true, 1000, []],
      ['groups', 2],
      ['dev', false, 'ann', 1006, [['ann', 'owner'], ['ben', 'member']], []],
      ['ops', true, 'ben', 1004, [['ben', 'owner']], ['ann']],
      ['messages', 2, s.messagesDigest],
    ];
    const expected = createHash('sha256').update(lines.map((l) => JSON.stringify(l) + '\n').join('')).digest('hex');
    expect(stateDigest(s)).toBe(expected);
    expect(stateDigest(createState())).toBe(createHash('sha256').update(
      '["chat-suite state",1]\n["seq",0]\n["users",0]\n["groups",0]\n' + `["messages",0,"${ZERO_DIGEST}"]\n`,
    ).digest('hex'));
  });

  it('is independent of Map and Set insertion order and uses code-unit order, not the locale', () => {
    const s = sample();
    const d = stateDigest(s);
    const reversed = <K, V>(m: Map<K, V>): Map<K, V> => new Map([...m].reverse());
    s.users = reversed(s.users);
    for (const u of s.users.values()) u.sessions = reversed(u.sessions);
    s.groups = reversed(s.groups);
    for (const g of s.groups.values()) g.members = reversed(g.members);
    expect(stateDigest(s)).toBe(d);

    // "Zed" < "ann" < "Ábel" in code units; a locale sort would put "Ábel" first.
    const names = ['Ábel', 'ann', 'Zed'];
    const a = build(names.map((n) => ({ type: 'user.create', name: n, passwordHash: 'h', displayName: `D${n}`, admin: false }) as OpData));
    const b = createState();
    for (const n of [...names].reverse()) b.users.set(n, { ...a.users.get(n)!, sessions: new Map() });
    b.seq = a.seq;
    expect(stateDigest(b)).toBe(stateDigest(a));
  });

  it('changes with every canonical field', () => {
    const base = stateDigest(sample());
    const edits: Array<[string, (s: State) => void]> = [
      ['seq', (s) => { s.seq++; }],
      ['display name', (s) => { s.users.get('ann')!.displayName = 'Annie'; }],
      ['password hash', (s) => { s.users.get('ann')!.passwordHash = 'hx'; }],
      ['age', (s) => { s.users.get('ben')!.age = 0; }],
      ['gender', (s) => { s.users.get('ann')!.gender = ''; }],
      ['admin', (s) => { s.users.get('ann')!.admin = true; }],
      ['user created', (s) => { s.users.get('ann')!.createdTs++; }],
      ['session removed', (s) => { s.users.get('ann')!.sessions.delete('t1'); }],
      ['session device', (s) => { s.users.get('ann')!.sessions.set('t1', { device: 'x', createdTs: 1003 }); }],
      ['session ts', (s) => { s.users.get('ann')!.sessions.set('t1', { device: 'laptop', createdTs: 1 }); }],
      ['session moved', (s) => {
        const t = s.users.get('ann')!.sessions.get('t1')!;
        s.users.get('ann')!.sessions.delete('t1');
        s.users.get('ben')!.sessions.set('t1', t);
      }],
      ['private', (s) => { s.groups.get('dev')!.private = true; }],
      ['owner', (s) => { s.groups.get('dev')!.owner = 'ben'; }],
      ['group created', (s) => { s.groups.get('dev')!.createdTs++; }],
      ['role', (s) => { s.groups.get('dev')!.members.set('ben', 'admin'); }],
      ['member left', (s) => { s.groups.get('dev')!.members.delete('ben'); }],
      ['invitation', (s) => { s.groups.get('dev')!.invited.add('ben'); }],
      ['group deleted', (s) => { s.groups.delete('ops'); }],
      ['message count', (s) => { s.messageCount++; }],
      ['message chain', (s) => { s.messagesDigest = ZERO_DIGEST; }],
    ];
    const seen = new Set([base]);
    for (const [what, edit] of edits) {
      const s = sample();
      edit(s);
      const d = stateDigest(s);
      expect(seen.has(d), what).toBe(false);
      seen.add(d);
    }
  });

  it('leaves derived indexes out', () => {
    const s = sample();
    const d = stateDigest(s);
    s.directPeers.clear();
    s.idempotency.clear();
    s.displayNames.delete('Ann');
    expect(stateDigest(s)).toBe(d);
  });

  it('is the same for two states fed the same random ops, and differs once one of them moves on', () => {
    fc.assert(fc.property(intentsArb(), intentsArb(10, false), (intents, more) => {
      const a = createState();
      const b = createState();
      playIntents(a, intents, (op) => apply(b, op));
      expect(stateDigest(b)).toBe(stateDigest(a));
      const before = stateDigest(a);
      const extra = playIntents(a, more);
      if (extra.length > 0) expect(stateDigest(a)).not.toBe(before);
    }), { numRuns: 150 });
  });
});
