/**
 * `chat history (-g GROUP | --with USER) [--last N] [--since SEQ|DURATION] [--json]` and
 * `chat search (-g GROUP | --with USER) QUERY... [--last N] [--json]` (SPEC §4).
 *
 * Contract:
 *  - exactly one of -g / --with (else usage error, 2); a group must exist and be
 *    visible (else 4) and have the caller as a member (else 5); a user must exist (4);
 *  - history prints oldest first. --since SEQ: the messages after that seq (exclusive:
 *    a script passes the last seq it processed); --since DURATION (30s, 10m, 2h, 3d,
 *    1w): those newer than that; anything else is a usage error. --last N keeps the N
 *    newest of what is selected. Neither: the last DEFAULT_LAST. --since without
 *    --last: all of them;
 *  - search prints newest first the messages containing every word of QUERY (whole
 *    words, any case); --last N: only the N newest matches; default all;
 *  - both read one snapshot: the pages of one run never include a message stored
 *    after the first page (HISTORY upToSeq; SEARCH pages downwards from the newest);
 *  - output: tail's human format, or with --json one SPEC §2 message object a line.
 */
import { ChatError } from '../../../common/errors.js';
import { checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { MESSAGE_KIND } from '../../../protocol/commands.js';
import type { ChatConnection } from '../../connection.js';
import { formatMessage, messageJson, stampTime } from '../../format.js';
import { ask, type Hints } from '../hints.js';
import { resolveSettings, single, usageError, type CommonArgs } from '../options.js';
import type { Output } from '../output.js';
import { withSession } from '../session.js';

/** Messages `chat history` prints with neither --since nor --last. */
export const DEFAULT_LAST = 50;
const MAX_U32 = 0xffffffff;

export interface ConversationArgs extends CommonArgs {
  group?: string | string[];
  with?: string | string[];
  /** A string from the command line (so an error can quote what was typed), a number from code. */
  last?: string | number | Array<string | number>;
}
export interface HistoryArgs extends ConversationArgs { since?: string | string[] }
export interface SearchArgs extends ConversationArgs { query?: string | string[] }

export interface Conversation {
  kind: number;
  target: string;
  /** "#ops" or "your direct messages with bob", for notes. */
  label: string;
}

/** -g / --with as a conversation; usage error unless exactly one is given. */
export function conversationOf(argv: ConversationArgs, command: string): Conversation {
  const group = single(argv.group, '-g', command);
  const withUser = single(argv.with, '--with', command);
  if ((group === undefined) === (withUser === undefined)) {
    throw usageError(command, 'give exactly one of -g GROUP or --with USER');
  }
  if (group !== undefined) {
    const g = checkName('group', String(group));
    return { kind: MESSAGE_KIND.GROUP, target: g, label: `#${g}` };
  }
  const u = checkName('user', String(withUser));
  return { kind: MESSAGE_KIND.DIRECT, target: u, label: `your direct messages with ${u}` };
}

/** --last N: a whole number from 1; undefined when absent. */
export function lastOf(argv: ConversationArgs, command: string): number | undefined {
  const given = single(argv.last, '--last', command);
  if (given === undefined) return undefined;
  const last = typeof given === 'number' ? given : /^\s*\d+\s*$/.test(given) ? Number(given) : Number.NaN;
  if (!Number.isInteger(last) || last < 1 || last > MAX_U32) {
    throw usageError(command, `--last needs a whole number of messages from 1 to ${MAX_U32}, got "${String(given)}"`);
  }
  return last;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** --since: a seq (messages after it) or a duration (messages newer than it). */
export function parseSince(text: string, command = 'history'): { afterSeq: number } | { maxAgeMs: number } {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const afterSeq = Number(t);
    if (Number.isSafeInteger(afterSeq)) return { afterSeq };
  }
  const m = /^(\d+)([smhdw])$/.exec(t);
  if (m) {
    const maxAgeMs = Number(m[1]) * UNIT_MS[m[2]];
    if (Number.isSafeInteger(maxAgeMs) && maxAgeMs > 0) return { maxAgeMs };
  }
  throw usageError(command, `--since "${text}" is neither a sequence number (e.g. 1234) nor a duration above 0 (30s, 10m, 2h, 3d, 1w)`);
}

const HINTS: Hints = { CHAT_ERR_NOT_FOUND: 'see: chat groups' };

function print(out: Output, messages: Payload[]): void {
  for (const m of messages) {
    out.line(formatMessage(m, stampTime));
    out.object(messageJson(m));
  }
}

/** Pages HISTORY for `conv`; calls `each` with every page, oldest first. */
export async function readHistory(conn: ChatConnection, conv: Conversation,
  sel: { afterSeq: number; maxAgeMs: number; last: number }, each: (messages: Payload[]) => void): Promise<number> {
  let req = { kind: conv.kind, target: conv.target, ...sel, upToSeq: 0 };
  let total = 0;
  for (;;) {
    const r = await ask(conn, 'HISTORY', req, HINTS);
    const messages = r.messages as Payload[];
    each(messages);
    total += messages.length;
    if (!r.more || messages.length === 0) return total;
    const last = sel.last > 0 ? sel.last - total : 0;
    if (sel.last > 0 && last <= 0) return total;
    req = { ...req, afterSeq: messages[messages.length - 1].seq, maxAgeMs: 0, last, upToSeq: r.upToSeq };
  }
}

export async function history(argv: HistoryArgs): Promise<void> {
  const settings = resolveSettings(argv, 'history');
  const conv = conversationOf(argv, 'history');
  const lastFlag = lastOf(argv, 'history');
  const sinceText = single(argv.since, '--since', 'history');
  const since = sinceText === undefined ? undefined : parseSince(String(sinceText));
  const sel = {
    afterSeq: since && 'afterSeq' in since ? since.afterSeq : 0,
    maxAgeMs: since && 'maxAgeMs' in since ? since.maxAgeMs : 0,
    last: lastFlag ?? (since === undefined ? DEFAULT_LAST : 0),
  };
  await withSession(settings, async ({ conn, out }) => {
    const n = await readHistory(conn, conv, sel, (messages) => print(out, messages));
    if (n === 0) out.note(`no messages in ${conv.label}${since ? ` since ${String(sinceText)}` : ''}`);
  });
}

export async function search(argv: SearchArgs): Promise<void> {
  const settings = resolveSettings(argv, 'search');
  const conv = conversationOf(argv, 'search');
  const limit = lastOf(argv, 'search') ?? 0;
  const query = ([] as string[]).concat(argv.query ?? []).map(String).join(' ').trim();
  if (query === '') throw usageError('search', 'give the words to find');
  await withSession(settings, async ({ conn, out }) => {
    let found = 0;
    let beforeSeq = 0;
    for (;;) {
      const r = await ask(conn, 'SEARCH', {
        kind: conv.kind, target: conv.target, query, beforeSeq, limit: limit > 0 ? limit - found : 0,
      }, HINTS);
      const messages = r.messages as Payload[];
      print(out, messages);
      found += messages.length;
      if (!r.more || (limit > 0 && found >= limit)) break;
      if (r.nextBeforeSeq === 0) throw new ChatError('CHAT_ERR_PROTOCOL', 'the server said there is more but gave no position to go on from');
      beforeSeq = r.nextBeforeSeq;
    }
    if (found === 0) out.note(`no messages in ${conv.label} contain "${query}"`);
  });
}
