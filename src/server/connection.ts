/**
 * Connection glue, input half: one Connection per socket. Bytes in → FrameDecoder
 * (with the maxFrame limit) → the dispatch table, with session phase, requests in
 * flight, and the frames held behind a session-changing command. The output half and
 * the backpressure rules are in outbox.ts, which this class extends.
 *
 * Input memory is bounded in bytes, not only in frames: reading pauses while the
 * frames held behind a serial command plus the requests in progress add up to more
 * than twice limits.maxFrame (INPUT_BUDGET_FRAMES), and resumes once they drain below
 * it. On top of the budget come only the frame that crossed it, the rest of the same
 * socket read and the decoder's one partial frame: about four frames of input at
 * most, whoever the client is and whatever it pipelines (a count alone would let
 * 4096 frames of 1 MiB wait behind one LOGIN).
 *
 * A stream that can no longer be trusted (FrameDecoder error) gets ERROR with reqId 0
 * and is closed; everything else about a bad frame is answered and the stream goes on.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { formatHostPort } from '../common/address.js';
import { ChatError, isChatError } from '../common/errors.js';
import { FrameDecoder, HEADER_BYTES, type Frame } from '../protocol/frame.js';
import type { Limits } from './limits.js';
import { Outbox, PAUSE } from './outbox.js';

/** Input bytes (held + in flight) a connection may have before its reading pauses, in frames of maxFrame. */
export const INPUT_BUDGET_FRAMES = 2;

/** What a frame costs while it waits or runs: its bytes on the wire. */
function frameBytes(f: Frame): number {
  return HEADER_BYTES + f.payload.length;
}

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
  /**
   * sha256 of the session token this connection logged in with (LOGOUT revokes it);
   * undefined while logged out, and for an ephemeral login (LOGIN ephemeral: no stored
   * session, the login lasts as long as the connection).
   */
  tokenHash: string | undefined;
  device = '';
  /** LISTEN on: MESSAGE, PRESENCE and GROUP_EVENT pushes are delivered. */
  listening = false;
  /** The engine's durable head when the connection was accepted (set by the server): LISTEN without afterSeq catches up from here. */
  connectSeq = 0;
  lastSeen: number;
  lastPing: number;
  /** Until when the connection may stay logged out; 0 once logged in (the server's sweep checks). */
  authDeadline: number;

  private readonly decoder: FrameDecoder;
  private inflight = 0;
  /** Bytes of the frames held plus the requests in progress (see the file comment). */
  private inputBytes = 0;
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

  /** `charged`: the frame's bytes are already counted (it was held before). */
  private hold(f: Frame, charged = false): void {
    this.held!.push(f);
    if (!charged) this.charge(frameBytes(f));
    if (this.held!.length >= this.host.limits.maxInflight) this.pause(PAUSE.HELD);
  }

  private run(f: Frame, charged = false): void {
    // Counted before dispatch so a handler's synchronous part sees itself in flight.
    this.inflight++;
    const bytes = frameBytes(f);
    const done = this.host.dispatch(this, f);
    if (!done) {
      if (charged) this.credit(bytes);
      this.settle();
      return;
    }
    if (!charged) this.charge(bytes);
    if (this.inflight >= this.host.limits.maxInflight) this.pause(PAUSE.INFLIGHT);
    const serial = this.host.isSerial(f.code);
    if (serial) this.held = [];
    void done.then(() => {
      this.credit(bytes);
      this.settle();
      if (serial) this.release();
    });
  }

  private settle(): void {
    this.inflight--;
    if (this.inflight < this.host.limits.maxInflight) this.resume(PAUSE.INFLIGHT);
    if (this.idleWaiters) this.wakeIdle();
  }

  /** Input bytes waiting or running: pause reading over the budget. */
  private charge(bytes: number): void {
    this.inputBytes += bytes;
    if (this.inputBytes > INPUT_BUDGET_FRAMES * this.host.limits.maxFrame) this.pause(PAUSE.INPUT);
  }

  private credit(bytes: number): void {
    this.inputBytes -= bytes;
    if (this.inputBytes <= INPUT_BUDGET_FRAMES * this.host.limits.maxFrame) this.resume(PAUSE.INPUT);
  }

  /** Bytes of input this connection holds: frames held behind a serial command plus requests in progress. */
  get pendingInputBytes(): number {
    return this.inputBytes;
  }

  /** Runs the frames held behind a finished serial command, in order. */
  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    this.resume(PAUSE.HELD);
    for (let i = 0; i < held.length; i++) {
      if (this.stopped) {
        // Dropped unanswered (stopReading) or the connection is ending.
        for (let j = i; j < held.length; j++) this.credit(frameBytes(held[j]));
        return;
      }
      // Already counted: its bytes stay counted, in flight or held again.
      if (this.held) this.hold(held[i], true);
      else this.run(held[i], true);
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
   * registry (else it would stay "online" forever). `tokenHash` undefined: an
   * ephemeral login (no stored session).
   */
  authenticate(user: string, tokenHash: string | undefined, device: string): void {
    if (this.dead || this.phase === 'closing') return;
    this.authDeadline = 0;
    this.phase = 'authed';
    this.user = user;
    this.tokenHash = tokenHash;
    this.device = device;
    this.host.authenticated(this);
  }

  /** Logged in ephemerally: no stored session backs this login. */
  get ephemeral(): boolean {
    return this.phase === 'authed' && this.tokenHash === undefined;
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
