/**
 * Reused FILE_READ memory (src/server/read-buffers.ts) and the Outbox hook it relies
 * on: send()'s onWritten fires only once the socket is done with the Buffer (its
 * write callback, without error), or at once when the frame was copied into a
 * batch; never for a frame dropped unwritten. So no reply buffer is reused while a
 * write may still read it.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { HEADER_BYTES } from '../../../src/protocol/frame.js';
import { Connection, type ConnectionHost } from '../../../src/server/connection.js';
import { resolveLimits } from '../../../src/server/limits.js';
import { giveReadBuffer, takeReadBuffer } from '../../../src/server/read-buffers.js';
import { sleep } from './helpers.js';

type WriteCb = ((err?: Error | null) => void) | undefined;

class HoldingSocket extends EventEmitter {
  writes: Array<{ buf: Buffer; cb: WriteCb }> = [];
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  remotePort = 5555;
  setNoDelay(): this { return this; }
  pause(): this { return this; }
  resume(): this { return this; }
  cork(): void {}
  uncork(): void {}
  write(buf: Buffer, cb?: WriteCb): boolean { this.writes.push({ buf, cb }); return true; }
  end(): this { this.writableEnded = true; return this; }
  destroy(): this { this.destroyed = true; this.emit('close'); return this; }
}

function setup() {
  const sock = new HoldingSocket();
  const host: ConnectionHost = {
    limits: resolveLimits({}), dispatch: () => undefined, isSerial: () => false,
    authenticated: () => undefined, loggedOut: () => undefined, closed: () => undefined,
  };
  const conn = new Connection(1, sock as unknown as Socket, '127.0.0.1', silentLogger(), host);
  return { sock, conn };
}

describe('Outbox.send onWritten', () => {
  it('fires after the socket write completes, not before, and not on a failed write', async () => {
    const { sock, conn } = setup();
    const done: string[] = [];
    conn.send(Buffer.alloc(400_000, 1), () => done.push('a'));
    await sleep(1);
    expect(sock.writes).toHaveLength(1);
    expect(done).toEqual([]);
    sock.writes[0].cb!();
    expect(done).toEqual(['a']);
    // Two big frames in one turn: one corked writev, each released by its own callback.
    conn.send(Buffer.alloc(300_000, 2), () => done.push('b'));
    conn.send(Buffer.alloc(300_000, 3), () => done.push('c'));
    await sleep(1);
    expect(sock.writes).toHaveLength(3);
    sock.writes[2].cb!(new Error('EPIPE'));
    sock.writes[1].cb!();
    expect(done).toEqual(['a', 'b']);
  });

  it('fires at once for frames copied into a small batch; never for frames dropped unwritten', async () => {
    const { sock, conn } = setup();
    const done: string[] = [];
    conn.send(Buffer.alloc(100, 1), () => done.push('x'));
    conn.send(Buffer.alloc(100, 2), () => done.push('y'));
    await sleep(1);
    expect(sock.writes).toHaveLength(1);
    expect(sock.writes[0].buf.length).toBe(200);
    expect(done).toEqual(['x', 'y']);
    conn.send(Buffer.alloc(100, 3), () => done.push('z'));
    sock.destroy();
    await sleep(1);
    expect(done).toEqual(['x', 'y']);
  });
});

describe('read buffers', () => {
  it('hands back the buffers given back, keeps at most 8, and starts over when maxFrame changes', () => {
    const a = takeReadBuffer(1000);
    expect(a.length).toBe(HEADER_BYTES + 1000);
    giveReadBuffer(a);
    expect(takeReadBuffer(1000)).toBe(a);
    const many = Array.from({ length: 10 }, () => takeReadBuffer(1000));
    for (const b of many) giveReadBuffer(b);
    const again = Array.from({ length: 10 }, () => takeReadBuffer(1000));
    expect(again.filter((b) => many.includes(b))).toHaveLength(8);
    giveReadBuffer(again[0]);
    const other = takeReadBuffer(2000);
    expect(other.length).toBe(HEADER_BYTES + 2000);
    expect(other).not.toBe(again[0]);
  });
});
