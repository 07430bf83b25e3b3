/**
 * Who the client is and how it proves it (SPEC §2 --user / --password-file, §4 login).
 *
 * User: --user, else CHAT_USER, else the last user stored for that server.
 * Proof, in this order:
 *   1. a password source: --password-file FILE (its first line) or CHAT_PASSWORD
 *      -> LOGIN with the password;
 *   2. a stored session token (from `chat login`) -> LOGIN with the token; a rejected
 *      token is forgotten and the command fails with 3 "session expired";
 *   3. stdin is a terminal -> prompt "Password for USER: " without echo -> LOGIN;
 *   4. otherwise fail with 3 and say how to log in.
 * A login made from a password by any command but login/register is "ephemeral":
 * LOGIN {ephemeral: true} stores no session on the server (nothing journalled, the
 * reply's token is ""), and the login ends when the connection closes, so cron jobs
 * neither pile up sessions nor add journal records (no LOGOUT needed either). A
 * command that reconnects (tail) logs in again with the password, which it keeps in
 * memory for the life of the process only.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ChatError, isChatError } from '../common/errors.js';
import { checkName } from '../common/names.js';
import type { Payload } from '../protocol/codec.js';
import type { ChatConnection } from './connection.js';
import type { SessionStore } from './session-store.js';

export interface Credentials {
  /** Normalized HOST:PORT, the key of the session store. */
  server: string;
  /** --user or CHAT_USER, already merged by the caller (flag first). */
  user?: string;
  passwordFile?: string;
  /** A password the caller already has (e.g. typed at passwd's prompt); beats the sources. */
  password?: string;
  env: NodeJS.ProcessEnv;
  /** Whether prompting is possible (stdin is a TTY). */
  interactive: boolean;
}

export interface Session {
  user: string;
  /** The stored session's token; "" for an ephemeral login. */
  token: string;
  profile: Payload;
  /** Made from a password for this connection only: no session stored on the server. */
  ephemeral: boolean;
  /** The password of an ephemeral login, for logging in again (reconnects); in memory only. */
  password?: string;
}

/** The device name sent with LOGIN/REGISTER, so sessions can be told apart. */
export function deviceName(): string {
  return os.hostname();
}

/** The account name to act as; throws 3 when none can be found. */
export function resolveUser(c: Credentials, store: SessionStore): string {
  const user = c.user ?? store.lastUser(c.server);
  if (!user) {
    throw new ChatError('CHAT_ERR_NOT_AUTHENTICATED',
      'no user given: pass --user NAME or set CHAT_USER (or run "chat login --user NAME" once)');
  }
  return checkName('user', user);
}

/** The password from --password-file (first line) or CHAT_PASSWORD, if either is set. */
export function passwordFromSource(c: Pick<Credentials, 'passwordFile' | 'env' | 'password'>): string | undefined {
  if (c.password !== undefined) return c.password;
  if (c.passwordFile !== undefined) return readSecretFile(c.passwordFile, '--password-file');
  return c.env.CHAT_PASSWORD || undefined;
}

/** First line of a secret file, trailing newline stripped; usage error (2) when unreadable or empty. */
export function readSecretFile(file: string, flag: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ChatError('CHAT_ERR_USAGE', `cannot read ${flag} ${file}: ${why}`);
  }
  const line = text.split(/\r?\n/, 1)[0];
  if (line === '') throw new ChatError('CHAT_ERR_USAGE', `${flag} ${file} is empty: its first line must be the password`);
  return line;
}

/** The password for a fresh login: the source, else a prompt, else a clear failure. */
export async function obtainPassword(c: Credentials, user: string): Promise<string> {
  const pw = passwordFromSource(c);
  if (pw !== undefined) return pw;
  if (!c.interactive) {
    throw new ChatError('CHAT_ERR_NOT_AUTHENTICATED',
      `not logged in as ${user}: run "chat login" or set CHAT_PASSWORD / --password-file`);
  }
  const { promptHidden } = await import('./prompt.js');
  const answer = await promptHidden(`Password for ${user}: `);
  if (answer === '') throw new ChatError('CHAT_ERR_NOT_AUTHENTICATED', 'empty password: not logged in');
  return answer;
}

/**
 * LOGIN with a password; the error names the user and server. `ephemeral`: store no
 * session (one-shot commands; the reply's token is "").
 */
export async function loginWithPassword(conn: ChatConnection, user: string, password: string,
  ephemeral = false): Promise<Payload> {
  try {
    return await conn.request('LOGIN', ephemeral
      ? { name: user, password, device: deviceName(), ephemeral: true }
      : { name: user, password, device: deviceName() });
  } catch (err) {
    if (isChatError(err, 'CHAT_ERR_AUTH_FAILED')) {
      throw new ChatError('CHAT_ERR_AUTH_FAILED',
        `cannot log in as ${user} at ${conn.address}: ${err.message.replace(/^login failed: /, '')}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Logs `conn` in following the order in the module comment. With `preferToken` a
 * stored token is tried before a password source (passwd: keep the stored session,
 * which PASSWD would otherwise revoke as an "other" session).
 */
export async function logIn(conn: ChatConnection, c: Credentials, store: SessionStore,
  opts: { preferToken?: boolean } = {}): Promise<Session> {
  const user = resolveUser(c, store);
  const password = passwordFromSource(c);
  const token = store.token(c.server, user);

  if (token !== undefined && (password === undefined || opts.preferToken)) {
    try {
      const reply = await conn.request('LOGIN', { name: user, token, device: deviceName() });
      return { user, token: String(reply.token), profile: reply.profile, ephemeral: false };
    } catch (err) {
      if (!isChatError(err, 'CHAT_ERR_AUTH_FAILED')) throw err;
      store.forget(c.server, user);
      if (password === undefined) {
        throw new ChatError('CHAT_ERR_AUTH_FAILED', `session expired for ${user} at ${c.server}: run "chat login"`, { cause: err });
      }
    }
  }
  const pw = password ?? await obtainPassword(c, user);
  const reply = await loginWithPassword(conn, user, pw, true);
  return { user, token: '', profile: reply.profile, ephemeral: true, password: pw };
}

/**
 * Logs in again on a new connection as an earlier login did (tail reconnects): with
 * its token, or for an ephemeral login with its password, ephemeral again.
 */
export async function resume(conn: ChatConnection, session: Session): Promise<Session> {
  const reply = session.ephemeral && session.password !== undefined
    ? await loginWithPassword(conn, session.user, session.password, true)
    : await conn.request('LOGIN', { name: session.user, token: session.token, device: deviceName() });
  return { ...session, profile: reply.profile };
}
