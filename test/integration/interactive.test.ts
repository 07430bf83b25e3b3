/**
 * Interactive `chat` end to end (issue 5, SPEC §5): the real binary in a real terminal
 * (tmux), against a real server on port 0, while another client (a raw protocol
 * client) sends and watches.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Payload } from '../../src/protocol/codec.js';
import { captureLogger, useTestServer, type TestClient, type TestServer } from '../unit/server/helpers.js';
import { Pane, relayTo, requireTmux, type Relay } from './interactive-tmux.js';

const startServer = useTestServer();
const panes: Pane[] = [];
const dirs: string[] = [];
const relays: Relay[] = [];
// Registered after useTestServer's hook: runs first, so clients go before the server.
afterEach(async () => {
  for (const p of panes.splice(0)) p.kill();
  for (const r of relays.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
beforeAll(() => requireTmux());

interface World {
  ts: TestServer;
  logs: Array<Record<string, unknown>>;
  bob: TestClient;
  pane: Pane;
  dir: string;
  env: Record<string, string>;
}

/** A server; alice (owner of #ops) and bob (member, listening); alice's chat not started yet. */
async function world(opts: { aliceGroups?: boolean } = {}): Promise<World> {
  const logs: Array<Record<string, unknown>> = [];
  const ts = await startServer({ logger: captureLogger(logs, 'debug') });
  const setup = await ts.client();
  await setup.register('alice');
  const bob = await ts.user('bob');
  if (opts.aliceGroups !== false) {
    await setup.request('GROUP_CREATE', { group: 'ops', private: false });
    await bob.request('GROUP_JOIN', { group: 'ops' });
  }
  await setup.request('BYE');
  const dir = mkdtempSync(join(tmpdir(), 'chat-interactive-'));
  dirs.push(dir);
  const env = {
    CHAT_SERVER: `127.0.0.1:${ts.port}`, CHAT_CONFIG_DIR: join(dir, 'cfg'), CHAT_STATE_DIR: join(dir, 'state'),
    CHAT_USER: 'alice', CHAT_PASSWORD: 'pw-alice',
  };
  const pane = new Pane();
  panes.push(pane);
  return { ts, logs, bob, pane, dir, env };
}

function start(w: World, args: string[] = ['--interactive'], env: Record<string, string> = w.env): void {
  w.pane.start(args, env, { cwd: w.dir });
}

/** The next MESSAGE bob gets that matches. */
async function bobGets(w: World, pred: (m: Payload) => boolean): Promise<Payload> {
  const d = await w.bob.waitFor((f) => f.name === 'MESSAGE' && pred(f.payload.message));
  return d.payload.message;
}

/** Why the server closed each connection of the chat binary (its HELLO names it chat/...), in order. */
function chatCloses(w: World): unknown[] {
  const conns = new Set(w.logs.filter((l) => l.msg === 'hello' && String(l.client).startsWith('chat/')).map((l) => l.conn));
  return w.logs.filter((l) => l.msg === 'closed' && conns.has(l.conn)).map((l) => l.reason);
}

/** `who` stores `data` as `name` in #ops with the raw drive requests. */
async function upload(who: TestClient, name: string, data: Buffer): Promise<void> {
  const { uploadId, chunkSize } = await who.request('UPLOAD_BEGIN', { group: 'ops', name, size: data.length });
  for (let off = 0; off < data.length; off += chunkSize) {
    await who.request('UPLOAD_CHUNK', { uploadId, offset: off, data: data.subarray(off, off + chunkSize) });
  }
  await who.request('UPLOAD_END', { uploadId, sha256: createHash('sha256').update(data).digest('hex') });
}

const send = (w: World, target: string, text: string) => w.bob.request('SEND', { kind: 0, target, text });

describe('interactive chat in a terminal', () => {
  it('a half-typed line and its cursor survive incoming messages; Enter sends the whole line', async () => {
    const w = await world();
    start(w);
    await w.pane.waitForPrompt('alice@ops>');
    w.pane.type('hello wor');
    await w.pane.waitForPrompt('alice@ops> hello wor');
    expect(w.pane.cursorX()).toBe(20);
    for (let i = 1; i <= 3; i++) await send(w, 'ops', `incoming ${i}, sent while alice types`);
    await w.pane.waitForText('incoming 3');
    const screen = w.pane.screen().split('\n').filter((l) => l !== '');
    expect(screen[screen.length - 1]).toBe('alice@ops> hello wor');
    const at = (i: number) => screen.findIndex((l) => l.includes(`#ops <bob> incoming ${i}, sent while alice types`));
    expect(at(1)).toBeGreaterThanOrEqual(0);
    expect(at(1) < at(2) && at(2) < at(3) && at(3) < screen.length - 1).toBe(true);
    expect(w.pane.cursorX()).toBe(20);
    expect(w.pane.screenWithEscapes()).toMatch(/\u001b\[[0-9;]*m/); // a colour terminal, NO_COLOR unset

    // The cursor in the middle of the line stays there too.
    w.pane.press('Left', 'Left', 'Left');
    await send(w, 'ops', 'one more');
    await w.pane.waitForText('<bob> one more');
    expect(w.pane.lastLine()).toBe('alice@ops> hello wor');
    expect(w.pane.cursorX()).toBe(17);

    w.pane.press('End');
    w.pane.type('ld');
    w.pane.press('Enter');
    const m = await bobGets(w, (x) => x.from === 'alice');
    expect(m).toMatchObject({ kind: 0, group: 'ops', text: 'hello world' });
    await w.pane.waitForText('#ops <alice> hello world');
    await w.pane.waitForPrompt('alice@ops>');
  });

  it('slash commands: join, switch, msg, all, who, groups, history, name, leave, help; Tab completes', async () => {
    const w = await world();
    await w.bob.request('GROUP_CREATE', { group: 'dev', private: false });
    for (const t of ['h1', 'h2', 'h3']) await send(w, 'ops', t);
    start(w);
    await w.pane.waitForPrompt('alice@ops>');
    const run = (line: string) => { w.pane.type(line); w.pane.press('Enter'); };

    run('/join dev');
    await w.pane.waitForPrompt('alice@dev>');
    await w.bob.waitFor((f) => f.name === 'GROUP_EVENT' && f.payload.event === 'join' && f.payload.user === 'alice' && f.payload.group === 'dev');
    run('to dev');
    expect(await bobGets(w, (x) => x.from === 'alice')).toMatchObject({ kind: 0, group: 'dev', text: 'to dev' });

    run('/switch ops');
    await w.pane.waitForPrompt('alice@ops>');
    run('/msg bob psst');
    expect(await bobGets(w, (x) => x.text === 'psst')).toMatchObject({ kind: 1, from: 'alice', to: 'bob' });
    await w.pane.waitForText('DM <alice → bob> psst');
    run('/all hear ye');
    expect(await bobGets(w, (x) => x.text === 'hear ye')).toMatchObject({ kind: 2, from: 'alice' });

    run('/who');
    await w.pane.waitFor((a) => /bob\s+member\s+online/.test(a) && /alice\s+owner\s+online/.test(a), '/who');
    run('/groups');
    await w.pane.waitFor((a) => /dev\s+public\s+2 members\s+\*/.test(a) && /ops\s+public\s+2 members\s+\*\s+\(current\)/.test(a), '/groups');
    run('/history 2');
    await w.pane.waitForText('the last 2 messages of #ops');
    expect(w.pane.count('<bob> h2')).toBe(1);
    expect(w.pane.count('<bob> h3')).toBe(1);
    expect(w.pane.count('<bob> h1')).toBe(0);

    run('/name Alice L');
    await w.pane.waitForText('your display name is now "Alice L"');
    const { users } = await w.bob.request('USERS', { all: true });
    expect((users as Payload[]).find((u) => u.name === 'alice')?.displayName).toBe('Alice L');

    run('/leave dev');
    await w.bob.waitFor((f) => f.name === 'GROUP_EVENT' && f.payload.event === 'leave' && f.payload.user === 'alice');
    await w.pane.waitForText('left #dev');
    run('/frobnicate');
    await w.pane.waitForText('!! unknown command "/frobnicate"');
    run('/help');
    await w.pane.waitForText('/history [N]');

    // Tab: a command, then a user name; the completed line is sent as shown.
    w.pane.type('/ms');
    w.pane.press('Tab');
    await w.pane.waitForPrompt('alice@ops> /msg');
    w.pane.type('b');
    w.pane.press('Tab');
    await w.pane.waitForPrompt('alice@ops> /msg bob');
    w.pane.type('completed');
    w.pane.press('Enter');
    expect(await bobGets(w, (x) => x.text === 'completed')).toMatchObject({ kind: 1, to: 'bob' });

    // What others do shows up above the prompt: a direct message, a join.
    await w.bob.request('SEND', { kind: 1, target: 'alice', text: 'hi alice' });
    await w.pane.waitForText('DM <bob → alice> hi alice');
    const carol = await w.ts.user('carol');
    await carol.request('GROUP_JOIN', { group: 'ops' });
    await w.pane.waitForText('-- carol joined #ops');
  });

  it('Ctrl-C while typing clears the line; Ctrl-C on an empty line leaves with a goodbye, exit 0', async () => {
    const w = await world();
    start(w);
    await w.pane.waitForPrompt('alice@ops>');
    await w.bob.waitFor((f) => f.name === 'PRESENCE' && f.payload.user === 'alice' && f.payload.online === true);
    w.pane.type('never sent');
    await w.pane.waitForPrompt('alice@ops> never sent');
    w.pane.press('C-c');
    await w.pane.waitForPrompt('alice@ops>');
    const mark = w.bob.pushes.length;
    w.pane.press('C-c');
    expect(await w.pane.exitCode()).toBe(0);
    await w.bob.waitFor((f) => w.bob.pushes.indexOf(f) >= mark && f.name === 'PRESENCE' && f.payload.user === 'alice' && f.payload.online === false);
    // BYE, not a reset: the server closed the connection with reason "bye".
    await expect.poll(() => chatCloses(w)).toEqual(['bye']);
    expect(w.bob.messages().map((m) => m.text)).not.toContain('never sent');
    expect(w.pane.screen()).toMatch(/^icanon$/m); // the terminal is back in line mode
  });

  it('/quit leaves cleanly (others see the user go), and Ctrl-D on an empty line does too', async () => {
    const w = await world();
    start(w);
    await w.pane.waitForPrompt('alice@ops>');
    await w.bob.waitFor((f) => f.name === 'PRESENCE' && f.payload.user === 'alice' && f.payload.online === true);
    w.pane.type('last words');
    w.pane.press('Enter');
    w.pane.type('/quit');
    w.pane.press('Enter');
    expect(await w.pane.exitCode()).toBe(0);
    expect(w.pane.all()).toMatch(/^alice@ops> \/quit$/m);
    expect(await bobGets(w, (x) => x.from === 'alice')).toMatchObject({ text: 'last words' });
    await w.bob.waitFor((f) => f.name === 'PRESENCE' && f.payload.user === 'alice' && f.payload.online === false);
    await expect.poll(() => chatCloses(w)).toEqual(['bye']);

    const again = new Pane();
    panes.push(again);
    again.start(['--interactive'], w.env, { cwd: w.dir });
    await again.waitForPrompt('alice@ops>');
    again.press('C-d');
    expect(await again.exitCode()).toBe(0);
    await expect.poll(() => chatCloses(w)).toEqual(['bye', 'bye']);
  });

  it('prompts for what is missing (user, then password without echo); with no group, user> says how to pick one', async () => {
    const w = await world({ aliceGroups: false });
    const { CHAT_USER: _u, CHAT_PASSWORD: _p, ...env } = w.env;
    start(w, [], { ...env, NO_COLOR: '1' }); // no --interactive: the terminal is enough
    await w.pane.waitForText(`User at 127.0.0.1:${w.ts.port}:`);
    w.pane.type('alice');
    w.pane.press('Enter');
    await w.pane.waitForText('Password for alice:');
    w.pane.type('pw-alice');
    w.pane.press('Enter');
    await w.pane.waitForPrompt('alice>');
    expect(w.pane.all()).not.toContain('pw-alice');
    expect(w.pane.all()).toContain('you are in no group yet: /join GROUP');
    w.pane.type('hello?');
    w.pane.press('Enter');
    await w.pane.waitForText('!! not sent: you are not talking in a group; /join one first');
    await w.pane.waitForPrompt('alice> hello?'); // kept, nothing was sent
    expect(w.pane.screenWithEscapes()).not.toContain('\u001b[1m'); // NO_COLOR
    w.pane.press('C-u');
    w.pane.type('/join ops');
    w.pane.press('Enter');
    await w.pane.waitForText('group "ops" not found (see: /groups)');
  });

  it('/files, /get and /upload: progress in a row above the prompt, the typed line intact; uploads of others shown', async () => {
    const w = await world();
    // Paced, so the transfers last long enough to see their progress rows.
    const relay = await relayTo(() => w.ts.port, 384 * 1024);
    relays.push(relay);
    start(w, ['--interactive'], { ...w.env, CHAT_SERVER: `127.0.0.1:${relay.port}` });
    await w.pane.waitForPrompt('alice@ops>');
    const data = randomBytes(1024 * 1024 + 123);
    await upload(w.bob, 'data.bin', data);
    await w.pane.waitForText('-- bob uploaded data.bin v1 (1.0 MiB) to #ops');
    w.pane.type('/files');
    w.pane.press('Enter');
    await w.pane.waitFor((a) => /data\.bin\s+v1\s+1\.0 MiB\s+bob/.test(a), '/files');

    const progressRow = (arrow: string, name: string) => new RegExp(`^${arrow} ${name.replace('.', '\\.')} \\[[#-]{20}\\] \\d+% `);
    w.pane.type('/get da');
    w.pane.press('Tab');
    await w.pane.waitForPrompt('alice@ops> /get data.bin');
    w.pane.press('Enter');
    w.pane.type('still typing');
    await w.pane.waitFor(() => {
      const rows = w.pane.screen().split('\n').filter((l) => l !== '');
      return rows[rows.length - 1] === 'alice@ops> still typing' && progressRow('↓', 'data.bin').test(rows[rows.length - 2]);
    }, 'the download progress row just above the prompt');
    await w.pane.waitForText('-- saved data.bin v1 as ', 20_000);
    expect(readFileSync(join(w.dir, 'data.bin')).equals(data)).toBe(true);
    await w.pane.waitFor(() => !w.pane.screen().split('\n').some((l) => progressRow('↓', 'data.bin').test(l)), 'the progress row to go');
    expect(w.pane.lastLine()).toBe('alice@ops> still typing');

    const up = randomBytes(768 * 1024);
    writeFileSync(join(w.dir, 'up.bin'), up);
    w.pane.press('C-u');
    w.pane.type('/upload up.bin');
    w.pane.press('Enter');
    await w.pane.waitFor(() => w.pane.screen().split('\n').some((l) => progressRow('↑', 'up.bin').test(l)), 'the upload progress row');
    await w.pane.waitForText('-- uploaded up.bin to #ops as v1 (768 KiB', 20_000);
    const ev = await w.bob.waitFor((f) => f.name === 'FILE_EVENT' && f.payload.file.name === 'up.bin');
    expect(ev.payload).toMatchObject({ group: 'ops', event: 'upload', actor: 'alice', file: { version: 1, size: up.length } });
    expect(ev.payload.file.sha256).toBe(createHash('sha256').update(up).digest('hex'));
  }, 60_000);
});
