/**
 * Account subcommands (SPEC §4 Accounts): register, login, logout, whoami, passwd,
 * rename. Only register and login store a session token (session-store.ts); logout
 * revokes it on the server, then forgets it.
 * Human output: one line; --json: the profile {name, displayName, age?, gender?, admin}.
 */
import { ChatError, isChatError } from '../../../common/errors.js';
import { checkDisplayName, checkName } from '../../../common/names.js';
import type { Payload } from '../../../protocol/codec.js';
import { deviceName, loginWithPassword, passwordFromSource, readSecretFile, resolveUser } from '../../auth.js';
import { formatProfile, profileJson } from '../../format.js';
import { ask } from '../hints.js';
import { resolveSettings, usageError, type CommonArgs, type Settings } from '../options.js';
import { outputFor, storeFor, withConnection, withSession } from '../session.js';

export interface RegisterArgs extends CommonArgs { displayName?: string; age?: number; gender?: string }
export interface PasswdArgs extends CommonArgs { newPasswordFile?: string }
export interface RenameArgs extends CommonArgs { displayName: string[] | string }

const prompts = () => import('../../prompt.js');

function printProfile(settings: Settings, profile: Payload, line: string): void {
  const out = outputFor(settings);
  out.object(profileJson(profile));
  out.line(line);
}

/** An optional profile field: the flag, else (on a terminal) a prompt where blank means none. */
async function field(settings: Settings, given: string | undefined, question: string): Promise<string | undefined> {
  if (given !== undefined || !settings.credentials.interactive) return given;
  const answer = await (await prompts()).promptLine(question);
  return answer === '' ? undefined : answer;
}

export function parseAge(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const age = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(age) || age < 0 || age > 150) {
    throw usageError('register', `age "${value}" is not a whole number of years (0-150)`);
  }
  return age;
}

export async function register(argv: RegisterArgs): Promise<void> {
  const settings = resolveSettings(argv, 'register');
  const c = settings.credentials;
  // Everything is asked before connecting: the server drops idle unauthenticated connections.
  let user = c.user;
  if (user === undefined && c.interactive) user = await (await prompts()).promptLine('User name: ');
  if (!user) throw usageError('register', 'name the new account: --user NAME or CHAT_USER');
  checkName('user', user);
  let password = passwordFromSource(c);
  if (password === undefined) {
    if (!c.interactive) throw usageError('register', 'give a password: --password-file FILE or CHAT_PASSWORD');
    password = await (await prompts()).promptNewPassword('Password');
  }
  const displayName = await field(settings, argv.displayName, `Display name [${user}]: `);
  if (displayName !== undefined) checkDisplayName(displayName);
  const age = parseAge(argv.age ?? await field(settings, undefined, 'Age (optional): '));
  const gender = await field(settings, argv.gender, 'Gender (optional): ');

  const reply = await withConnection(settings, (conn) => ask(conn, 'REGISTER',
    { name: user, password, displayName, age, gender, device: deviceName() },
    { CHAT_ERR_CONFLICT: 'pick another name, or log in: chat login', CHAT_ERR_REGISTRATION_CLOSED: 'ask an admin: chat-server useradd' }));
  storeFor(settings).saveToken(settings.server, user, String(reply.token));
  printProfile(settings, reply.profile, `registered and logged in as ${formatProfile(reply.profile)} at ${settings.server}`);
}

export async function login(argv: CommonArgs): Promise<void> {
  const settings = resolveSettings(argv, 'login');
  const store = storeFor(settings);
  const user = resolveUser(settings.credentials, store);
  let password = passwordFromSource(settings.credentials);
  if (password === undefined) {
    if (!settings.credentials.interactive) {
      throw new ChatError('CHAT_ERR_NOT_AUTHENTICATED',
        `no password for ${user}: use --password-file FILE or CHAT_PASSWORD, or run "chat login" on a terminal`);
    }
    password = await (await prompts()).promptHidden(`Password for ${user}: `);
  }
  const pw = password;
  const reply = await withConnection(settings, (conn) => loginWithPassword(conn, user, pw));
  store.saveToken(settings.server, user, String(reply.token));
  printProfile(settings, reply.profile, `logged in as ${formatProfile(reply.profile)} at ${settings.server}`);
}

export async function logout(argv: CommonArgs): Promise<void> {
  const settings = resolveSettings(argv, 'logout');
  const store = storeFor(settings);
  const out = outputFor(settings);
  const user = resolveUser(settings.credentials, store);
  const token = store.token(settings.server, user);
  if (token === undefined) {
    out.note(`not logged in as ${user} at ${settings.server}; nothing to do`);
    return;
  }
  const revoked = await withConnection(settings, async (conn) => {
    try {
      await conn.request('LOGIN', { name: user, token, device: deviceName() });
    } catch (err) {
      if (isChatError(err, 'CHAT_ERR_AUTH_FAILED')) return false; // expired already
      throw err;
    }
    await conn.request('LOGOUT');
    return true;
  });
  store.forget(settings.server, user);
  out.line(revoked ? `logged out ${user} at ${settings.server}` : `forgot the session of ${user} at ${settings.server} (it had already expired)`);
}

export async function whoami(argv: CommonArgs): Promise<void> {
  const settings = resolveSettings(argv, 'whoami');
  await withSession(settings, async ({ conn }) => {
    const reply = await conn.request('WHOAMI');
    printProfile(settings, reply.profile, formatProfile(reply.profile));
  });
}

export async function passwd(argv: PasswdArgs): Promise<void> {
  const settings = resolveSettings(argv, 'passwd');
  const c = settings.credentials;
  const oldPassword = passwordFromSource(c) ?? (c.interactive ? await (await prompts()).promptHidden('Current password: ') : undefined);
  if (oldPassword === undefined) {
    throw usageError('passwd', 'give the current password: --password-file FILE or CHAT_PASSWORD');
  }
  let newPassword = argv.newPasswordFile !== undefined ? readSecretFile(argv.newPasswordFile, '--new-password-file')
    : settings.env.CHAT_NEW_PASSWORD || undefined;
  if (newPassword === undefined) {
    if (!c.interactive) throw usageError('passwd', 'give the new password: --new-password-file FILE or CHAT_NEW_PASSWORD');
    newPassword = await (await prompts()).promptNewPassword('New password');
  }
  const credentials = { ...c, password: oldPassword };
  // preferToken: PASSWD revokes the account's *other* sessions; logging in with the
  // stored token makes it this session, so `chat login` need not be run again.
  await withSession({ ...settings, credentials }, async ({ conn, out }) => {
    await ask(conn, 'PASSWD', { oldPassword, newPassword }, { CHAT_ERR_AUTH_FAILED: 'the current password is wrong' });
    out.line('password changed; other sessions of this account were logged out');
  }, { preferToken: true });
}

export async function rename(argv: RenameArgs): Promise<void> {
  const settings = resolveSettings(argv, 'rename');
  const displayName = checkDisplayName(([] as string[]).concat(argv.displayName).map(String).join(' '));
  await withSession(settings, async ({ conn }) => {
    const reply = await ask(conn, 'RENAME', { displayName }, { CHAT_ERR_CONFLICT: 'another account uses that display name; pick another' });
    printProfile(settings, reply.profile, `display name is now "${displayName}"`);
  });
}
