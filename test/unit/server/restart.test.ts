/**
 * State is what the journal says: a restart on the same data dir keeps accounts,
 * sessions, groups, messages and idempotency keys; a torn tail is cut with a warning.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
    appendFileSync(join(dir, 'journal.log'), Buffer.from([0, 0, 1, 0, 9, 9, 9]));
    const second = await testServer({ dataDir: dir });
    const warn = second.logs.find((l) => l.level === 40);
    expect(warn).toMatchObject({ truncatedBytes: 7 });
    await (await second.client()).login('ann');
  });
});
