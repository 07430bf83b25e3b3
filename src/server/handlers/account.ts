/**
 * Account family: REGISTER, LOGIN, LOGOUT, WHOAMI, PASSWD, RENAME.
 *
 * Contracts:
 *   - passwords and tokens are never logged (not even on failure);
 *   - a wrong user name and a wrong password give the same CHAT_ERR_AUTH_FAILED and
 *     cost the same scrypt time (auth.dummyHash), so accounts cannot be enumerated;
 *   - failed logins (and failed PASSWD checks) count per (account, IP); over
 *     limits.loginAttempts within limits.loginWindowMs the answer is
 *     CHAT_ERR_RATE_LIMITED, without checking the password, until the window passes;
 *   - validation runs again after every await, since other requests may have
 *     committed meanwhile (two REGISTERs of one name: one wins, one gets CONFLICT);
 *   - a connection whose session ends elsewhere (PASSWD revokes every other session,
 *     LOGOUT revokes a token other connections may share) stops being read at the
 *     commit and, once the commit is durable, gets GOODBYE {reason} and is closed:
 *     no connection stays logged in on a revoked session. Connections that share the
 *     session PASSWD keeps (its caller's token) keep it too: it is the same login;
 *   - LOGIN {password, ephemeral: true} (one-shot commands) checks the password exactly
 *     like a normal login but stores no session: nothing is journalled, the reply's
 *     token is "", and the connection (tokenHash undefined) is logged in until it
 *     closes or sends LOGOUT (which then journals nothing either). PASSWD ends such
 *     logins on every other connection of the account, as it ends revoked sessions;
 *     a LOGOUT elsewhere does not touch them (they share no token).
 */
import { ChatError } from '../../common/errors.js';
import { checkDisplayName, checkName } from '../../common/names.js';
import type { UserRecord } from '../../state/types.js';
import { dummyHash, hashPassword, hashToken, newToken, verifyPassword } from '../auth.js';
import type { Connection } from '../connection.js';
import { Reply, type HandlerTable, type ServerCtx } from './types.js';

const MAX_PASSWORD_BYTES = 1024;
const MAX_GENDER = 32;
const MAX_AGE = 150;
const MAX_DEVICE = 64;

export function profileOf(u: UserRecord) {
  return { name: u.name, displayName: u.displayName, age: u.age, gender: u.gender, admin: u.admin, createdTs: u.createdTs };
}

/** The logged-in user's record (dispatch guarantees the connection is authenticated). */
export function me(ctx: ServerCtx, conn: Connection): UserRecord {
  const u = ctx.engine.state.users.get(conn.user!);
  if (!u) throw new Error(`authenticated user "${conn.user}" has no record`);
  return u;
}

export function checkPassword(pw: unknown): string {
  if (typeof pw !== 'string' || pw.length === 0) throw new ChatError('CHAT_ERR_INVALID', 'the password must not be empty');
  if (Buffer.byteLength(pw, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new ChatError('CHAT_ERR_TOO_LARGE', `the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  return pw;
}

function deviceOf(p: { device?: string }): string {
  // eslint-disable-next-line no-control-regex
  const d = (p.device ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, MAX_DEVICE);
  return d || 'unknown';
}

function notLoggedIn(conn: Connection): void {
  if (conn.phase === 'authed') {
    throw new ChatError('CHAT_ERR_CONFLICT', `this connection is already logged in as "${conn.user}" (log out first)`);
  }
}

function rateLimit(ctx: ServerCtx, conn: Connection, name: string): void {
  const waitMs = ctx.limiter.check(name, conn.ip);
  if (waitMs > 0) {
    conn.log.warn({ user: name }, 'login refused: too many failed attempts');
    throw new ChatError('CHAT_ERR_RATE_LIMITED',
      `too many failed logins for "${name}" from this address; try again in ${Math.ceil(waitMs / 1000)} s`);
  }
}

const AUTH_FAILED = 'login failed: wrong user name or password';

/**
 * The logged-in connections of `user`, other than `except`, that `ends` says lose
 * their login (run right after the commit that revoked it, synchronously). Each
 * stops being read at once; the caller says goodbye to them once the commit is durable.
 */
function revokedConnections(ctx: ServerCtx, user: string, except: Connection,
  ends: (c: Connection) => boolean): Connection[] {
  const out: Connection[] = [];
  for (const c of ctx.fanout.connectionsOf(user) ?? []) {
    if (c === except || c.phase !== 'authed' || !ends(c)) continue;
    c.stopReading();
    out.push(c);
  }
  return out;
}

function sayGoodbye(conns: Connection[], reason: string): void {
  for (const c of conns) {
    c.log.info({ user: c.user, reason }, 'session revoked; closing');
    c.goodbye(reason);
  }
}

export const accountHandlers: HandlerTable = {
  REGISTER: {
    serial: true,
    async run(ctx, conn, p) {
      if (!ctx.registration) {
        throw new ChatError('CHAT_ERR_REGISTRATION_CLOSED',
          'registration is closed on this server; ask its operator for an account (chat-server useradd)');
      }
      notLoggedIn(conn);
      const name = checkName('user', p.name);
      const password = checkPassword(p.password);
      const displayName = checkDisplayName(p.displayName ?? name);
      if (p.age !== undefined && p.age > MAX_AGE) throw new ChatError('CHAT_ERR_INVALID', `age ${p.age} is not in 0..${MAX_AGE}`);
      // eslint-disable-next-line no-control-regex
      if (p.gender !== undefined && (p.gender.length > MAX_GENDER || /[\u0000-\u001f\u007f]/.test(p.gender))) {
        throw new ChatError('CHAT_ERR_INVALID', `gender must be at most ${MAX_GENDER} printable characters`);
      }
      const state = ctx.engine.state;
      const free = (): void => {
        if (state.users.has(name)) throw new ChatError('CHAT_ERR_CONFLICT', `user name "${name}" is taken; choose another`);
        if (state.displayNames.has(displayName)) {
          throw new ChatError('CHAT_ERR_CONFLICT', `display name "${displayName}" is taken; choose another (--display-name)`);
        }
      };
      free();
      const passwordHash = await hashPassword(password, ctx.scrypt);
      free();
      const token = newToken();
      const tokenHash = hashToken(token);
      const device = deviceOf(p);
      // Admin rights come only from `chat-server useradd --admin`, never from REGISTER.
      const commits = Promise.all([
        ctx.engine.commit({ type: 'user.create', name, passwordHash, displayName, age: p.age, gender: p.gender, admin: false }),
        ctx.engine.commit({ type: 'session.create', name, tokenHash, device }),
      ]);
      // Read in the step that committed: after the await the state may have moved on.
      const profile = profileOf(state.users.get(name)!);
      await commits;
      conn.log.info({ user: name, device }, 'registered');
      conn.authenticate(name, tokenHash, device);
      return { token, profile };
    },
  },

  LOGIN: {
    serial: true,
    async run(ctx, conn, p) {
      notLoggedIn(conn);
      const ephemeral = p.ephemeral === true;
      if (ephemeral && p.password === undefined) {
        throw new ChatError('CHAT_ERR_INVALID', 'an ephemeral LOGIN needs a password (a session token is a stored session already)');
      }
      const name = String(p.name).slice(0, 64);
      rateLimit(ctx, conn, name);
      const state = ctx.engine.state;
      const device = deviceOf(p);
      let token: string;
      let tokenHash: string | undefined;
      let u: UserRecord | undefined;
      if (p.password !== undefined) {
        u = state.users.get(name);
        const stored = u?.passwordHash;
        const ok = await verifyPassword(p.password, stored ?? (await dummyHash()));
        // A PASSWD committed while scrypt ran makes the old password wrong.
        if (!u || !ok || u.passwordHash !== stored) {
          ctx.limiter.fail(name, conn.ip);
          conn.log.info({ user: name, how: 'password' }, 'login failed');
          throw new ChatError('CHAT_ERR_AUTH_FAILED', AUTH_FAILED);
        }
        if (ephemeral) {
          // No session: checked above in the same step as authenticate() below, so a
          // PASSWD committed meanwhile was seen (the hash compare) and none can slip in.
          token = '';
          tokenHash = undefined;
        } else {
          token = newToken();
          tokenHash = hashToken(token);
          await ctx.engine.commit({ type: 'session.create', name, tokenHash, device });
          // A PASSWD committed while this waited for the disk ended the new session too.
          if (!u.sessions.has(tokenHash)) {
            conn.log.info({ user: name, how: 'password' }, 'login failed: the password changed meanwhile');
            throw new ChatError('CHAT_ERR_AUTH_FAILED', 'login failed: the password was changed meanwhile; log in again');
          }
        }
      } else if (p.token !== undefined) {
        tokenHash = hashToken(p.token);
        u = state.users.get(name);
        if (!u?.sessions.has(tokenHash)) {
          ctx.limiter.fail(name, conn.ip);
          conn.log.info({ user: name, how: 'token' }, 'login failed');
          throw new ChatError('CHAT_ERR_AUTH_FAILED', 'login failed: wrong user name, or the session has ended; log in with the password');
        }
        token = p.token;
      } else {
        throw new ChatError('CHAT_ERR_INVALID', 'LOGIN needs a password or a session token');
      }
      ctx.limiter.succeed(name, conn.ip);
      conn.log.info({ user: name, device, ephemeral }, 'logged in');
      conn.authenticate(name, tokenHash, device);
      return { token, profile: profileOf(u) };
    },
  },

  /**
   * Revokes this connection's session token; the connection is logged out but stays
   * open. Other connections logged in with the same token lose the session too. An
   * ephemeral login has no token: the connection is just logged out, nothing journalled.
   */
  LOGOUT: {
    serial: true,
    async run(ctx, conn) {
      const u = me(ctx, conn);
      const tokenHash = conn.tokenHash;
      let revoked: Connection[] = [];
      if (tokenHash !== undefined && u.sessions.has(tokenHash)) {
        const done = ctx.engine.commit({ type: 'session.revoke', name: u.name, tokenHash });
        revoked = revokedConnections(ctx, u.name, conn, (c) => c.tokenHash === tokenHash);
        await done;
      }
      conn.log.info({ user: u.name }, 'logged out');
      conn.deauthenticate();
      return new Reply({}, () => sayGoodbye(revoked, 'this session was logged out on another connection; log in again'));
    },
  },

  WHOAMI: {
    run: (ctx, conn) => ({ profile: profileOf(me(ctx, conn)) }),
  },

  /**
   * Checks the old password, stores the new hash (the op ends every session) and
   * re-creates this connection's own session, so only the other sessions end; the
   * connections logged in on them, and every other ephemeral login of the account,
   * are closed with GOODBYE (see the file contract). On an ephemeral connection there
   * is no own session to keep: every stored one ends, the caller stays logged in.
   */
  PASSWD: {
    async run(ctx, conn, p) {
      const u = me(ctx, conn);
      rateLimit(ctx, conn, u.name);
      const newPassword = checkPassword(p.newPassword);
      const stored = u.passwordHash;
      if (!(await verifyPassword(String(p.oldPassword), stored)) || u.passwordHash !== stored) {
        ctx.limiter.fail(u.name, conn.ip);
        throw new ChatError('CHAT_ERR_AUTH_FAILED', 'the current password is wrong');
      }
      const passwordHash = await hashPassword(newPassword, ctx.scrypt);
      if (u.passwordHash !== stored) {
        throw new ChatError('CHAT_ERR_CONFLICT', 'the password was changed by another session meanwhile; nothing changed');
      }
      const commits: Promise<unknown>[] = [ctx.engine.commit({ type: 'user.passwd', name: u.name, passwordHash })];
      if (conn.tokenHash !== undefined && conn.phase === 'authed') {
        commits.push(ctx.engine.commit({ type: 'session.create', name: u.name, tokenHash: conn.tokenHash, device: conn.device }));
      }
      const sessions = ctx.engine.state.users.get(u.name)?.sessions;
      const revoked = revokedConnections(ctx, u.name, conn,
        (c) => c.tokenHash === undefined || !sessions?.has(c.tokenHash));
      await Promise.all(commits);
      conn.log.info({ user: u.name, closed: revoked.length }, 'password changed; other sessions revoked');
      return new Reply({}, () => sayGoodbye(revoked, 'password changed; log in again'));
    },
  },

  RENAME: {
    async run(ctx, conn, p) {
      const u = me(ctx, conn);
      const displayName = checkDisplayName(p.displayName);
      const holder = ctx.engine.state.displayNames.get(displayName);
      if (holder !== undefined && holder !== u.name) {
        throw new ChatError('CHAT_ERR_CONFLICT', `display name "${displayName}" is taken by another account; choose another`);
      }
      if (u.displayName === displayName) return { profile: profileOf(u) };
      const done = ctx.engine.commit({ type: 'user.rename', name: u.name, displayName });
      const profile = profileOf(u); // as committed, whatever happens while the disk works
      await done;
      return { profile };
    },
  },
};
