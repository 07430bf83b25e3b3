/**
 * `chat wait -g GROUP [--from USER] [--match REGEX] [--timeout SEC]` (SPEC §4): a gate
 * for CI and scripts.
 *
 * Contract: exit 0 printing the first message stored in GROUP after the command
 * connected (LISTEN without afterSeq: the server first pushes what was stored since it
 * accepted the connection, so a message sent while the command logs in and checks the
 * group is not missed) from USER whose text matches REGEX (a JavaScript
 * RegExp, tested anywhere in the text); exit 9 when none did within SEC seconds,
 * counted from the start of the command; exit 2 for an invalid REGEX or SEC;
 * 4 / 5 at once when GROUP does not exist / the caller is not a member; 7 when the
 * connection is lost (messages in the gap could be missed, so it does not resume).
 */
import { ChatError } from '../../../common/errors.js';
import { checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { MESSAGE_KIND } from '../../../protocol/commands.js';
import { formatMessage, messageJson } from '../../format.js';
import { requireMember } from '../hints.js';
import { resolveSettings, single, usageError, type CommonArgs } from '../options.js';
import { withSession } from '../session.js';

export interface WaitArgs extends CommonArgs {
  group: string | string[];
  from?: string | string[];
  match?: string | string[];
  timeout?: number | number[];
}

export interface WaitSpec {
  group: string;
  from?: string;
  match?: RegExp;
  /** Undefined: wait for ever. */
  timeoutSec?: number;
}

/** Validates the arguments into a WaitSpec; usage errors (2) name the bad flag. */
export function waitSpec(argv: WaitArgs): WaitSpec {
  const group = checkName('group', String(single(argv.group, '-g', 'wait')));
  const from = single(argv.from, '--from', 'wait');
  const pattern = single(argv.match, '--match', 'wait');
  const timeoutSec = single(argv.timeout, '--timeout', 'wait');
  let match: RegExp | undefined;
  if (pattern !== undefined) {
    try {
      match = new RegExp(pattern);
    } catch (err) {
      throw usageError('wait', `--match "${pattern}" is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  if (timeoutSec !== undefined && !(Number.isFinite(timeoutSec) && timeoutSec > 0)) {
    throw usageError('wait', '--timeout needs a number of seconds above 0');
  }
  return { group, from: from === undefined ? undefined : checkName('user', from), match, timeoutSec };
}

export function matchesWait(spec: WaitSpec, m: Payload): boolean {
  return m.kind === MESSAGE_KIND.GROUP && m.group === spec.group &&
    (spec.from === undefined || m.from === spec.from) &&
    (spec.match === undefined || spec.match.test(m.text));
}

/** Rejects with CHAT_ERR_TIMEOUT after the spec's timeout (never without one). */
function deadline(spec: WaitSpec): { expired: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    if (spec.timeoutSec === undefined) return;
    timer = setTimeout(() => reject(new ChatError('CHAT_ERR_TIMEOUT',
      `no matching message in #${spec.group} within ${spec.timeoutSec} s`)), spec.timeoutSec * 1000);
  });
  expired.catch(() => undefined); // raced below; unobserved when the wait succeeds first
  return { expired, cancel: () => clearTimeout(timer) };
}

export async function wait(argv: WaitArgs): Promise<void> {
  const settings = resolveSettings(argv, 'wait');
  const spec = waitSpec(argv);
  const timer = deadline(spec);
  let listening = false;
  const work = withSession(settings, async ({ conn, out }) => {
    listening = true;
    const found = new Promise<Payload>((resolve, reject) => {
      conn.on('MESSAGE', (p) => { if (matchesWait(spec, p.message)) resolve(p.message); });
      conn.once('close', (err) => reject(err ?? new ChatError('CHAT_ERR_NETWORK', `connection to ${conn.address} closed`)));
    });
    found.catch(() => undefined);
    await requireMember(conn, spec.group);
    await conn.request('LISTEN', { on: true });
    // Printed once the server will deliver to us, so scripts (and tests) can sequence on it.
    out.note(`waiting for a message in #${spec.group}`);
    const m = await Promise.race([found, timer.expired]);
    out.line(formatMessage(m));
    out.object(messageJson(m));
  }, { watchdog: true }); // no --timeout must not mean waiting on a dead server forever
  work.catch(() => undefined);
  try {
    // The deadline also covers connecting and logging in.
    await Promise.race([work, timer.expired]);
  } catch (err) {
    // Timed out while connected: let the session end with BYE before exiting 9.
    if (listening) await work.catch(() => undefined);
    throw err;
  } finally {
    timer.cancel();
  }
}
