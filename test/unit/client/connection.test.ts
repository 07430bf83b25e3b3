import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChatError, exitCodeFor } from '../../../src/common/errors.js';
import { ChatConnection } from '../../../src/client/connection.js';
import { FakeServer } from './fake-server.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await tick(5);
  }
}

describe('ChatConnection', () => {
  let server: FakeServer;
  beforeEach(async () => {
    server = await new FakeServer().start();
    server.addUser('alice', 'pw');
  });
  afterEach(() => server.stop());

  it('says HELLO with the protocol version and client name, and keeps the reply', async () => {
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
    expect(server.conns[0].requests[0]).toEqual({ name: 'HELLO', payload: { version: 2, client: 'chat/0.1' } }); // PROTOCOL_VERSION
    expect(conn.hello.maxText).toBe(4096);
    await conn.close();
  });

  it('matches pipelined replies to their requests and turns ERROR into a ChatError', async () => {
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
    const [bad, good] = await Promise.allSettled([
      conn.request('LOGIN', { name: 'alice', password: 'nope' }),
      conn.request('LOGIN', { name: 'alice', password: 'pw' }),
    ]);
    expect(bad.status).toBe('rejected');
    const err = (bad as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(ChatError);
    expect(err.code).toBe('CHAT_ERR_AUTH_FAILED');
    expect(exitCodeFor(err)).toBe(3);
    expect((good as PromiseFulfilledResult<{ profile: { name: string } }>).value.profile.name).toBe('alice');
    await conn.close();
  });

  it('answers PING_PUSH with PING on its own and surfaces other pushes as events', async () => {
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
    const goodbyes: string[] = [];
    conn.on('GOODBYE', (p) => goodbyes.push(p.reason));
    server.push(server.conns[0], 'PING_PUSH');
    server.push(server.conns[0], 'GOODBYE', { reason: 'maintenance' });
    await until(() => goodbyes.length === 1 && server.conns[0].requests.some((r) => r.name === 'PING'));
    expect(goodbyes).toEqual(['maintenance']);
    await conn.close();
  });

  it('close() sends BYE and ends with a FIN, not a reset', async () => {
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
    let closeErr: unknown = 'not closed';
    conn.on('close', (err) => { closeErr = err; });
    await conn.close();
    await until(() => server.conns[0].ended !== undefined);
    expect(server.conns[0].requests.map((r) => r.name)).toEqual(['HELLO', 'BYE']);
    expect(server.conns[0].ended).toBe('end');
    expect(closeErr).toBeUndefined();
    expect(conn.isClosed).toBe(true);
  });

  it('rejects pending requests with CHAT_ERR_NETWORK (exit 7) when the connection is lost', async () => {
    server.handlers.WHOAMI = () => new Promise(() => { /* never answers */ });
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
    await conn.request('LOGIN', { name: 'alice', password: 'pw' });
    const closed = new Promise((r) => conn.on('close', r));
    const pending = conn.request('WHOAMI');
    await until(() => server.conns[0].requests.some((r) => r.name === 'WHOAMI'));
    server.conns[0].socket.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'CHAT_ERR_NETWORK' });
    expect(exitCodeFor(await closed)).toBe(7);
    await expect(conn.request('PING')).rejects.toMatchObject({ code: 'CHAT_ERR_NETWORK' });
  });

  it('names the server reason after a GOODBYE when the connection then closes', async () => {
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
    const closed = new Promise<ChatError>((r) => conn.on('close', (e) => r(e!)));
    server.push(server.conns[0], 'GOODBYE', { reason: 'server shutting down' });
    server.conns[0].socket.end();
    const err = await closed;
    expect(err.code).toBe('CHAT_ERR_NETWORK');
    expect(err.message).toContain('server shutting down');
  });

  it('retries a refused connect, then fails with exit 7 naming HOST:PORT', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const t0 = Date.now();
    const err = await ChatConnection.connect({ host: '127.0.0.1', port, retryDelaysMs: [20, 40] }).catch((e) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(err).toBeInstanceOf(ChatError);
    expect(err.code).toBe('CHAT_ERR_NETWORK');
    expect(exitCodeFor(err)).toBe(7);
    expect(err.message).toBe(`cannot reach chat server at 127.0.0.1:${port} (is chat-server running? check --server / CHAT_SERVER)`);
  });

  it('succeeds when the server comes up during the retries', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    let late: FakeServer | undefined;
    setTimeout(() => { void new FakeServer().start(port).then((s) => { late = s; }); }, 30);
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port, retryDelaysMs: [100, 300] });
    expect(conn.hello.server).toBe('fake');
    await conn.close();
    await late?.stop();
  });

  it('counts a silent server as lost with the watchdog on (3 ping intervals)', async () => {
    const quiet = await new FakeServer({ pingMs: 20 }).start();
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port: quiet.port, watchdog: true });
    const err = await new Promise<ChatError>((r) => conn.on('close', (e) => r(e!)));
    expect(err.code).toBe('CHAT_ERR_NETWORK');
    expect(err.message).toMatch(/no word from the server/);
    await quiet.stop();
  });

  it('gives up on a peer that accepts TCP but never answers HELLO (exit 7, no hang)', async () => {
    const held: net.Socket[] = [];
    const mute = net.createServer((sock) => { held.push(sock); }); // accepts, reads nothing, says nothing
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    const port = (mute.address() as net.AddressInfo).port;
    try {
      const err = await ChatConnection.connect({ host: '127.0.0.1', port, helloTimeoutMs: 150 }).catch((e) => e);
      expect(err).toBeInstanceOf(ChatError);
      expect(exitCodeFor(err)).toBe(7);
      expect(err.message).toMatch(/no answer to HELLO in 0.15 s/);
    } finally {
      for (const sock of held) sock.destroy();
      await new Promise<void>((r) => { mute.close(() => r()); });
    }
  });
});

describe('dial: failures that retrying cannot fix', () => {
  it('words TLS and DNS failures; leaves refused/reset/timeout to the retries', async () => {
    const { permanentFailure } = await import('../../../src/client/dial.js');
    const err = (code: string, message = code) => Object.assign(new Error(message), { code });
    const opts = { host: 'chat.example', port: 7700 };
    expect(permanentFailure(err('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), { ...opts, tls: true }, 'chat.example:7700')?.message)
      .toBe('TLS to chat.example:7700 failed: self-signed certificate (for a self-signed server certificate pass --ca FILE / CHAT_CA)');
    expect(permanentFailure(err('ERR_SSL_WRONG_VERSION_NUMBER'), { ...opts, tls: true }, 'a:1')?.message)
      .toBe('TLS to a:1 failed: the server does not speak TLS (drop --tls / CHAT_TLS)');
    expect(permanentFailure(err('ENOTFOUND'), opts, 'a:1')?.message).toBe('cannot resolve host "chat.example" (check --server / CHAT_SERVER)');
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH']) {
      expect(permanentFailure(err(code), { ...opts, tls: true }, 'a:1')).toBeUndefined();
    }
  });
});
