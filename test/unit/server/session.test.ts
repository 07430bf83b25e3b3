/**
 * Connection glue and the dispatch table's session rules, over real sockets.
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS, PROTOCOL_VERSION } from '../../../src/protocol/commands.js';
import { encodeFrame } from '../../../src/protocol/frame.js';
import { encodePush, encodeReply, encodeRequest } from '../../../src/protocol/messages.js';
import { holdSyncs, sleep, useTestServer } from './helpers.js';

const testServer = useTestServer();

describe('HELLO and the listening log line', () => {
  it('logs "listening" with the bound address before any other network line, and answers HELLO', async () => {
    const ts = await testServer();
    const first = ts.logs.find((l) => l.level === 30);
    expect(first).toMatchObject({ msg: 'listening', address: `127.0.0.1:${ts.port}` });
    expect(ts.port).toBeGreaterThan(0);
    const c = await ts.client();
    const hello = await c.hello();
    expect(hello).toEqual({
      version: PROTOCOL_VERSION, server: 'chat-server/0.1', role: 'primary', registration: true,
      maxFrame: 1048576, maxText: 65536, pingMs: 30000, journalId: ts.srv.engine.journalId, headSeq: ts.srv.engine.durableHead,
    });
    expect(hello.journalId).toMatch(/^[0-9a-f]{32}$/);
    expect((await c.refusal('HELLO', { version: 2, client: 'again' })).code).toBe('CHAT_ERR_PROTOCOL');
  });

  it('refuses another protocol version with CHAT_ERR_VERSION and closes', async () => {
    const ts = await testServer();
    const c = await ts.client();
    const r = await c.refusal('HELLO', { version: 99, client: 'future' });
    expect(r.code).toBe('CHAT_ERR_VERSION');
    await c.closed;
  });

  it('refuses everything but HELLO before HELLO, and keeps the connection', async () => {
    const ts = await testServer();
    const c = await ts.client();
    expect((await c.refusal('PING')).code).toBe('CHAT_ERR_PROTOCOL');
    expect((await c.refusal('LOGIN', { name: 'x', password: 'y' })).code).toBe('CHAT_ERR_PROTOCOL');
    await c.hello();
    await c.request('PING');
  });

  it('refuses commands that need a login before it, with CHAT_ERR_NOT_AUTHENTICATED', async () => {
    const ts = await testServer();
    const c = await ts.client();
    await c.hello();
    for (const [name, payload] of [['WHOAMI', {}], ['GROUPS', { members: false }], ['SEND', { kind: 2, target: '', text: 'hi' }],
      ['LISTEN', { on: true }], ['USERS', { all: true }]] as const) {
      expect((await c.refusal(name, payload)).code).toBe('CHAT_ERR_NOT_AUTHENTICATED');
    }
    await c.request('PING'); // still open
  });
});

describe('bad frames', () => {
  it('answers an unknown code, a malformed payload and client-sent replies/pushes with that reqId, and goes on', async () => {
    const ts = await testServer();
    const c = await ts.client();
    await c.hello();
    c.raw(encodeFrame(0x5e, 7, Buffer.alloc(0)));
    c.raw(encodeFrame(COMMANDS.LISTEN.code, 8, Buffer.from([7]))); // bool must be 0/1
    c.raw(encodeReply('PING', 9, {}));
    c.raw(encodePush('GOODBYE', { reason: 'x' }));
    c.raw(encodeRequest('PING', 10));
    await sleep(200);
    const errs = c.frames.filter((f) => f.kind === 'error').map((f) => [f.reqId, f.payload.name]);
    expect(errs).toEqual([[7, 'CHAT_ERR_UNKNOWN_COMMAND'], [8, 'CHAT_ERR_PROTOCOL'], [9, 'CHAT_ERR_PROTOCOL'], [0, 'CHAT_ERR_PROTOCOL']]);
    expect(c.frames.at(-1)).toMatchObject({ kind: 'reply', name: 'PING', reqId: 10 });
    expect(c.isClosed).toBe(false);
  });

  it('closes only the connection that sends garbage or an oversize frame', async () => {
    const ts = await testServer({ limits: { maxFrame: 1024 } });
    const good = await ts.user('good');
    const garbage = await ts.client();
    garbage.raw(Buffer.from([0, 0, 0, 1, 0xff, 0xff, 0xff]));
    await garbage.closed;
    expect(garbage.frames).toHaveLength(1);
    expect(garbage.frames[0]).toMatchObject({ kind: 'error', reqId: 0, payload: { name: 'CHAT_ERR_PROTOCOL' } });

    const big = await ts.client();
    await big.hello();
    big.raw(encodeRequest('SEND', 2, { kind: 2, target: '', text: 'x'.repeat(2000) }));
    await big.closed;
    expect(big.frames.at(-1)).toMatchObject({ kind: 'error', reqId: 0, payload: { name: 'CHAT_ERR_FRAME_TOO_LARGE' } });

    const r = await good.request('SEND', { kind: 2, target: '', text: 'still here' });
    expect(r.message.text).toBe('still here');
  });
});

describe('limits and timeouts', () => {
  it('closes a connection not logged in within the auth timeout', async () => {
    const ts = await testServer({ limits: { authTimeoutMs: 500 } });
    const idle = await ts.client();
    await idle.hello();
    const logged = await ts.user('quick');
    await idle.closed;
    expect(idle.frames.some((f) => f.kind === 'error' && f.reqId === 0 && f.payload.name === 'CHAT_ERR_IDLE_TIMEOUT')).toBe(true);
    await sleep(300);
    expect(logged.isClosed).toBe(false);
    await logged.request('PING');
  });

  it('refuses connections over the per-IP limit with CHAT_ERR_BUSY', async () => {
    const ts = await testServer({ limits: { maxConnsPerIp: 2 } });
    const a = await ts.client();
    const b = await ts.client();
    const c = await ts.client();
    await c.closed;
    expect(c.frames[0]).toMatchObject({ kind: 'error', reqId: 0, payload: { name: 'CHAT_ERR_BUSY' } });
    await a.hello();
    await b.hello();
    a.close();
    await a.closed;
    await sleep(50);
    const d = await ts.client(); // a slot is free again
    await d.hello();
  });

  it('sends PING_PUSH every interval and closes a client that stays silent', async () => {
    const ts = await testServer({ limits: { pingIntervalMs: 250, authTimeoutMs: 60_000 } });
    const live = await ts.user('live');
    const silent = await ts.user('silent');
    const answer = setInterval(() => void live.request('PING').catch(() => undefined), 50);
    try {
      await silent.closed;
    } finally {
      clearInterval(answer);
    }
    expect(silent.pushes.some((p) => p.name === 'PING_PUSH')).toBe(true);
    expect(silent.frames.some((f) => f.kind === 'error' && f.payload.name === 'CHAT_ERR_IDLE_TIMEOUT')).toBe(true);
    expect(live.isClosed).toBe(false);
    expect(live.pushes.some((p) => p.name === 'PING_PUSH')).toBe(true);
  });

  it('a client closed by the ping sweep goes offline for its listening group peers (PRESENCE online:false)', async () => {
    const ts = await testServer({ limits: { pingIntervalMs: 250, authTimeoutMs: 60_000 } });
    const live = await ts.user('live');
    const gone = await ts.user('gone');
    await live.request('GROUP_CREATE', { group: 'g', private: false });
    await gone.request('GROUP_JOIN', { group: 'g' });
    gone.socket.pause(); // vanished: reads nothing, answers nothing, never closes its end
    const answer = setInterval(() => void live.request('PING').catch(() => undefined), 50);
    try {
      await live.waitFor((p) => p.name === 'PRESENCE' && p.payload.user === 'gone' && p.payload.online === false);
    } finally {
      clearInterval(answer);
    }
    expect(ts.logs.some((l) => l.msg === 'no sign of life; closing as vanished')).toBe(true);
    expect((await live.request('USERS', { all: false })).users.map((u: { name: string }) => u.name)).toEqual(['live']);
    expect(live.isClosed).toBe(false);
  });
});

describe('BYE and pipelining', () => {
  it('answers requests sent before BYE, then BYE, then closes', async () => {
    const ts = await testServer();
    const c = await ts.user('leaver');
    const sends = [1, 2, 3].map((i) => c.request('SEND', { kind: 2, target: '', text: `m${i}` }));
    const bye = c.request('BYE');
    const replies = await Promise.all(sends);
    await bye;
    await c.closed;
    expect(replies.map((r) => r.message.text)).toEqual(['m1', 'm2', 'm3']);
    expect(c.frames.filter((f) => f.kind === 'reply').at(-1)?.name).toBe('BYE');
  });

  it('runs requests pipelined behind HELLO and LOGIN after them, in order', async () => {
    const ts = await testServer();
    const first = await ts.user('pipe');
    first.close();
    const c = await ts.client();
    const hello = c.request('HELLO', { version: 2, client: 't' });
    const login = c.request('LOGIN', { name: 'pipe', password: 'pw-pipe' });
    const who = c.request('WHOAMI');
    const send = c.request('SEND', { kind: 2, target: '', text: 'after login' });
    await hello;
    expect((await login).profile.name).toBe('pipe');
    expect((await who).profile.name).toBe('pipe');
    expect((await send).message.from).toBe('pipe');
  });
});

describe('shutdown', () => {
  it('close() says GOODBYE to every connection and closes them', async () => {
    const ts = await testServer();
    const a = await ts.user('a1');
    const fresh = await ts.client();
    await ts.srv.close(); // not ts.stop(): that would drop the clients first
    await Promise.all([a.closed, fresh.closed]);
    expect(a.pushes.at(-1)).toMatchObject({ name: 'GOODBYE', payload: { reason: 'server shutting down' } });
    expect(fresh.pushes.at(-1)).toMatchObject({ name: 'GOODBYE' });
  });
});

describe('input memory', () => {
  it('stops reading a client that pipelines big frames behind a LOGIN waiting for the disk, then answers them all', async () => {
    const ts = await testServer();
    await ts.user('pipe');
    const c = await ts.client();
    await c.hello();
    const syncs = await holdSyncs();
    try {
      // LOGIN by password commits a session: it waits in the fsync, and what follows waits behind it.
      const login = c.request('LOGIN', { name: 'pipe', password: 'pw-pipe' });
      for (let i = 0; i < 200 && syncs.waiting() === 0; i++) await sleep(10);
      const text = 'x'.repeat(1000 * 1000); // over maxText, under maxFrame: answered TOO_LARGE
      const sends = Array.from({ length: 64 }, () => c.request('SEND', { kind: 2, target: '', text }).catch((e: Error) => e));
      await sleep(500);
      // 64 MB sent: the server took in a few frames (and the kernel buffers some more);
      // the rest waits in the client's own write buffer. Reading it all would have
      // emptied that buffer, since 64 frames are far below maxInflight.
      expect(c.socket.writableLength).toBeGreaterThan(16 * 1024 * 1024);
      syncs.release();
      await login;
      const results = await Promise.all(sends);
      expect(results.every((r) => r instanceof Error && /TOO_LARGE/.test(r.message))).toBe(true);
      await c.request('PING');
    } finally {
      syncs.restore();
    }
  });
});
