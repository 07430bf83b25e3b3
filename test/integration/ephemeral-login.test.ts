/**
 * Ephemeral logins end to end through the real binaries: one-shot commands run with a
 * password (CHAT_PASSWORD / --password-file) log in with LOGIN {ephemeral: true}, so
 * they add no session records to the journal (a cron `chat send` adds exactly its
 * message), and send no LOGOUT; PASSWD elsewhere closes such connections; a wrong
 * password is still 3; `chat tail` with a password logs in again with it after a
 * server restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chat, ROOT, startServer, startTail, tempDir, type ChatOptions, type LiveChat, type ServerProcess } from './harness.js';
import { TestClient } from '../unit/server/helpers.js';
import { PROTOCOL_VERSION } from '../../src/protocol/commands.js';

const SERVER_BIN = join(ROOT, 'bin/chat-server.js');

let server: ServerProcess;
let dataDir: string;
const live: LiveChat[] = [];
/** A user with a password and no stored session (a fresh config dir each time: cron). */
const cron = (user: string, password = `pw-${user}`, extra: Partial<ChatOptions> = {}): ChatOptions =>
  ({ server: server.address, configDir: tempDir('chat-cron-'), user, password, ...extra });

/** The durable journal head, from `chat-server status --server ADDR --json`. */
async function headSeq(): Promise<number> {
  const p = spawn(process.execPath, [SERVER_BIN, 'status', '--server', server.address, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHAT_SERVER: '' } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number>((res) => p.on('close', (c) => res(c ?? -1)));
  expect(code, stderr).toBe(0);
  return Number((JSON.parse(stdout.trim()) as { headSeq: number }).headSeq);
}

async function ok(o: ChatOptions, args: string[]): Promise<string> {
  const r = await chat(o, args);
  expect(r.stderr, `chat ${args.join(' ')}`).toBe('');
  expect(r.code, `chat ${args.join(' ')}`).toBe(0);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dataDir = tempDir('chat-ephemeral-');
  server = await startServer({ dataDir });
  for (const u of ['alice', 'bob', 'carol']) await ok(cron(u), ['register']);
  await ok(cron('alice'), ['group', 'create', 'G']);
  await ok(cron('bob'), ['join', 'G']);
});
afterAll(async () => {
  for (const t of live) t.proc.kill('SIGKILL');
  await server.stop();
});

describe('one-shot commands with a password', () => {
  it('chat send with CHAT_PASSWORD adds exactly its message to the journal, each time', async () => {
    let head = await headSeq();
    for (let i = 0; i < 3; i++) {
      const seq = Number((await ok(cron('alice'), ['send', '-g', 'G', `hi ${i}`])).trim());
      const now = await headSeq();
      expect(now).toBe(head + 1);
      expect(seq).toBe(now);
      head = now;
    }
  });

  it('--password-file likewise; a read-only command adds nothing', async () => {
    const file = join(tempDir(), 'pw');
    writeFileSync(file, 'pw-bob\n');
    const head = await headSeq();
    await ok({ ...cron('bob'), password: undefined }, ['send', '-g', 'G', '--password-file', file, 'from a file']);
    expect(await headSeq()).toBe(head + 1);
    await ok(cron('bob'), ['whoami']);
    await ok(cron('bob'), ['history', '-g', 'G', '--last', '2']);
    expect(await headSeq()).toBe(head + 1);
  });

  it('chat login still stores a session (one record) and later commands use its token', async () => {
    const o = cron('carol');
    const head = await headSeq();
    await ok(o, ['login']);
    expect(await headSeq()).toBe(head + 1);
    await ok({ ...o, password: undefined }, ['whoami']);
    expect(await headSeq()).toBe(head + 1);
  });

  it('a wrong password still fails with 3 and journals nothing', async () => {
    const head = await headSeq();
    const r = await chat(cron('alice', 'wrong'), ['send', '-g', 'G', 'never']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^chat: cannot log in as alice at .*: wrong user name or password/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await headSeq()).toBe(head);
  });
});

describe('PASSWD and ephemeral connections', () => {
  it('an ephemeral connection is closed by chat passwd on another connection', async () => {
    await ok(cron('dora', 'old-pw'), ['register']);
    const eph = await TestClient.connect(Number(server.address.split(':').at(-1)));
    await eph.request('HELLO', { version: PROTOCOL_VERSION, client: 'test/0' });
    const head = await headSeq();
    const r = await eph.request('LOGIN', { name: 'dora', password: 'old-pw', ephemeral: true });
    expect(r.token).toBe('');
    expect(await headSeq()).toBe(head);
    expect((await eph.request('WHOAMI')).profile.name).toBe('dora');

    await ok(cron('dora', 'old-pw', { env: { CHAT_NEW_PASSWORD: 'new-pw' } }), ['passwd']);
    const bye = await eph.waitFor((f) => f.name === 'GOODBYE');
    expect(bye.payload.reason).toBe('password changed; log in again');
    await eph.closed;
    expect((await chat(cron('dora', 'old-pw'), ['whoami'])).code).toBe(3);
    await ok(cron('dora', 'new-pw'), ['whoami']);
  });

  it('a tail logged in with a password is closed by PASSWD and cannot log in again with the old one (3)', async () => {
    await ok(cron('erin', 'old-pw'), ['register']);
    const t = await startTail(cron('erin', 'old-pw'));
    live.push(t);
    await ok(cron('erin', 'old-pw', { env: { CHAT_NEW_PASSWORD: 'new-pw' } }), ['passwd']);
    expect(await t.exit).toBe(3);
    expect(t.errLines.join('\n')).toMatch(/password changed; log in again/);
    expect(t.errLines.join('\n')).toMatch(/cannot log in as erin/);
  });
});

describe('chat tail with a password', () => {
  it('reconnects across a server restart by logging in with the password again, ephemerally', async () => {
    const t = await startTail(cron('bob'), ['-g', 'G', '--json']);
    live.push(t);
    const a = await ok(cron('alice'), ['send', '-g', 'G', 'before the restart']);
    await t.waitForLine((l) => l.includes('before the restart'));

    expect(await server.stop('SIGTERM')).toBe(0);
    server = await startServer({ dataDir, listen: server.address });
    const head = await headSeq();
    const b = await ok(cron('alice'), ['send', '-g', 'G', 'while the tail reconnects']);
    await t.waitForLine((l) => l.includes('while the tail reconnects'), 20_000);
    await t.waitForErr((l) => l.includes('reconnected'));
    // The tail's new login is ephemeral: the journal holds only alice's message.
    expect(await headSeq()).toBe(head + 1);
    expect(server.logs.some((l) => l.msg === 'logged in' && l.user === 'bob' && l.ephemeral === true)).toBe(true);

    t.proc.kill('SIGINT');
    expect(await t.exit).toBe(0);
    await sleep(100);
    expect(await headSeq()).toBe(head + 1); // no LOGOUT record when the tail ends
    expect(t.lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([Number(a), Number(b)]);
  });
});
