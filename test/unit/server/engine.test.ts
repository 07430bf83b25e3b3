/**
 * Engine: replay at start, commit = apply now + durable later, whenDurable, and the
 * stop on a journal failure.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { ApplyError } from '../../../src/state/apply.js';
import { Engine } from '../../../src/server/engine.js';
import { useScratchDirs } from './helpers.js';

const dir = useScratchDirs();

const user = (name: string) => ({ type: 'user.create' as const, name, passwordHash: 'h', displayName: name, admin: false });

describe('Engine', () => {
  it('creates a missing data dir, applies at once, resolves when durable, replays on reopen', async () => {
    const d = join(dir(), 'nested', 'data');
    const e = await Engine.open({ dataDir: d, log: silentLogger() });
    const p = e.commit(user('ann'));
    expect(e.state.users.has('ann')).toBe(true); // visible to the next request at once
    expect(e.isDurable(1)).toBe(false);
    const op = await p;
    expect(op).toMatchObject({ seq: 1, type: 'user.create', name: 'ann' });
    expect(e.isDurable(1)).toBe(true);
    const [b, c] = await Promise.all([e.commit(user('ben')), e.commit(user('cat'))]);
    expect([b.seq, c.seq]).toEqual([2, 3]);
    expect(c.ts).toBeGreaterThanOrEqual(b.ts);
    await e.close();
    const again = await Engine.open({ dataDir: d, log: silentLogger() });
    expect([...again.state.users.keys()]).toEqual(['ann', 'ben', 'cat']);
    expect(again.seq).toBe(3);
    expect(again.isDurable(3)).toBe(true);
    await again.close();
  });

  it('whenDurable(seq) waits for exactly the ops up to seq', async () => {
    const e = await Engine.open({ dataDir: dir(), log: silentLogger() });
    const first = e.commit(user('a'));
    const waited = e.whenDurable(1);
    let done = false;
    void waited.then(() => { done = true; });
    expect(done).toBe(false);
    await first;
    await waited;
    expect(done).toBe(true);
    await e.close();
  });

  it('refuses an op that does not fit the state without touching it', async () => {
    const e = await Engine.open({ dataDir: dir(), log: silentLogger() });
    await e.commit(user('a'));
    expect(() => e.commit(user('a'))).toThrow(ApplyError);
    expect(e.seq).toBe(1);
    await e.close();
  });

  it('a failed journal write calls onJournalFailure once and refuses later commits', async () => {
    const d = dir();
    const probe = await open(join(d, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const failures: Error[] = [];
    const e = await Engine.open({ dataDir: d, log: silentLogger(), onJournalFailure: (err) => failures.push(err) });
    vi.spyOn(proto, 'write').mockRejectedValue(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
    const results = await Promise.allSettled([e.commit(user('a')), e.commit(user('b'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(failures).toHaveLength(1);
    expect(failures[0].message).toMatch(/no space left/);
    await expect(e.commit(user('c'))).rejects.toThrow(/journal failed/);
    await e.close();
  });
});
