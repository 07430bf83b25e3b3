/**
 * Saved history end to end through the real `chat` binary against a server that is
 * stopped (SIGTERM) and started again on the same data dir between sending and
 * reading (issue 3): `chat history`, `chat search`, `chat tail --resume` (each message
 * exactly once across runs), and `chat wait` / `chat tail` never missing a message
 * stored right after they connected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { chat, spawnChat, startServer, startTail, tempDir, type ChatOptions, type LiveChat, type ServerProcess } from './harness.js';
import { TestClient } from '../unit/server/helpers.js';

let server: ServerProcess;
let dataDir: string;
const live: LiveChat[] = [];
const as = (user: string, env: Record<string, string> = {}): ChatOptions =>
  ({ server: server.address, configDir: join(dataDir, `cfg-${user}`), user, password: `pw-${user}`, env });
const json = (line: string) => JSON.parse(line) as Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ok(user: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await chat(as(user, env), args);
  expect(r.stderr, `chat ${args.join(' ')} as ${user}`).toBe('');
  expect(r.code, `chat ${args.join(' ')} as ${user}`).toBe(0);
  return r.stdout;
}
async function send(user: string, args: string[]): Promise<number> {
  return Number((await ok(user, ['send', ...args])).trim());
}
const lines = (out: string) => out.split('\n').filter((l) => l !== '');

/** SIGTERM, then a new server on the same data dir and address. */
async function restart(): Promise<void> {
  expect(await server.stop('SIGTERM')).toBe(0);
  server = await startServer({ dataDir, listen: server.address });
}

/** Stops a live chat with SIGINT and returns its exit code. */
async function interrupt(t: LiveChat): Promise<number | string> {
  t.proc.kill('SIGINT');
  return t.exit;
}

beforeAll(async () => {
  dataDir = tempDir('chat-history-');
  server = await startServer({ dataDir });
  for (const u of ['alice', 'bob', 'carol']) expect((await chat(as(u), ['register'])).code).toBe(0);
  await ok('alice', ['group', 'create', 'ops']);
  await ok('bob', ['join', 'ops']);
  await ok('alice', ['group', 'create', 'vault', '--private']);
});
afterAll(async () => {
  for (const t of live) t.proc.kill('SIGKILL');
  await server.stop();
});

describe('chat history and chat search', () => {
  it('read what was stored before a restart: -g, --with, --last, --since SEQ and DURATION, --json', async () => {
    const texts = ['deploy started', 'lunch?', 'deploy failed: disk full', 'retrying', 'deploy done'];
    const seqs: number[] = [];
    for (const t of texts) seqs.push(await send('alice', ['-g', 'ops', t]));
    const d1 = await send('bob', ['--to', 'alice', 'psst']);
    const d2 = await send('alice', ['--to', 'bob', 'what?']);
    await restart();

    const human = lines(await ok('bob', ['history', '-g', 'ops']));
    expect(human).toHaveLength(5);
    human.forEach((l, i) => expect(l).toMatch(new RegExp(`^\\[(\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d:\\d\\d\\] #ops <alice> ${texts[i].replace('?', '\\?')}$`)));

    const all = lines(await ok('bob', ['history', '-g', 'ops', '--json'])).map(json);
    expect(all.map((m) => m.seq)).toEqual(seqs);
    expect(all[0]).toEqual({ seq: seqs[0], kind: 'group', from: 'alice', group: 'ops', text: 'deploy started', ts: expect.any(Number) });

    const lastTwo = lines(await ok('bob', ['history', '-g', 'ops', '--last', '2', '--json'])).map(json);
    expect(lastTwo.map((m) => m.text)).toEqual(['retrying', 'deploy done']);
    const since = lines(await ok('bob', ['history', '-g', 'ops', '--since', String(seqs[2]), '--json'])).map(json);
    expect(since.map((m) => m.seq)).toEqual(seqs.slice(3));
    const sinceLast = lines(await ok('bob', ['history', '-g', 'ops', '--since', String(seqs[0]), '--last', '1', '--json'])).map(json);
    expect(sinceLast.map((m) => m.seq)).toEqual([seqs[4]]);
    const nothing = await chat(as('bob'), ['history', '-g', 'ops', '--since', String(seqs[4])]);
    expect(nothing).toMatchObject({ code: 0, stdout: '' });
    expect(nothing.stderr).toMatch(/no messages in #ops since \d+/);

    const direct = lines(await ok('bob', ['history', '--with', 'alice', '--json'])).map(json);
    expect(direct).toEqual([
      { seq: d1, kind: 'direct', from: 'bob', to: 'alice', text: 'psst', ts: expect.any(Number) },
      { seq: d2, kind: 'direct', from: 'alice', to: 'bob', text: 'what?', ts: expect.any(Number) },
    ]);
    expect(lines(await ok('alice', ['history', '--with', 'bob'])).map((l) => l.replace(/^\[[^\]]*\] /, ''))).toEqual(['<bob → alice> psst', '<alice → bob> what?']);
    // carol's thread with alice is empty: her own view, never someone else's.
    const empty = await chat(as('carol'), ['history', '--with', 'alice']);
    expect(empty).toMatchObject({ code: 0, stdout: '' });
    expect(empty.stderr).toMatch(/no messages/);

    // A duration: an old message drops out, a fresh one stays.
    await sleep(3000);
    const before = Date.now();
    const fresh = await send('alice', ['-g', 'ops', 'fresh']);
    const recent = lines(await ok('bob', ['history', '-g', 'ops', '--since', '2s', '--json'])).map(json);
    expect(recent.map((m) => m.seq)).not.toContain(seqs[4]); // at least 3 s old
    if (Date.now() - before < 2000) expect(recent.map((m) => m.seq)).toEqual([fresh]);
    expect(lines(await ok('bob', ['history', '-g', 'ops', '--since', '1w'])).length).toBe(6);
  });

  it('refuse non-members (5), unknown or invisible groups and users (4) and bad arguments (2)', async () => {
    const cases: Array<[string, string[], number, RegExp]> = [
      ['carol', ['history', '-g', 'ops'], 5, /member.*chat join ops/],
      ['carol', ['search', '-g', 'ops', 'deploy'], 5, /chat join ops/],
      ['carol', ['history', '-g', 'vault'], 4, /group "vault" not found/],
      ['bob', ['history', '-g', 'nosuch'], 4, /not found \(see: chat groups\)/],
      ['bob', ['history', '--with', 'ghost'], 4, /user "ghost" not found/],
      ['bob', ['history'], 2, /exactly one of -g GROUP or --with USER/],
      ['bob', ['history', '-g', 'ops', '--with', 'alice'], 2, /exactly one of/],
      ['bob', ['history', '-g', 'ops', '--since', 'yesterday'], 2, /--since "yesterday" is neither a sequence number/],
      ['bob', ['history', '-g', 'ops', '--last', '0'], 2, /--last needs a whole number/],
      ['bob', ['search', '-g', 'ops', '?!'], 2, /no words/],
    ];
    for (const [user, args, code, message] of cases) {
      const r = await chat(as(user), args);
      expect(r.code, `chat ${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });

  it('search finds every word, newest first, after a restart; --last limits; --with searches a thread', async () => {
    await send('alice', ['-g', 'ops', 'DEPLOY of the web tier: DONE']);
    await restart();
    const found = lines(await ok('bob', ['search', '-g', 'ops', 'deploy', '--json'])).map(json);
    expect(found.map((m) => m.text)).toEqual(['DEPLOY of the web tier: DONE', 'deploy done', 'deploy failed: disk full', 'deploy started']);
    const seqs = found.map((m) => m.seq as number);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    expect(lines(await ok('bob', ['search', '-g', 'ops', 'done', 'deploy', '--json'])).map((m) => json(m).text))
      .toEqual(['DEPLOY of the web tier: DONE', 'deploy done']);
    expect(lines(await ok('bob', ['search', '-g', 'ops', 'deploy', '--last', '1']))).toHaveLength(1);
    expect(lines(await ok('bob', ['search', '--with', 'alice', 'psst', '--json'])).map((m) => json(m).from)).toEqual(['bob']);
    const none = await chat(as('bob'), ['search', '-g', 'ops', 'deployment']); // whole words only
    expect(none).toMatchObject({ code: 0, stdout: '' });
  });
});

describe('chat tail --resume', () => {
  it('prints what came while it was away exactly once, across a restart, then follows live', async () => {
    const state = { CHAT_STATE_DIR: tempDir('chat-state-') };
    const first = spawnChat(as('bob', state), ['tail', '--resume', '--json']);
    live.push(first);
    await first.waitForErr((l) => l.includes('listening for messages'));
    expect(first.errLines.join('\n')).toMatch(/no saved position .*starting at the newest message/);
    expect(first.lines).toEqual([]); // nothing old on a first run
    const seen: number[] = [];
    for (let i = 1; i <= 3; i++) seen.push(await send('alice', ['-g', 'ops', `while there ${i}`]));
    await first.waitForLine((l) => l.includes('while there 3'));
    expect(await interrupt(first)).toBe(0);
    expect(first.lines.map((l) => json(l).seq)).toEqual(seen);

    const away: number[] = [];
    away.push(await send('alice', ['-g', 'ops', 'away 1']));
    away.push(await send('alice', ['--to', 'bob', 'away 2 (direct)']));
    await send('alice', ['-g', 'vault', 'not for bob']);
    await send('carol', ['--to', 'alice', 'not for bob either']);
    away.push(await send('carol', ['--all', 'away 3 (everyone)']));
    await restart();
    away.push(await send('alice', ['-g', 'ops', 'away 4']));

    const second = spawnChat(as('bob', state), ['tail', '--resume', '--json']);
    live.push(second);
    await second.waitForErr((l) => l.includes('listening for messages'));
    await second.waitForLine((l) => l.includes('away 4'));
    expect(second.lines.map((l) => json(l).seq)).toEqual(away);
    const liveSeq = await send('alice', ['-g', 'ops', 'live again']);
    await second.waitForLine((l) => l.includes('live again'));
    expect(await interrupt(second)).toBe(0);
    expect(second.lines.map((l) => json(l).seq)).toEqual([...away, liveSeq]);

    // Nothing new: the next run prints nothing. Another filter has its own cursor.
    const third = spawnChat(as('bob', state), ['tail', '--resume', '--json']);
    live.push(third);
    await third.waitForErr((l) => l.includes('listening for messages'));
    const other = spawnChat(as('bob', state), ['tail', '--resume', '-g', 'ops']);
    live.push(other);
    await other.waitForErr((l) => l.includes('listening for messages'));
    expect(other.errLines.join('\n')).toMatch(/no saved position/);
    await sleep(200);
    expect(await interrupt(third)).toBe(0);
    expect(await interrupt(other)).toBe(0);
    expect(third.lines).toEqual([]);
    expect(other.lines).toEqual([]);
  });

  it('a plain tail that reconnects after a restart prints what was sent meanwhile, once', async () => {
    const t = await startTail(as('bob'), ['--json']);
    live.push(t);
    const a = await send('alice', ['-g', 'ops', 'before the restart']);
    await t.waitForLine((l) => l.includes('before the restart'));
    await restart();
    const b = await send('alice', ['-g', 'ops', 'sent while the tail reconnects']);
    await t.waitForLine((l) => l.includes('sent while the tail reconnects'), 20_000);
    const c = await send('alice', ['-g', 'ops', 'after']);
    await t.waitForLine((l) => l.includes('"after"'));
    expect(await interrupt(t)).toBe(0);
    expect(t.lines.map((l) => json(l).seq)).toEqual([a, b, c]);
  });
});

describe('wait and tail never miss a message stored right after they connected', () => {
  /** Resolves when the server logs `user` logging in for the n-th time since `from`. */
  async function loggedIn(user: string, from: number): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (server.logs.slice(from).some((l) => l.msg === 'logged in' && l.user === user)) return;
      await sleep(2);
    }
    throw new Error(`${user} never logged in`);
  }

  it('sends the moment the server sees the login, before the command reports it is listening', async () => {
    const port = Number(server.address.split(':').pop());
    const sender = await TestClient.connect(port);
    try {
      await sender.login('alice', 'pw-alice');
      for (let i = 0; i < 5; i++) {
        const mark = server.logs.length;
        const w = spawnChat(as('bob'), ['wait', '-g', 'ops', '--match', `^race ${i}$`, '--timeout', '30']);
        live.push(w);
        await loggedIn('bob', mark);
        await sender.request('SEND', { kind: 0, target: 'ops', text: `race ${i}` });
        expect(await w.exit, w.errLines.join('\n')).toBe(0);
        expect(w.lines.join('\n')).toMatch(new RegExp(`#ops <alice> race ${i}$`));
      }
      for (let i = 0; i < 2; i++) {
        const mark = server.logs.length;
        const t = spawnChat(as('bob'), ['tail', '--json']);
        live.push(t);
        await loggedIn('bob', mark);
        const { message } = await sender.request('SEND', { kind: 0, target: 'ops', text: `tail race ${i}` });
        await t.waitForLine((l) => l.includes(`tail race ${i}`));
        await t.waitForErr((l) => l.includes('listening for messages'));
        await sleep(100);
        expect(await interrupt(t)).toBe(0);
        expect(t.lines.map((l) => json(l).seq)).toEqual([message.seq]);
      }
    } finally {
      sender.close();
    }
  });
});

describe('chat tail --resume against a data directory restored from an older copy', () => {
  it('a saved position beyond the head is said and dropped, so new messages below it still print', async () => {
    const { cpSync, rmSync } = await import('node:fs');
    const state = { CHAT_STATE_DIR: tempDir('chat-state-') };
    const backup = join(tempDir('chat-backup-'), 'data');
    const t0 = spawnChat(as('bob', state), ['tail', '--resume', '--json']); // first run: a cursor at the head
    live.push(t0);
    await t0.waitForErr((l) => l.includes('listening for messages'));
    expect(await interrupt(t0)).toBe(0);
    expect(await server.stop('SIGTERM')).toBe(0);
    cpSync(dataDir, backup, { recursive: true }); // the nightly copy: same journal id
    server = await startServer({ dataDir, listen: server.address });

    const t1 = spawnChat(as('bob', state), ['tail', '--resume', '--json']);
    live.push(t1);
    await t1.waitForErr((l) => l.includes('listening for messages'));
    for (let i = 0; i < 4; i++) await send('alice', ['-g', 'ops', `lost with the disk ${i}`]);
    await t1.waitForLine((l) => l.includes('lost with the disk 3'));
    expect(await interrupt(t1)).toBe(0);
    const cursor = json(t1.lines.at(-1)!).seq as number;

    // The disk dies; the copy is put back; people carry on.
    expect(await server.stop('SIGTERM')).toBe(0);
    rmSync(dataDir.concat('/journal'), { recursive: true, force: true });
    rmSync(dataDir.concat('/snapshots'), { recursive: true, force: true });
    cpSync(backup, dataDir, { recursive: true });
    server = await startServer({ dataDir, listen: server.address });
    const t2 = spawnChat(as('bob', state), ['tail', '--resume', '--json']);
    live.push(t2);
    await t2.waitForErr((l) => l.includes('listening for messages'));
    expect(t2.errLines.join('\n')).toMatch(new RegExp(`saved position #${cursor} is beyond the newest message .*, #\\d+ .*restored`));
    const fresh = await send('alice', ['-g', 'ops', 'after the restore']);
    expect(fresh).toBeLessThanOrEqual(cursor); // the case: before, a seq at or below the old cursor was dropped
    await t2.waitForLine((l) => l.includes('after the restore'));
    expect(await interrupt(t2)).toBe(0);
    expect(t2.lines.map((l) => json(l).seq)).toEqual([fresh]);
  });
});
