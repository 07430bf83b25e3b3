/**
 * Password hashes, tokens and the login-attempt limiter.
 */
import { describe, expect, it } from 'vitest';
import { hashPassword, hashToken, LoginLimiter, newToken, SCRYPT_DEFAULTS, verifyPassword } from '../../../src/server/auth.js';
import { sleep, TestClient, useTestServer } from './helpers.js';

describe('passwords', () => {
  it('are stored as salted scrypt in the documented format and verified', async () => {
    const h = await hashPassword('correct horse');
    const parts = h.split('$');
    expect(parts.slice(0, 4)).toEqual(['scrypt', String(SCRYPT_DEFAULTS.N), String(SCRYPT_DEFAULTS.r), String(SCRYPT_DEFAULTS.p)]);
    expect(Buffer.from(parts[4], 'base64')).toHaveLength(16);
    expect(Buffer.from(parts[5], 'base64')).toHaveLength(32);
    expect(await verifyPassword('correct horse', h)).toBe(true);
    expect(await verifyPassword('correct horsE', h)).toBe(false);
    expect(await hashPassword('correct horse')).not.toBe(h); // fresh salt each time
  });

  it('verify uses the parameters stored in the hash and rejects malformed or hostile ones', async () => {
    const cheap = await hashPassword('pw', { N: 1024, r: 8, p: 1 });
    expect(cheap.startsWith('scrypt$1024$8$1$')).toBe(true);
    expect(await verifyPassword('pw', cheap)).toBe(true);
    for (const bad of ['', 'plain', 'scrypt$1024$8$1$salt', 'bcrypt$1$2$3$4$5', 'scrypt$1000$8$1$AAAA$AAAA',
      'scrypt$4194304$8$1$AAAA$AAAA', 'scrypt$1024$8$1$AAAA$']) {
      expect(await verifyPassword('pw', bad), bad).toBe(false);
    }
  });
});

describe('tokens', () => {
  it('are 32 random bytes in base64url; the server keeps their sha256 hex', () => {
    const t = newToken();
    expect(Buffer.from(t, 'base64url')).toHaveLength(32);
    expect(newToken()).not.toBe(t);
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(t)).toBe(hashToken(t));
  });
});

describe('LoginLimiter', () => {
  it('allows `attempts` failures per (account, IP) in the window, then reports the wait', () => {
    let now = 1_000_000;
    const lim = new LoginLimiter(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(lim.check('ann', '1.2.3.4')).toBe(0);
      lim.fail('ann', '1.2.3.4');
      now += 1000;
    }
    expect(lim.check('ann', '1.2.3.4')).toBe(60_000 - 3000);
    expect(lim.check('ann', '5.6.7.8')).toBe(0);
    expect(lim.check('ben', '1.2.3.4')).toBe(0);
    now += 60_000 - 3000; // the oldest failure ages out
    expect(lim.check('ann', '1.2.3.4')).toBe(0);
    lim.fail('ann', '1.2.3.4');
    expect(lim.check('ann', '1.2.3.4')).toBeGreaterThan(0);
    lim.succeed('ann', '1.2.3.4');
    expect(lim.check('ann', '1.2.3.4')).toBe(0);
  });

  it('keeps memory bounded: old keys are swept', () => {
    let now = 0;
    const lim = new LoginLimiter(2, 1000, () => now);
    for (let i = 0; i < 100; i++) lim.fail(`u${i}`, 'ip');
    expect(lim.size).toBe(100);
    now += 5000;
    lim.fail('late', 'ip');
    expect(lim.size).toBe(1);
  });
});

describe('a connection that goes away while its password is checked', () => {
  const testServer = useTestServer();

  it('does not stay online', async () => {
    const ts = await testServer({ scrypt: SCRYPT_DEFAULTS }); // a hash slow enough to race
    const watcher = await ts.user('watch');
    await (await ts.user('gone')).request('BYE');
    const c = await TestClient.connect(ts.port);
    await c.hello();
    void c.request('LOGIN', { name: 'gone', password: 'pw-gone' }).catch(() => undefined);
    c.close();
    await sleep(300);
    const users = await watcher.request('USERS', { all: false });
    expect(users.users.map((u: { name: string }) => u.name)).toEqual(['watch']);
  });
});
