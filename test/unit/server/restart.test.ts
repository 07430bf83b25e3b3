/**
 * State is what the journal says: a restart on the same data dir keeps accounts,
 * sessions, groups, messages and idempotency keys; a torn tail is cut and a stale lock
 * taken over, each with a warning after the "listening" line (SPEC §3, §8).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSegments } from '../../../src/journal/journal.js';
import { useTestServer } from './helpers.js';

const testServer = useTestServer();

describe('restart', () => {
  it('keeps accounts, tokens, groups, messages and idempotency keys', async () => {
    const first = await testServer();
    const dir = first.dataDir;
    const ann = await first.client();
    const { token } = await ann.register('ann');
    await ann.request('GROUP_CREATE', { group: 'dev', private: true });
    await ann.request('RENAME', { displayName: 'Ann' });
    const sent = await ann.request('SEND', { kind: 0, target: 'dev', text: 'kept', idKey: 'once' });
    await first.stop();

    const second = await testServer({ dataDir: dir });
    expect(second.logs.find((l) => l.msg === 'listening')?.seq).toBe(sent.message.seq);
    const byToken = await second.client();
    await byToken.hello();
    expect((await byToken.request('LOGIN', { name: 'ann', token })).profile.displayName).toBe('Ann');
    const byPw = await second.client();
    await byPw.login('ann');
    await byPw.request('LISTEN', { on: true }); // a live session: ann is online
    const groups = await byPw.request('GROUPS', { members: true });
    expect(groups.groups).toEqual([{ name: 'dev', private: true, owner: 'ann', memberCount: 1, joined: true,
      members: [{ name: 'ann', role: 'owner', online: true }] }]);
    const retry = await byPw.request('SEND', { kind: 0, target: 'dev', text: 'kept', idKey: 'once' });
    expect(retry).toEqual({ message: sent.message, duplicate: true });
    const next = await byPw.request('SEND', { kind: 0, target: 'dev', text: 'new' });
    expect(next.message.seq).toBeGreaterThan(sent.message.seq); // the password login stored a session first
    expect(second.srv.engine.state.groupMessages.get('dev')!.map((m) => m.text)).toEqual(['kept', 'new']);
  });

  it('cuts a torn record at the journal tail with a warning and goes on', async () => {
    const first = await testServer();
    const dir = first.dataDir;
    await first.user('ann');
    await first.stop();
    const last = listSegments(dir).at(-1)!;
    const size = statSync(last.path).size;
    appendFileSync(last.path, Buffer.from([0, 0, 1, 0, 9, 9, 9]));
    const second = await testServer({ dataDir: dir });
    // SPEC §3: the first line says where it listens; the SPEC §8 warning comes right after.
    expect(second.logs.map((l) => l.msg).slice(0, 2)).toEqual(['listening', 'journal had a torn record at its tail; truncated it']);
    expect(second.logs[1]).toMatchObject({ level: 40, file: last.rel, offset: size, bytes: 7 });
    expect(second.srv.engine.recovered).toEqual({ file: last.rel, offset: size, bytes: 7 });
    await (await second.client()).login('ann');
  });

  it('takes over the lock of a server that died without releasing it, warning after the listening line', async () => {
    const first = await testServer();
    const dir = first.dataDir;
    await first.user('ann');
    await first.stop();
    const gone = spawnSync(process.execPath, ['-e', '']).pid!; // a pid that no longer runs
    writeFileSync(join(dir, 'LOCK'), `${JSON.stringify({ holder: 'chat-server start', pid: gone, host: hostname(), since: '2020-01-01T00:00:00.000Z', nonce: 'dead' })}\n`);
    const second = await testServer({ dataDir: dir });
    expect(second.logs.map((l) => l.msg).slice(0, 2)).toEqual(['listening', 'data directory lock was left by a process that is gone; took it over']);
    expect(second.logs[1]).toMatchObject({ level: 40, stale: { pid: gone, holder: 'chat-server start' } });
    await (await second.client()).login('ann');
  });
});
