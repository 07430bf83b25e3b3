import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../../src/common/errors.js';
import { matchesTail, reconnectDelay, tailFilter } from '../../../src/client/cli/handlers/tail.js';
import { matchesWait, waitSpec } from '../../../src/client/cli/handlers/wait.js';

const g = (group: string, from = 'bob', text = 'hi') => ({ seq: 1, kind: 0, from, group, text, ts: 0 });
const d = (from: string, to: string) => ({ seq: 2, kind: 1, from, to, text: 'psst', ts: 0 });
const all = { seq: 3, kind: 2, from: 'root', text: 'hear ye', ts: 0 };

describe('tail filters', () => {
  it('no filter: everything', () => {
    const f = tailFilter({});
    for (const m of [g('ops'), d('bob', 'me'), all]) expect(matchesTail(f, m, 'me')).toBe(true);
  });

  it('-g (repeatable) keeps those groups; --with keeps that conversation, both directions', () => {
    const f = tailFilter({ group: ['ops', 'dev'], with: 'bob' });
    expect(matchesTail(f, g('ops'), 'me')).toBe(true);
    expect(matchesTail(f, g('dev'), 'me')).toBe(true);
    expect(matchesTail(f, g('random'), 'me')).toBe(false);
    expect(matchesTail(f, d('bob', 'me'), 'me')).toBe(true);
    expect(matchesTail(f, d('me', 'bob'), 'me')).toBe(true);
    expect(matchesTail(f, d('carol', 'me'), 'me')).toBe(false);
    expect(matchesTail(f, all, 'me')).toBe(false);
    expect(matchesTail(tailFilter({ group: 'ops' }), d('bob', 'me'), 'me')).toBe(false);
  });

  it('reconnect delays grow exponentially with jitter and stay under 5 s', () => {
    expect(reconnectDelay(0, () => 1)).toBe(250);
    expect(reconnectDelay(0, () => 0)).toBe(125);
    expect(reconnectDelay(3, () => 1)).toBe(2000);
    expect(reconnectDelay(10, () => 1)).toBe(5000);
    expect(reconnectDelay(1000, () => 0.5)).toBe(3750);
  });
});

describe('wait', () => {
  it('matches group, sender and regex', () => {
    const spec = waitSpec({ group: 'ci', from: 'builder', match: '^build #\\d+ ok' });
    expect(matchesWait(spec, g('ci', 'builder', 'build #12 ok'))).toBe(true);
    expect(matchesWait(spec, g('ci', 'builder', 'build #12 failed'))).toBe(false);
    expect(matchesWait(spec, g('ci', 'mallory', 'build #12 ok'))).toBe(false);
    expect(matchesWait(spec, g('other', 'builder', 'build #12 ok'))).toBe(false);
    expect(matchesWait(spec, { ...d('builder', 'me'), text: 'build #1 ok' })).toBe(false);
    expect(matchesWait(waitSpec({ group: 'ci' }), g('ci'))).toBe(true);
  });

  it('bad --match or --timeout are usage errors (2)', () => {
    const bad = (args: Parameters<typeof waitSpec>[0]) => { try { waitSpec(args); } catch (e) { return e; } return undefined; };
    expect(exitCodeFor(bad({ group: 'ci', match: '(' }))).toBe(2);
    expect(exitCodeFor(bad({ group: 'ci', timeout: 0 }))).toBe(2);
    expect(exitCodeFor(bad({ group: 'ci', timeout: NaN }))).toBe(2);
    expect(waitSpec({ group: 'ci', timeout: 1.5 }).timeoutSec).toBe(1.5);
  });
});
