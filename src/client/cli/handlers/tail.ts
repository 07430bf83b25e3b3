/**
 * `chat tail [-g GROUP]... [--with USER] [--resume] [--json]` (SPEC §4): print messages
 * as they arrive until SIGINT/SIGTERM, then leave cleanly and exit 0.
 *
 * Contract:
 *  - filters: -g (repeatable) keeps those groups, --with USER keeps the direct
 *    messages between the caller and USER; given together, either kind passes; with
 *    no filter everything the server pushes passes (groups, direct, broadcasts);
 *  - every -g group must exist and have the caller as a member (4 / 5 at once);
 *  - nothing stored after the command connected is missed: LISTEN without afterSeq
 *    makes the server push what was stored since it accepted the connection, and a
 *    seq at or below the last one handled is dropped (the server may push a message
 *    twice around LISTEN, never out of seq order on one connection);
 *  - --resume: the position (last seq handled) is kept per server, user, state dir
 *    ("device") and filter (cursor-store.ts). A run first reads with FEED everything
 *    stored after the saved position and prints what passes the filter, then LISTENs
 *    from the last seq read, so across an interrupted run and the next each message is
 *    printed exactly once. The position is saved at most every 100 ms while messages
 *    come, and always when the command ends (SIGINT, SIGTERM, an error). The first run
 *    (no saved position) prints nothing old: it starts at the server's head and says
 *    so on stderr. A saved position beyond the server's head (its data directory was
 *    restored from an older copy, same journal id) would silently drop every new
 *    message up to it: the tail says so and starts at the head instead;
 *  - a failed first connect exits 7; once running, a lost connection or a server
 *    GOODBYE is reported on stderr and followed by reconnects with exponential
 *    backoff and jitter (capped at MAX_DELAY_MS), logging in again as the first login
 *    did (its session token, or for a password login its password, held in memory
 *    only, ephemeral again), and LISTEN from the last seq handled (or, when the
 *    first connection was lost before LISTEN answered, from the head HELLO gave at
 *    start, never from 0, which would print the user's whole history), so nothing
 *    stored while it was away is lost (beyond what LISTEN catches up, 10000 messages or 4 MiB, it pages with FEED).
 *    After a reconnect it checks the new HELLO reply: another journal id (the data directory
 *    was replaced) or a head below the last seq handled (restored from an older
 *    copy) makes old seqs meaningless, so it says so and follows from the new head
 *    (with --resume, under the new journal's cursor).
 */
import { ChatError, isChatError } from '../../../common/errors.js';
import { checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { MESSAGE_KIND } from '../../../protocol/commands.js';
import { logIn, resume, type Session } from '../../auth.js';
import type { ChatConnection } from '../../connection.js';
import { formatMessage, messageJson, stampTime } from '../../format.js';
import { requireMember } from '../hints.js';
import { resolveSettings, single, type CommonArgs, type Settings } from '../options.js';
import type { Output } from '../output.js';
import { connect, outputFor, storeFor } from '../session.js';
import { CursorSaver, CursorStore, stateDir, type CursorKey } from '../../cursor-store.js';

export interface TailArgs extends CommonArgs {
  group?: string | string[];
  with?: string | string[];
  resume?: boolean;
}

export interface TailFilter {
  groups: ReadonlySet<string>;
  with?: string;
}

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

export function tailFilter(argv: TailArgs): TailFilter {
  const groups = new Set(([] as string[]).concat(argv.group ?? []).map((g) => checkName('group', String(g))));
  const withUser = single(argv.with, '--with', 'tail');
  return { groups, with: withUser === undefined ? undefined : checkName('user', withUser) };
}

/** Whether message `m` passes filter `f` for the user `me` (see the module contract). */
export function matchesTail(f: TailFilter, m: Payload, me: string): boolean {
  if (f.groups.size === 0 && f.with === undefined) return true;
  if (m.kind === MESSAGE_KIND.GROUP && f.groups.has(m.group)) return true;
  if (m.kind === MESSAGE_KIND.DIRECT && f.with !== undefined) {
    return (m.from === f.with && m.to === me) || (m.from === me && m.to === f.with);
  }
  return false;
}

/** Delay before reconnect number `attempt` (0-based): 250 ms doubling, cap 5 s, 50-100 % jitter. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Where fetchMissed/subscribe hand messages: Printer here, the interactive client's sink too. */
export interface MessageSink {
  /** A message, in seq order; one at or below a seq already handled is to be dropped. */
  print(m: Payload): void;
  /** Everything up to `seq` has been handed over. */
  advanceTo(seq: number): void;
}

/**
 * Reads with FEED everything addressed to the user stored after `afterSeq` up to the
 * durable head, oldest first, handing each message to `printer`; returns the seq up to
 * which everything has been read (the head the first page reported).
 */
export async function fetchMissed(conn: ChatConnection, printer: MessageSink, afterSeq: number): Promise<number> {
  let after = afterSeq;
  let upToSeq = 0;
  for (;;) {
    const r = await conn.request('FEED', { afterSeq: after, upToSeq });
    for (const m of r.messages as Payload[]) printer.print(m);
    if (r.messages.length > 0) after = (r.messages[r.messages.length - 1] as Payload).seq;
    upToSeq = r.upToSeq;
    if (!r.more) {
      printer.advanceTo(upToSeq);
      return Math.max(after, upToSeq);
    }
  }
}

/**
 * Turns LISTEN on. `from` undefined: the server catches up from when it accepted the
 * connection; a number: from that seq (LISTEN afterSeq), reading with FEED first when
 * the server says it is too much for LISTEN (TOO_LARGE) or when `feedFirst`.
 */
export async function subscribe(conn: ChatConnection, printer: MessageSink, from: number | undefined, feedFirst: boolean): Promise<void> {
  if (from !== undefined && feedFirst) from = await fetchMissed(conn, printer, from);
  for (;;) {
    try {
      const r = await conn.request('LISTEN', from === undefined ? { on: true } : { on: true, afterSeq: from });
      // Every message up to headSeq was pushed before this reply.
      printer.advanceTo(r.headSeq);
      return;
    } catch (err) {
      if (from === undefined || !isChatError(err, 'CHAT_ERR_TOO_LARGE')) throw err;
      from = await fetchMissed(conn, printer, from);
    }
  }
}

function isNetworkError(err: unknown): err is ChatError {
  return isChatError(err) && err.exitCode === 7;
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function stopSignal(onForce: () => void): { stopped: Promise<'stop'>; dispose(): void } {
  let fire!: () => void;
  let fired = false;
  const stopped = new Promise<'stop'>((r) => { fire = () => r('stop'); });
  const onSignal = () => {
    if (fired) {
      onForce();
      process.exit(0);
    }
    fired = true;
    fire();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stopped, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

/** Prints each message once, in seq order; `lastSeq` is the highest seq handled. */
export class Printer implements MessageSink {
  constructor(private readonly out: Output, private readonly filter: TailFilter, private readonly me: string,
    public lastSeq = 0, private readonly onAdvance: (seq: number) => void = () => undefined) {}

  print(m: Payload): void {
    if (m.seq <= this.lastSeq) return; // seen already (a LISTEN catch-up repeats a few)
    if (matchesTail(this.filter, m, this.me)) {
      this.out.line(formatMessage(m, stampTime)); // a resumed tail prints old messages too
      this.out.object(messageJson(m));
    }
    this.advanceTo(m.seq);
  }

  /** Forgets positions after `seq`: the server's seqs went back (see reconcile in tail()). */
  rewind(seq: number): void {
    this.lastSeq = seq;
  }

  /** Everything up to `seq` has been handled (read, printed or filtered out). */
  advanceTo(seq: number): void {
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.onAdvance(seq);
  }
}

/** LISTEN on `conn` (see subscribe), print until it closes or we are told to stop. */
async function listen(conn: ChatConnection, printer: Printer, filter: TailFilter, out: Output,
  stopped: Promise<'stop'>, from: number | undefined, feedFirst: boolean): Promise<'stop' | ChatError> {
  const ended = new Promise<ChatError>((resolve) => {
    conn.on('MESSAGE', (p) => printer.print(p.message));
    conn.on('GOODBYE', (p) => out.note(`the server says goodbye: ${String(p.reason)}`));
    conn.once('close', (err) => resolve(err ?? new ChatError('CHAT_ERR_NETWORK', `connection to ${conn.address} closed`)));
  });
  for (const group of filter.groups) await requireMember(conn, group);
  await subscribe(conn, printer, from, feedFirst);
  // Printed once the server will deliver to us, so scripts (and tests) can sequence on it.
  out.note('listening for messages (Ctrl-C to stop)');
  return Promise.race([ended, stopped]);
}

/** Reconnects until it works (→ connection) or we are told to stop (→ undefined). */
async function reconnect(settings: Settings, session: Session, out: Output,
  stopped: Promise<'stop'>): Promise<ChatConnection | undefined> {
  for (let attempt = 0; ; attempt++) {
    const delay = reconnectDelay(attempt);
    out.note(`reconnecting in ${(delay / 1000).toFixed(1)} s`);
    const sleep = new Promise<'slept'>((r) => setTimeout(() => r('slept'), delay));
    if (await Promise.race([sleep, stopped]) === 'stop') return undefined;
    const attemptConn = connect(settings, true).then(async (conn) => {
      try {
        await resume(conn, session);
        return conn;
      } catch (err) {
        await conn.close();
        throw err;
      }
    });
    attemptConn.catch(() => undefined);
    const won = await Promise.race([attemptConn, stopped]).catch((err: unknown) => err);
    if (won === 'stop') {
      attemptConn.then((c) => c.close(), () => undefined);
      return undefined;
    }
    if (!(won instanceof Error)) {
      out.note('reconnected');
      return won as ChatConnection;
    }
    if (isChatError(won, 'CHAT_ERR_AUTH_FAILED')) {
      throw new ChatError('CHAT_ERR_AUTH_FAILED', session.ephemeral
        ? `${won.message} (logging in again after a reconnect; was the password changed?)`
        : `the session of ${session.user} ended while away: run "chat login"`, { cause: won });
    }
    if (!isNetworkError(won)) throw won;
    out.note(won.message);
  }
}

/** What tail needs from the HELLO reply: which journal the server serves and its durable head. */
interface ServerPoint { journalId: string; headSeq: number }

function serverPoint(conn: ChatConnection): ServerPoint {
  return { journalId: String(conn.hello.journalId), headSeq: Number(conn.hello.headSeq) };
}

export async function tail(argv: TailArgs): Promise<void> {
  const settings = resolveSettings(argv, 'tail');
  const filter = tailFilter(argv);
  const out = outputFor(settings);
  let saver: CursorSaver | undefined;
  const flush = () => {
    try {
      saver?.flush();
    } catch (err) {
      out.note((err as Error).message);
    }
  };
  const signal = stopSignal(flush);
  let conn: ChatConnection | undefined = await connect(settings, true);
  let session: Session | undefined;
  try {
    session = await logIn(conn, settings.credentials, storeFor(settings));
    const user = session.user;
    // The journal id keys the cursor: seqs of a replaced data directory mean nothing here.
    let point = serverPoint(conn);
    const store = argv.resume ? new CursorStore(stateDir(settings.env)) : undefined;
    const keyFor = (journal: string): CursorKey => ({ server: settings.server, journal, user, groups: [...filter.groups], with: filter.with });
    let from: number | undefined;
    if (store) {
      from = store.load(keyFor(point.journalId));
      if (from === undefined) {
        out.note(`no saved position in ${store.dir} for ${user}@${settings.server} (journal ${point.journalId.slice(0, 8)}) and this filter: starting at the newest message (the next --resume prints what came meanwhile)`);
      } else if (from > point.headSeq) {
        out.note(`the saved position #${from} is beyond the newest message of ${settings.server}, #${point.headSeq} (was its data directory restored from an older copy?): starting at #${point.headSeq}`);
        from = point.headSeq;
      }
      saver = new CursorSaver(store, keyFor(point.journalId), from ?? 0, 100, (err) => out.note(err.message));
      if (from !== undefined) saver.reset(from); // a clamped position replaces the saved one
    }
    const printer = new Printer(out, filter, user, from ?? 0, (seq) => saver?.advance(seq));
    /** After a reconnect: the position to LISTEN from, after checking the server still serves the same seqs. */
    const reconcile = async (c: ChatConnection): Promise<number> => {
      const now = serverPoint(c);
      if (now.journalId !== point.journalId || now.headSeq < printer.lastSeq) {
        out.note(now.journalId !== point.journalId
          ? `${settings.server} now serves another journal (${now.journalId.slice(0, 8)}, was ${point.journalId.slice(0, 8)}: its data directory was replaced): following from its newest message #${now.headSeq}`
          : `the newest message of ${settings.server} is #${now.headSeq}, before #${printer.lastSeq} already seen (was its data directory restored from an older copy?): following from #${now.headSeq}`);
        flush();
        printer.rewind(now.headSeq);
        if (store) saver = new CursorSaver(store, keyFor(now.journalId), now.headSeq, 100, (err) => out.note(err.message));
        saver?.reset(now.headSeq);
        point = now;
        return now.headSeq;
      }
      // 0: the first connection was lost before LISTEN answered; the head at start is
      // where "after the command started" begins (0 would replay the whole history).
      return printer.lastSeq || point.headSeq;
    };
    for (let round = 0; ; round++) {
      let ended: 'stop' | ChatError;
      try {
        // First round: FEED from the saved position (--resume), or LISTEN from connect time;
        // later rounds: LISTEN from the last seq handled.
        const start = round === 0 ? from : await reconcile(conn);
        ended = await listen(conn, printer, filter, out, signal.stopped, start, round === 0);
      } catch (err) {
        if (!isNetworkError(err)) throw err;
        ended = err; // lost while setting up: reconnect like any other loss
      }
      if (ended === 'stop') break;
      flush();
      out.note(`${ended.message}${printer.lastSeq ? ` (last message seen: #${printer.lastSeq})` : ''}`);
      conn = await reconnect(settings, session, out, signal.stopped);
      if (!conn) break;
    }
  } finally {
    flush();
    signal.dispose();
    if (conn && !conn.isClosed) await conn.close();
  }
}
