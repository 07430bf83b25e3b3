/**
 * Backpressure mechanics of the connection glue, against a fake socket whose write
 * buffer the test controls (loopback kernel buffers are too large to fill reliably).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import type { Frame } from '../../../src/protocol/frame.js';
import { encodeFrame, FrameDecoder } from '../../../src/protocol/frame.js';
import { decodeFrame, encodePush, encodeRequest } from '../../../src/protocol/messages.js';
import { Connection, INPUT_BUDGET_FRAMES, type ConnectionHost } from '../../../src/server/connection.js';
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

function setup(limits: Partial<Limits>, dispatch: ConnectionHost['dispatch'] = () => undefined, isSerial: ConnectionHost['isSerial'] = () => false) {
  const sock = new FakeSocket();
  const host: ConnectionHost = {
    limits: resolveLimits(limits), dispatch, isSerial,
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

  it('bounds the input bytes held behind a serial command (not just their count), and reads on once they drain', async () => {
    const maxFrame = 64 * 1024;
    const SERIAL = 0x03; // stands for LOGIN: later frames wait for it
    let finishLogin!: () => void;
    const ran: number[] = [];
    const dispatch = (_c: Connection, f: Frame) => {
      ran.push(f.reqId);
      return f.code === SERIAL ? new Promise<void>((r) => { finishLogin = r; }) : undefined;
    };
    const { sock, conn } = setup({ maxFrame }, dispatch, (code) => code === SERIAL);
    // A client pipelines 200 near-maximal frames behind its LOGIN: 12.5 MiB, well
    // under maxInflight (4096) frames. The socket is fed one 16 KiB read at a time and,
    // like a real one, delivers nothing while paused.
    const big = Buffer.alloc(maxFrame - 100, 0x61);
    const stream = Buffer.concat([encodeFrame(SERIAL, 1, Buffer.alloc(10)),
      ...Array.from({ length: 200 }, (_, i) => encodeFrame(0x08, i + 2, big))]);
    const CHUNK = 16 * 1024;
    let off = 0;
    const feed = (): void => {
      while (off < stream.length && !sock.paused) {
        sock.emit('data', stream.subarray(off, off + CHUNK));
        off += CHUNK;
      }
    };
    feed();
    expect(sock.paused).toBe(true);
    expect(ran).toEqual([1]);
    // Held: the budget of two frames, plus the frame that crossed it and the rest of
    // that read (before: all 12.5 MiB, since 200 frames are far below maxInflight).
    const bound = INPUT_BUDGET_FRAMES * maxFrame + maxFrame + CHUNK;
    expect(conn.pendingInputBytes).toBeGreaterThan(INPUT_BUDGET_FRAMES * maxFrame);
    expect(conn.pendingInputBytes).toBeLessThanOrEqual(bound);
    expect(off).toBeLessThanOrEqual(bound);

    // LOGIN done: the held frames run in order, reading resumes, and the rest follow.
    finishLogin();
    await sleep(1);
    expect(sock.paused).toBe(false);
    feed();
    expect(off).toBeGreaterThanOrEqual(stream.length);
    expect(ran).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    expect(conn.pendingInputBytes).toBe(0);
  });

  it('counts requests in progress against the same byte budget', async () => {
    const maxFrame = 64 * 1024;
    const pending: Array<() => void> = [];
    const dispatch = () => new Promise<void>((r) => pending.push(r));
    const { sock, conn } = setup({ maxFrame }, dispatch);
    const frame = encodeFrame(0x08, 1, Buffer.alloc(maxFrame - 100));
    for (let i = 0; i < 10 && !sock.paused; i++) sock.emit('data', frame);
    expect(sock.paused).toBe(true);
    expect(pending).toHaveLength(INPUT_BUDGET_FRAMES + 1);
    for (const done of pending.splice(0)) done();
    await sleep(1);
    expect(conn.pendingInputBytes).toBe(0);
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
