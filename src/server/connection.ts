/**
 * Connection glue: one Connection per socket. Bytes in → frames → the dispatch table;
 * frames out → one batched write per connection per event-loop turn.
 *
 * This is the one place of backpressure (STYLE habit 2):
 *   - outgoing frames are queued and written once per turn (setImmediate), as one
 *     Buffer: a fan-out of N messages to M members costs M writes per turn, not N×M;
 *   - while the socket's write buffer is over limits.writeHighWater, or the
 *     connection has limits.maxInflight requests in progress, reading pauses, so a
 *     client that pipelines requests without reading replies slows only itself;
 *   - a connection whose unread output (socket buffer after a flush) exceeds
 *     limits.slowConsumerCap is dropped with a GOODBYE (Redis
 *     client-output-buffer-limit): a slow reader never makes the server hold
 *     unbounded memory for it. A burst queued within one turn may reach twice the
 *     cap before it is written.
 * A stream that can no longer be trusted (FrameDecoder error) gets ERROR with reqId 0
 * and is closed; everything else about a bad frame is answered and the stream goes on.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { formatHostPort } from '../common/address.js';
import { ChatError, isChatError, type ErrorCode } from '../common/errors.js';
import { FrameDecoder, type Frame } from '../protocol/frame.js';
import { encodeError, encodePush, encodeReply } from '../protocol/messages.js';
import type { CommandName } from '../protocol/commands.js';
import type { Payload } from '../protocol/codec.js';
import type { Limits } from './limits.js';

/** Session phases; dispatch refuses commands the phase does not allow. */
export type Phase =
  | 'fresh' //   connected, waiting for HELLO
  | 'ready' //   HELLO done, not logged in: only beforeAuth commands
  | 'authed' //  logged in as `user`
  | 'closing'; // goodbye said or stream broken: input is ignored

/** What a connection needs from the server that owns it. */
export interface ConnectionHost {
  readonly limits: Limits;
  /** Runs one frame; returns a promise when work continues after this turn (never rejects). */
  dispatch(conn: Connection, frame: Frame): Promise<void> | undefined;
  /** Commands that change the session: later frames wait until they finish. */
  isSerial(code: number): boolean;
  authenticated(conn: Connection): void;
  loggedOut(conn: Connection, user: string): void;
  closed(conn: Connection): void;
}

const PAUSE_WRITE = 1;
const PAUSE_INFLIGHT = 2;
const PAUSE_HELD = 4;
const PAUSE_HALT = 8;

// ---- one flush per event-loop turn for every connection with queued output ----------
let dirty = new Set<Connection>();
let scheduled = false;
function flushAll(): void {
  scheduled = false;
  const list = dirty;
  dirty = new Set();
  for (const c of list) c.flush();
}
function schedule(c: Connection): void {
  dirty.add(c);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushAll);
  }
}

// Shared listeners (no closures per connection: SPEC §9 idle memory per connection).
const CONN = Symbol('connection');
type OwnedSocket = Socket & { [CONN]?: Connection };
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONN]?.onData(chunk);
}
function onSocketError(this: OwnedSocket, err: NodeJS.ErrnoException): void {
  const c = this[CONN];
  if (!c) return;
  c.closeReason = `socket error ${err.code ?? err.message}`;
  if (c.parentLog.isLevelEnabled('debug')) c.log.debug({ err: err.message }, 'socket error');
}
function onSocketClose(this: OwnedSocket): void {
  this[CONN]?.onClose();
}
function onSocketDrain(this: OwnedSocket): void {
  this[CONN]?.drained();
}

export class Connection {
  phase: Phase = 'fresh';
  user: string | undefined;
  /** sha256 of the session token this connection logged in with (LOGOUT revokes it). */
  tokenHash: string | undefined;
  device = '';
  /** LISTEN on: MESSAGE, PRESENCE and GROUP_EVENT pushes are delivered. */
  listening = false;
  lastSeen: number;
  lastPing: number;
  /** Until when the connection may stay logged out; 0 once logged in (the server's sweep checks). */
  authDeadline: number;
  closeReason = 'peer closed';

  private readonly decoder: FrameDecoder;
  private out: Buffer[] = [];
  private outBytes = 0;
  private paused = 0;
  private inflight = 0;
  private idleWaiters: Array<() => void> | undefined;
  /** Frames that arrived while a serial command ran; undefined when none runs. */
  private held: Frame[] | undefined;
  private readonly remotePort: number;
  private ending = false;
  private dead = false;
  private halted = false;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly ip: string,
    readonly parentLog: Logger,
    private readonly host: ConnectionHost,
  ) {
    const now = Date.now();
    this.lastSeen = now;
    this.lastPing = now;
    this.authDeadline = now + host.limits.authTimeoutMs;
    this.remotePort = socket.remotePort ?? 0;
    this.decoder = new FrameDecoder(host.limits.maxFrame);
    socket.setNoDelay(true); // SPEC §9 paced latency: no Nagle on small frames
    (socket as OwnedSocket)[CONN] = this;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
  }

  /**
   * A logger with this connection's id and remote address. Made per use and not
   * kept: connection lines are rare (login, errors), and a pino child held by each
   * of thousands of idle connections would cost more than the rest of it.
   */
  get log(): Logger {
    return this.parentLog.child({ conn: this.id, remote: formatHostPort({ host: this.ip, port: this.remotePort }) });
  }

  // ---- input -------------------------------------------------------------------

  private get stopped(): boolean {
    return this.phase === 'closing' || this.halted;
  }

  /** @internal socket 'data' */
  onData(chunk: Buffer): void {
    if (this.stopped) return;
    this.lastSeen = Date.now(); // any frame (any byte) from the client counts as life
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      const e = isChatError(err) ? err : new ChatError('CHAT_ERR_PROTOCOL', String(err));
      this.log.info({ code: e.code, reason: e.message }, 'bad stream; closing connection');
      this.fail(e.code, e.message);
      return;
    }
    for (const f of frames) {
      if (this.stopped) return; // a frame before this one may have closed the connection
      if (this.held) this.hold(f);
      else this.run(f);
    }
  }

  private hold(f: Frame): void {
    this.held!.push(f);
    if (this.held!.length >= this.host.limits.maxInflight) this.pause(PAUSE_HELD);
  }

  private run(f: Frame): void {
    // Counted before dispatch so a handler's synchronous part sees itself in flight.
    this.inflight++;
    const done = this.host.dispatch(this, f);
    if (!done) {
      this.settle();
      return;
    }
    if (this.inflight >= this.host.limits.maxInflight) this.pause(PAUSE_INFLIGHT);
    const serial = this.host.isSerial(f.code);
    if (serial) this.held = [];
    void done.then(() => {
      this.settle();
      if (serial) this.release();
    });
  }

  private settle(): void {
    this.inflight--;
    if (this.inflight < this.host.limits.maxInflight) this.resume(PAUSE_INFLIGHT);
    if (this.idleWaiters) this.wakeIdle();
  }

  /** Runs the frames held behind a finished serial command, in order. */
  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.resume(PAUSE_HELD);
    for (const f of held) {
      if (this.stopped) return;
      if (this.held) this.hold(f);
      else this.run(f);
    }
  }

  /**
   * Resolves once at most `others` requests of this connection are in progress (BYE
   * passes 1, itself; shutdown passes 0), or the connection is gone.
   */
  whenIdle(others = 1): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.inflight <= others || this.dead) resolve();
        else (this.idleWaiters ??= []).push(check);
      };
      check();
    });
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters!;
    this.idleWaiters = undefined;
    for (const w of waiters) w();
  }

  private pause(bit: number): void {
    if (this.paused === 0) this.socket.pause();
    this.paused |= bit;
  }

  private resume(bit: number): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.dead) this.socket.resume();
  }

  /**
   * Stops taking requests (shutdown): no more reading, and frames held behind a
   * serial command are dropped unanswered (the client sees GOODBYE and no reply, so
   * it knows they were not done). Requests in progress still finish and reply.
   */
  stopReading(): void {
    this.halted = true;
    this.pause(PAUSE_HALT);
  }

  // ---- session -----------------------------------------------------------------

  /** Called by the server's sweep once authDeadline has passed without a login. */
  authTimedOut(): void {
    if (this.phase === 'authed' || this.phase === 'closing') return;
    const ms = this.host.limits.authTimeoutMs;
    this.log.info({ timeoutMs: ms }, 'not logged in in time; closing');
    this.fail('CHAT_ERR_IDLE_TIMEOUT', `not logged in within ${ms / 1000} s; connect again and log in`, 'auth timeout');
  }

  /**
   * Marks the connection logged in as `user` (after LOGIN or REGISTER). A connection
   * that closed or timed out while the password was being checked stays out of the
   * registry (else it would stay "online" forever).
   */
  authenticate(user: string, tokenHash: string, device: string): void {
    if (this.dead || this.phase === 'closing') return;
    this.authDeadline = 0;
    this.phase = 'authed';
    this.user = user;
    this.tokenHash = tokenHash;
    this.device = device;
    this.host.authenticated(this);
  }

  /** Back to the logged-out phase (LOGOUT); the auth timeout applies again. */
  deauthenticate(): void {
    const user = this.user;
    this.phase = 'ready';
    this.user = undefined;
    this.tokenHash = undefined;
    this.listening = false;
    if (user !== undefined) this.host.loggedOut(this, user);
    this.authDeadline = Date.now() + this.host.limits.authTimeoutMs;
  }

  // ---- output ------------------------------------------------------------------

  /** Queues an encoded frame; the same Buffer may be queued on many connections. */
  send(buf: Buffer): void {
    if (this.dead || this.socket.writableEnded) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    // The real test is in flush(), on what the peer has left unread; this one only
    // bounds memory when a single turn queues more than the cap on top of that.
    if (this.outBytes + this.socket.writableLength > 2 * this.host.limits.slowConsumerCap) {
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
      return;
    }
    if (this.out.length > 0) {
      const data = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out, this.outBytes);
      this.out = [];
      this.outBytes = 0;
      this.socket.write(data);
      const unread = this.socket.writableLength;
      if (unread > this.host.limits.slowConsumerCap) {
        this.dropSlow();
        return;
      }
      if (unread > this.host.limits.writeHighWater) this.pause(PAUSE_WRITE);
    }
    if (this.ending) this.socket.end();
  }

  /** Says why (ERROR reqId 0, optionally a GOODBYE), then closes after the output is out. */
  fail(code: ErrorCode, message: string, reason = message): void {
    this.closeReason = reason;
    this.error(0, code, message);
    this.end(reason);
  }

  /** Sends GOODBYE {reason} and closes gracefully. */
  goodbye(reason: string): void {
    this.closeReason = reason;
    this.push('GOODBYE', { reason });
    this.end(reason);
  }

  /** Graceful close: queued output is written, then FIN. Input is ignored from now on. */
  end(reason?: string): void {
    if (reason) this.closeReason = reason;
    if (this.ending || this.dead) return;
    this.ending = true;
    this.phase = 'closing';
    schedule(this);
    // A peer that never reads could keep a half-closed socket forever.
    setTimeout(() => this.destroy(), 5000).unref();
  }

  /** Immediate close, queued output discarded. */
  destroy(reason?: string): void {
    if (reason) this.closeReason = reason;
    if (this.dead) return;
    this.phase = 'closing';
    this.socket.destroy();
  }

  private dropSlow(): void {
    const queued = this.outBytes + this.socket.writableLength;
    this.log.warn({ queuedBytes: queued }, 'slow consumer: output over the limit; dropping connection');
    this.out = [];
    this.outBytes = 0;
    this.closeReason = 'slow consumer';
    this.ending = true;
    this.phase = 'closing';
    // Its socket buffer is full, so the GOODBYE arrives only if it catches up quickly;
    // either way the connection is cut within a second.
    this.socket.end(encodePush('GOODBYE', { reason: `too slow: over ${this.host.limits.slowConsumerCap} bytes of unread output` }));
    setTimeout(() => this.destroy(), 1000).unref();
  }

  /** @internal socket 'drain' */
  drained(): void {
    this.resume(PAUSE_WRITE);
  }

  /** @internal socket 'close' */
  onClose(): void {
    if (this.dead) return;
    this.dead = true;
    this.phase = 'closing';
    this.out = [];
    this.outBytes = 0;
    dirty.delete(this);
    if (this.idleWaiters) this.wakeIdle();
    this.host.closed(this);
  }

  get isDead(): boolean {
    return this.dead;
  }
}
