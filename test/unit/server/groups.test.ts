/**
 * Group rules (SPEC §4 Groups, Roles) and GROUP_EVENT / PRESENCE pushes.
 */
import { describe, expect, it } from 'vitest';
import { holdSyncs, sleep, useTestServer, type TestServer } from './helpers.js';

const testServer = useTestServer();

describe('public groups', () => {
  it('create, list with members, join, leave; owner is owner', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const ben = await ts.user('ben');
    const created = await ann.request('GROUP_CREATE', { group: 'dev', private: false });
    expect(created.group).toMatchObject({ name: 'dev', private: false, owner: 'ann', memberCount: 1, joined: true });
    expect((await ann.refusal('GROUP_CREATE', { group: 'dev', private: true })).code).toBe('CHAT_ERR_CONFLICT');
    expect((await ann.refusal('GROUP_CREATE', { group: 'no/slash', private: false })).code).toBe('CHAT_ERR_INVALID');

    const listed = await ben.request('GROUPS', { members: false });
    expect(listed.groups).toEqual([{ name: 'dev', private: false, owner: 'ann', memberCount: 1, joined: false }]);
    const joined = await ben.request('GROUP_JOIN', { group: 'dev' });
    expect(joined.group.memberCount).toBe(2);
    expect((await ben.refusal('GROUP_JOIN', { group: 'dev' })).code).toBe('CHAT_ERR_CONFLICT');
    expect((await ben.refusal('GROUP_JOIN', { group: 'nope' })).code).toBe('CHAT_ERR_NOT_FOUND');

    const withMembers = await ann.request('GROUPS', { members: true });
    expect(withMembers.groups[0].members).toEqual([
      { name: 'ann', role: 'owner', online: true },
      { name: 'ben', role: 'member', online: true },
    ]);
    await ann.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'join' && p.payload.user === 'ben');

    const owner = await ann.refusal('GROUP_LEAVE', { group: 'dev' });
    expect(owner.code).toBe('CHAT_ERR_PERMISSION');
    expect(owner.message).toContain('delete');
    await ben.request('GROUP_LEAVE', { group: 'dev' });
    expect((await ben.refusal('GROUP_LEAVE', { group: 'dev' })).code).toBe('CHAT_ERR_NOT_FOUND');
    await ann.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'leave');
  });
});

describe('private groups', () => {
  it('are invisible to non-invited users (NOT_FOUND, same as missing) until invited', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const eve = await ts.user('eve');
    await ann.request('GROUP_CREATE', { group: 'secret', private: true });

    expect((await eve.request('GROUPS', { members: true })).groups).toEqual([]);
    const hidden = await eve.refusal('GROUP_JOIN', { group: 'secret' });
    const missing = await eve.refusal('GROUP_JOIN', { group: 'absent' });
    expect(hidden.code).toBe('CHAT_ERR_NOT_FOUND');
    expect(hidden.message.replace('secret', 'X')).toBe(missing.message.replace('absent', 'X'));
    for (const [name, payload] of [
      ['SEND', { kind: 0, target: 'secret', text: 'hi' }],
      ['GROUP_LEAVE', { group: 'secret' }],
      ['GROUP_INVITE', { group: 'secret', user: 'eve' }],
      ['GROUP_DELETE', { group: 'secret' }],
    ] as const) {
      expect((await eve.refusal(name, payload)).code).toBe('CHAT_ERR_NOT_FOUND');
    }

    await ann.request('GROUP_INVITE', { group: 'secret', user: 'eve' });
    await eve.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'invite' && p.payload.actor === 'ann');
    const seen = (await eve.request('GROUPS', { members: true })).groups;
    expect(seen).toEqual([{ name: 'secret', private: true, owner: 'ann', memberCount: 1, joined: false }]);
    await eve.request('GROUP_JOIN', { group: 'secret' });
    expect((await eve.request('GROUPS', { members: true })).groups[0].members).toHaveLength(2);
  });
});

describe('group names', () => {
  it('a name taken by a private group the caller cannot see is refused like any taken name, and nothing more is revealed', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const eve = await ts.user('eve');
    await ann.request('GROUP_CREATE', { group: 'secret', private: true });
    await ann.request('GROUP_CREATE', { group: 'open', private: false });
    const hidden = await eve.refusal('GROUP_CREATE', { group: 'secret', private: false });
    const visible = await eve.refusal('GROUP_CREATE', { group: 'open', private: true });
    expect(hidden.code).toBe('CHAT_ERR_CONFLICT');
    expect(hidden.message).toBe('CHAT_ERR_CONFLICT: group name "secret" is taken (choose another)');
    expect(visible.message).toBe('CHAT_ERR_CONFLICT: group name "open" is taken (choose another)');
    // Still invisible in every other way.
    expect((await eve.request('GROUPS', { members: false })).groups.map((g: { name: string }) => g.name)).toEqual(['open']);
    expect((await eve.refusal('GROUP_JOIN', { group: 'secret' })).code).toBe('CHAT_ERR_NOT_FOUND');
  });
});

describe('replies read the state of their own commit', () => {
  /** Runs `first` while the journal's fsync is held, then `second` once `first` has committed; then releases. */
  async function whileNotDurable<T, U>(ts: TestServer, first: () => Promise<T>, second: () => Promise<U>): Promise<[T, U]> {
    const syncs = await holdSyncs();
    try {
      const seq = ts.srv.engine.seq;
      const a = first();
      for (let i = 0; i < 200 && ts.srv.engine.seq === seq; i++) await sleep(5);
      expect(ts.srv.engine.seq).toBe(seq + 1);
      const b = second();
      for (let i = 0; i < 200 && ts.srv.engine.seq === seq + 1; i++) await sleep(5);
      syncs.release();
      return await Promise.all([a, b]);
    } finally {
      syncs.restore();
    }
  }

  it('GROUP_CREATE answers with the group it made though a request behind it deleted the group before the disk confirmed', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const [created] = await whileNotDurable(ts,
      () => ann.request('GROUP_CREATE', { group: 'brief', private: false }),
      () => ann.request('GROUP_DELETE', { group: 'brief' }));
    expect(created.group).toMatchObject({ name: 'brief', owner: 'ann', memberCount: 1, joined: true });
    expect(ts.logs.some((l) => l.msg === 'handler failed (a bug)')).toBe(false);
    expect((await ann.request('GROUPS', { members: false })).groups).toEqual([]);
  });

  it('GROUP_JOIN answers (and tells the joiner) as of the join, though a kick followed before the disk confirmed', async () => {
    const ts = await testServer();
    const own = await ts.user('own');
    const ben = await ts.user('ben');
    await own.request('GROUP_CREATE', { group: 'g', private: false });
    const [joined] = await whileNotDurable(ts,
      () => ben.request('GROUP_JOIN', { group: 'g' }),
      () => own.request('GROUP_KICK', { group: 'g', user: 'ben' }));
    expect(joined.group).toMatchObject({ name: 'g', memberCount: 2, joined: true });
    await ben.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'join' && p.payload.user === 'ben');
    await ben.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'kick' && p.payload.user === 'ben');
  });
});

describe('roles', () => {
  it('owner/admin invite, kick and delete; admins cannot kick owner or admins; only the owner sets roles', async () => {
    const ts = await testServer();
    const own = await ts.user('own');
    const adm = await ts.user('adm');
    const adm2 = await ts.user('adm2');
    const mem = await ts.user('mem');
    await ts.user('out');
    await own.request('GROUP_CREATE', { group: 'g', private: false });
    for (const c of [adm, adm2, mem]) await c.request('GROUP_JOIN', { group: 'g' });

    expect((await mem.refusal('GROUP_INVITE', { group: 'g', user: 'out' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await mem.refusal('GROUP_KICK', { group: 'g', user: 'adm' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await mem.refusal('GROUP_DELETE', { group: 'g' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await adm.refusal('GROUP_ROLE', { group: 'g', user: 'mem', role: 'admin' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await own.refusal('GROUP_ROLE', { group: 'g', user: 'mem', role: 'god' })).code).toBe('CHAT_ERR_INVALID');
    expect((await own.refusal('GROUP_ROLE', { group: 'g', user: 'out', role: 'admin' })).code).toBe('CHAT_ERR_NOT_FOUND');

    await own.request('GROUP_ROLE', { group: 'g', user: 'adm', role: 'admin' });
    await own.request('GROUP_ROLE', { group: 'g', user: 'adm2', role: 'admin' });
    await mem.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'role' && p.payload.user === 'adm2');

    expect((await adm.refusal('GROUP_KICK', { group: 'g', user: 'own' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await adm.refusal('GROUP_KICK', { group: 'g', user: 'adm2' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await adm.refusal('GROUP_KICK', { group: 'g', user: 'out' })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await adm.refusal('GROUP_INVITE', { group: 'g', user: 'ghost' })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await adm.refusal('GROUP_INVITE', { group: 'g', user: 'mem' })).code).toBe('CHAT_ERR_CONFLICT');

    await adm.request('GROUP_KICK', { group: 'g', user: 'mem' });
    await mem.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'kick' && p.payload.user === 'mem');
    expect((await mem.refusal('SEND', { kind: 0, target: 'g', text: 'hi' })).code).toBe('CHAT_ERR_PERMISSION');
    await own.request('GROUP_KICK', { group: 'g', user: 'adm2' });

    await own.request('GROUP_ROLE', { group: 'g', user: 'adm', role: 'member' });
    expect((await adm.refusal('GROUP_DELETE', { group: 'g' })).code).toBe('CHAT_ERR_PERMISSION');
    await own.request('GROUP_ROLE', { group: 'g', user: 'adm', role: 'admin' });
    await adm.request('GROUP_DELETE', { group: 'g' });
    await own.waitFor((p) => p.name === 'GROUP_EVENT' && p.payload.event === 'delete');
    expect((await own.request('GROUPS', { members: false })).groups).toEqual([]);
  });
});

describe('presence', () => {
  it('tells group peers when a user comes online (first listening connection) and when the last one goes', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const ben = await ts.user('ben');
    await ann.request('GROUP_CREATE', { group: 'dev', private: false });
    await ben.request('GROUP_JOIN', { group: 'dev' });
    ben.close();
    await ann.waitFor((p) => p.name === 'PRESENCE' && p.payload.user === 'ben' && !p.payload.online);
    const ben2 = await ts.client();
    await ben2.login('ben');
    await ben2.request('LISTEN', { on: true });
    await ann.waitFor((p) => p.name === 'PRESENCE' && p.payload.user === 'ben' && p.payload.online);
    const ben3 = await ts.client();
    await ben3.login('ben');
    await ben3.request('LISTEN', { on: true });
    ben3.close();
    await sleep(100);
    // ben is still online through ben2: no offline PRESENCE for him beyond the first.
    expect(ann.pushes.filter((p) => p.name === 'PRESENCE' && p.payload.user === 'ben' && !p.payload.online)).toHaveLength(1);
    expect((await ann.request('USERS', { all: false })).users.map((u: { name: string }) => u.name)).toEqual(['ann', 'ben']);
  });

  it('a login that never listens (a one-shot command, e.g. a cron chat send) makes no PRESENCE and is not online', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    await ann.request('GROUP_CREATE', { group: 'dev', private: false });
    const cron = await ts.client();
    await cron.register('ben');
    await cron.request('GROUP_JOIN', { group: 'dev' });
    await cron.request('SEND', { kind: 0, target: 'dev', text: 'nightly backup done' });
    expect((await ann.request('USERS', { all: false })).users.map((u: { name: string }) => u.name)).toEqual(['ann']);
    cron.close();
    await ann.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.text === 'nightly backup done');
    await sleep(100);
    expect(ann.pushes.filter((p) => p.name === 'PRESENCE')).toEqual([]);
    // Listening on, then off, is a live session that ends: online, then offline.
    const live = await ts.client();
    await live.login('ben');
    await live.request('LISTEN', { on: true });
    await ann.waitFor((p) => p.name === 'PRESENCE' && p.payload.user === 'ben' && p.payload.online);
    await live.request('LISTEN', { on: false });
    await ann.waitFor((p) => p.name === 'PRESENCE' && p.payload.user === 'ben' && !p.payload.online);
  });
});
