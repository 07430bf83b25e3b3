/**
 * Connection glue, input half: one Connection per socket. Bytes in → FrameDecoder
 * (with the maxFrame limit) → the dispatch table, with session phase, requests in
 * flight, and the frames held behind a session-changing command. The output half and
 * the backpressure rules are in outbox.ts, which this class extends.
 *
 * A stream that can no longer be trusted (FrameDecoder error) gets ERROR with reqId 0
 * and is closed; everything else about a bad frame is answered and the stream goes on.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { formatHostPort } from '../common/address.js';
import { ChatError, isChatError } from '../common/errors.js';
import { FrameDecoder, type Frame } from '../protocol/frame.js';
import type { Limits } from './limits.js';
import { Outbox, PAUSE } from './outbox.js';

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

export class Connection extends Outbox {
  private sessionPhase: Exclude<Phase, 'closing'> = 'fresh';
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

  private readonly decoder: FrameDecoder;
  private inflight = 0;
  private idleWaiters: Array<() => void> | undefined;
  /** Frames that arrived while a serial command ran; undefined when none runs. */
  private held: Frame[] | undefined;
  private readonly remotePort: number;
  private halted = false;

  constructor(
    readonly id: number,
    socket: Socket,
    readonly ip: string,
    readonly parentLog: Logger,
    private readonly host: ConnectionHost,
  ) {
    super(socket, host.limits);
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

  /** 'closing' once the connection is ending or closed; set only the other phases. */
  get phase(): Phase {
    return this.ending || this.dead ? 'closing' : this.sessionPhase;
  }

  set phase(p: Phase) {
    if (p === 'closing') this.end();
    else this.sessionPhase = p;
  }

  // ---- input -------------------------------------------------------------------

  private get stopped(): boolean {
    return this.ending || this.dead || this.halted;
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
    if (this.held!.length >= this.host.limits.maxInflight) this.pause(PAUSE.HELD);
  }

  private run(f: Frame): void {
    // Counted before dispatch so a handler's synchronous part sees itself in flight.
    this.inflight++;
    const done = this.host.dispatch(this, f);
    if (!done) {
      this.settle();
      return;
    }
    if (this.inflight >= this.host.limits.maxInflight) this.pause(PAUSE.INFLIGHT);
    const serial = this.host.isSerial(f.code);
    if (serial) this.held = [];
    void done.then(() => {
      this.settle();
      if (serial) this.release();
    });
  }

  private settle(): void {
    this.inflight--;
    if (this.inflight < this.host.limits.maxInflight) this.resume(PAUSE.INFLIGHT);
    if (this.idleWaiters) this.wakeIdle();
  }

  /** Runs the frames held behind a finished serial command, in order. */
  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.resume(PAUSE.HELD);
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

  /**
   * Stops taking requests (shutdown): no more reading, and frames held behind a
   * serial command are dropped unanswered (the client sees GOODBYE and no reply, so
   * it knows they were not done). Requests in progress still finish and reply.
   */
  stopReading(): void {
    this.halted = true;
    this.pause(PAUSE.HALT);
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

  /** @internal socket 'close' */
  onClose(): void {
    if (this.dead) return;
    this.markDead();
    if (this.idleWaiters) this.wakeIdle();
    this.host.closed(this);
  }
}
