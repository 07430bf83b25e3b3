/**
 * Client transport: one TCP (or TLS) connection to a chat server, speaking the frame
 * protocol of src/protocol. Pure transport: no CLI, no credentials, no output.
 *
 * Contract:
 *  - connect() opens the socket through dial.ts (quick retries, then ChatError
 *    CHAT_ERR_NETWORK naming HOST:PORT) and resolves only after HELLO succeeded.
 *  - request() resolves with the reply payload or rejects with the ChatError the
 *    server sent; requests pending when the connection is lost reject with
 *    CHAT_ERR_NETWORK (or the server's connection-level ERROR, when it sent one).
 *  - Pushes are emitted by command name: 'MESSAGE', 'PRESENCE', 'GROUP_EVENT',
 *    'FILE_EVENT', 'GOODBYE'. PING_PUSH is answered with PING here, never surfaced.
 *  - 'close' is emitted once: with a ChatError when the connection was lost, with
 *    nothing after close().
 *  - close() is a clean goodbye (BYE, its reply, then FIN), never a reset.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { ChatError } from '../common/errors.js';
import { formatHostPort } from '../common/address.js';
import type { Payload } from '../protocol/codec.js';
import { PROTOCOL_VERSION, type CommandName } from '../protocol/commands.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, setFrameReqId, type Frame } from '../protocol/frame.js';
import { FrameReader } from '../protocol/frame-reader.js';
import { decodeFrame, encodeRequest, errorFromPayload } from '../protocol/messages.js';
import { dial, type ConnectOptions } from './dial.js';

export type { ConnectOptions } from './dial.js';

export const CLIENT_NAME = 'chat/0.1';

export interface ConnectionEvents {
  MESSAGE: [payload: Payload];
  PRESENCE: [payload: Payload];
  GROUP_EVENT: [payload: Payload];
  FILE_EVENT: [payload: Payload];
  GOODBYE: [payload: Payload];
  close: [err?: ChatError];
}

interface Pending {
  name: CommandName;
  resolve: (payload: Payload) => void;
  reject: (err: Error) => void;
}

/** Where frames read by dial's onread go, once the ChatConnection exists. */
interface FrameSink {
  onFrames?: (frames: Frame[]) => void;
  onBadFrame?: (err: ChatError) => void;
}

/** Server frames may be bigger than what the server accepts from us (listings). */
const INBOUND_MAX_FRAME = 16 * DEFAULT_MAX_FRAME;
const SURFACED_PUSHES = new Set<string>(['MESSAGE', 'PRESENCE', 'GROUP_EVENT', 'FILE_EVENT', 'GOODBYE']);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How long a server may take to answer HELLO before the connection counts as lost. */
export const HELLO_TIMEOUT_MS = 10_000;

export class ChatConnection extends EventEmitter<ConnectionEvents> {
  /** The server's HELLO reply: version, server, role, registration, maxFrame, maxText, pingMs. */
  hello: Payload = {};
  readonly address: string;
  private readonly decoder = new FrameDecoder(INBOUND_MAX_FRAME);
  private readonly pending = new Map<number, Pending>();
  private nextReqId = 1;
  private ending = false;
  private closed = false;
  /** Why the server is closing on us (connection-level ERROR or GOODBYE), if it said. */
  private serverReason: ChatError | undefined;

  /**
   * `reader`: the FrameReader the socket reads into (plain TCP, dial's onread), whose
   * frames reach this connection through `sink`; without one (TLS) 'data' chunks go
   * through a FrameDecoder.
   */
  private constructor(private readonly socket: net.Socket, address: string, sink?: FrameSink) {
    super();
    this.address = address;
    socket.setNoDelay(true);
    if (sink) {
      sink.onFrames = (frames) => this.onFrames(frames);
      sink.onBadFrame = (err) => this.onBadFrame(err);
    }
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => { /* 'close' follows and reports the loss */ });
    socket.on('close', () => this.onClose());
  }

  /** Connects, retrying briefly, and performs HELLO. */
  static async connect(opts: ConnectOptions): Promise<ChatConnection> {
    const address = formatHostPort(opts);
    // Plain TCP reads straight into the FrameReader's buffers (no 'data' chunks to
    // reassemble); nothing arrives before HELLO is sent, so `sink` is set in time.
    const reader = opts.tls ? undefined : new FrameReader(INBOUND_MAX_FRAME);
    const sink: FrameSink = {};
    const socket = await dial(opts, reader && {
      buffer: () => reader.nextBuffer(),
      callback: (n: number) => {
        let frames: Frame[];
        try {
          frames = reader.filled(n);
        } catch (err) {
          sink.onBadFrame?.(err as ChatError);
          return false;
        }
        if (frames.length > 0) sink.onFrames?.(frames);
        return true;
      },
    });
    const conn = new ChatConnection(socket, address, reader && sink);
    // A peer that accepts TCP but never answers (a stopped process, the wrong service)
    // must not hang a script: HELLO has a deadline of its own.
    let silent = false;
    const helloMs = opts.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    const onSilence = (): void => {
      silent = true;
      conn.lose(`no answer to HELLO in ${helloMs / 1000} s (is this a chat-server? check --server / CHAT_SERVER)`);
    };
    socket.setTimeout(helloMs, onSilence);
    try {
      conn.hello = await conn.request('HELLO', { version: PROTOCOL_VERSION, client: CLIENT_NAME });
    } catch (err) {
      conn.socket.destroy();
      if (!opts.tls && !silent && (err as ChatError).code === 'CHAT_ERR_NETWORK') {
        throw new ChatError('CHAT_ERR_NETWORK',
          `server at ${address} closed the connection before answering HELLO (if it uses TLS, pass --tls / CHAT_TLS=1)`, { cause: err });
      }
      throw err;
    }
    socket.setTimeout(0);
    socket.off('timeout', onSilence); // setTimeout(0) alone leaves the listener behind
    const pingMs = Number(conn.hello.pingMs) || 0;
    if (opts.watchdog && pingMs > 0) {
      socket.setTimeout(3 * pingMs, () => conn.lose(`no word from the server in ${Math.round((3 * pingMs) / 1000)} s`));
    }
    return conn;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one request; resolves with its reply payload (see the class contract). */
  request(name: CommandName, payload: Payload = {}): Promise<Payload> {
    let frame: Buffer;
    try {
      frame = encodeRequest(name, 0, payload);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.requestFrame(name, frame);
  }

  /**
   * request() of a frame already encoded (encodeRequestTail: a chunk read straight
   * into it); its reqId is set here. The frame must not be changed afterwards.
   */
  requestFrame(name: CommandName, frame: Buffer): Promise<Payload> {
    if (this.closed || this.socket.destroyed) return Promise.reject(this.lostError());
    const reqId = this.nextReqId;
    this.nextReqId = reqId >= 0xffffffff ? 1 : reqId + 1;
    setFrameReqId(frame, reqId);
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { name, resolve, reject });
      this.socket.write(frame);
    });
  }

  /**
   * Clean goodbye: BYE, wait (at most timeoutMs) for its reply, then end the socket
   * and wait for it to close. Safe to call more than once.
   */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.closed) return;
    if (!this.ending) {
      const bye = this.request('BYE').catch(() => undefined);
      this.ending = true;
      await Promise.race([bye, sleep(timeoutMs)]);
    }
    if (this.closed) return;
    const done = new Promise<void>((r) => this.socket.once('close', () => r()));
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
    await done;
    clearTimeout(timer);
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.onBadFrame(err as ChatError);
      return;
    }
    this.onFrames(frames);
  }

  private onBadFrame(err: ChatError): void {
    this.lose(`the server sent a bad frame: ${err.message}`, err);
  }

  private onFrames(frames: Frame[]): void {
    for (const frame of frames) {
      let msg;
      try {
        msg = decodeFrame(frame);
      } catch (err) {
        // A frame we cannot read: if it answers a request, that request fails; an
        // unknown push (newer server) is skipped - the stream itself is still in step.
        const p = this.pending.get(frame.reqId);
        if (p && frame.reqId !== 0) {
          this.pending.delete(frame.reqId);
          p.reject(err as Error);
        }
        continue;
      }
      if (msg.kind === 'push') this.onPush(msg.name, msg.payload);
      else if (msg.reqId === 0 && msg.kind === 'error') this.serverReason = errorFromPayload(msg.payload);
      else this.settle(msg.reqId, msg.kind, msg.name, msg.payload);
    }
  }

  private settle(reqId: number, kind: string, name: CommandName, payload: Payload): void {
    const p = this.pending.get(reqId);
    if (!p) return; // a reply to nothing we asked: ignore rather than guess
    this.pending.delete(reqId);
    if (kind === 'error') p.reject(errorFromPayload(payload));
    else if (kind === 'reply' && name === p.name) p.resolve(payload);
    else p.reject(new ChatError('CHAT_ERR_PROTOCOL', `server answered ${p.name} with ${name} (${kind})`));
  }

  private onPush(name: CommandName, payload: Payload): void {
    if (name === 'PING_PUSH') {
      this.request('PING').catch(() => undefined);
      return;
    }
    if (name === 'GOODBYE') {
      this.serverReason = new ChatError('CHAT_ERR_NETWORK', `server at ${this.address} closed the connection: ${String(payload.reason)}`);
    }
    if (SURFACED_PUSHES.has(name)) this.emit(name as 'MESSAGE', payload);
  }

  /** Tears the connection down as lost; 'close' reports `err` or a network error. */
  private lose(why: string, err?: ChatError): void {
    this.serverReason ??= err ?? new ChatError('CHAT_ERR_NETWORK', `connection to ${this.address} lost: ${why}`);
    this.socket.destroy();
  }

  private lostError(): ChatError {
    return this.serverReason ?? new ChatError('CHAT_ERR_NETWORK',
      this.ending ? `connection to ${this.address} closed` : `connection to ${this.address} lost`);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = this.lostError();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.emit('close', this.ending ? undefined : err);
  }
}
