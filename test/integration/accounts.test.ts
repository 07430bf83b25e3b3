/**
 * Accounts end to end: the real chat-server and the real `chat` binary over TCP.
 * SPEC §4 Accounts, §2 exit codes 2, 3, 5, 6, 7.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chat, ROOT, startServer, tempDir, unusedPort, type ChatOptions, type ServerProcess } from './harness.js';

let server: ServerProcess;
const as = (user: string, extra: Partial<ChatOptions> = {}): ChatOptions =>
  ({ server: server.address, configDir: join(server.dataDir, `cfg-${user}`), user, ...extra });

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server.stop(); });

describe('accounts', () => {
  it('registers with a profile, logs in once and is remembered', async () => {
    const reg = await chat(as('alice', { password: 'pw-alice-1' }),
      ['register', '--display-name', 'Alice A', '--age', '30', '--gender', 'f', '--json']);
    expect(reg.stderr).toBe('');
    expect(reg.code).toBe(0);

    // No password source now: the stored session token is used.
    const who = await chat(as('alice'), ['whoami', '--json']);
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ name: 'alice', displayName: 'Alice A', age: 30, gender: 'f', admin: false });

    // The token file is private to the user.
    const mode = statSync(join(as('alice').configDir, 'session.json')).mode & 0o777;
    expect(mode).toBe(0o600);
  });

  it('refuses a taken name with 6 and a wrong password with 3', async () => {
    await chat(as('bob', { password: 'pw-bob' }), ['register']);
    const again = await chat(as('bob', { password: 'other', configDir: tempDir() }), ['register']);
    expect(again.code).toBe(6);
    expect(again.stderr).toMatch(/^chat: .*bob/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);

    const wrong = await chat(as('bob', { password: 'nope', configDir: tempDir() }), ['whoami']);
    expect(wrong.code).toBe(3);
    const ghost = await chat(as('nobody', { password: 'x', configDir: tempDir() }), ['whoami']);
    expect(ghost.code).toBe(3);
    // Wrong user and wrong password read the same: no account enumeration.
    expect(ghost.stderr.replace('nobody', 'X')).toBe(wrong.stderr.replace('bob', 'X'));
  });

  it('is not logged in without credentials (3) and after logout (3)', async () => {
    const fresh = await chat(as('carol', { configDir: tempDir() }), ['whoami']);
    expect(fresh.code).toBe(3);
    expect(fresh.stderr).toMatch(/chat login/);

    await chat(as('carol', { password: 'pw-carol' }), ['register']);
    expect((await chat(as('carol'), ['whoami'])).code).toBe(0);
    expect((await chat(as('carol'), ['logout'])).code).toBe(0);
    expect((await chat(as('carol'), ['whoami'])).code).toBe(3);
    // Logging in again with a password file works and is remembered.
    const pwFile = join(server.dataDir, 'carol.pw');
    writeFileSync(pwFile, 'pw-carol\n');
    expect((await chat(as('carol'), ['login', '--password-file', pwFile])).code).toBe(0);
    expect((await chat(as('carol'), ['whoami'])).code).toBe(0);
  });

  it('renames the display name, refusing one that is taken (6)', async () => {
    await chat(as('dave', { password: 'pw-dave' }), ['register', '--display-name', 'Dave']);
    await chat(as('erin', { password: 'pw-erin' }), ['register', '--display-name', 'Erin']);
    expect((await chat(as('erin'), ['rename', 'Dave'])).code).toBe(6);
    expect((await chat(as('erin'), ['rename', 'Erin E'])).code).toBe(0);
    const who = await chat(as('erin'), ['whoami', '--json']);
    expect(JSON.parse(who.stdout).displayName).toBe('Erin E');
  });

  it('changes the password: the old one stops working', async () => {
    await chat(as('frank', { password: 'old-pw' }), ['register']);
    const pw = await chat(as('frank', { password: 'old-pw', env: { CHAT_NEW_PASSWORD: 'new-pw' } }), ['passwd']);
    expect(pw.code).toBe(0);
    expect((await chat(as('frank', { password: 'old-pw', configDir: tempDir() }), ['whoami'])).code).toBe(3);
    expect((await chat(as('frank', { password: 'new-pw', configDir: tempDir() }), ['whoami'])).code).toBe(0);
  });

  it('gives usage errors exit 2 with one line', async () => {
    const bad = await chat(as('alice'), ['send', '--no-such-flag']);
    expect(bad.code).toBe(2);
    const noTarget = await chat(as('alice'), ['send', 'hello']);
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reports an unreachable server with exit 7', async () => {
    const r = await chat({ server: `127.0.0.1:${await unusedPort()}`, configDir: tempDir(), user: 'alice', password: 'x' }, ['whoami']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/cannot reach/);
  });
});

describe('server administration', () => {
  it('useradd creates an account offline, and closed registration refuses sign-ups (5)', async () => {
    const dataDir = tempDir('chat-data-');
    const add = await new Promise<number>((res) => {
      const p = spawn(process.execPath, [join(ROOT, 'bin/chat-server.js'), 'useradd', 'root', '--admin', '--data', dataDir],
        { env: { ...process.env, CHAT_PASSWORD: 'root-pw' }, stdio: 'ignore' });
      p.on('exit', (code) => res(code ?? -1));
    });
    expect(add).toBe(0);
    const closed = await startServer({ dataDir, args: ['--registration', 'closed'] });
    try {
      const o = { server: closed.address, configDir: tempDir() };
      const who = await chat({ ...o, user: 'root', password: 'root-pw' }, ['whoami', '--json']);
      expect(who.code).toBe(0);
      expect(JSON.parse(who.stdout)).toMatchObject({ name: 'root', admin: true });
      const reg = await chat({ ...o, user: 'newbie', password: 'pw' }, ['register']);
      expect(reg.code).toBe(5);
      expect(reg.stderr).toMatch(/registration/i);
    } finally {
      expect(await closed.stop('SIGINT')).toBe(0);
    }
  });
});
