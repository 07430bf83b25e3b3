import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../../src/client/cli/options.js';
import { Link, SeqSink, type LinkHandlers } from '../../../src/client/interactive/link.js';
import type { Payload } from '../../../src/protocol/codec.js';
import { FakeServer, type FakeConn } from './fake-server.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Seen { events: string[]; messages: Payload[] }

async function open(fake: FakeServer): Promise<{ link: Link; seen: Seen }> {
  const dir = mkdtempSync(join(tmpdir(), 'chat-link-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const settings = resolveSettings({ server: fake.address, user: 'alice' }, '', { CHAT_PASSWORD: 'pw', CHAT_CONFIG_DIR: dir }, false);
  const seen: Seen = { events: [], messages: [] };
  const handlers: LinkHandlers = {
    message: (m) => seen.messages.push(m),
    presence: () => undefined, groupEvent: () => undefined, fileEvent: () => undefined,
    goodbye: (r) => seen.events.push(`goodbye ${r}`),
    lost: () => seen.events.push('lost'),
    retrying: () => seen.events.push('retrying'),
    reconnected: (n) => seen.events.push(`reconnected ${n}`),
    notice: (t) => seen.events.push(`notice ${t}`),
    fatal: (e) => seen.events.push(`fatal ${String(e)}`),
  };
  const link = await Link.open(settings, handlers);
  cleanup.push(() => link.close());
  await link.listen();
  return { link, seen };
}

async function fakeWithAlice(): Promise<FakeServer> {
  const fake = await new FakeServer().start();
  cleanup.push(() => fake.stop());
  fake.addUser('alice', 'pw');
  fake.addGroup('ops', 'alice');
  return fake;
}

const sends = (fake: FakeServer) => fake.conns.flatMap((c) => c.requests.filter((r) => r.name === 'SEND').map((r) => r.payload));

describe('SeqSink', () => {
  it('hands each seq on once, in order; catch-up repeats and older seqs are dropped', () => {
    const shown: number[] = [];
    const sink = new SeqSink((m) => shown.push(m.seq));
    for (const seq of [5, 6, 6, 4, 7]) sink.print({ seq });
    sink.advanceTo(9);
    sink.print({ seq: 8 });
    sink.print({ seq: 10 });
    expect(shown).toEqual([5, 6, 7, 10]);
    expect(sink.shown).toBe(4);
    sink.rewind(3);
    sink.print({ seq: 4 });
    expect(shown).toEqual([5, 6, 7, 10, 4]);
  });
});

describe('Link', () => {
  it('a send whose reply was lost with the connection is sent again after the reconnect, same key, stored once', async () => {
    const fake = await fakeWithAlice();
    const builtin = (fake as unknown as { builtin(name: string, c: FakeConn, p: Payload): Payload }).builtin.bind(fake);
    fake.handlers.SEND = (c, p) => {
      delete fake.handlers.SEND;
      builtin('SEND', c, p); // stored...
      c.socket.destroy(); // ...and the connection dies before the reply
      return new Promise<Payload>(() => undefined);
    };
    const { link, seen } = await open(fake);
    const reply = await link.send({ kind: 0, target: 'ops', text: 'once' });
    expect(reply.duplicate).toBe(true);
    const tries = sends(fake);
    expect(tries).toHaveLength(2);
    expect(tries[0].idKey).toEqual(expect.any(String));
    expect(tries[1].idKey).toBe(tries[0].idKey);
    expect(fake.sent.filter((m) => m.text === 'once')).toHaveLength(1);
    expect(seen.events).toContain('lost');
    expect(seen.events.some((e) => e.startsWith('reconnected'))).toBe(true);
  });

  it('lines sent while the server is away wait, then go out in the order typed; messages stored meanwhile are handed on', async () => {
    const fake = await fakeWithAlice();
    const { link, seen } = await open(fake);
    const port = fake.port;
    await fake.stop();
    await expect.poll(() => seen.events).toContain('lost');
    expect(link.connected).toBe(false);
    expect(() => link.request('GROUPS', { members: false })).toThrow(/not connected/);
    const replies = [link.send({ kind: 0, target: 'ops', text: 'first' }), link.send({ kind: 0, target: 'ops', text: 'second' })];
    // Sent once she listens again, so their pushes reach her (the fake's LISTEN has no catch-up).
    await fake.start(port);
    const got = await Promise.all(replies);
    expect(got.map((r) => r.message.text)).toEqual(['first', 'second']);
    expect(got[1].message.seq).toBeGreaterThan(got[0].message.seq);
    expect(sends(fake).map((p) => p.text)).toEqual(['first', 'second']);
    await expect.poll(() => seen.messages.map((m) => m.text)).toEqual(['first', 'second']);
    expect(link.connected).toBe(true);
    await link.close();
    expect(fake.conns[fake.conns.length - 1].requests.map((r) => r.name)).toContain('BYE');
  });

  it('close() stops the reconnecting and fails what still waits', async () => {
    const fake = await fakeWithAlice();
    const { link, seen } = await open(fake);
    await fake.stop();
    await expect.poll(() => seen.events).toContain('lost');
    const pending = link.send({ kind: 0, target: 'ops', text: 'never' });
    await link.close();
    await expect(pending).rejects.toThrow(/not sent: leaving/);
    const before = seen.events.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(seen.events.slice(before)).toEqual([]);
  });
});
