/**
 * Common options of every `chat` subcommand (SPEC §2) and their resolution against
 * the environment. Flags beat environment variables, which beat defaults; that
 * precedence lives in resolveSettings() and nowhere else.
 *
 * This module must stay cheap to import: `chat send` takes a fast path that never
 * loads yargs (see fast.ts), so yargs is referenced here as a type only.
 */
import fs from 'node:fs';
import type { Argv } from 'yargs';
import { DEFAULT_ADDRESS, formatHostPort, parseHostPort, type HostPort } from '../../common/address.js';
import { ChatError } from '../../common/errors.js';
import type { Credentials } from '../auth.js';
import type { ConnectOptions } from '../connection.js';

/** Common options as parsed (yargs or the fast path), before env and defaults. */
export interface CommonArgs {
  server?: string;
  user?: string;
  passwordFile?: string;
  json?: boolean;
  tls?: boolean;
  ca?: string;
  quiet?: boolean;
}

export interface Settings {
  address: HostPort;
  /** Normalized HOST:PORT: the key of the session store and the name in messages. */
  server: string;
  tls: boolean;
  caFile?: string;
  json: boolean;
  quiet: boolean;
  credentials: Credentials;
  env: NodeJS.ProcessEnv;
}

const COMMON_GROUP = 'Common options:';

/** Adds the SPEC §2 options to a subcommand's builder. */
export function withCommonOptions<T>(y: Argv<T>) {
  return y
    .option('server', { type: 'string', requiresArg: true, describe: 'server HOST:PORT [env CHAT_SERVER] (default 127.0.0.1:7700)' })
    .option('user', { type: 'string', requiresArg: true, describe: 'account name [env CHAT_USER] (default: the last user logged in)' })
    .option('password-file', { type: 'string', requiresArg: true, describe: 'read the password from the first line of FILE [env CHAT_PASSWORD: the password itself]' })
    .option('json', { type: 'boolean', describe: 'machine output: one JSON object per line' })
    .option('tls', { type: 'boolean', describe: 'connect with TLS [env CHAT_TLS=1]' })
    .option('ca', { type: 'string', requiresArg: true, describe: 'CA certificate (PEM) for a self-signed server; implies --tls [env CHAT_CA]' })
    .option('quiet', { type: 'boolean', describe: 'only errors on stderr' })
    .group(['server', 'user', 'password-file', 'json', 'tls', 'ca', 'quiet'], COMMON_GROUP);
}

/** A usage error (exit 2) that points at the subcommand's help. */
export function usageError(command: string, what: string): ChatError {
  return new ChatError('CHAT_ERR_USAGE', `${what} (see: chat ${command} --help)`);
}

/** One value of a flag that yargs turns into an array when it is repeated. */
export function single<T>(value: T | T[] | undefined, flag: string, command: string): T | undefined {
  if (!Array.isArray(value)) return value;
  if (value.length > 1) throw usageError(command, `${flag} given ${value.length} times; give it once`);
  return value[0];
}

function envFlag(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

/** Merges flags, environment and defaults (SPEC §2 table). */
export function resolveSettings(argv: CommonArgs, command: string, env: NodeJS.ProcessEnv = process.env,
  interactive = Boolean(process.stdin.isTTY)): Settings {
  const serverFlag = single(argv.server, '--server', command);
  const serverText = serverFlag ?? (env.CHAT_SERVER || DEFAULT_ADDRESS);
  const address = parseHostPort(serverText, serverFlag !== undefined ? '--server' : 'CHAT_SERVER');
  const server = formatHostPort(address);
  const user = single(argv.user, '--user', command) ?? (env.CHAT_USER || undefined);
  const passwordFile = single(argv.passwordFile, '--password-file', command);
  return {
    address, server,
    // A --ca on the command line means TLS; CHAT_CA alone does not (it may be set
    // globally for one server while another is plain).
    tls: Boolean(argv.tls) || envFlag(env.CHAT_TLS) || single(argv.ca, '--ca', command) !== undefined,
    caFile: single(argv.ca, '--ca', command) ?? (env.CHAT_CA || undefined),
    json: Boolean(argv.json),
    quiet: Boolean(argv.quiet),
    credentials: { server, user, passwordFile, env, interactive },
    env,
  };
}

/** Connect options for these settings; reads the CA file (usage error when unreadable). */
export function connectOptions(s: Settings): ConnectOptions {
  let ca: Buffer | undefined;
  if (s.tls && s.caFile) {
    try {
      ca = fs.readFileSync(s.caFile);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ChatError('CHAT_ERR_USAGE', `cannot read --ca ${s.caFile}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    }
  }
  return { ...s.address, tls: s.tls, ca };
}
