/**
 * HISTORY, SEARCH, FEED and LISTEN's catch-up against a real in-process server:
 * rights, paging within a small maxFrame, stable upToSeq, and durability (nothing that
 * is not on disk is ever returned or pushed).
 */
import { describe, expect, it } from 'vitest';
import type { Payload } from '../../../src/protocol/codec.js';
import { HEADER_BYTES } from '../../../src/protocol/frame.js';
import { encodeReply } from '../../../src/protocol/messages.js';
import { holdSyncs, sleep, type TestClient, type TestServer, useTestServer } from './helpers.js';

const testServer = useTestServer();

async function send(c: TestClient, kind: number, target: string, text: string): Promise<Payload> {
  return (await c.request('SEND', { kind, target, text })).message;
}

async function setup(ts: TestServer) {
  const ann = await ts.user('ann', false);
  const ben = await ts.user('ben', false);
  const cat = await ts.user('cat', false);
  await ann.request('GROUP_CREATE', { group: 'dev', private: false });
  await ben.request('GROUP_JOIN', { group: 'dev' });
  await ann.request('GROUP_CREATE', { group: 'secret', private: true });
  return { ann, ben, cat };
}

const seqs = (ms: Payload[]) => ms.map((m) => m.seq as number);
const hist = (kind: number, target: string, extra: Payload = {}) =>
  ({ kind, target, afterSeq: 0, maxAgeMs: 0, last: 0, upToSeq: 0, ...extra });

describe('HISTORY and SEARCH rights', () => {
  it('members only for groups (5), invisible private groups and unknown users are not found (4), own threads only', async () => {
    const ts = await testServer();
    const { ann, ben, cat } = await setup(ts);
    const g = await send(ann, 0, 'dev', 'hello dev');
    const d = await send(ann, 1, 'ben', 'hi ben');
    await send(ann, 1, 'cat', 'hi cat');

    expect(seqs((await ben.request('HISTORY', hist(0, 'dev'))).messages)).toEqual([g.seq]);
    expect(seqs((await ben.request('HISTORY', hist(1, 'ann'))).messages)).toEqual([d.seq]);
    expect(seqs((await ann.request('HISTORY', hist(1, 'ben'))).messages)).toEqual([d.seq]);
    // cat's thread with ann is not ben's business; ben's own thread with cat is empty.
    expect((await ben.request('HISTORY', hist(1, 'cat'))).messages).toEqual([]);

    for (const [name, payload] of [['HISTORY', hist(0, 'dev')], ['SEARCH', { kind: 0, target: 'dev', query: 'hello', beforeSeq: 0, limit: 0 }]] as const) {
      const denied = await cat.refusal(name, payload);
      expect(denied.code).toBe('CHAT_ERR_PERMISSION');
      expect(denied.message).toMatch(/chat join dev/);
      expect((await cat.refusal(name, { ...payload, target: 'secret' })).code).toBe('CHAT_ERR_NOT_FOUND');
      expect((await cat.refusal(name, { ...payload, target: 'nosuch' })).message).toContain('group "nosuch" not found (see: chat groups)');
      expect((await cat.refusal(name, { ...payload, kind: 1, target: 'ghost' })).code).toBe('CHAT_ERR_NOT_FOUND');
      expect((await cat.refusal(name, { ...payload, kind: 2 })).code).toBe('CHAT_ERR_INVALID');
    }
    expect((await ben.refusal('SEARCH', { kind: 0, target: 'dev', query: ' ?! ', beforeSeq: 0, limit: 0 })).code).toBe('CHAT_ERR_INVALID');
    const found = await ben.request('SEARCH', { kind: 0, target: 'dev', query: 'HELLO', beforeSeq: 0, limit: 0 });
    expect(seqs(found.messages)).toEqual([g.seq]);
  });
});

describe('paging', () => {
  it('HISTORY, SEARCH and FEED replies fit a small maxFrame and page through `more` against a fixed upToSeq', async () => {
    const maxFrame = 4096;
    const ts = await testServer({ limits: { maxFrame, maxText: 4096 } });
    const { ann, ben } = await setup(ts);
    const sent: number[] = [];
    for (let i = 0; i < 12; i++) sent.push((await send(ann, 0, 'dev', `word${i} common ${'x'.repeat(1000)}`)).seq);
    const big = await send(ann, 0, 'dev', `big ${'y'.repeat(4000)}`); // alone in its page
    sent.push(big.seq);
    const fits = (name: 'HISTORY' | 'SEARCH' | 'FEED', r: Payload) =>
      expect(encodeReply(name, 1, r).length - HEADER_BYTES).toBeLessThanOrEqual(maxFrame);

    const got: number[] = [];
    let req = hist(0, 'dev');
    let upToSeq = 0;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(20);
      const r = await ben.request('HISTORY', req);
      fits('HISTORY', r);
      expect(r.messages.length).toBeGreaterThan(0);
      if (pages === 0) {
        upToSeq = r.upToSeq;
        await send(ann, 0, 'dev', 'after the first page'); // beyond upToSeq: not in this listing
      }
      expect(r.upToSeq).toBe(upToSeq);
      got.push(...seqs(r.messages));
      if (!r.more) break;
      req = hist(0, 'dev', { afterSeq: got[got.length - 1], upToSeq });
    }
    expect(got).toEqual(sent);

    // --last 5 over pages: the 5 newest up to upToSeq, once each.
    const last: number[] = [];
    let r = await ben.request('HISTORY', hist(0, 'dev', { last: 5, upToSeq }));
    last.push(...seqs(r.messages));
    while (r.more) {
      r = await ben.request('HISTORY', hist(0, 'dev', { afterSeq: last[last.length - 1], last: 5 - last.length, upToSeq }));
      last.push(...seqs(r.messages));
    }
    expect(last).toEqual(sent.slice(-5));

    const found: number[] = [];
    let s = await ben.request('SEARCH', { kind: 0, target: 'dev', query: 'common', beforeSeq: 0, limit: 0 });
    for (;;) {
      fits('SEARCH', s);
      found.push(...seqs(s.messages));
      if (!s.more) break;
      s = await ben.request('SEARCH', { kind: 0, target: 'dev', query: 'common', beforeSeq: s.nextBeforeSeq, limit: 0 });
    }
    expect(found).toEqual(sent.slice(0, 12).reverse());

    const fed: number[] = [];
    let f = await ben.request('FEED', { afterSeq: 0, upToSeq });
    for (;;) {
      fits('FEED', f);
      fed.push(...seqs(f.messages));
      if (!f.more) break;
      f = await ben.request('FEED', { afterSeq: fed[fed.length - 1], upToSeq: f.upToSeq });
    }
    expect(fed).toEqual(sent);
  });

  it('maxAgeMs keeps only recent messages; FEED is everything addressed to the caller', async () => {
    const ts = await testServer();
    const { ann, ben, cat } = await setup(ts);
    const old = await send(ann, 0, 'dev', 'old');
    await sleep(60);
    const recent = await send(ann, 0, 'dev', 'recent');
    expect(seqs((await ben.request('HISTORY', hist(0, 'dev', { maxAgeMs: 40 }))).messages)).toEqual([recent.seq]);
    expect(seqs((await ben.request('HISTORY', hist(0, 'dev', { maxAgeMs: 60_000 }))).messages)).toEqual([old.seq, recent.seq]);

    const toBen = await send(cat, 1, 'ben', 'psst');
    await send(cat, 1, 'ann', 'not for ben');
    const everyone = await send(cat, 2, '', 'to all');
    await send(ann, 0, 'secret', 'members only');
    const feed = await ben.request('FEED', { afterSeq: old.seq, upToSeq: 0 });
    expect(seqs(feed.messages)).toEqual([recent.seq, toBen.seq, everyone.seq]);
    expect(feed.upToSeq).toBe(ts.srv.engine.durableHead);
  });
});

describe('FEED and memberships', () => {
  it('is decided by the memberships at read time: after a kick nothing of the group, after a join its messages since afterSeq', async () => {
    // Documented in README ("What addressed to you means"): a message's audience is
    // not recorded, so a feed read after a kick loses even what came before it.
    const ts = await testServer();
    const { ann, ben, cat } = await setup(ts);
    const mark = (await send(ann, 0, 'dev', 'ben reads this live')).seq;
    const beforeKick = await send(ann, 0, 'dev', 'sent while ben was away, before the kick');
    await ann.request('GROUP_KICK', { group: 'dev', user: 'ben' });
    await send(ann, 0, 'dev', 'after the kick');
    const direct = await send(cat, 1, 'ben', 'still his');
    const feed = await ben.request('FEED', { afterSeq: mark, upToSeq: 0 });
    expect(seqs(feed.messages)).toEqual([direct.seq]);
    expect(seqs(feed.messages)).not.toContain(beforeKick.seq);
    await ben.request('GROUP_JOIN', { group: 'dev' });
    const again = await ben.request('FEED', { afterSeq: mark, upToSeq: 0 });
    expect(again.messages.map((m: Payload) => m.text)).toEqual(['sent while ben was away, before the kick', 'after the kick', 'still his']);
  });
});

describe('LISTEN catch-up', () => {
  it('without afterSeq pushes what was stored since the connection was accepted, before its reply', async () => {
    const ts = await testServer();
    const { ann } = await setup(ts);
    const before = await send(ann, 0, 'dev', 'before ben connected');
    const ben = await ts.client(); // accepted now: its connectSeq is the head
    await ben.login('ben');
    const m1 = await send(ann, 0, 'dev', 'while ben was logging in');
    const m2 = await send(ann, 1, 'ben', 'direct too');
    const reply = await ben.request('LISTEN', { on: true });
    expect(reply.headSeq).toBe(ts.srv.engine.durableHead);
    const listenAt = ben.frames.findIndex((f) => f.name === 'LISTEN');
    const pushed = ben.frames.slice(0, listenAt).filter((f) => f.name === 'MESSAGE').map((f) => f.payload.message.seq);
    expect(pushed).toEqual([m1.seq, m2.seq]);
    expect(pushed).not.toContain(before.seq);

    const m3 = await send(ann, 0, 'dev', 'live');
    await ben.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.seq === m3.seq);

    // Explicit afterSeq: from there on (a resuming tail).
    const again = await ts.client();
    await again.login('ben');
    await again.request('LISTEN', { on: true, afterSeq: before.seq - 1 });
    expect(again.messages().map((m) => m.seq)).toEqual([before.seq, m1.seq, m2.seq, m3.seq]);
  });

  it('more than 10000 to catch up: TOO_LARGE, not listening; FEED first then works', async () => {
    const ts = await testServer();
    const { ann, ben } = await setup(ts);
    const first = await send(ann, 0, 'dev', 'first');
    const commits = [];
    for (let i = 0; i < 10_000; i++) commits.push(ts.srv.engine.commit({ type: 'message.send', kind: 0, from: 'ann', group: 'dev', text: `m${i}` }));
    await Promise.all(commits);
    const refused = await ben.refusal('LISTEN', { on: true, afterSeq: first.seq - 1 });
    expect(refused.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(refused.message).toMatch(/10001 messages/);
    expect(ben.messages()).toHaveLength(0);
    const live = await send(ann, 0, 'dev', 'not listening yet');
    await sleep(50);
    expect(ben.messages()).toHaveLength(0);
    await ben.request('LISTEN', { on: true, afterSeq: live.seq - 1 });
    expect(ben.messages().map((m) => m.seq)).toEqual([live.seq]);
  });

  it('a catch-up bigger than a quarter of the slow-consumer cap is TOO_LARGE, not a dropped connection', async () => {
    // Before: 10000 messages of up to maxText (64 KiB) could be queued at once, far
    // beyond slowConsumerCap: the connection was dropped as a slow reader, the tail
    // reconnected with the same afterSeq and was dropped again, for ever.
    const slowConsumerCap = 64 * 1024;
    const ts = await testServer({ limits: { slowConsumerCap, maxText: 16 * 1024 } });
    const { ann, ben } = await setup(ts);
    const first = await send(ann, 0, 'dev', 'first');
    for (let i = 0; i < 12; i++) await send(ann, 0, 'dev', `${i} ${'z'.repeat(15_000)}`); // ~180 KB: under 10000 messages
    const refused = await ben.refusal('LISTEN', { on: true, afterSeq: first.seq - 1 });
    expect(refused.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(refused.message).toMatch(/13 messages .*FEED/);
    expect(ben.messages()).toHaveLength(0);
    // Within the bound it catches up as before, on the same connection.
    const small = [await send(ann, 0, 'dev', 'small 1'), await send(ann, 0, 'dev', 'small 2')];
    await ben.request('LISTEN', { on: true, afterSeq: small[0].seq - 1 });
    expect(ben.messages().map((m) => m.seq)).toEqual(seqs(small));
  });
});

describe('durability', () => {
  it('HISTORY, FEED and LISTEN never return a message whose record is not on disk yet', async () => {
    const ts = await testServer();
    const { ann, ben } = await setup(ts);
    const durable = await send(ann, 0, 'dev', 'on disk');
    const watcher = await ts.client();
    await watcher.login('ben');
    const syncs = await holdSyncs();
    let pending: Promise<Payload>;
    let replies: Payload[];
    try {
      const seq = ts.srv.engine.seq;
      pending = send(ann, 0, 'dev', 'not yet on disk');
      for (let i = 0; i < 200 && ts.srv.engine.seq === seq; i++) await sleep(10);
      expect(ts.srv.engine.seq).toBe(seq + 1); // applied in memory, fsync held
      const asked = Promise.all([
        ben.request('HISTORY', hist(0, 'dev')),
        ben.request('FEED', { afterSeq: 0, upToSeq: 0 }),
        ben.request('SEARCH', { kind: 0, target: 'dev', query: 'disk', beforeSeq: 0, limit: 0 }),
        watcher.request('LISTEN', { on: true, afterSeq: 0 }),
      ]);
      await sleep(100);
      expect(watcher.messages().map((m) => m.seq)).toEqual([durable.seq]);
      syncs.release();
      replies = await asked;
    } finally {
      syncs.restore();
    }
    const late = await pending;
    expect(seqs(replies[0].messages)).toEqual([durable.seq]);
    expect(replies[0].upToSeq).toBe(late.seq - 1);
    expect(seqs(replies[1].messages)).toEqual([durable.seq]);
    expect(seqs(replies[2].messages)).toEqual([durable.seq]);
    expect(replies[3].headSeq).toBe(late.seq - 1);
    // The late one reaches the listener through fan-out once it is durable, once.
    await watcher.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.seq === late.seq);
    await sleep(50);
    expect(watcher.messages().map((m) => m.seq)).toEqual([durable.seq, late.seq]);
  });
});
