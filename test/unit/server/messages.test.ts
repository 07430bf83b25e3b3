/**
 * SEND and live delivery: group, direct, broadcast, idempotent retries, text limits,
 * LISTEN, and the slow-consumer drop.
 */
import { describe, expect, it } from 'vitest';
import { holdSyncs, sleep, type TestServer, useTestServer } from './helpers.js';

const testServer = useTestServer();

async function groupOf(t: TestServer, group: string, names: string[]) {
  const clients = [];
  for (const n of names) clients.push(await t.user(n));
  await clients[0].request('GROUP_CREATE', { group, private: false });
  for (const c of clients.slice(1)) await c.request('GROUP_JOIN', { group });
  return clients;
}

describe('group messages', () => {
  it('are stored, acknowledged with seq and ts, and delivered once to every listening member connection', async () => {
    const ts = await testServer();
    const [ann, ben, cat] = await groupOf(ts, 'dev', ['ann', 'ben', 'cat']);
    const annSecond = await ts.client(); // another device of ann, listening
    await annSecond.login('ann');
    await annSecond.request('LISTEN', { on: true });
    const catQuiet = await ts.client(); // cat's second device, not listening
    await catQuiet.login('cat');
    const outsider = await ts.user('out');

    const before = Date.now();
    const r = await ann.request('SEND', { kind: 0, target: 'dev', text: 'hello team' });
    expect(r.duplicate).toBe(false);
    expect(r.message).toMatchObject({ kind: 0, from: 'ann', group: 'dev', text: 'hello team' });
    expect(r.message.to).toBeUndefined();
    expect(r.message.seq).toBeGreaterThan(0);
    expect(r.message.ts).toBeGreaterThanOrEqual(before - 5);

    for (const c of [ann, annSecond, ben, cat]) {
      const got = await c.waitFor((p) => p.name === 'MESSAGE');
      expect(got.payload.message).toEqual(r.message);
    }
    await sleep(100);
    for (const c of [ann, annSecond, ben, cat]) expect(c.messages()).toHaveLength(1);
    expect(catQuiet.messages()).toHaveLength(0);
    expect(outsider.messages()).toHaveLength(0);

    await ben.request('LISTEN', { on: false });
    await ann.request('SEND', { kind: 0, target: 'dev', text: 'second' });
    await cat.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.text === 'second');
    await sleep(50);
    expect(ben.messages()).toHaveLength(1);
  });

  it('refuses non-members, missing groups, empty and oversize text', async () => {
    const ts = await testServer({ limits: { maxText: 10 } });
    const [ann] = await groupOf(ts, 'dev', ['ann']);
    const out = await ts.user('out');
    expect((await out.refusal('SEND', { kind: 0, target: 'dev', text: 'hi' })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await ann.refusal('SEND', { kind: 0, target: 'nope', text: 'hi' })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await ann.refusal('SEND', { kind: 0, target: 'dev', text: '' })).code).toBe('CHAT_ERR_INVALID');
    expect((await ann.refusal('SEND', { kind: 7, target: 'dev', text: 'x' })).code).toBe('CHAT_ERR_INVALID');
    expect((await ann.refusal('SEND', { kind: 0, target: 'dev', text: 'ééééééé' })).code).toBe('CHAT_ERR_TOO_LARGE'); // 14 bytes
    await ann.request('SEND', { kind: 0, target: 'dev', text: 'éééé' }); // 8 bytes
    expect((await ann.refusal('SEND', { kind: 0, target: 'dev', text: 'x', idKey: 'k'.repeat(129) })).code).toBe('CHAT_ERR_INVALID');
  });

  it('keeps seq order for a pipelined burst, delivered in the same order', async () => {
    const ts = await testServer();
    const [ann, ben] = await groupOf(ts, 'dev', ['ann', 'ben']);
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => ann.request('SEND', { kind: 0, target: 'dev', text: `m${i}` })));
    const seqs = replies.map((r) => r.message.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await ben.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.text === 'm299');
    expect(ben.messages().map((m) => m.text)).toEqual(replies.map((r) => r.message.text));
  });
});

describe('direct and broadcast', () => {
  it('direct messages reach both parties only; a missing user is NOT_FOUND', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const ben = await ts.user('ben');
    const cat = await ts.user('cat');
    const r = await ann.request('SEND', { kind: 1, target: 'ben', text: 'psst' });
    expect(r.message).toMatchObject({ kind: 1, from: 'ann', to: 'ben' });
    await ann.waitFor((p) => p.name === 'MESSAGE');
    await ben.waitFor((p) => p.name === 'MESSAGE');
    await sleep(50);
    expect(cat.messages()).toHaveLength(0);
    expect((await ann.refusal('SEND', { kind: 1, target: 'ghost', text: 'x' })).code).toBe('CHAT_ERR_NOT_FOUND');
  });

  it('broadcasts reach every listening logged-in connection', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann');
    const ben = await ts.user('ben');
    const quiet = await ts.user('quiet', false);
    const anon = await ts.client();
    await anon.hello();
    await ann.request('SEND', { kind: 2, target: '', text: 'all hands' });
    for (const c of [ann, ben]) await c.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.kind === 2);
    await sleep(50);
    expect(quiet.messages()).toHaveLength(0);
    expect(anon.pushes.filter((p) => p.name === 'MESSAGE')).toHaveLength(0);
  });
});

describe('idempotent retries', () => {
  it('store and deliver a message once per (sender, key), even when pipelined', async () => {
    const ts = await testServer();
    const [ann, ben] = await groupOf(ts, 'dev', ['ann', 'ben']);
    const [a, b] = await Promise.all([
      ann.request('SEND', { kind: 0, target: 'dev', text: 'once', idKey: 'k1' }),
      ann.request('SEND', { kind: 0, target: 'dev', text: 'once', idKey: 'k1' }),
    ]);
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(b.message).toEqual(a.message);
    const later = await ann.request('SEND', { kind: 0, target: 'dev', text: 'once', idKey: 'k1' });
    expect(later).toEqual({ message: a.message, duplicate: true });
    // The same key from another sender is another message.
    const other = await ben.request('SEND', { kind: 0, target: 'dev', text: 'mine', idKey: 'k1' });
    expect(other.duplicate).toBe(false);
    await ben.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.text === 'mine');
    expect(ben.messages().filter((m) => m.text === 'once')).toHaveLength(1);
  });
});

describe('durability gating (SPEC §8: acknowledged only once durable)', () => {
  /** Resolves once the journal has written a record and waits in its fsync. */
  async function fsyncCalled(syncs: { waiting(): number }, n = 1): Promise<void> {
    for (let i = 0; i < 200 && syncs.waiting() < n; i++) await sleep(10);
    expect(syncs.waiting()).toBeGreaterThanOrEqual(n);
  }

  it('neither the SEND reply nor the MESSAGE push to another member goes out before the fsync returns', async () => {
    const ts = await testServer();
    const [ann, ben] = await groupOf(ts, 'dev', ['ann', 'ben']);
    const syncs = await holdSyncs();
    try {
      let replied = false;
      const pending = ann.request('SEND', { kind: 0, target: 'dev', text: 'held' });
      void pending.then(() => { replied = true; }, () => undefined);
      await fsyncCalled(syncs);
      await sleep(200);
      expect(replied).toBe(false);
      expect(ann.messages()).toHaveLength(0);
      expect(ben.messages()).toHaveLength(0);

      syncs.release();
      const r = await pending;
      expect(r.message.text).toBe('held');
      const pushed = await ben.waitFor((p) => p.name === 'MESSAGE');
      expect(pushed.payload.message).toEqual(r.message);
    } finally {
      syncs.restore();
    }
  });

  it('a duplicate SEND (same --id) of a message not yet durable waits for it too', async () => {
    const ts = await testServer();
    const [ann, ben] = await groupOf(ts, 'dev', ['ann', 'ben']);
    const retry = await ts.client(); // ann again, as after a reconnect
    await retry.login('ann');
    const syncs = await holdSyncs();
    try {
      const first = ann.request('SEND', { kind: 0, target: 'dev', text: 'once', idKey: 'k' });
      await fsyncCalled(syncs);
      // The retry finds the key stored in memory, not yet on disk.
      const again = retry.request('SEND', { kind: 0, target: 'dev', text: 'once', idKey: 'k' });
      let answered = 0;
      for (const p of [first, again]) void p.then(() => { answered++; }, () => undefined);
      await sleep(200);
      expect(answered).toBe(0);
      expect(ben.messages()).toHaveLength(0);

      syncs.release();
      const [a, b] = await Promise.all([first, again]);
      expect(a.duplicate).toBe(false);
      expect(b).toEqual({ message: a.message, duplicate: true });
      await ben.waitFor((p) => p.name === 'MESSAGE');
      await sleep(50);
      expect(ben.messages()).toHaveLength(1);
    } finally {
      syncs.restore();
    }
  });
});

describe('slow consumers', () => {
  it('a listener that never reads is dropped; the sender and others go on', async () => {
    const ts = await testServer({ limits: { slowConsumerCap: 1024 * 1024, maxText: 64 * 1024 } });
    const [ann, , cat] = await groupOf(ts, 'dev', ['ann', 'slow', 'cat']);
    const slow = ts.clients[1];
    slow.socket.pause(); // reads nothing from now on
    const text = 'x'.repeat(16 * 1024);
    let dropped = false;
    void slow.closed.then(() => { dropped = true; });
    // Until the kernel's socket buffers are full and 1 MiB more waits unread.
    for (let round = 0; round < 300 && !dropped; round++) {
      await Promise.all(Array.from({ length: 20 }, () => ann.request('SEND', { kind: 0, target: 'dev', text })));
      await sleep(10);
    }
    slow.socket.resume();
    await slow.closed;
    expect(dropped).toBe(true);
    expect(ts.logs.some((l) => l.msg === 'slow consumer: output over the limit; dropping connection')).toBe(true);
    const r = await ann.request('SEND', { kind: 0, target: 'dev', text: 'after' });
    await cat.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.seq === r.message.seq);
  });
});

