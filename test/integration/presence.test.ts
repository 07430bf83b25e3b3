/**
 * Presence end to end (SPEC §4 People): `chat users` lists the users connected now,
 * `chat users --all` every account. A client that dies without a goodbye drops out
 * of the first list within a bounded time: at once when its process is killed (the
 * kernel closes the socket), after the keepalive timeout when it freezes with the
 * socket still open (SPEC §8; the server pings every --ping-interval).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chat, removeDir, startServer, startTail, type ChatOptions, type LiveChat, type ServerProcess } from './harness.js';

const live: LiveChat[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const t of live) t.proc.kill('SIGKILL');
  for (const s of servers) {
    await s.stop();
    removeDir(s.dataDir);
  }
});

interface UserRow {
  name: string;
  online: boolean;
}

/** A server with `ann` and `ben` registered (sessions stored in their config dirs). */
async function serverWithUsers(args: string[] = []): Promise<{ as: (user: string) => ChatOptions }> {
  const server = await startServer({ args });
  servers.push(server);
  const as = (user: string): ChatOptions => ({ server: server.address, configDir: join(server.dataDir, `cfg-${user}`), user });
  for (const u of ['ann', 'ben']) expect((await chat({ ...as(u), password: `pw-${u}` }, ['register'])).code).toBe(0);
  return { as };
}

/** `chat users [--all] --json` as `o`: one row per user. */
async function users(o: ChatOptions, all = false): Promise<UserRow[]> {
  const r = await chat(o, ['users', ...(all ? ['--all'] : []), '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as UserRow);
}

/** Polls `chat users` until `name` is no longer listed or `limitMs` has passed; returns the last listing. */
async function usersUntilGone(o: ChatOptions, name: string, limitMs: number): Promise<UserRow[]> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const rows = await users(o);
    if (!rows.some((u) => u.name === name) || Date.now() >= deadline) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('presence', () => {
  it('a user whose `chat tail` is killed (SIGKILL) leaves `chat users`; `--all` still lists the account', async () => {
    // Default keepalive (30 s): within the bound below only the socket close can do it.
    const { as } = await serverWithUsers();
    const tail = await startTail(as('ben'));
    live.push(tail);
    expect(await users(as('ann'))).toContainEqual(expect.objectContaining({ name: 'ben', online: true }));

    tail.proc.kill('SIGKILL');
    expect(await tail.exit).toBe('SIGKILL');
    const after = await usersUntilGone(as('ann'), 'ben', 5000);
    expect(after.map((u) => u.name)).not.toContain('ben');
    // The one asking is a one-shot command, not a live session: not online (fanout.ts).
    expect(after.map((u) => u.name)).not.toContain('ann');

    const all = await users(as('ann'), true);
    expect(all).toContainEqual(expect.objectContaining({ name: 'ben', online: false }));
    expect(all.map((u) => u.name)).toEqual(['ann', 'ben']);
  });

  it('a user whose `chat tail` freezes (SIGSTOP) with its socket open leaves `chat users` after the ping timeout', async () => {
    // Pings every second: silent for over 2 intervals means gone, seen within 2.5 (server.ts
    // contract); the server then waits up to 5 s for a FIN that a frozen peer never sends
    // (outbox.ts end()) before the socket closes and the user goes offline: ~7.5 s in all.
    const { as } = await serverWithUsers(['--ping-interval', '1']);
    const tail = await startTail(as('ben'));
    live.push(tail);
    expect(await users(as('ann'))).toContainEqual(expect.objectContaining({ name: 'ben', online: true }));

    tail.proc.kill('SIGSTOP');
    const after = await usersUntilGone(as('ann'), 'ben', 15_000);
    expect(after.map((u) => u.name)).not.toContain('ben');
    expect(await users(as('ann'), true)).toContainEqual(expect.objectContaining({ name: 'ben', online: false }));
    tail.proc.kill('SIGKILL');
  });
});
