/**
 * LOGIN {ephemeral: true}: a password login that stores no session (nothing
 * journalled, token ""), lasting as long as the connection; LOGOUT and PASSWD on and
 * around such logins (src/server/handlers/account.ts).
 */
import { describe, expect, it } from 'vitest';
import { useTestServer, type TestClient } from './helpers.js';

const testServer = useTestServer();

async function ephemeral(c: TestClient, name: string, password = `pw-${name}`) {
  await c.hello();
  return c.request('LOGIN', { name, password, device: 'cron', ephemeral: true });
}

describe('LOGIN ephemeral', () => {
  it('checks the password, journals nothing, returns an empty token and logs the connection in', async () => {
    const ts = await testServer();
    await ts.user('ann');
    const seq = ts.srv.engine.seq;
    const sessions = ts.srv.engine.state.users.get('ann')!.sessions.size;
    const c = await ts.client();
    const r = await ephemeral(c, 'ann');
    expect(r.token).toBe('');
    expect(r.profile.name).toBe('ann');
    expect((await c.request('WHOAMI')).profile.name).toBe('ann');
    expect(ts.srv.engine.state.users.get('ann')!.sessions.size).toBe(sessions);
    expect(ts.srv.engine.seq).toBe(seq);
    const s = await ts.client();
    await s.hello();
    expect((await s.refusal('LOGIN', { name: 'ann', token: '' })).code).toBe('CHAT_ERR_AUTH_FAILED');
    expect((await c.refusal('LOGIN', { name: 'ann', password: 'pw-ann', ephemeral: true })).code).toBe('CHAT_ERR_CONFLICT');
  });

  it('journals exactly nothing for the login itself', async () => {
    const ts = await testServer();
    await ts.user('ann');
    const seq = ts.srv.engine.seq;
    for (let i = 0; i < 3; i++) {
      const c = await ts.client();
      await ephemeral(c, 'ann');
      c.close();
    }
    expect(ts.srv.engine.seq).toBe(seq);
    // An explicit ephemeral: false is a normal login (one session.create).
    const n = await ts.client();
    await n.hello();
    const r = await n.request('LOGIN', { name: 'ann', password: 'pw-ann', ephemeral: false });
    expect(r.token).not.toBe('');
    expect(ts.srv.engine.seq).toBe(seq + 1);
  });

  it('with a token (or nothing) instead of a password is INVALID', async () => {
    const ts = await testServer();
    const a = await ts.client();
    const { token } = await a.register('ann');
    const c = await ts.client();
    await c.hello();
    expect((await c.refusal('LOGIN', { name: 'ann', token, ephemeral: true })).code).toBe('CHAT_ERR_INVALID');
    expect((await c.refusal('LOGIN', { name: 'ann', ephemeral: true })).code).toBe('CHAT_ERR_INVALID');
    expect((await c.refusal('WHOAMI')).code).toBe('CHAT_ERR_NOT_AUTHENTICATED');
  });

  it('a wrong password fails like a normal login and counts toward the attempt limit', async () => {
    const ts = await testServer({ limits: { loginAttempts: 3 } });
    await ts.user('ann');
    const c = await ts.client();
    await c.hello();
    const normal = await c.refusal('LOGIN', { name: 'ann', password: 'bad' });
    const eph = await c.refusal('LOGIN', { name: 'ann', password: 'bad', ephemeral: true });
    const nobody = await c.refusal('LOGIN', { name: 'nobody', password: 'bad', ephemeral: true });
    expect(eph.code).toBe('CHAT_ERR_AUTH_FAILED');
    expect(eph.message).toBe(normal.message);
    expect(nobody.message).toBe(normal.message);
    await c.refusal('LOGIN', { name: 'ann', password: 'bad', ephemeral: true }); // third failure for ann
    expect((await c.refusal('LOGIN', { name: 'ann', password: 'pw-ann', ephemeral: true })).code).toBe('CHAT_ERR_RATE_LIMITED');
  });
});

describe('LOGOUT and ephemeral logins', () => {
  it('LOGOUT on an ephemeral connection only logs it out: nothing journalled, nobody else closed', async () => {
    const ts = await testServer();
    const a = await ts.client();
    const { token } = await a.register('ann');
    const other = await ts.client();
    await ephemeral(other, 'ann');
    const c = await ts.client();
    await ephemeral(c, 'ann');
    const seq = ts.srv.engine.seq;
    await c.request('LOGOUT');
    expect(ts.srv.engine.seq).toBe(seq);
    expect((await c.refusal('WHOAMI')).code).toBe('CHAT_ERR_NOT_AUTHENTICATED'); // open, logged out
    expect(c.isClosed).toBe(false);
    expect((await a.request('WHOAMI')).profile.name).toBe('ann');
    expect((await other.request('WHOAMI')).profile.name).toBe('ann');
    const t = await ts.client();
    await t.hello();
    expect((await t.request('LOGIN', { name: 'ann', token })).profile.name).toBe('ann'); // the stored session lives
    await c.request('LOGIN', { name: 'ann', password: 'pw-ann', ephemeral: true }); // and it may log in again
  });

  it('a LOGOUT of a stored session does not close ephemeral connections of the account', async () => {
    const ts = await testServer();
    const a = await ts.client();
    await a.register('ann');
    const e = await ts.client();
    await ephemeral(e, 'ann');
    await a.request('LOGOUT');
    expect((await e.request('WHOAMI')).profile.name).toBe('ann');
    expect(e.pushes.filter((p) => p.name === 'GOODBYE')).toEqual([]);
  });
});

describe('PASSWD and ephemeral logins', () => {
  it('PASSWD closes every other ephemeral login of the account with GOODBYE', async () => {
    const ts = await testServer();
    const caller = await ts.client();
    await caller.register('ann', 'old-pw');
    const eph: TestClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await ts.client();
      await ephemeral(c, 'ann', 'old-pw');
      eph.push(c);
    }
    const other = await ts.client(); // another account: untouched
    await other.register('bob');
    const bobEph = await ts.client();
    await ephemeral(bobEph, 'bob');

    const seq = ts.srv.engine.seq;
    await caller.request('PASSWD', { oldPassword: 'old-pw', newPassword: 'new-pw' });
    expect(ts.srv.engine.seq).toBe(seq + 2); // user.passwd + the caller's session again
    for (const c of eph) {
      const bye = await c.waitFor((p) => p.name === 'GOODBYE');
      expect(bye.payload.reason).toBe('password changed; log in again');
      await c.closed;
    }
    expect((await caller.request('WHOAMI')).profile.name).toBe('ann');
    expect((await bobEph.request('WHOAMI')).profile.name).toBe('bob');
    const again = await ts.client();
    await again.hello();
    expect((await again.refusal('LOGIN', { name: 'ann', password: 'old-pw', ephemeral: true })).code).toBe('CHAT_ERR_AUTH_FAILED');
    expect((await again.request('LOGIN', { name: 'ann', password: 'new-pw', ephemeral: true })).token).toBe('');
  });

  it('PASSWD on an ephemeral connection revokes every stored session and keeps the caller logged in', async () => {
    const ts = await testServer();
    const stored = await ts.client();
    const { token } = await stored.register('ann', 'old-pw');
    const otherEph = await ts.client();
    await ephemeral(otherEph, 'ann', 'old-pw');
    const caller = await ts.client();
    await ephemeral(caller, 'ann', 'old-pw');

    const seq = ts.srv.engine.seq;
    await caller.request('PASSWD', { oldPassword: 'old-pw', newPassword: 'new-pw' });
    expect(ts.srv.engine.seq).toBe(seq + 1); // user.passwd only: the caller has no session to keep
    expect(ts.srv.engine.state.users.get('ann')!.sessions.size).toBe(0);
    for (const c of [stored, otherEph]) {
      const bye = await c.waitFor((p) => p.name === 'GOODBYE');
      expect(bye.payload.reason).toBe('password changed; log in again');
      await c.closed;
    }
    expect((await caller.request('WHOAMI')).profile.name).toBe('ann');
    expect(caller.isClosed).toBe(false);
    const t = await ts.client();
    await t.hello();
    expect((await t.refusal('LOGIN', { name: 'ann', token })).code).toBe('CHAT_ERR_AUTH_FAILED');
    // The caller may change it again (still logged in, the new password is current).
    await caller.request('PASSWD', { oldPassword: 'new-pw', newPassword: 'newer-pw' });
  });
});
