/**
 * `chat tail [-g GROUP]... [--with USER] [--json]` (SPEC §4): print messages as they
 * arrive until SIGINT/SIGTERM, then leave cleanly and exit 0.
 *
 * Contract:
 *  - filters: -g (repeatable) keeps those groups, --with USER keeps the direct
 *    messages between the caller and USER; given together, either kind passes; with
 *    no filter everything the server pushes passes (groups, direct, broadcasts);
 *  - every -g group must exist and have the caller as a member (4 / 5 at once);
 *  - a failed first connect exits 7; once running, a lost connection or a server
 *    GOODBYE is reported on stderr and followed by reconnects with exponential
 *    backoff and jitter (capped at MAX_DELAY_MS), logging in again with the session
 *    token of the first login; a message is printed at most once per run (by seq).
 */
import { ChatError, isChatError } from '../../../common/errors.js';
import { checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { MESSAGE_KIND } from '../../../protocol/commands.js';
import { logIn, resume, type Session } from '../../auth.js';
import type { ChatConnection } from '../../connection.js';
import { formatMessage, messageJson } from '../../format.js';
import { requireMember } from '../hints.js';
import { resolveSettings, single, type CommonArgs, type Settings } from '../options.js';
import type { Output } from '../output.js';
import { connect, outputFor, storeFor } from '../session.js';

export interface TailArgs extends CommonArgs {
  group?: string | string[];
  with?: string | string[];
}

export interface TailFilter {
  groups: ReadonlySet<string>;
  with?: string;
}

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
const SEEN_LIMIT = 10_000;

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

/**
 * Messages passing `filter` stored after `afterSeq` (oldest first), to print after a
 * reconnect. The command table has no history request yet, so there is nothing to
 * fetch and the gap is only reported; `chat tail --resume` fills this in.
 */
export async function fetchMissed(_conn: ChatConnection, _filter: TailFilter, _afterSeq: number): Promise<Payload[]> {
  return [];
}

function isNetworkError(err: unknown): err is ChatError {
  return isChatError(err) && err.exitCode === 7;
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function stopSignal(): { stopped: Promise<'stop'>; dispose(): void } {
  let fire!: () => void;
  let fired = false;
  const stopped = new Promise<'stop'>((r) => { fire = () => r('stop'); });
  const onSignal = () => {
    if (fired) process.exit(0);
    fired = true;
    fire();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stopped, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

class Printer {
  private readonly seen = new Set<number>();
  lastSeq = 0;
  constructor(private readonly out: Output, private readonly filter: TailFilter, private readonly me: string) {}

  print(m: Payload): void {
    if (this.seen.has(m.seq) || !matchesTail(this.filter, m, this.me)) return;
    this.seen.add(m.seq);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as number);
    this.lastSeq = Math.max(this.lastSeq, m.seq);
    this.out.line(formatMessage(m));
    this.out.object(messageJson(m));
  }
}

/** LISTEN on `conn`, print until it closes or we are told to stop. */
async function listen(conn: ChatConnection, printer: Printer, filter: TailFilter, out: Output,
  stopped: Promise<'stop'>): Promise<'stop' | ChatError> {
  const ended = new Promise<ChatError>((resolve) => {
    conn.on('MESSAGE', (p) => printer.print(p.message));
    conn.on('GOODBYE', (p) => out.note(`the server says goodbye: ${String(p.reason)}`));
    conn.once('close', (err) => resolve(err ?? new ChatError('CHAT_ERR_NETWORK', `connection to ${conn.address} closed`)));
  });
  for (const group of filter.groups) await requireMember(conn, group);
  await conn.request('LISTEN', { on: true });
  // Printed once the server will deliver to us, so scripts (and tests) can sequence on it.
  out.note('listening for messages (Ctrl-C to stop)');
  for (const m of await fetchMissed(conn, filter, printer.lastSeq)) printer.print(m);
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
      throw new ChatError('CHAT_ERR_AUTH_FAILED', `the session of ${session.user} ended while away: run "chat login"`, { cause: won });
    }
    if (!isNetworkError(won)) throw won;
    out.note(won.message);
  }
}

export async function tail(argv: TailArgs): Promise<void> {
  const settings = resolveSettings(argv, 'tail');
  const filter = tailFilter(argv);
  const out = outputFor(settings);
  const signal = stopSignal();
  let conn: ChatConnection | undefined = await connect(settings, true);
  let session: Session | undefined;
  try {
    session = await logIn(conn, settings.credentials, storeFor(settings));
    const printer = new Printer(out, filter, session.user);
    for (;;) {
      let ended: 'stop' | ChatError;
      try {
        ended = await listen(conn, printer, filter, out, signal.stopped);
      } catch (err) {
        if (!isNetworkError(err)) throw err;
        ended = err; // lost while setting up: reconnect like any other loss
      }
      if (ended === 'stop') break;
      out.note(`${ended.message}${printer.lastSeq ? ` (last message seen: #${printer.lastSeq})` : ''}`);
      conn = await reconnect(settings, session, out, signal.stopped);
      if (!conn) break;
    }
  } finally {
    signal.dispose();
    if (conn && !conn.isClosed) {
      if (session?.ephemeral) await conn.request('LOGOUT').catch(() => undefined);
      await conn.close();
    }
  }
}
