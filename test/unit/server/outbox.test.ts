/**
 * Backpressure mechanics of the connection glue, against a fake socket whose write
 * buffer the test controls (loopback kernel buffers are too large to fill reliably).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import type { Frame } from '../../../src/protocol/frame.js';
import { FrameDecoder } from '../../../src/protocol/frame.js';
import { decodeFrame, encodePush, encodeRequest } from '../../../src/protocol/messages.js';
import { Connection, type ConnectionHost } from '../../../src/server/connection.js';
import { resolveLimits, type Limits } from '../../../src/server/limits.js';
import { sleep } from './helpers.js';

class FakeSocket extends EventEmitter {
  writes: Buffer[] = [];
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  paused = false;
  pauses = 0;
  remotePort = 5555;
  setNoDelay(): this { return this; }
  pause(): this { this.paused = true; this.pauses++; return this; }
  resume(): this { this.paused = false; return this; }
  write(b: Buffer): boolean { this.writes.push(b); return true; }
  end(b?: Buffer): this { if (b) this.writes.push(b); this.writableEnded = true; return this; }
  destroy(): this { this.destroyed = true; this.emit('close'); return this; }
}

function setup(limits: Partial<Limits>, dispatch: ConnectionHost['dispatch'] = () => undefined) {
  const sock = new FakeSocket();
  const host: ConnectionHost = {
    limits: resolveLimits(limits), dispatch, isSerial: () => false,
    authenticated: () => undefined, loggedOut: () => undefined, closed: () => undefined,
  };
  const conn = new Connection(1, sock as unknown as Socket, '127.0.0.1', silentLogger(), host);
  return { sock, conn };
}

function frames(buf: Buffer) {
  return new FrameDecoder().push(buf).map((f) => decodeFrame(f));
}

describe('output batching', () => {
  it('frames queued in one turn go out in one write, in order', async () => {
    const { sock, conn } = setup({});
    for (let i = 0; i < 100; i++) conn.push('PRESENCE', { user: `u${i}`, online: true });
    expect(sock.writes).toHaveLength(0);
    await sleep(1);
    expect(sock.writes).toHaveLength(1);
    expect(frames(sock.writes[0]).map((d) => d.payload.user)).toEqual(Array.from({ length: 100 }, (_, i) => `u${i}`));
  });
});

describe('backpressure', () => {
  it('pauses reading while the write buffer is over writeHighWater, resumes on drain', async () => {
    const { sock, conn } = setup({ writeHighWater: 1000 });
    sock.writableLength = 5000; // the peer is not reading
    conn.push('PING_PUSH');
    await sleep(1);
    expect(sock.paused).toBe(true);
    sock.writableLength = 0;
    sock.emit('drain');
    expect(sock.paused).toBe(false);
  });

  it('drops a consumer whose unread output exceeds slowConsumerCap, with a GOODBYE', async () => {
    const { sock, conn } = setup({ writeHighWater: 1000, slowConsumerCap: 10_000 });
    sock.writableLength = 15_000; // over the cap, under the in-turn bound of twice the cap
    conn.push('PING_PUSH');
    await sleep(1);
    expect(sock.writableEnded).toBe(true);
    const last = frames(sock.writes.at(-1)!);
    expect(last[0]).toMatchObject({ name: 'GOODBYE' });
    expect(last[0].payload.reason).toMatch(/too slow/);
    expect(conn.closeReason).toBe('slow consumer');
    conn.push('PING_PUSH'); // ignored from now on
    await sleep(1);
    expect(sock.writes).toHaveLength(2);
  });

  it('pauses reading while maxInflight requests are in progress', async () => {
    const pending: Array<() => void> = [];
    const dispatch = (_c: Connection, _f: Frame) => new Promise<void>((r) => pending.push(r));
    const { sock } = setup({ maxInflight: 3 }, dispatch);
    const reqs = Buffer.concat([1, 2, 3].map((i) => encodeRequest('PING', i)));
    sock.emit('data', reqs);
    expect(pending).toHaveLength(3);
    expect(sock.paused).toBe(true);
    pending[0]();
    await sleep(1);
    expect(sock.paused).toBe(false);
  });

  it('a stream error sends ERROR with reqId 0 and ends the socket', async () => {
    const { sock } = setup({ maxFrame: 16 });
    sock.emit('data', encodePush('GOODBYE', { reason: 'x'.repeat(100) }));
    await sleep(1);
    expect(frames(sock.writes[0])[0]).toMatchObject({ kind: 'error', reqId: 0, payload: { name: 'CHAT_ERR_FRAME_TOO_LARGE' } });
    expect(sock.writableEnded).toBe(true);
  });
});
