/**
 * The batching contract of Connection + Fanout: a burst of pushes queued in one turn
 * reaches each socket in one write, and a push is encoded once for all recipients.
 */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type TestClient, useTestServer } from './helpers.js';
import * as messages from '../../../src/protocol/messages.js';

const testServer = useTestServer();
afterEach(() => vi.restoreAllMocks());

describe('fan-out batching', () => {
  it('writes a pipelined burst to each listener in far fewer writes than messages', async () => {
    const ts = await testServer();
    const members: TestClient[] = [];
    for (let i = 0; i < 5; i++) members.push(await ts.user(`m${i}`));
    await members[0].request('GROUP_CREATE', { group: 'g', private: false });
    for (const m of members.slice(1)) await m.request('GROUP_JOIN', { group: 'g' });

    const write = vi.spyOn(net.Socket.prototype, 'write');
    const n = 500;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => members[0].request('SEND', { kind: 0, target: 'g', text: `t${i}` })));
    for (const m of members) await m.waitFor((p) => p.name === 'MESSAGE' && p.payload.message.seq === replies[n - 1].message.seq);
    // Client-side writes are the n requests; everything else is the server's.
    const serverWrites = write.mock.calls.length - n;
    // 5 listeners × 500 pushes + 500 replies = 3000 frames, in batches per turn.
    expect(serverWrites).toBeGreaterThan(0);
    expect(serverWrites).toBeLessThan(3000 / 10);
    for (const m of members) expect(m.messages().map((x) => x.text)).toEqual(replies.map((r) => r.message.text));
  });

  it('encodes each MESSAGE push once, however many recipients', async () => {
    const ts = await testServer();
    const members: TestClient[] = [];
    for (let i = 0; i < 4; i++) members.push(await ts.user(`u${i}`));
    await members[0].request('GROUP_CREATE', { group: 'g', private: false });
    for (const m of members.slice(1)) await m.request('GROUP_JOIN', { group: 'g' });
    const encodePush = vi.spyOn(messages, 'encodePush');
    await members[0].request('SEND', { kind: 0, target: 'g', text: 'one' });
    for (const m of members) await m.waitFor((p) => p.name === 'MESSAGE');
    expect(encodePush.mock.calls.filter((c) => c[0] === 'MESSAGE')).toHaveLength(1);
  });
});
