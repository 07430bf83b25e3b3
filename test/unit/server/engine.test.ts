/**
 * Engine: replay at start, commit = apply now + durable later, whenDurable, the stop
 * on a journal failure, and what it exposes of the journal (id, digest, follow).
 */
import { appendFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { listSegments } from '../../../src/journal/journal.js';
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

describe('Engine and the segmented journal', () => {
  it('journalDigest always describes state.seq, is stable across a reopen, and journalId persists', async () => {
    const d = dir();
    const e = await Engine.open({ dataDir: d, log: silentLogger(), segmentBytes: 400 });
    expect(e.journalId).toMatch(/^[0-9a-f]{32}$/);
    expect(e.journalDigest).toBe('0'.repeat(64));
    const p = e.commit(user('ann'));
    const afterAnn = e.journalDigest; // updated with the commit, before it is durable
    expect(afterAnn).not.toBe('0'.repeat(64));
    await p;
    for (const n of ['ben', 'cat', 'dan', 'eve', 'fay']) await e.commit(user(n));
    const { journalId, journalDigest } = e;
    await e.close();
    expect(listSegments(d).length).toBeGreaterThan(1); // segmentBytes reaches the journal
    const again = await Engine.open({ dataDir: d, log: silentLogger() });
    expect([again.journalId, again.journalDigest, again.seq]).toEqual([journalId, journalDigest, 6]);
    await again.close();
  });

  it('engine.journal.follow yields committed ops once durable, in order', async () => {
    const e = await Engine.open({ dataDir: dir(), log: silentLogger() });
    await e.commit(user('ann'));
    const ac = new AbortController();
    const seen: Array<[number, boolean]> = [];
    const following = (async () => {
      for await (const r of e.journal.follow(0, ac.signal)) {
        seen.push([r.seq, e.isDurable(r.seq)]);
        if (r.seq === 3) ac.abort();
      }
    })();
    await Promise.all([e.commit(user('ben')), e.commit(user('cat'))]);
    await following;
    expect(seen).toEqual([[1, true], [2, true], [3, true]]);
    await e.close();
  });

  it('reports a torn tail it cut, as file, offset and bytes', async () => {
    const d = dir();
    const e = await Engine.open({ dataDir: d, log: silentLogger() });
    await e.commit(user('ann'));
    await e.close();
    const last = listSegments(d).at(-1)!.path;
    const size = statSync(last).size;
    appendFileSync(last, Buffer.from([0, 0, 1, 0, 9, 9, 9]));
    const again = await Engine.open({ dataDir: d, log: silentLogger() });
    expect(again.recovered).toEqual({ file: 'journal/00000000000000000001.seg', offset: size, bytes: 7 });
    expect(again.seq).toBe(1);
    await again.close();
  });
});
