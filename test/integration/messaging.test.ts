/**
 * Groups and live messages end to end through the real binaries (SPEC §4 Groups,
 * People, Messages; exit codes 4, 5, 6, 9).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { chat, spawnChat, startServer, startTail, type ChatOptions, type LiveChat, type ServerProcess } from './harness.js';

let server: ServerProcess;
const as = (user: string): ChatOptions => ({ server: server.address, configDir: join(server.dataDir, `cfg-${user}`), user });
const live: LiveChat[] = [];
const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

async function ok(user: string, args: string[]) {
  const r = await chat(as(user), args);
  expect(r.stderr, `chat ${args.join(' ')} as ${user}`).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  server = await startServer();
  for (const u of ['alice', 'bob', 'carol', 'mallory']) {
    expect((await chat({ ...as(u), password: `pw-${u}` }, ['register'])).code).toBe(0);
  }
});
afterAll(async () => {
  for (const t of live) t.proc.kill('SIGKILL');
  await server.stop();
});

describe('groups', () => {
  it('private group: join needs an invite; non-members learn nothing', async () => {
    await ok('alice', ['group', 'create', 'ops', '--private']);
    // Not invited: the private group does not exist for bob.
    const refused = await chat(as('bob'), ['join', 'ops']);
    expect(refused.code).toBe(4);
    const listing = await chat(as('bob'), ['groups', '--json']);
    expect(listing.code).toBe(0);
    expect(listing.stdout).not.toContain('"ops"');

    await ok('alice', ['group', 'invite', 'ops', 'bob']);
    await ok('bob', ['join', 'ops']);
    await ok('alice', ['group', 'invite', 'ops', 'carol']);
    await ok('carol', ['join', 'ops']);
    const listed = (await ok('alice', ['groups', '--members', '--json'])).trim().split('\n').map(json);
    const ops = listed.find((g) => g.name === 'ops');
    expect(ops).toMatchObject({ private: true, owner: 'alice', memberCount: 3 });
    expect(ops!.members).toEqual(expect.arrayContaining(['alice', 'bob', 'carol']));
  });

  it('enforces roles: only owner/admin invite, kick and delete (5); names are unique (6)', async () => {
    expect((await chat(as('bob'), ['group', 'invite', 'ops', 'mallory'])).code).toBe(5);
    expect((await chat(as('bob'), ['group', 'delete', 'ops'])).code).toBe(5);
    expect((await chat(as('bob'), ['group', 'create', 'ops'])).code).toBe(6);
    expect((await chat(as('bob'), ['group', 'kick', 'nosuch', 'carol'])).code).toBe(4);
    // An invite to a user who does not exist is a not-found.
    expect((await chat(as('alice'), ['group', 'invite', 'ops', 'ghost'])).code).toBe(4);
  });

  it('public groups are open to everyone; leaving and kicking take effect', async () => {
    await ok('carol', ['group', 'create', 'lobby']);
    await ok('mallory', ['join', 'lobby']);
    expect((await chat(as('mallory'), ['join', 'lobby'])).code).toBe(6);
    await ok('mallory', ['send', '-g', 'lobby', 'hi all']);
    await ok('carol', ['group', 'kick', 'lobby', 'mallory']);
    expect((await chat(as('mallory'), ['send', '-g', 'lobby', 'still here?'])).code).toBe(5);
    await ok('mallory', ['join', 'lobby']);
    await ok('mallory', ['leave', 'lobby']);
    expect((await chat(as('mallory'), ['send', '-g', 'lobby', 'gone'])).code).toBe(5);
  });
});

describe('messages', () => {
  it('delivers a group message live to every member, and only to members', async () => {
    const bobTail = await startTail(as('bob'), ['--json']);
    const carolTail = await startTail(as('carol'), ['-g', 'ops']);
    const malloryTail = await startTail(as('mallory'), ['--json']);
    live.push(bobTail, carolTail, malloryTail);

    const seq = Number((await ok('alice', ['send', '-g', 'ops', 'deploy', 'at', 'noon'])).trim());
    expect(seq).toBeGreaterThan(0);
    const got = json(await bobTail.waitForLine((l) => l.includes('deploy at noon')));
    expect(got).toMatchObject({ seq, kind: 'group', from: 'alice', group: 'ops', text: 'deploy at noon' });
    expect(typeof got.ts).toBe('number');
    expect(await carolTail.waitForLine((l) => l.includes('deploy at noon'))).toMatch(/#ops <alice> deploy at noon/);

    // A direct message reaches its recipient; the group filter of carol's tail hides it.
    await ok('alice', ['send', '--to', 'bob', 'psst']);
    expect(json(await bobTail.waitForLine((l) => l.includes('psst')))).toMatchObject({ kind: 'direct', from: 'alice', to: 'bob' });

    // A broadcast reaches everyone connected, non-members of anything included.
    await ok('carol', ['send', '--all', 'fire drill']);
    expect(json(await malloryTail.waitForLine((l) => l.includes('fire drill')))).toMatchObject({ kind: 'all', from: 'carol' });
    await bobTail.waitForLine((l) => l.includes('fire drill'));

    // mallory never saw the private group's message or the direct message.
    expect(malloryTail.lines.join('\n')).not.toMatch(/deploy at noon|psst/);
    expect(carolTail.lines.join('\n')).not.toMatch(/psst/);
  });

  it('reads text from stdin, one message per line with --lines', async () => {
    const t = await startTail(as('carol'), ['-g', 'ops', '--json']);
    live.push(t);
    const r = await chat({ ...as('bob'), input: 'line one\nline two\n' }, ['send', '-g', 'ops', '--lines']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    await t.waitForLine((l) => l.includes('line two'));
    expect(t.lines.map(json).map((m) => m.text)).toEqual(['line one', 'line two']);
  });

  it('--lines stops at the first refused line with one error line, never a crash', async () => {
    // Client-side limit: the lines before the oversize one are sent and reported.
    const input = `${['a1', 'a2', 'a3'].join('\n')}\n${'z'.repeat(70_000)}\nafter\n`;
    const big = await chat({ ...as('bob'), input }, ['send', '-g', 'ops', '--lines']);
    expect(big.code).toBe(2);
    expect(big.stdout.trim().split('\n')).toHaveLength(3);
    expect(big.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^chat: the message is 70000 bytes/)]);
    // Server-side refusal of every line (key too long) while many are in flight: the
    // later refusals arrive before the first is reported and must not crash the client.
    const lines = Array.from({ length: 20 }, (_, i) => `k${i}`).join('\n');
    const refused = await chat({ ...as('bob'), input: lines }, ['send', '-g', 'ops', '--lines', '--id', 'k'.repeat(200)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  });

  it('stores and delivers a retried send with the same --id once', async () => {
    const t = await startTail(as('carol'), ['-g', 'ops', '--json']);
    live.push(t);
    const first = await ok('bob', ['send', '-g', 'ops', '--id', 'job-42', 'build done']);
    const retry = await chat(as('bob'), ['send', '-g', 'ops', '--id', 'job-42', 'build done']);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toBe(first); // the same stored message, not a second one
    expect(retry.stderr).toMatch(/already stored/);
    await ok('bob', ['send', '-g', 'ops', 'marker']);
    await t.waitForLine((l) => l.includes('marker'));
    expect(t.lines.filter((l) => l.includes('build done'))).toHaveLength(1);
  });

  it('refuses unknown targets (4), non-members (5) and oversize text (2)', async () => {
    expect((await chat(as('alice'), ['send', '-g', 'nosuch', 'x'])).code).toBe(4);
    expect((await chat(as('alice'), ['send', '--to', 'ghost', 'x'])).code).toBe(4);
    await ok('alice', ['group', 'create', 'announce']);
    expect((await chat(as('bob'), ['send', '-g', 'announce', 'x'])).code).toBe(5);
    const big = await chat({ ...as('alice'), input: 'y'.repeat(70_000) }, ['send', '-g', 'announce']);
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/70000 bytes/);
  });

  it('wait exits 0 with the first matching message, 9 on timeout', async () => {
    const w = spawnChat(as('carol'), ['wait', '-g', 'ops', '--from', 'alice', '--match', '^build #\\d+ ok$', '--json', '--timeout', '20']);
    await w.waitForErr((l) => l.includes('waiting for a message'));
    await ok('bob', ['send', '-g', 'ops', 'build #7 ok']); // wrong sender
    await ok('alice', ['send', '-g', 'ops', 'build #7 failed']); // no match
    await ok('alice', ['send', '-g', 'ops', 'build #8 ok']);
    expect(await w.exit).toBe(0);
    expect(w.lines.map(json)).toEqual([expect.objectContaining({ from: 'alice', text: 'build #8 ok' })]);

    const timedOut = await chat(as('carol'), ['wait', '-g', 'ops', '--match', 'never', '--timeout', '1']);
    expect(timedOut.code).toBe(9);
    expect((await chat(as('mallory'), ['wait', '-g', 'ops', '--timeout', '5'])).code).toBe(4);
    expect((await chat(as('carol'), ['wait', '-g', 'ops', '--match', '('])).code).toBe(2);
  });

  it('lists connected users, and every account with --all', async () => {
    const t = await startTail(as('mallory'));
    live.push(t);
    const online = (await ok('alice', ['users', '--json'])).trim().split('\n').map(json);
    expect(online).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'mallory', online: true })]));
    const all = (await ok('alice', ['users', '--all', '--json'])).trim().split('\n').map(json);
    expect(all.map((u) => u.name)).toEqual(expect.arrayContaining(['alice', 'bob', 'carol', 'mallory']));
  });
});
