/**
 * REGISTER, LOGIN (password and token), LOGOUT, WHOAMI, PASSWD, RENAME, the login
 * attempt limit, and offline useradd.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser } from '../../../src/server/offline.js';
import { silentLogger } from '../../../src/common/logger.js';
import { holdSyncs, sleep, tempDir, useTestServer, type TestClient } from './helpers.js';

const testServer = useTestServer();

describe('REGISTER', () => {
  it('creates the account with its profile, logs in and returns a token', async () => {
    const ts = await testServer();
    const c = await ts.client();
    const r = await c.register('ann', 'secret-1', { displayName: 'Ann A', age: 31, gender: 'f', device: 'laptop' });
    expect(r.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.profile).toMatchObject({ name: 'ann', displayName: 'Ann A', age: 31, gender: 'f', admin: false });
    expect((await c.request('WHOAMI')).profile.name).toBe('ann');
    // Neither the password nor the token is on disk or in the log.
    const journal = readFileSync(join(ts.dataDir, 'journal', '00000000000000000001.seg'), 'utf8');
    expect(journal).toContain('Ann A'); // the record is there
    expect(journal).not.toContain('secret-1');
    expect(journal).not.toContain(r.token);
    expect(JSON.stringify(ts.logs)).not.toContain('secret-1');
    expect(JSON.stringify(ts.logs)).not.toContain(r.token);
  });

  it('refuses taken names, taken display names and invalid fields', async () => {
    const ts = await testServer();
    await ts.user('ann');
    const c = await ts.client();
    await c.hello();
    expect((await c.refusal('REGISTER', { name: 'ann', password: 'x' })).code).toBe('CHAT_ERR_CONFLICT');
    expect((await c.refusal('REGISTER', { name: 'bob', password: 'x', displayName: 'ann' })).code).toBe('CHAT_ERR_CONFLICT');
    expect((await c.refusal('REGISTER', { name: '-bad', password: 'x' })).code).toBe('CHAT_ERR_INVALID');
    expect((await c.refusal('REGISTER', { name: 'bob', password: '' })).code).toBe('CHAT_ERR_INVALID');
    expect((await c.refusal('REGISTER', { name: 'bob', password: 'x', age: 151 })).code).toBe('CHAT_ERR_INVALID');
    expect((await c.refusal('REGISTER', { name: 'bob', password: 'x', gender: 'g'.repeat(33) })).code).toBe('CHAT_ERR_INVALID');
    expect((await c.refusal('REGISTER', { name: 'bob', password: 'x', displayName: ' padded' })).code).toBe('CHAT_ERR_INVALID');
    await c.request('REGISTER', { name: 'bob', password: 'x', age: 150 });
  });

  it('lets only one of two concurrent registrations of a name win', async () => {
    const ts = await testServer();
    const [a, b] = [await ts.client(), await ts.client()];
    await Promise.all([a.hello(), b.hello()]);
    const results = await Promise.allSettled([
      a.request('REGISTER', { name: 'dup', password: 'one' }),
      b.request('REGISTER', { name: 'dup', password: 'two' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['CHAT_ERR_CONFLICT']);
  });

  it('is refused when registration is closed', async () => {
    const ts = await testServer({ registration: 'closed' });
    const c = await ts.client();
    expect((await c.hello()).registration).toBe(false);
    expect((await c.refusal('REGISTER', { name: 'x', password: 'y' })).code).toBe('CHAT_ERR_REGISTRATION_CLOSED');
  });
});

describe('LOGIN and LOGOUT', () => {
  it('logs in by password and by token; wrong user and wrong password read the same', async () => {
    const ts = await testServer();
    const reg = await (await ts.user('ann')).request('WHOAMI');
    expect(reg.profile.name).toBe('ann');
    const c = await ts.client();
    await c.hello();
    const wrongPw = await c.refusal('LOGIN', { name: 'ann', password: 'nope' });
    const wrongUser = await c.refusal('LOGIN', { name: 'nobody', password: 'nope' });
    expect(wrongPw.code).toBe('CHAT_ERR_AUTH_FAILED');
    expect(wrongUser.code).toBe('CHAT_ERR_AUTH_FAILED');
    expect(wrongPw.message).toBe(wrongUser.message);
    const ok = await c.request('LOGIN', { name: 'ann', password: 'pw-ann', device: 'phone' });
    expect(ok.profile.name).toBe('ann');

    const t = await ts.client();
    await t.hello();
    expect((await t.refusal('LOGIN', { name: 'ann', token: 'forged' })).code).toBe('CHAT_ERR_AUTH_FAILED');
    expect((await t.request('LOGIN', { name: 'ann', token: ok.token })).profile.name).toBe('ann');
    expect((await t.refusal('LOGIN', { name: 'ann', token: ok.token })).code).toBe('CHAT_ERR_CONFLICT'); // already logged in
  });

  it('LOGOUT revokes the token and returns the connection to the logged-out state', async () => {
    const ts = await testServer();
    const c = await ts.client();
    const { token } = await c.register('ann');
    await c.request('LOGOUT');
    expect((await c.refusal('WHOAMI')).code).toBe('CHAT_ERR_NOT_AUTHENTICATED');
    expect((await c.refusal('LOGIN', { name: 'ann', token })).code).toBe('CHAT_ERR_AUTH_FAILED');
    await c.request('LOGIN', { name: 'ann', password: 'pw-ann' });
  });

  it('rate-limits failed logins per account and address, even with the right password', async () => {
    const ts = await testServer({ limits: { loginAttempts: 3 } });
    await ts.user('ann');
    await ts.user('ben');
    const c = await ts.client();
    await c.hello();
    for (let i = 0; i < 3; i++) expect((await c.refusal('LOGIN', { name: 'ann', password: 'bad' })).code).toBe('CHAT_ERR_AUTH_FAILED');
    const limited = await c.refusal('LOGIN', { name: 'ann', password: 'pw-ann' });
    expect(limited.code).toBe('CHAT_ERR_RATE_LIMITED');
    expect(limited.message).toMatch(/try again in \d+ s/);
    // Another account from the same address is not affected.
    expect((await c.request('LOGIN', { name: 'ben', password: 'pw-ben' })).profile.name).toBe('ben');
  });
});

describe('PASSWD, RENAME, WHOAMI', () => {
  it('PASSWD checks the old password, revokes other sessions and keeps this one', async () => {
    const ts = await testServer();
    const a = await ts.client();
    const first = await a.register('ann', 'old-pw');
    const b = await ts.client();
    const second = await b.login('ann', 'old-pw');
    expect((await b.refusal('PASSWD', { oldPassword: 'wrong', newPassword: 'new-pw' })).code).toBe('CHAT_ERR_AUTH_FAILED');
    await b.request('PASSWD', { oldPassword: 'old-pw', newPassword: 'new-pw' });
    await b.request('WHOAMI'); // still logged in

    const c = await ts.client();
    await c.hello();
    expect((await c.refusal('LOGIN', { name: 'ann', password: 'old-pw' })).code).toBe('CHAT_ERR_AUTH_FAILED');
    expect((await c.refusal('LOGIN', { name: 'ann', token: first.token })).code).toBe('CHAT_ERR_AUTH_FAILED');
    await c.request('LOGIN', { name: 'ann', token: second.token }); // the changing session survives
    const d = await ts.client();
    await d.login('ann', 'new-pw');
  });

  it('PASSWD closes the account\'s other connections with GOODBYE; connections on the caller\'s own session stay', async () => {
    const ts = await testServer();
    const first = await ts.client();
    const t1 = (await first.register('ann', 'old-pw')).token;
    const caller = await ts.client();
    const t2 = (await caller.login('ann', 'old-pw')).token;
    const twin = await ts.client(); // e.g. `chat tail` on the caller's device: same stored token
    await twin.hello();
    await twin.request('LOGIN', { name: 'ann', token: t2 });
    const phone = await ts.client();
    await phone.login('ann', 'old-pw');
    const bystander = await ts.user('ben');

    await caller.request('PASSWD', { oldPassword: 'old-pw', newPassword: 'new-pw' });
    for (const c of [first, phone]) {
      const bye = await c.waitFor((p) => p.name === 'GOODBYE');
      expect(bye.payload.reason).toBe('password changed; log in again');
      await c.closed;
    }
    expect((await caller.request('WHOAMI')).profile.name).toBe('ann');
    expect((await twin.request('WHOAMI')).profile.name).toBe('ann');
    expect((await bystander.request('WHOAMI')).profile.name).toBe('ben');
    const again = await ts.client();
    await again.hello();
    expect((await again.refusal('LOGIN', { name: 'ann', token: t1 })).code).toBe('CHAT_ERR_AUTH_FAILED');
  });

  it('PASSWD stops reading the revoked connections at once: nothing they send after the change is run', async () => {
    const ts = await testServer();
    const other = await ts.client();
    await other.register('ann', 'old-pw');
    const caller = await ts.client();
    await caller.login('ann', 'old-pw');
    const syncs = await holdSyncs();
    try {
      const seq = ts.srv.engine.seq;
      const passwd = caller.request('PASSWD', { oldPassword: 'old-pw', newPassword: 'new-pw' });
      // Committed (in memory), waiting for the disk.
      for (let i = 0; i < 200 && ts.srv.engine.seq === seq; i++) await sleep(10);
      expect(ts.srv.engine.seq).toBeGreaterThan(seq);
      const late = other.request('SEND', { kind: 2, target: '', text: 'after the change' }).catch((e: Error) => e);
      await sleep(100);
      syncs.release();
      await passwd;
      await other.waitFor((p) => p.name === 'GOODBYE');
      await other.closed;
      expect(await late).toBeInstanceOf(Error); // never answered: the connection closed
      expect(ts.srv.engine.state.broadcasts).toHaveLength(0);
    } finally {
      syncs.restore();
    }
  });

  it('a password LOGIN whose new session a PASSWD ends before it is durable fails instead of logging in', async () => {
    const ts = await testServer();
    const caller = await ts.client();
    await caller.register('ann', 'old-pw');
    const late = await ts.client();
    await late.hello();
    const syncs = await holdSyncs();
    try {
      const seq = ts.srv.engine.seq;
      const login = late.request('LOGIN', { name: 'ann', password: 'old-pw' }).catch((e: Error) => e);
      for (let i = 0; i < 200 && ts.srv.engine.seq === seq; i++) await sleep(10); // session.create committed
      const passwd = caller.request('PASSWD', { oldPassword: 'old-pw', newPassword: 'new-pw' });
      for (let i = 0; i < 200 && ts.srv.engine.seq < seq + 3; i++) await sleep(10); // user.passwd + session.create
      expect(ts.srv.engine.seq).toBe(seq + 3);
      syncs.release();
      await passwd;
      const r = await login;
      expect(r).toBeInstanceOf(Error);
      expect((r as Error).message).toMatch(/CHAT_ERR_AUTH_FAILED.*changed meanwhile/);
      expect((await late.refusal('WHOAMI')).code).toBe('CHAT_ERR_NOT_AUTHENTICATED');
    } finally {
      syncs.restore();
    }
  });

  it('LOGOUT ends the session for every connection that shares its token', async () => {
    const ts = await testServer();
    const a = await ts.client();
    const { token } = await a.register('ann');
    const shared: TestClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await ts.client();
      await c.hello();
      await c.request('LOGIN', { name: 'ann', token });
      shared.push(c);
    }
    const own = await ts.client(); // another session of ann
    await own.login('ann');

    await a.request('LOGOUT');
    for (const c of shared) {
      const bye = await c.waitFor((p) => p.name === 'GOODBYE');
      expect(bye.payload.reason).toBe('this session was logged out on another connection; log in again');
      await c.closed;
    }
    expect((await a.refusal('WHOAMI')).code).toBe('CHAT_ERR_NOT_AUTHENTICATED'); // open, logged out
    expect((await own.request('WHOAMI')).profile.name).toBe('ann');
  });

  it('RENAME changes the display name unless another account has it', async () => {
    const ts = await testServer();
    const a = await ts.user('ann');
    await ts.user('ben');
    expect((await a.refusal('RENAME', { displayName: 'ben' })).code).toBe('CHAT_ERR_CONFLICT');
    expect((await a.request('RENAME', { displayName: 'Annie' })).profile.displayName).toBe('Annie');
    expect((await a.request('RENAME', { displayName: 'Annie' })).profile.displayName).toBe('Annie');
    expect((await a.request('WHOAMI')).profile.displayName).toBe('Annie');
    const users = await a.request('USERS', { all: true });
    expect(users.users).toContainEqual({ name: 'ann', displayName: 'Annie', online: true });
    // The old display name is free again.
    const c = await ts.client();
    await c.register('carl', 'pw', { displayName: 'ann' });
  });
});

describe('display names cannot impersonate', () => {
  it('REGISTER and RENAME refuse a name that reads like another account\'s, and invisible or format characters', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann'); // display name "ann"
    const ben = await ts.user('ben');
    const c = await ts.client();
    await c.hello();
    for (const displayName of ['ANN', 'Ａｎｎ', 'ａｎｎ']) {
      expect((await c.refusal('REGISTER', { name: 'mallory', password: 'x', displayName })).code, displayName).toBe('CHAT_ERR_CONFLICT');
    }
    for (const displayName of ['ann\u200B', '\u202Enna', 'an\u00ADn', 'ann\uFE0F', 'ann\uE000']) {
      expect((await c.refusal('REGISTER', { name: 'mallory', password: 'x', displayName })).code, JSON.stringify(displayName)).toBe('CHAT_ERR_INVALID');
      expect((await ben.refusal('RENAME', { displayName })).code, JSON.stringify(displayName)).toBe('CHAT_ERR_INVALID');
    }
    expect((await ben.refusal('RENAME', { displayName: 'ANN' })).code).toBe('CHAT_ERR_CONFLICT');
    // Your own name in another case is yours.
    expect((await ann.request('RENAME', { displayName: 'ANN' })).profile.displayName).toBe('ANN');
    expect((await ann.request('RENAME', { displayName: 'Ann' })).profile.displayName).toBe('Ann');
    await c.request('REGISTER', { name: 'mallory', password: 'x', displayName: 'Mallory' });
  });
});

describe('offline useradd', () => {
  it('creates an admin account that logs in once the server starts', async () => {
    const dir = tempDir();
    await addUser({ dataDir: dir, name: 'root', password: 'rootpw', admin: true, log: silentLogger(), scrypt: { N: 1024, r: 8, p: 1 } });
    await expect(addUser({ dataDir: dir, name: 'root', password: 'x', log: silentLogger() })).rejects.toMatchObject({ code: 'CHAT_ERR_CONFLICT' });
    // A display name that reads like root's is taken too (the state's index folds it).
    await expect(addUser({ dataDir: dir, name: 'root2', displayName: 'ROOT', password: 'x', log: silentLogger() })).rejects.toMatchObject({ code: 'CHAT_ERR_CONFLICT' });
    const ts = await testServer({ dataDir: dir });
    const c = await ts.client();
    expect((await c.login('root', 'rootpw')).profile.admin).toBe(true);
    const r = await (await ts.client()).register('plain');
    expect(r.profile.admin).toBe(false);
  });
});
