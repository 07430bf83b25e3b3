/**
 * Interactive `chat` at its edges (issue 5 review): what it prints when a command
 * fails or overlaps with others, without a terminal (--interactive on pipes), and on
 * a dumb one. The real binary against a real server on port 0.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useTestServer, type TestClient, type TestServer } from '../unit/server/helpers.js';
import { chat, ROOT, type ChatOptions } from './harness.js';
import { Pane, relayTo, requireTmux, type Relay } from './interactive-tmux.js';

const startServer = useTestServer();
const dirs: string[] = [];
const panes: Pane[] = [];
const relays: Relay[] = [];
// Registered after useTestServer's hook: runs first, so clients go before the server.
afterEach(async () => {
  for (const p of panes.splice(0)) p.kill();
  for (const r of relays.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A server with alice (owner of #ops) and bob (member); options to run alice's chat. */
async function world(): Promise<{ ts: TestServer; alice: ChatOptions }> {
  const ts = await startServer();
  const setup = await ts.client();
  await setup.register('alice');
  await setup.request('GROUP_CREATE', { group: 'ops', private: false });
  await setup.request('BYE');
  const bob = await ts.user('bob');
  await bob.request('GROUP_JOIN', { group: 'ops' });
  const dir = mkdtempSync(join(tmpdir(), 'chat-interactive-edges-'));
  dirs.push(dir);
  return { ts, alice: { server: `127.0.0.1:${ts.port}`, configDir: join(dir, 'cfg'), user: 'alice', password: 'pw-alice' } };
}

/** `chat --interactive ARGS` kept running: lines are typed with type(), the output is watched. */
function live(o: ChatOptions, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, CHAT_SERVER: o.server, CHAT_CONFIG_DIR: o.configDir, CHAT_USER: o.user, CHAT_PASSWORD: o.password };
  const proc = spawn(process.execPath, [join(ROOT, 'bin/chat.js'), '--interactive', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = new Promise<number>((r) => proc.on('close', (code) => r(code ?? -1)));
  return {
    type: (line: string) => proc.stdin.write(`${line}\n`),
    output: () => out,
    async waitFor(re: RegExp, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${timeoutMs} ms; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    /** Ends the input (Ctrl-D): the exit code. */
    end: () => { proc.stdin.end(); return exit; },
  };
}

/** `who` stores `data` as `name` in #ops with the raw drive requests. */
async function upload(who: TestClient, name: string, data: Buffer): Promise<void> {
  const { uploadId, chunkSize } = await who.request('UPLOAD_BEGIN', { group: 'ops', name, size: data.length });
  for (let off = 0; off < data.length; off += chunkSize) {
    await who.request('UPLOAD_CHUNK', { uploadId, offset: off, data: data.subarray(off, off + chunkSize) });
  }
  await who.request('UPLOAD_END', { uploadId, sha256: createHash('sha256').update(data).digest('hex') });
}

const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;

describe('interactive chat on pipes (--interactive)', () => {
  it('without a terminal and without --interactive, chat prints its help and exits 2 (no connection made)', async () => {
    const { ts, alice } = await world();
    for (const args of [[], ['-g', 'ops'], ['--server', `127.0.0.1:${ts.port}`]]) {
      const r = await chat({ ...alice, input: 'hello\n' }, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('chat [--interactive] [-g GROUP] [options]');
    }
    expect(ts.logs.filter((l) => l.msg === 'logged in' && l.user === 'alice')).toEqual([]);
  });

  it('leaving while disconnected names the messages that were not sent, so they are not lost unseen', async () => {
    const { ts, alice } = await world();
    const relay = await relayTo(() => ts.port);
    relays.push(relay);
    const c = live({ ...alice, server: `127.0.0.1:${relay.port}` }, ['-g', 'ops']);
    await c.waitFor(/connected to .* #ops \(talking here\)/);
    relay.setDown(true);
    relay.cut();
    await c.waitFor(/lost; reconnecting/);
    c.type('first words');
    c.type('second\twords');
    await c.waitFor(/(not connected: this message goes out once reconnected\n.*){2}/s);
    expect(await c.end()).toBe(0);
    expect(c.output()).toMatch(/^-- 2 messages were not sent \(not connected\):\n {3}first words\n {3}second {2}words$/m);
  });


  it('/leave of the current group says so once, with what to do next; a join made elsewhere is shown', async () => {
    const { ts, alice } = await world();
    const bob = await ts.user('bob2');
    await bob.request('GROUP_CREATE', { group: 'dev', private: false });
    await bob.request('GROUP_CREATE', { group: 'qa', private: false });
    const c = live(alice, ['-g', 'dev']);
    await c.waitFor(/connected to .* #dev \(talking here\)/);
    c.type('/leave');
    c.type('/groups'); // its answer comes after the server's push about the leave
    await c.waitFor(/^dev\s+public/m);
    expect(count(c.output(), /left #dev/)).toBe(1);
    expect(c.output()).toMatch(/left #dev; you are not talking in a group now \(\/switch to #ops\)/);

    // The same user joins #qa from another shell: this session learns it, and says so.
    const elsewhere = await ts.client();
    await elsewhere.login('alice');
    await elsewhere.request('GROUP_JOIN', { group: 'qa' });
    await c.waitFor(/^-- you joined #qa$/m);
    c.type('/switch qa');
    await c.waitFor(/now talking in #qa/);
    expect(await c.end()).toBe(0);
  });


  it('lines run in order: /quit is echoed after what the lines before it printed', async () => {
    const { alice } = await world();
    const r = await chat({ ...alice, input: '/help\n/groups\n/quit\n' }, ['--interactive', '-g', 'ops']);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    const at = (re: RegExp) => out.findIndex((l) => re.test(l));
    expect(at(/^alice@ops> \/help$/)).toBeGreaterThan(0);
    expect(at(/^alice@ops> \/help$/)).toBeLessThan(at(/\/history \[N\]/));
    expect(at(/\/history \[N\]/)).toBeLessThan(at(/^alice@ops> \/groups$/));
    expect(at(/^alice@ops> \/groups$/)).toBeLessThan(at(/^ops\s+public/));
    expect(at(/^ops\s+public/)).toBeLessThan(at(/^alice@ops> \/quit$/));
  });
});

describe('interactive chat in a terminal (tmux)', () => {
  beforeAll(() => requireTmux());

  /** alice's chat in a terminal, through a relay the test can take down. */
  async function inPane(alice: ChatOptions, port: number, cols = 80, bytesPerSecond?: number): Promise<{ pane: Pane; relay: Relay }> {
    const relay = await relayTo(() => port, bytesPerSecond);
    relays.push(relay);
    const pane = new Pane();
    panes.push(pane);
    pane.start(['--interactive', '-g', 'ops'], {
      CHAT_SERVER: `127.0.0.1:${relay.port}`, CHAT_CONFIG_DIR: alice.configDir, CHAT_USER: alice.user!, CHAT_PASSWORD: alice.password!,
    }, { cwd: dirs[dirs.length - 1], cols, rows: 24 });
    await pane.waitForPrompt('alice@ops>');
    return { pane, relay };
  }

  it('a server gone for good: a few lines and one status row however many attempts fail; /quit still leaves', async () => {
    const { ts, alice } = await world();
    const { pane, relay } = await inPane(alice, ts.port);
    relay.setDown(true);
    relay.cut();
    pane.type('half typed');
    const deadline = Date.now() + 30_000;
    while (relay.refused < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(relay.refused).toBeGreaterThanOrEqual(6);
    const rows = pane.screen().split('\n').filter((l) => l !== '');
    // The connection lost, the first reason a reconnect failed: no line per attempt.
    expect(rows.filter((l) => l.startsWith('-- ')).length).toBeLessThanOrEqual(4);
    expect(rows[rows.length - 1]).toBe('alice@ops> half typed');
    expect(rows[rows.length - 2]).toMatch(/^… no connection since \d\d:\d\d:\d\d: \d+ attempts failed; next in \d+\.\d s$/);
    pane.press('C-u');
    pane.type('/quit');
    pane.press('Enter');
    expect(await pane.exitCode()).toBe(0);
  }, 60_000);

  it('Ctrl-C while a /get runs: leaves at once, says where the download stopped and how to go on; /get goes on from there', async () => {
    const { ts, alice } = await world();
    const bob = await ts.client();
    await bob.login('bob');
    const data = randomBytes(3 * 1024 * 1024);
    await upload(bob, 'big.bin', data);
    const { pane } = await inPane(alice, ts.port, 120, 256 * 1024);
    pane.type('/get big.bin');
    pane.press('Enter');
    // Not the row shown before the first byte: some bytes of the 3 MiB.
    await pane.waitFor(() => /^↓ big\.bin \[#*-*\] \d+% [1-9][\d.]* [KM]iB of 3\.0 MiB$/m.test(pane.screen()), 'the progress row to show some progress');
    pane.press('C-c');
    expect(await pane.exitCode()).toBe(0);
    const all = pane.all();
    expect(all).not.toContain('reconnecting'); // leaving is not a lost connection
    expect(all).not.toMatch(/^!! /m); // nor a failure
    expect(all).toMatch(/^-- \/get big\.bin stopped at [\d.]+ [KM]iB of 3\.0 MiB: \/get big\.bin again goes on from there \(or chat-get --resume\)$/m);
    const dir = dirs[dirs.length - 1];
    const kept = statSync(join(dir, 'big.bin.part')).size;
    expect(kept).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'big.bin'))).toBe(false);

    const again = new Pane();
    panes.push(again);
    again.start(['--interactive', '-g', 'ops'], {
      CHAT_SERVER: `127.0.0.1:${ts.port}`, CHAT_CONFIG_DIR: alice.configDir, CHAT_USER: 'alice', CHAT_PASSWORD: 'pw-alice',
    }, { cwd: dir, cols: 120 });
    await again.waitForPrompt('alice@ops>');
    again.type('/get big.bin');
    again.press('Enter');
    await again.waitForText('-- saved big.bin v1 as ', 20_000);
    expect(again.all().replace(/\n\s+/g, ' ')).toMatch(/verified, resumed at [\d.]+ [KM]iB\)/);
    expect(readFileSync(join(dir, 'big.bin')).equals(data)).toBe(true);
  }, 60_000);

  it('Ctrl-C while an /upload runs: leaves at once and says nothing was stored', async () => {
    const { ts, alice } = await world();
    const dir = dirs[dirs.length - 1];
    writeFileSync(join(dir, 'up.bin'), randomBytes(3 * 1024 * 1024));
    const { pane } = await inPane(alice, ts.port, 120, 256 * 1024);
    pane.type('/upload up.bin');
    pane.press('Enter');
    await pane.waitFor(() => /^↑ up\.bin \[#*-*\] \d+% [1-9][\d.]* [KM]iB of 3\.0 MiB$/m.test(pane.screen()), 'the progress row to show some progress');
    pane.press('C-c');
    expect(await pane.exitCode()).toBe(0);
    const all = pane.all();
    expect(all).not.toMatch(/^!! /m);
    expect(all).not.toContain('once reconnected');
    expect(all).toMatch(/^-- \/upload up\.bin stopped at [\d.]+ [KM]iB of 3\.0 MiB: nothing was stored$/m);
  }, 60_000);

  it('a narrower terminal while a long line is typed: the prompt row is drawn again, no piece of the old one left above', async () => {
    const { ts, alice } = await world();
    const { pane } = await inPane(alice, ts.port, 80);
    const text = 'the quick brown fox jumps over the lazy dog and then some more words 0123456789';
    pane.type(text); // longer than the row: it scrolls sideways, the cursor at its end
    await pane.waitFor(() => pane.lastLine().endsWith('0123456789'), 'the typed line');
    const before = pane.screen().split('\n').filter((l) => l !== '').length;
    pane.resize(40, 24);
    // The terminal (tmux) re-wraps the old 79-column prompt row onto two rows; the
    // client must start its redraw from the first of them.
    await pane.waitFor(() => pane.lastLine() === `alice@ops> ${text.slice(-27)}`, 'the prompt row redrawn for 40 columns');
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes
    const rows = pane.screen().split('\n').filter((l) => l !== '');
    expect(rows.filter((l) => l.includes('alice@ops>'))).toEqual([`alice@ops> ${text.slice(-27)}`]);
    expect(rows.length).toBeLessThanOrEqual(before + 2); // the two notes above may wrap, nothing else
    expect(pane.cursorX()).toBe(38);
    // Typing and what arrives go on as before.
    pane.press('C-a');
    pane.type('>>');
    await pane.waitForPrompt('alice@ops> >>the quick brown fox jumps');
    expect(pane.cursorX()).toBe(13);
  });

  it('a message the server refuses (/msg to nobody) is put back on the line to be fixed; the session goes on', async () => {
    const { ts, alice } = await world();
    const { pane } = await inPane(alice, ts.port, 100);
    pane.type('/msg nobody hello there');
    pane.press('Enter');
    await pane.waitForText('!! user "nobody" not found (see: /who)');
    await pane.waitForPrompt('alice@ops> /msg nobody hello there');
    // Not over what is typed meanwhile: only an empty line gets it back.
    pane.press('C-a', 'M-f', 'M-f', 'C-w'); // the word "nobody" out
    pane.type('bob');
    pane.press('Enter');
    await pane.waitForText('DM <alice → bob> hello there');
    await pane.waitForPrompt('alice@ops>');
  });

  it('a paste is text: a tab in it does not complete, a Ctrl-C in it does not clear; each pasted line is sent as typed', async () => {
    const { ts, alice } = await world();
    const bob = await ts.client();
    await bob.login('bob');
    await bob.request('LISTEN', { on: true });
    const { pane } = await inPane(alice, ts.port, 100);
    pane.type('note: ');
    pane.paste('see a\tb \u0003c');
    await pane.waitForPrompt('alice@ops> note: see a     b c'); // the tab: to column 16 of the line
    pane.press('C-u');
    pane.paste('line one\nline two\nline three');
    await pane.waitForPrompt('alice@ops> line three'); // the last line waits for Enter, as typed
    await bob.waitFor((f) => f.name === 'MESSAGE' && f.payload.message.text === 'line two');
    const texts = bob.pushes.filter((f) => f.name === 'MESSAGE').map((f) => f.payload.message.text);
    expect(texts).toEqual(['line one', 'line two']);
  });
});
