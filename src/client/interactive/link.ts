/**
 * The interactive client's link to the server (SPEC §5: "The connection is kept alive;
 * if it drops, the client reconnects with backoff and shows what it missed").
 *
 * Contract:
 *  - open() connects and logs in as the one-shot commands do (auth.ts: flags, env,
 *    stored session, else a password prompt); listen() then turns LISTEN on, which
 *    first pushes what was stored since the server accepted the connection;
 *  - every stored message addressed to the user reaches handlers.message exactly
 *    once, in seq order (SeqSink drops a seq at or below the last one handled);
 *  - keepalive: ChatConnection answers the server's PING pushes, and its watchdog
 *    counts a server silent for 3 ping intervals as lost;
 *  - when the connection drops (not by close()), handlers.lost says so and the link
 *    reconnects for as long as it takes, with exponential backoff and jitter
 *    (tail.ts reconnectDelay: 250 ms doubling to 5 s, 50-100 %), logging in again
 *    as the first login did (auth.ts resume), then LISTEN from the last seq handled
 *    (FEED first when that is too much: tail.ts subscribe). What was stored while
 *    away is therefore handed to handlers.message, once, before
 *    handlers.reconnected(count). A server whose journal was replaced, or whose head
 *    is below what was seen (data restored from an older copy), is followed from its
 *    new head, with a notice;
 *  - send() stores a message with an idempotency key: one that cannot go out now
 *    (not connected, or the connection died before the reply) waits and is sent again
 *    with the same key after the reconnect, in the order typed, so it is stored once;
 *  - drain() waits (bounded) for the sends made so far; close() stops reconnecting
 *    and says BYE (others see the user leave); sends still waiting reject with
 *    CHAT_ERR_NETWORK.
 */
import { randomBytes } from 'node:crypto';
import { ChatError, isChatError } from '../../common/errors.js';
import type { Payload } from '../../protocol/codec.js';
import { MESSAGE_KIND, type CommandName } from '../../protocol/commands.js';
import { logIn, resume, type Session } from '../auth.js';
import type { ChatConnection } from '../connection.js';
import { reconnectDelay, subscribe, type MessageSink } from '../cli/handlers/tail.js';
import type { Settings } from '../cli/options.js';
import { connect, storeFor } from '../cli/session.js';

export interface LinkHandlers {
  message(m: Payload): void;
  presence(p: Payload): void;
  groupEvent(e: Payload): void;
  fileEvent(e: Payload): void;
  /** The server said why it is closing the connection (GOODBYE). */
  goodbye(reason: string): void;
  /** The connection dropped; the first reconnect comes in `delayMs`. */
  lost(why: string, delayMs: number): void;
  /** A reconnect failed; the next comes in `delayMs`. */
  retrying(why: string, delayMs: number): void;
  /** Back, after handing over the `missed` messages stored while away. */
  reconnected(missed: number): void;
  notice(text: string): void;
  /** The link cannot go on (the session ended while away, a bug); it has stopped. */
  fatal(err: unknown): void;
}

/** Hands each message on once, in seq order (tail.ts MessageSink). */
export class SeqSink implements MessageSink {
  lastSeq = 0;
  /** Messages handed on so far. */
  shown = 0;
  constructor(private readonly show: (m: Payload) => void) {}

  print(m: Payload): void {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    this.shown++;
    this.show(m);
  }

  advanceTo(seq: number): void {
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  /** The server's seqs went back (see reconcile): positions after `seq` mean nothing. */
  rewind(seq: number): void {
    this.lastSeq = seq;
  }
}

interface Outgoing {
  payload: Payload;
  resolve: (reply: Payload) => void;
  reject: (err: unknown) => void;
}

function isNetworkError(err: unknown): boolean {
  return isChatError(err) && err.exitCode === 7;
}

/** Which journal the server serves and its head (HELLO reply). */
function pointOf(conn: ChatConnection): { journalId: string; headSeq: number } {
  return { journalId: String(conn.hello.journalId), headSeq: Number(conn.hello.headSeq) };
}

export class Link {
  private conn: ChatConnection | undefined;
  private point: { journalId: string; headSeq: number };
  private readonly sink: SeqSink;
  private readonly outbox: Outgoing[] = [];
  private readonly sending = new Set<Promise<Payload>>();
  private flushing = false;
  private reconnecting = false;
  private stopping = false;
  private wake: (() => void) | undefined;

  private constructor(private readonly settings: Settings, public session: Session,
    conn: ChatConnection, private readonly h: LinkHandlers) {
    this.point = pointOf(conn);
    this.sink = new SeqSink((m) => h.message(m));
    this.attach(conn);
  }

  /** Connects and logs in (may prompt for a password on the terminal). */
  static async open(settings: Settings, handlers: LinkHandlers): Promise<Link> {
    const conn = await connect(settings, true);
    try {
      const session = await logIn(conn, settings.credentials, storeFor(settings));
      return new Link(settings, session, conn, handlers);
    } catch (err) {
      await conn.close();
      throw err;
    }
  }

  get user(): string {
    return this.session.user;
  }

  get connected(): boolean {
    return this.conn !== undefined && !this.reconnecting;
  }

  /** Turns LISTEN on (see the module contract); messages flow from here on. */
  async listen(): Promise<void> {
    const conn = this.conn;
    if (!conn) return; // lost already: the reconnect listens
    try {
      await subscribe(conn, this.sink, undefined, false);
    } catch (err) {
      if (!isNetworkError(err)) throw err; // lost meanwhile: the reconnect takes over
    }
  }

  /** One request on the current connection; CHAT_ERR_NETWORK while there is none. */
  request(name: CommandName, payload: Payload = {}): Promise<Payload> {
    return this.connection().request(name, payload);
  }

  /** The current connection; CHAT_ERR_NETWORK while reconnecting. */
  connection(): ChatConnection {
    if (!this.conn || this.reconnecting) {
      throw new ChatError('CHAT_ERR_NETWORK', `not connected to ${this.settings.server} (reconnecting; try again in a moment)`);
    }
    return this.conn;
  }

  /** SEND with an idempotency key; resolves once stored (see the module contract). */
  send(payload: Payload): Promise<Payload> {
    const sent = new Promise<Payload>((resolve, reject) => {
      this.outbox.push({ payload: { ...payload, idKey: randomBytes(12).toString('base64url') }, resolve, reject });
      void this.flush();
    });
    this.sending.add(sent);
    const forget = () => { this.sending.delete(sent); };
    sent.then(forget, forget);
    return sent;
  }

  /**
   * Resolves once every send made so far has been answered, or at once when not
   * connected (they would wait for a reconnect), or after `timeoutMs`.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.connected || this.sending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.sending]),
      new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); }),
    ]);
    clearTimeout(timer);
  }

  /** Leaves: no more reconnects, BYE to the server. */
  async close(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    for (const o of this.outbox.splice(0)) o.reject(new ChatError('CHAT_ERR_NETWORK', 'not sent: leaving'));
    const conn = this.conn;
    this.conn = undefined;
    if (conn) await conn.close();
  }

  /** The sends waiting for the connection, as typed ("/msg bob hi" for a direct message). */
  get waiting(): string[] {
    return this.outbox.map(({ payload: p }) => (p.kind === MESSAGE_KIND.DIRECT ? `/msg ${p.target} ${p.text}`
      : p.kind === MESSAGE_KIND.ALL ? `/all ${p.text}` : String(p.text)));
  }

  private attach(conn: ChatConnection): void {
    this.conn = conn;
    conn.on('MESSAGE', (p) => this.sink.print(p.message));
    conn.on('PRESENCE', (p) => this.h.presence(p));
    conn.on('GROUP_EVENT', (p) => this.h.groupEvent(p));
    conn.on('FILE_EVENT', (p) => this.h.fileEvent(p));
    conn.on('GOODBYE', (p) => this.h.goodbye(String(p.reason)));
    conn.once('close', (err) => this.onClose(conn, err));
  }

  private onClose(conn: ChatConnection, err: ChatError | undefined): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    if (this.stopping || this.reconnecting) return;
    void this.reconnect(err?.message ?? `connection to ${this.settings.server} closed`);
  }

  /** Sends what waits in the outbox, in order, while connected. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.outbox.length > 0 && this.connected) {
        const o = this.outbox[0];
        try {
          const reply = await this.conn!.request('SEND', o.payload);
          this.outbox.shift();
          o.resolve(reply);
        } catch (err) {
          if (isNetworkError(err)) break; // stays first in line for the reconnect
          this.outbox.shift();
          o.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
    });
  }

  /** After a reconnect: where to LISTEN from, once the server is known to serve the same seqs. */
  private reconcile(conn: ChatConnection): number {
    const now = pointOf(conn);
    if (now.journalId !== this.point.journalId || now.headSeq < this.sink.lastSeq) {
      this.h.notice(now.journalId !== this.point.journalId
        ? `${this.settings.server} now serves another journal (its data directory was replaced): showing messages from #${now.headSeq} on`
        : `the newest message of ${this.settings.server} is #${now.headSeq}, before #${this.sink.lastSeq} already seen (data restored from an older copy?): showing messages from #${now.headSeq} on`);
      this.sink.rewind(now.headSeq);
      this.point = now;
      return now.headSeq;
    }
    // 0: lost before the first LISTEN answered; the head at start is where "new" began.
    return this.sink.lastSeq || this.point.headSeq;
  }

  private async reconnect(firstWhy: string): Promise<void> {
    this.reconnecting = true;
    let why = firstWhy;
    try {
      for (let attempt = 0; !this.stopping; attempt++) {
        const delay = reconnectDelay(attempt);
        (attempt === 0 ? this.h.lost : this.h.retrying).call(this.h, why, delay);
        await this.sleep(delay);
        if (this.stopping) return;
        let conn: ChatConnection | undefined;
        try {
          conn = await connect(this.settings, true);
          if (this.stopping) { await conn.close(); return; }
          this.session = await resume(conn, this.session);
          const from = this.reconcile(conn);
          this.attach(conn);
          const before = this.sink.shown;
          await subscribe(conn, this.sink, from, false);
          if (this.conn !== conn) throw new ChatError('CHAT_ERR_NETWORK', `connection to ${this.settings.server} lost again`);
          if (this.stopping) return;
          this.reconnecting = false;
          this.h.reconnected(this.sink.shown - before);
          void this.flush();
          return;
        } catch (err) {
          if (conn && this.conn === conn) this.conn = undefined;
          if (conn && !conn.isClosed) await conn.close();
          if (this.stopping) return;
          if (isChatError(err, 'CHAT_ERR_AUTH_FAILED') || !isChatError(err)) {
            this.stopping = true;
            this.h.fatal(isChatError(err, 'CHAT_ERR_AUTH_FAILED')
              ? new ChatError('CHAT_ERR_AUTH_FAILED', this.session.ephemeral
                ? `${err.message} (logging in again after a reconnect; was the password changed?)`
                : `the session of ${this.session.user} ended while away: run "chat login"`, { cause: err })
              : err);
            return;
          }
          why = err.message;
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }
}
