/**
 * The primary server: listener, connection registry, per-IP limit, keepalive sweep,
 * and the orderly shutdown of SPEC §3.
 *
 * Contracts:
 *   - once listening it logs, at info, msg "listening" with `address` = "HOST:PORT"
 *     of the port actually bound (so --listen 127.0.0.1:0 works); no info line about
 *     the network comes before it;
 *   - a connection beyond limits.maxConnsPerIp from one address gets ERROR
 *     CHAT_ERR_BUSY (reqId 0) and is closed; with TLS it is destroyed at once (no
 *     frame can be sent before the handshake). Connections count from TCP accept to
 *     the socket's close, handshaking or not, so TLS handshakes cannot get round it;
 *   - a connection not logged in limits.authTimeoutMs after connecting (or after
 *     LOGOUT) gets ERROR CHAT_ERR_IDLE_TIMEOUT and is closed;
 *   - every limits.pingIntervalMs a PING_PUSH goes to each connection past HELLO; a
 *     connection silent for over twice the interval gets ERROR CHAT_ERR_IDLE_TIMEOUT
 *     and is closed as vanished (within 2.5 intervals: the sweep runs every half);
 *   - close(): stop accepting, stop reading requests, let requests in progress finish
 *     and reply, GOODBYE {reason: 'server shutting down'} to everyone, end the
 *     sockets, make the journal durable and close it.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { formatHostPort, type HostPort } from '../common/address.js';
import { encodeError, encodePush } from '../protocol/messages.js';
import { LoginLimiter, SCRYPT_DEFAULTS } from './auth.js';
import { Connection, type ConnectionHost } from './connection.js';
import type { BlobStore } from '../drive/blob-store.js';
import type { Engine } from './engine.js';
import { Fanout } from './fanout.js';
import { createDispatcher, type Dispatcher, type ServerCtx } from './handlers/index.js';
import type { Limits } from './limits.js';
import { Uploads } from './uploads.js';

export interface ServerConfig {
  engine: Engine;
  /** For the log line only. */
  dataDir?: string;
  limits: Limits;
  registration: boolean;
  log: Logger;
  tls?: { cert: string | Buffer; key: string | Buffer };
  scrypt?: { N: number; r: number; p: number };
  /** The drive's blob store, opened and swept after the engine; closed by close(). */
  blobs: BlobStore;
}

/** Raised when the listening socket cannot be bound (address in use, no permission). */
export class ListenError extends Error {
  constructor(readonly address: string, readonly code: string | undefined, cause: Error) {
    const why = code === 'EADDRINUSE' ? 'address in use' : code === 'EACCES' ? 'permission denied' : cause.message;
    super(`cannot listen on ${address}: ${why}`, { cause });
    this.name = 'ListenError';
  }
}

const SHUTDOWN_GRACE_MS = 5000;

/** The address a TCP socket was counted under in ChatServer.perIp (absent: not counted). */
const COUNTED_IP = Symbol('countedIp');
type CountedSocket = net.Socket & { [COUNTED_IP]?: string };
const ignore = (): void => undefined;

export class ChatServer implements ConnectionHost {
  readonly limits: Limits;
  readonly fanout: Fanout;
  readonly ctx: ServerCtx;
  private readonly dispatcher: Dispatcher;
  private readonly conns = new Set<Connection>();
  private readonly perIp = new Map<string, number>();
  private readonly listener: net.Server;
  private readonly log: Logger;
  private nextId = 1;
  private pingTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** A TCP socket closed: release its count in perIp (one function for all sockets). */
  private readonly onTcpClose: (this: CountedSocket) => void;
  /**
   * With TLS, the TCP sockets admitted and not yet closed: a socket still in its
   * handshake has no Connection, so shutdown ends it from here.
   */
  private readonly tcpSockets: Set<net.Socket> | undefined;
  address: HostPort = { host: '', port: 0 };

  constructor(private readonly cfg: ServerConfig) {
    this.limits = cfg.limits;
    this.log = cfg.log;
    this.fanout = new Fanout(cfg.engine.state);
    const limiter = new LoginLimiter(cfg.limits.loginAttempts, cfg.limits.loginWindowMs);
    this.ctx = {
      engine: cfg.engine, limits: cfg.limits, registration: cfg.registration, fanout: this.fanout,
      limiter, log: cfg.log, scrypt: cfg.scrypt ?? SCRYPT_DEFAULTS,
      blobs: cfg.blobs, uploads: new Uploads(cfg.limits),
    };
    this.dispatcher = createDispatcher(this.ctx);
    this.tcpSockets = cfg.tls ? new Set() : undefined;
    this.listener = cfg.tls
      // The handshake gets the same deadline as logging in: a peer that opens TCP and
      // stays silent must not hold a socket for Node's default 120 s.
      ? tls.createServer({ cert: cfg.tls.cert, key: cfg.tls.key, handshakeTimeout: cfg.limits.authTimeoutMs },
        (s) => this.accept(s))
      : net.createServer();
    // Every TCP socket, TLS or plain, is admitted (or refused) here, before any handshake.
    const tlsOn = !!cfg.tls;
    this.listener.on('connection', (raw: net.Socket) => {
      if (this.admit(raw, tlsOn) && !tlsOn) this.accept(raw);
    });
    const perIp = this.perIp;
    const tcp = this.tcpSockets;
    // One listener for every socket (no closure per connection: SPEC §9 idle memory).
    this.onTcpClose = function (this: CountedSocket): void {
      tcp?.delete(this);
      const ip = this[COUNTED_IP];
      if (ip === undefined) return;
      this[COUNTED_IP] = undefined;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n > 0) perIp.set(ip, n);
      else perIp.delete(ip);
    };
    // Node leaves the socket open after a handshake error or timeout when a listener is
    // attached: close it here, or a silent peer holds it forever.
    this.listener.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      this.log.debug({ err: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }

  /** Binds and starts serving; rejects with ListenError. */
  async listen(where: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new ListenError(formatHostPort(where), err.code, err));
      this.listener.once('error', onError);
      this.listener.listen({ host: where.host, port: where.port }, () => {
        this.listener.off('error', onError);
        resolve();
      });
    });
    this.listener.on('error', (err) => this.log.error({ err }, 'listener error'));
    const bound = this.listener.address() as net.AddressInfo;
    this.address = { host: bound.address, port: bound.port };
    this.log.info({
      address: formatHostPort(this.address), tls: !!this.cfg.tls,
      registration: this.cfg.registration ? 'open' : 'closed', seq: this.cfg.engine.seq, dataDir: this.cfg.dataDir,
    }, 'listening');
    // One sweep for keepalive and login deadlines instead of timers per connection
    // (idle memory, SPEC §9); deadlines are met within a quarter of the auth timeout.
    const tick = Math.max(10, Math.floor(Math.min(this.limits.pingIntervalMs / 2, this.limits.authTimeoutMs / 4)));
    this.pingTimer = setInterval(() => this.sweep(), tick);
    this.pingTimer.unref();
    return this.address;
  }

  /**
   * Counts a new TCP socket against its address, or refuses it: true when admitted.
   * The count is released when the TCP socket closes, whatever happened above it.
   */
  private admit(raw: CountedSocket, tlsOn: boolean): boolean {
    raw.on('error', ignore); // Connection adds its own; this covers refused and handshaking sockets
    if (this.closing) {
      raw.destroy();
      return false;
    }
    const ip = raw.remoteAddress ?? 'unknown';
    const count = this.perIp.get(ip) ?? 0;
    if (count >= this.limits.maxConnsPerIp) {
      this.log.warn({ remote: ip, limit: this.limits.maxConnsPerIp, tls: tlsOn }, 'too many connections from one address; refused');
      if (tlsOn) {
        raw.destroy(); // nothing can be said before the handshake, and it is not worth one
      } else {
        raw.end(encodeError(0, 'CHAT_ERR_BUSY',
          `too many connections from ${ip} (limit ${this.limits.maxConnsPerIp}); close some and try again`));
        setTimeout(() => raw.destroy(), 2000).unref();
      }
      return false;
    }
    this.perIp.set(ip, count + 1);
    raw[COUNTED_IP] = ip;
    this.tcpSockets?.add(raw);
    raw.once('close', this.onTcpClose);
    return true;
  }

  private accept(socket: net.Socket): void {
    if (this.closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? 'unknown';
    const conn = new Connection(this.nextId++, socket, ip, this.log, this);
    conn.connectSeq = this.cfg.engine.durableHead; // LISTEN catches up from here (issue 3: never miss)
    this.conns.add(conn);
    if (this.log.isLevelEnabled('debug')) conn.log.debug('connected');
  }

  // ---- ConnectionHost ----------------------------------------------------------

  dispatch(conn: Connection, frame: Parameters<Dispatcher['dispatch']>[1]): Promise<void> | undefined {
    return this.dispatcher.dispatch(conn, frame);
  }

  isSerial(code: number): boolean {
    return this.dispatcher.isSerial(code);
  }

  /** Registered for delivery; the user counts as online once a connection listens (fanout.ts). */
  authenticated(conn: Connection): void {
    this.fanout.add(conn);
  }

  loggedOut(conn: Connection, user: string): void {
    this.fanout.remove(conn, user);
  }

  closed(conn: Connection): void {
    this.conns.delete(conn);
    this.ctx.uploads.connectionClosed(conn); // issue 4: a closed connection abandons its uploads
    if (conn.user !== undefined) this.loggedOut(conn, conn.user);
    if (this.log.isLevelEnabled('debug')) conn.log.debug({ reason: conn.closeReason, user: conn.user }, 'closed');
  }

  // ---- keepalive -----------------------------------------------------------------

  private readonly pingFrame = encodePush('PING_PUSH');

  private sweep(): void {
    const now = Date.now();
    const interval = this.limits.pingIntervalMs;
    for (const c of this.conns) {
      if (c.phase === 'closing') continue;
      if (c.authDeadline !== 0 && now >= c.authDeadline && c.phase !== 'authed') {
        c.authTimedOut();
        continue;
      }
      const silent = now - c.lastSeen;
      if (silent > 2 * interval) {
        c.log.info({ silentMs: silent }, 'no sign of life; closing as vanished');
        // A vanished peer will not send FIN: cut it after a short grace so its user goes
        // offline (and its groups are told) now, not after the usual close grace.
        c.fail('CHAT_ERR_IDLE_TIMEOUT', `nothing heard from the client for ${Math.round(silent / 1000)} s; closing`,
          'ping timeout', 250);
      } else if (c.phase !== 'fresh' && now - c.lastPing >= interval) {
        // Every pingMs (PROTOCOL.md §6), busy or not: clients use it to see the server lives.
        c.lastPing = now;
        c.send(this.pingFrame);
      }
    }
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  // ---- shutdown ------------------------------------------------------------------

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.log.info({ connections: this.conns.size }, 'shutting down');
    clearInterval(this.pingTimer);
    const stopped = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const conns = [...this.conns];
    for (const c of conns) c.stopReading();
    await withTimeout(Promise.all(conns.map((c) => c.whenIdle(0))), SHUTDOWN_GRACE_MS);
    await this.ctx.engine.whenDurable();
    for (const c of conns) c.goodbye('server shutting down');
    const allClosed = Promise.all(conns.map((c) => new Promise<void>((resolve) => {
      if (c.isDead) resolve();
      else c.socket.once('close', () => resolve());
    })));
    if (!(await withTimeout(allClosed, SHUTDOWN_GRACE_MS))) {
      for (const c of this.conns) c.destroy('shutdown: peer did not close');
    }
    // Sockets still in their TLS handshake (every accepted one is closed by now).
    for (const s of this.tcpSockets ?? []) s.destroy();
    await stopped;
    await this.ctx.uploads.abortAll();
    await this.ctx.blobs.close();
    await this.ctx.engine.close();
    this.log.info({ seq: this.ctx.engine.seq }, 'stopped; journal closed');
  }
}

/** True when `p` settled within `ms`. */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
