/**
 * Next-step hints on server errors (SPEC §2: every error says what failed and what
 * to do). The server's message says what failed and usually what to do; where it
 * does not, the hint added here by error code says what to run next. A message that
 * already gives advice ("(see: ...)", "; choose ...", a `chat ...` command) is left alone.
 */
import { ChatError, isChatError, type ErrorCode } from '../../common/errors.js';
import type { Payload } from '../../protocol/codec.js';
import type { ChatConnection } from '../connection.js';

export type Hints = Partial<Record<ErrorCode, string>>;

export function withHint(err: unknown, hints: Hints): unknown {
  if (!isChatError(err)) return err;
  const hint = hints[err.code];
  if (!hint || /\(see:|; |\bchat(-server)? [a-z]/.test(err.message)) return err;
  return new ChatError(err.code, `${err.message} (${hint})`, { cause: err });
}

/** conn.request() with hints added to its failure. */
export async function ask(conn: ChatConnection, name: Parameters<ChatConnection['request']>[0],
  payload: Payload, hints: Hints): Promise<Payload> {
  try {
    return await conn.request(name, payload);
  } catch (err) {
    throw withHint(err, hints);
  }
}

/**
 * The caller's view of `group`; 4 when it is not visible, 5 when the caller is not a
 * member. Lets `wait`/`tail` fail at once instead of waiting for what cannot come.
 */
export async function requireMember(conn: ChatConnection, group: string): Promise<Payload> {
  const { groups } = await conn.request('GROUPS', { members: false });
  const found = (groups as Payload[]).find((g) => g.name === group);
  if (!found) throw new ChatError('CHAT_ERR_NOT_FOUND', `group "${group}" not found (see: chat groups)`);
  if (!found.joined) {
    throw new ChatError('CHAT_ERR_PERMISSION', `you are not a member of #${group} (join it: chat join ${group})`);
  }
  return found;
}
