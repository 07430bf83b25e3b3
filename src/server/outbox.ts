/**
 * The output half of the connection glue: per-connection frame queues written once
 * per event-loop turn, and the backpressure rules (STYLE habit 2). Connection
 * (connection.ts) extends it with the input half; together they are the one place
 * where backpressure lives:
 *   - outgoing frames are queued and written once per turn (setImmediate), as one
 *     Buffer (one writev when they add up to WRITEV_BYTES or more): a fan-out of N
 *     messages to M members costs M writes per turn, not N×M;
 *   - while the socket's write buffer is over limits.writeHighWater reading pauses
 *     (as it does, in Connection, while limits.maxInflight requests are in progress
 *     or their input bytes are over twice limits.maxFrame),
 *     so a client that pipelines requests without reading replies slows only itself;
 *   - a connection whose unread output (socket buffer after a flush) exceeds
 *     limits.slowConsumerCap is dropped with a GOODBYE (Redis
 *     client-output-buffer-limit): a slow reader never makes the server hold
 *     unbounded memory for it. A burst queued within one turn may reach twice the
 *     cap before it is written.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ErrorCode } from '../common/errors.js';
import type { Payload } from '../protocol/codec.js';
import type { CommandName } from '../protocol/commands.js';
import { encodeError, encodePush, encodeReply } from '../protocol/messages.js';
import type { Limits } from './limits.js';

/**
 * A turn's output of at least this many bytes is written as it was queued (corked:
 * one writev) rather than copied into one Buffer: copying small frames together is
 * cheaper than a vector of them, copying FILE_READ data again is not.
 */
const WRITEV_BYTES = 256 * 1024;

/** Reasons to stop reading a socket; reading resumes when none is left. */
export const PAUSE = { WRITE: 1, INFLIGHT: 2, HELD: 4, HALT: 8, INPUT: 16 } as const;

// ---- one flush per event-loop turn for every connection with queued output ----------
let dirty = new Set<Outbox>();
let scheduled = false;
function flushAll(): void {
  scheduled = false;
  const list = dirty;
  dirty = new Set();
  for (const c of list) c.flush();
}
function schedule(c: Outbox): void {
  dirty.add(c);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}

export abstract class Outbox {
  closeReason = 'peer closed';
  private out: Buffer[] = [];
  /** send()'s onWritten callbacks, by queued Buffer. */
  private written = new Map<Buffer, () => void>();
  private outBytes = 0;
  private paused = 0;
  /** end() was called: output drains, then FIN; input is ignored. */
  protected ending = false;
  /** The socket has closed. */
  protected dead = false;

  constructor(readonly socket: Socket, protected readonly limits: Limits) {}

  abstract get log(): Logger;

  /**
   * Queues an encoded frame; the same Buffer may be queued on many connections.
   * `onWritten` (one connection's frame only) is called once the socket no longer
   * needs `buf`, so its memory may be reused; never if the frame is dropped unwritten.
   */
  send(buf: Buffer, onWritten?: () => void): void {
    if (this.dead || this.socket.writableEnded) return;
    if (onWritten) this.written.set(buf, onWritten);
    this.out.push(buf);
    this.outBytes += buf.length;
    // The real test is in flush(), on what the peer has left unread; this one only
    // bounds memory when a single turn queues more than the cap on top of that.
    if (this.outBytes + this.socket.writableLength > 2 * this.limits.slowConsumerCap) {
      this.dropSlow();
      return;
    }
    schedule(this);
  }

  reply(name: CommandName, reqId: number, payload: Payload = {}): void {
    this.send(encodeReply(name, reqId, payload));
  }

  push(name: CommandName, payload: Payload = {}): void {
    this.send(encodePush(name, payload));
  }

  error(reqId: number, code: ErrorCode, message: string): void {
    this.send(encodeError(reqId, code, message));
  }

  /** Writes everything queued as one Buffer. Called once per turn by the scheduler. */
  flush(): void {
    if (this.dead || this.socket.writableEnded) {
      this.out = [];
      this.outBytes = 0;
      this.written.clear();
      return;
    }
    if (this.out.length > 0) {
      const out = this.out;
      const bytes = this.outBytes;
      this.out = [];
      this.outBytes = 0;
      if (out.length === 1) this.socket.write(out[0], this.writeDone(out[0]));
      else if (bytes < WRITEV_BYTES) {
        this.socket.write(Buffer.concat(out, bytes));
        for (const b of out) this.writeDone(b)?.(); // copied: the originals are free
      } else {
        // Big frames (drive data): one writev, no copy of them into a new Buffer.
        this.socket.cork();
        for (const b of out) this.socket.write(b, this.writeDone(b));
        this.socket.uncork();
      }
      const unread = this.socket.writableLength;
      if (unread > this.limits.slowConsumerCap) {
        this.dropSlow();
        return;
      }
      if (unread > this.limits.writeHighWater) this.pause(PAUSE.WRITE);
    }
    if (this.ending) this.socket.end();
  }

  /** The write callback that hands `buf` back to its owner (send's onWritten), if any. */
  private writeDone(buf: Buffer): ((err?: Error | null) => void) | undefined {
    const cb = this.written.get(buf);
    if (!cb) return undefined;
    this.written.delete(buf);
    return (err) => { if (!err) cb(); };
  }

  /** Says why (ERROR with reqId 0), then closes once the output is out. */
  fail(code: ErrorCode, message: string, reason = message, graceMs?: number): void {
    this.closeReason = reason;
    this.error(0, code, message);
    this.end(reason, graceMs);
  }

  /** Sends GOODBYE {reason} and closes gracefully. */
  goodbye(reason: string): void {
    this.closeReason = reason;
    this.push('GOODBYE', { reason });
    this.end(reason);
  }

  /** Graceful close: queued output is written, then FIN. Input is ignored from now on. */
  end(reason?: string, graceMs = 5000): void {
    if (reason) this.closeReason = reason;
    if (this.ending || this.dead) return;
    this.ending = true;
    // Read (and drop) whatever comes, so the peer's FIN is seen and the socket closes
    // as soon as the peer closes: a connection paused for backpressure or halted
    // (shutdown, a revoked session) would otherwise linger, its user still online,
    // until the grace below.
    this.paused = 0;
    this.socket.resume();
    schedule(this);
    // After graceMs the socket goes whatever the peer does: a peer that never reads
    // could keep a half-closed socket (and its user "online") forever.
    setTimeout(() => this.destroy(), graceMs).unref();
  }

  /** Immediate close, queued output discarded. */
  destroy(reason?: string): void {
    if (reason) this.closeReason = reason;
    if (this.dead) return;
    this.ending = true;
    this.socket.destroy();
  }

  private dropSlow(): void {
    const queued = this.outBytes + this.socket.writableLength;
    this.log.warn({ queuedBytes: queued }, 'slow consumer: output over the limit; dropping connection');
    this.out = [];
    this.outBytes = 0;
    this.written.clear();
    this.closeReason = 'slow consumer';
    this.ending = true;
    // Its socket buffer is full, so the GOODBYE arrives only if it catches up quickly;
    // either way the connection is cut within a second.
    this.socket.end(encodePush('GOODBYE', { reason: `too slow: over ${this.limits.slowConsumerCap} bytes of unread output` }));
    setTimeout(() => this.destroy(), 1000).unref();
  }

  protected pause(bit: number): void {
    if (this.ending) return; // see end()
    if (this.paused === 0) this.socket.pause();
    this.paused |= bit;
  }

  protected resume(bit: number): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.dead) this.socket.resume();
  }

  /** @internal socket 'drain' */
  drained(): void {
    this.resume(PAUSE.WRITE);
  }

  /** The socket closed: drop the queue. */
  protected markDead(): void {
    this.dead = true;
    this.ending = true;
    this.out = [];
    this.outBytes = 0;
    dirty.delete(this);
  }

  get isDead(): boolean {
    return this.dead;
  }
}
