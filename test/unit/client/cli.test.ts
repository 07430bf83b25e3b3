import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MESSAGE_KIND } from '../../../src/protocol/commands.js';
import { SessionStore } from '../../../src/client/session-store.js';
import { runChat } from './cli-harness.js';
import { FakeServer } from './fake-server.js';

describe('chat CLI against a fake server', () => {
  let server: FakeServer;
  let dir: string;
  let env: Record<string, string>;

  beforeEach(async () => {
    server = await new FakeServer().start();
    server.addUser('alice', 'pw-alice', 'Alice A');
    server.addUser('bob', 'pw-bob');
    server.addGroup('ops', 'alice');
    server.addGroup('secret', 'bob', [], true);
    server.addGroup('dev', 'bob');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-cli-'));
    env = { CHAT_SERVER: server.address, CHAT_CONFIG_DIR: dir };
  });
  afterEach(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const login = () => runChat(['login', '--user', 'alice'], { ...env, CHAT_PASSWORD: 'pw-alice' });

  it('login stores a token (0600); later commands use it without a password', async () => {
    const r = await login();
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(`logged in as alice (Alice A) at ${server.address}\n`);
    expect(fs.statSync(path.join(dir, 'session.json')).mode & 0o777).toBe(0o600);
    // chat login stores a session: never ephemeral
    expect(server.conns.at(-1)!.requests.find((q) => q.name === 'LOGIN')!.payload.ephemeral).toBeUndefined();

    const s = await runChat(['send', '-g', 'ops', 'hello', 'world'], env);
    expect(s).toMatchObject({ code: 0, stderr: '' });
    expect(s.stdout).toMatch(/^\d+\n$/);
    const last = server.sent.at(-1)!;
    expect(last).toMatchObject({ group: 'ops', from: 'alice', text: 'hello world' });
    expect(s.stdout).toBe(`${last.seq}\n`);
    const loginReq = server.conns.at(-1)!.requests.find((q) => q.name === 'LOGIN')!;
    expect(loginReq.payload.token).toBeDefined();
    expect(loginReq.payload.password).toBeUndefined();
    expect(server.conns.at(-1)!.requests.at(-1)!.name).toBe('BYE');
  });

  it('send --json prints the stored message as one NDJSON line', async () => {
    await login();
    const r = await runChat(['send', '--to', 'bob', '--json', 'hi bob'], env);
    expect(r.code).toBe(0);
    const obj = JSON.parse(r.stdout);
    expect(Object.keys(obj)).toEqual(['seq', 'kind', 'from', 'to', 'text', 'ts']);
    expect(obj).toMatchObject({ kind: 'direct', from: 'alice', to: 'bob', text: 'hi bob' });
  });

  it('send --id is idempotent and says so on stderr (not with --quiet)', async () => {
    await login();
    const a = await runChat(['send', '-g', 'ops', '--id', 'k1', 'once'], env);
    const b = await runChat(['send', '-g', 'ops', '--id', 'k1', 'once'], env);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stderr).toMatch(/already stored/);
    const c = await runChat(['send', '-g', 'ops', '--id', 'k1', '--quiet', 'once'], env);
    expect(c.stderr).toBe('');
    expect(server.sent.filter((m) => m.text === 'once')).toHaveLength(1);
  });

  it('maps server errors to exit codes with one stderr line', async () => {
    await login();
    const notMember = await runChat(['send', '-g', 'dev', 'x'], env);
    expect(notMember.code).toBe(5);
    expect(notMember.stderr).toBe('chat: not a member of #dev\n');
    const missing = await runChat(['join', 'nope'], env);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe('chat: group "nope" not found (see: chat groups)\n');
    const taken = await runChat(['group', 'create', 'ops'], env);
    expect(taken.code).toBe(6);
  });

  it('without a session or password: exit 3 and how to log in', async () => {
    const r = await runChat(['send', '-g', 'ops', 'x'], { ...env, CHAT_USER: 'bob' });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('chat: not logged in as bob: run "chat login" or set CHAT_PASSWORD / --password-file\n');
  });

  it('a rejected stored token: exit 3 "session expired", and the token is forgotten', async () => {
    await login();
    server.tokens.clear();
    const r = await runChat(['whoami'], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`chat: session expired for alice at ${server.address}: run "chat login"\n`);
    expect(new SessionStore(dir).token(server.address, 'alice')).toBeUndefined();
  });

  it('a password from --password-file makes an ephemeral login (LOGIN ephemeral, no LOGOUT)', async () => {
    const file = path.join(dir, 'pw');
    fs.writeFileSync(file, 'pw-bob\nignored second line\n');
    const r = await runChat(['whoami', '--user', 'bob', '--password-file', file, '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ name: 'bob', displayName: 'bob', admin: false });
    expect(server.conns.at(-1)!.requests.map((q) => q.name)).toEqual(['HELLO', 'LOGIN', 'WHOAMI', 'BYE']);
    expect(server.conns.at(-1)!.requests[1].payload).toMatchObject({ name: 'bob', password: 'pw-bob', ephemeral: true });
    expect(server.tokens.size).toBe(0);
    expect(fs.existsSync(path.join(dir, 'session.json'))).toBe(false);
  });

  it('a wrong password exits 3', async () => {
    const r = await runChat(['login', '--user', 'alice'], { ...env, CHAT_PASSWORD: 'bad' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^chat: cannot log in as alice at 127\.0\.0\.1:\d+: wrong user name or password/);
  });

  it('no server: exit 7', async () => {
    await server.stop();
    const r = await runChat(['whoami', '--user', 'alice'], { ...env, CHAT_PASSWORD: 'x' });
    expect(r.code).toBe(7);
    expect(r.stderr).toBe(`chat: cannot reach chat server at ${server.address} (is chat-server running? check --server / CHAT_SERVER)\n`);
    server = await new FakeServer().start();
  });

  it('groups: aligned human lines; --json objects with member names', async () => {
    await login();
    const human = await runChat(['groups'], env);
    expect(human.stdout).toBe('dev  public  1 member\nops  public  1 member  *\n');
    const json = await runChat(['groups', '--json'], env);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { name: 'dev', private: false, owner: 'bob', memberCount: 1, joined: false, members: ['bob'] },
      { name: 'ops', private: false, owner: 'alice', memberCount: 1, joined: true, members: ['alice'] },
    ]);
  });

  it('group invite NAME USER acts as the logged-in user on USER (not --user)', async () => {
    await runChat(['login', '--user', 'bob'], { ...env, CHAT_PASSWORD: 'pw-bob' });
    const r = await runChat(['group', 'invite', 'secret', 'alice'], env);
    expect(r).toMatchObject({ code: 0, stdout: 'invited alice to #secret\n' });
    expect(server.groups.get('secret')!.invited.has('alice')).toBe(true);
    const denied = await runChat(['group', 'invite', 'secret', 'carol', '--user', 'alice'], { ...env, CHAT_PASSWORD: 'pw-alice' });
    expect(denied.code).toBe(5);
    expect(denied.stderr).toBe('chat: only the owner or an admin of group "secret" can invite (see who the admins are: chat groups --members)\n');
  });

  it('register stores the new session and remembers the user for later commands', async () => {
    const r = await runChat(['register', '--user', 'carol', '--display-name', 'Carol C', '--age', '33'], { ...env, CHAT_PASSWORD: 'pw-c' });
    expect(r.code).toBe(0);
    expect(server.users.get('carol')).toMatchObject({ displayName: 'Carol C', age: 33 });
    const who = await runChat(['whoami'], env);
    expect(who.stdout).toBe('carol (Carol C), age 33\n');
  });

  it('logout revokes the token on the server and forgets it', async () => {
    await login();
    const token = new SessionStore(dir).token(server.address, 'alice')!;
    const r = await runChat(['logout'], env);
    expect(r.code).toBe(0);
    expect(server.tokens.has(token)).toBe(false);
    expect(new SessionStore(dir).token(server.address, 'alice')).toBeUndefined();
  });

  it('wait: prints the first matching message; exit 9 on timeout; 4/5 at once', async () => {
    await login();
    setTimeout(() => {
      server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'build #4 failed');
      server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'build #5 ok');
    }, 100);
    const r = await runChat(['wait', '-g', 'ops', '--from', 'bob', '--match', 'ok$', '--json', '--timeout', '5'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ group: 'ops', text: 'build #5 ok' });

    const t = await runChat(['wait', '-g', 'ops', '--timeout', '0.2'], env);
    expect(t).toMatchObject({ code: 9, stderr: 'chat: waiting for a message in #ops\nchat: no matching message in #ops within 0.2 s\n' });
    expect(server.conns.at(-1)!.requests.at(-1)!.name).toBe('BYE');

    expect((await runChat(['wait', '-g', 'dev', '--timeout', '5'], env)).code).toBe(5);
    expect((await runChat(['wait', '-g', 'nope', '--timeout', '5'], env)).code).toBe(4);
  });

  it('tail: prints what matches, reconnects after a drop, leaves cleanly on SIGINT', async () => {
    await login();
    const result = runChat(['tail', '-g', 'ops'], env);
    const listening = () => server.conns.filter((c) => c.listening && !c.socket.destroyed);
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(cond()).toBe(true);
    };
    await until(() => listening().length === 1);
    server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'first');
    server.deliver('bob', MESSAGE_KIND.DIRECT, 'alice', 'not shown: filtered out');
    listening()[0].socket.destroy();
    await until(() => listening().length === 1);
    server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'second');
    await new Promise((r) => setTimeout(r, 50));
    process.emit('SIGINT');
    const r = await result;
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] #ops <bob> first$/);
    expect(lines[1]).toMatch(/<bob> second$/);
    expect(r.stderr).toMatch(/lost/);
    expect(r.stderr).toMatch(/reconnected/);
    expect(server.conns.at(-1)!.requests.at(-1)!.name).toBe('BYE');
  });

  const listening = () => server.conns.filter((c) => c.listening && !c.socket.destroyed);
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  };

  const msg = (seq: number, text: string) => ({ seq, kind: MESSAGE_KIND.GROUP, from: 'bob', group: 'ops', text, ts: 1_700_000_000_000 + seq });

  it('search keeps asking while the server says more, even after pages with no match (its work cap)', async () => {
    await login();
    const asked: Array<Record<string, unknown>> = [];
    server.handlers.SEARCH = (_c, p) => {
      asked.push(p);
      // 10^6 messages, the rare word only in the oldest: four capped pages find nothing.
      if (asked.length <= 4) return { messages: [], more: true, nextBeforeSeq: 1_000_000 - asked.length * 250_000 + 1 };
      return { messages: [msg(7, 'rare word')], more: false, nextBeforeSeq: 0 };
    };
    const r = await runChat(['search', '-g', 'ops', 'rare', '--json'], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ seq: 7, text: 'rare word' });
    expect(asked.map((p) => p.beforeSeq)).toEqual([0, 750_001, 500_001, 250_001, 1]);
  });

  it('history/search --last quotes what was typed in its usage error (was "NaN")', async () => {
    for (const cmd of [['history', '-g', 'ops'], ['search', '-g', 'ops', 'deploy']]) {
      const r = await runChat([...cmd, '--last', 'abc'], env);
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toMatch(/^chat: --last needs a whole number of messages from 1 to \d+, got "abc" \(see: chat \w+ --help\)\n$/);
    }
  });

  it('history prints the date of a message from another day (a time alone was ambiguous)', async () => {
    await login();
    const old = new Date(2024, 4, 6, 7, 8, 9).getTime();
    server.handlers.HISTORY = () => ({ messages: [{ ...msg(3, 'from long ago'), ts: old }, { ...msg(4, 'just now'), ts: Date.now() }], more: false, upToSeq: 4 });
    const r = await runChat(['history', '-g', 'ops'], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [a, b] = r.stdout.trim().split('\n');
    expect(a).toBe('[2024-05-06 07:08:09] #ops <bob> from long ago');
    expect(b).toMatch(/^\[(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d\] #ops <bob> just now$/); // a date only if midnight passed meanwhile
  });

  it('history --last larger than a page pages on with the same upToSeq and the rest of --last', async () => {
    await login();
    const asked: Array<Record<string, unknown>> = [];
    server.handlers.HISTORY = (_c, p) => {
      asked.push(p);
      // Messages 1..500, pages of two: the selection is the `last` newest after afterSeq.
      const start = Math.max(Number(p.afterSeq) + 1, Number(p.last) > 0 ? 500 - Number(p.last) + 1 : 1);
      const page = [start, start + 1].filter((s) => s <= 500).map((s) => msg(s, `m${s}`));
      return { messages: page, more: page.at(-1)!.seq < 500, upToSeq: 500 };
    };
    const r = await runChat(['history', '-g', 'ops', '--last', '5', '--since', '10', '--json'], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([496, 497, 498, 499, 500]);
    expect(asked.map((p) => [p.afterSeq, p.last, p.upToSeq])).toEqual([[10, 5, 0], [497, 3, 500], [499, 1, 500]]);
  });

  it('tail: a connection lost before LISTEN answered resumes from the head at start, not from 0', async () => {
    await login();
    for (let i = 0; i < 3; i++) server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', `old ${i}`); // before the tail started
    let first = true;
    server.handlers.LISTEN = (c, p) => {
      if (first) {
        first = false;
        c.socket.destroy(); // lost while setting up
        return new Promise(() => undefined);
      }
      c.listening = p.on;
      return { headSeq: server.sent.at(-1)!.seq };
    };
    const head = server.sent.at(-1)!.seq;
    const result = runChat(['tail', '--json'], env);
    await until(() => listening().length === 1);
    process.emit('SIGINT');
    const r = await result;
    expect(r.code).toBe(0);
    const listens = server.conns.flatMap((c) => c.requests).filter((q) => q.name === 'LISTEN');
    expect(listens).toHaveLength(2);
    // Was afterSeq 0: LISTEN (or FEED) would replay the user's whole history.
    expect(listens[1].payload.afterSeq).toBe(head);
    expect(r.stdout).toBe('');
  });

  it('tail: after a reconnect to a server whose seqs went back or whose journal changed, new messages still print', async () => {
    await login();
    for (let i = 0; i < 5; i++) server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', `before ${i}`);
    const result = runChat(['tail', '--json'], env);
    await until(() => listening().length === 1);
    const seen = server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'seen live');
    await new Promise((r) => setTimeout(r, 50));
    // The server comes back from an older copy: its head is below what the tail saw.
    (server as unknown as { seq: number }).seq = seen.seq - 4;
    listening()[0].socket.destroy();
    await until(() => listening().length === 1);
    const after = server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'after the restore');
    expect(after.seq).toBeLessThan(seen.seq);
    await new Promise((r) => setTimeout(r, 50));
    server.journalId = 'e'.repeat(32);
    listening()[0].socket.destroy();
    await until(() => listening().length === 1);
    const other = server.deliver('bob', MESSAGE_KIND.GROUP, 'ops', 'another journal');
    await new Promise((r) => setTimeout(r, 50));
    process.emit('SIGINT');
    const r = await result;
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).text)).toEqual(['seen live', 'after the restore', 'another journal']);
    expect(other.seq).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/before #\d+ already seen \(was its data directory restored/);
    expect(r.stderr).toMatch(/now serves another journal \(eeeeeeee, was ffffffff/);
  });
});
