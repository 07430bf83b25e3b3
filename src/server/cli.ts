/**
 * `chat-server` command line (SPEC §3): start (default), useradd, passwd, status and
 * verify (their bodies: tools/).
 *
 * Contract: an error prints one line `chat-server: <what failed and what to do>` on
 * stderr and exits with the SPEC §2 code: usage 2, conflict 6, not found 4, a damaged
 * journal 8, a port that cannot be bound 1. Logs (start) are pino JSON on stderr.
 */
import { packageVersion } from '../common/version.js';
import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { DEFAULT_ADDRESS, parseHostPort } from '../common/address.js';
import { ChatError, EXIT, exitCodeFor } from '../common/errors.js';
import { createLogger, LOG_LEVELS } from '../common/logger.js';
import { promptHidden } from '../common/prompt.js';
import { JournalCorruptError } from '../journal/journal.js';
import { ApplyError } from '../state/apply.js';
import type { LevelWithSilent } from 'pino';
import { ListenError, startServer, type Limits } from './index.js';
import { flagDefault, LIMIT_FLAGS, parseLimitFlags } from './limits.js';
import { addUser, setPassword } from './offline.js';
import { parseStorageFlags, RETENTION_FLAG, RETENTIONS, STORAGE_DEFAULTS, STORAGE_FLAGS, storageFlagDefault } from './storage-flags.js';

const DEFAULT_DATA = './chat-data';

function usage(message: string): ChatError {
  return new ChatError('CHAT_ERR_USAGE', message);
}

function readText(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw usage(`cannot read --${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** --password-file, else CHAT_PASSWORD, else a prompt on a TTY (SPEC §2). */
async function readPassword(file: string | undefined, who: string): Promise<string> {
  if (file !== undefined) {
    const pw = readText('password-file', file).replace(/\r?\n$/, '');
    if (pw === '') throw usage(`--password-file ${file} is empty`);
    return pw;
  }
  const env = process.env.CHAT_PASSWORD;
  if (env !== undefined && env !== '') return env;
  if (process.stdin.isTTY) {
    const first = await promptHidden(`New password for ${who}: `);
    const again = await promptHidden('Repeat it: ');
    if (first !== again) throw usage('the passwords differ; nothing changed');
    return first;
  }
  throw usage('no password given: use --password-file FILE, set CHAT_PASSWORD, or run on a terminal');
}

/** The limit flags, each a whole number in its range (limits.ts LIMIT_FLAGS), else a usage error. */
function limitsFrom(a: Record<string, unknown>): Partial<Limits> {
  const parsed = parseLimitFlags(a);
  if ('error' in parsed) throw usage(parsed.error);
  return parsed.limits;
}

function limitOptions<T>(y: Argv<T>): Argv<T> {
  // Strings, parsed by parseLimitFlags: yargs' own number parsing would turn "12k"
  // into NaN before the error message could quote what was typed.
  for (const f of LIMIT_FLAGS) y = y.option(f.flag, { type: 'string', requiresArg: true, describe: f.describe, defaultDescription: String(flagDefault(f)) }) as Argv<T>;
  return y;
}

/** Snapshot, segment and retention flags (storage-flags.ts); strings, checked by parseStorageFlags. */
function storageOptions<T>(y: Argv<T>): Argv<T> {
  for (const f of STORAGE_FLAGS) y = y.option(f.flag, { type: 'string', requiresArg: true, describe: f.describe, defaultDescription: storageFlagDefault(f) }) as Argv<T>;
  return y.option(RETENTION_FLAG, { type: 'string', requiresArg: true, describe: `remove journal segments covered by the kept snapshots (${RETENTIONS.join('|')})`, defaultDescription: STORAGE_DEFAULTS.retention }) as Argv<T>;
}

async function runStart(a: Record<string, unknown>): Promise<number> {
  const listen = parseHostPort(String(a.listen), '--listen');
  const limits = limitsFrom(a);
  const parsedStorage = parseStorageFlags(a);
  if ('error' in parsedStorage) throw usage(parsedStorage.error);
  const { storage } = parsedStorage;
  if (a.replicationTokenFile !== undefined) throw usage('--replication-token-file: replication is not available in this version yet');
  const certFile = a.tlsCert as string | undefined;
  const keyFile = a.tlsKey as string | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw usage('--tls-cert and --tls-key go together');
  const tls = certFile !== undefined ? { cert: readText('tls-cert', certFile), key: readText('tls-key', keyFile!) } : undefined;

  const { log, flush } = createLogger('chat-server', a.logLevel as LevelWithSilent);
  let server;
  try {
    server = await startServer({
      dataDir: String(a.data), listen, registration: a.registration as 'open' | 'closed', limits, storage, tls, logger: log,
      onJournalFailure: (err) => {
        // Memory is ahead of disk: nothing may be acknowledged any more (SPEC §8).
        log.fatal({ err }, 'journal write failed; stopping');
        flush();
        process.exit(EXIT.INTERNAL);
      },
    });
  } catch (err) {
    flush();
    throw err;
  }
  // Handlers answer every failure themselves; anything that escapes is a bug.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception (a bug); stopping');
    flush();
    process.exit(EXIT.INTERNAL);
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'signal received; shutting down');
  const again = (): void => {
    log.warn('second signal; exiting without a clean shutdown');
    flush();
    process.exit(EXIT.INTERNAL);
  };
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  await server.close();
  flush();
  return EXIT.OK;
}

async function runUseradd(a: Record<string, unknown>): Promise<number> {
  const name = String(a.name);
  const password = await readPassword(a.passwordFile as string | undefined, name);
  const { log, flush } = createLogger('chat-server', a.logLevel as LevelWithSilent);
  try {
    await addUser({ dataDir: String(a.data), name, password, admin: a.admin === true, displayName: a.displayName as string | undefined, log });
  } finally {
    flush();
  }
  process.stdout.write(`created user "${name}"${a.admin === true ? ' (admin)' : ''}\n`);
  return EXIT.OK;
}

async function runPasswd(a: Record<string, unknown>): Promise<number> {
  const name = String(a.name);
  const password = await readPassword(a.passwordFile as string | undefined, name);
  const { log, flush } = createLogger('chat-server', a.logLevel as LevelWithSilent);
  try {
    await setPassword({ dataDir: String(a.data), name, password, log });
  } finally {
    flush();
  }
  process.stdout.write(`password of "${name}" changed; its sessions are revoked\n`);
  return EXIT.OK;
}

function logLevel(y: Argv, dflt: LevelWithSilent) {
  return y.option('log-level', { type: 'string', choices: LOG_LEVELS as LevelWithSilent[], default: dflt, describe: 'pino log level' });
}

/** Runs the CLI; resolves with the exit code (the bin script sets it). */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.OK;
  const cli = yargs(argv)
    .scriptName('chat-server')
    .command(['start', '$0'], 'run the primary server', (y) => storageOptions(limitOptions(logLevel(y, 'info'))
      .option('data', { type: 'string', default: DEFAULT_DATA, describe: 'data directory (created if missing)' })
      .option('listen', { type: 'string', default: DEFAULT_ADDRESS, describe: 'HOST:PORT to listen on (port 0: any free port)' })
      .option('registration', { type: 'string', choices: ['open', 'closed'], default: 'open', describe: 'whether clients may register' })
      .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve TLS (with --tls-key)' })
      .option('tls-key', { type: 'string', describe: 'PEM private key for --tls-cert' })
      .option('replication-token-file', { type: 'string', hidden: true })),
    async (a) => { code = await runStart(a); })
    .command('useradd <name>', 'create an account offline (server stopped)', (y) => logLevel(y, 'warn')
      .positional('name', { type: 'string', demandOption: true })
      .option('data', { type: 'string', demandOption: true, describe: 'data directory' })
      .option('admin', { type: 'boolean', default: false, describe: 'make the account a server admin' })
      .option('display-name', { type: 'string', describe: 'display name (default: the name)' })
      .option('password-file', { type: 'string', describe: 'file holding the password (else CHAT_PASSWORD, else a prompt)' }),
    async (a) => { code = await runUseradd(a); })
    .command('passwd <name>', 'set an account\'s password offline (server stopped)', (y) => logLevel(y, 'warn')
      .positional('name', { type: 'string', demandOption: true })
      .option('data', { type: 'string', demandOption: true, describe: 'data directory' })
      .option('password-file', { type: 'string', describe: 'file holding the password (else CHAT_PASSWORD, else a prompt)' }),
    async (a) => { code = await runPasswd(a); })
    .command('status', 'head, counts, connections and digests of a data dir or a running server', (y) => y
      .option('data', { type: 'string', requiresArg: true, describe: 'read this data directory offline (no lock; works while a server runs)' })
      .option('server', { type: 'string', requiresArg: true, describe: 'ask the server at HOST:PORT [env CHAT_SERVER]' })
      .option('json', { type: 'boolean', describe: 'one JSON object on stdout' })
      .option('max-lag', { type: 'string', requiresArg: true, describe: 'exit 9 when a replica lags more (no replicas yet: checks nothing)' })
      .option('tls', { type: 'boolean', describe: 'connect with TLS [env CHAT_TLS=1]' })
      .option('ca', { type: 'string', requiresArg: true, describe: 'CA certificate (PEM) for a self-signed server; implies --tls [env CHAT_CA]' })
      .option('quiet', { type: 'boolean', describe: 'only errors on stderr' }),
    async (a) => { code = await (await import('./tools/status.js')).runStatus(a); })
    .command('verify', 're-check every journal record and snapshot of a data dir (exit 8 naming the first bad one)', (y) => y
      .option('data', { type: 'string', demandOption: true, requiresArg: true, describe: 'data directory' })
      .option('json', { type: 'boolean', describe: 'one JSON object on stdout' })
      .option('quiet', { type: 'boolean', describe: 'only errors on stderr' }),
    async (a) => { code = await (await import('./tools/verify.js')).runVerify(a); })
    // No chat-server flag takes a list: a flag given twice is a usage error, as in
    // `chat` (src/client/cli/options.ts), not an array reaching the code as one value.
    .middleware((a) => {
      for (const [key, value] of Object.entries(a)) {
        if (key === '_' || key.includes('-') || !Array.isArray(value)) continue;
        const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
        throw usage(`--${flag} given ${value.length} times; give it once (see: chat-server --help)`);
      }
    }, true)
    .strict()
    .help()
    .version(packageVersion())
    .fail((msg, err) => {
      // yargs reports its own parse errors (a flag without its value) as YError.
      if (err && err.name !== 'YError') throw err;
      if (err) throw usage(`${err.message} (see: chat-server --help)`);
      throw usage(`${msg} (see: chat-server --help)`);
    });
  try {
    await cli.parseAsync();
  } catch (err) {
    // One line (SPEC §2): yargs words some messages over several lines.
    process.stderr.write(`chat-server: ${describe(err).replace(/\s*\n\s*/g, ' ')}\n`);
    return exitFor(err);
  }
  return code;
}

/** System errors that are the environment's, not a bug, and what to check for each. */
const SYSTEM_HINTS: Record<string, string> = {
  EACCES: 'check the permissions of the data directory and its files',
  EPERM: 'check the permissions of the data directory and its files',
  EROFS: 'the file system is read-only; use a writable --data',
  ENOSPC: 'the disk is full; free space and start again',
  EDQUOT: 'the disk quota is used up; free space and start again',
  EMFILE: 'too many open files; raise the limit (ulimit -n)',
  ENFILE: 'too many open files on this machine',
  EIO: 'the disk reported an I/O error; check it, then run chat-server verify',
};

function describe(err: unknown): string {
  if (err instanceof ChatError || err instanceof ListenError || err instanceof JournalCorruptError) return err.message;
  if (err instanceof ApplyError) return `the journal does not describe a valid history: ${err.message}`;
  const sys = err as NodeJS.ErrnoException;
  if (typeof sys?.code === 'string' && typeof sys.syscall === 'string' && SYSTEM_HINTS[sys.code] !== undefined) {
    // The machine refused, not our code: name the file and what to check (SPEC §2).
    return `${sys.syscall} ${sys.path ?? ''} failed: ${sys.code} (${SYSTEM_HINTS[sys.code]})`.replace('  ', ' ');
  }
  return `internal error (a bug): ${(err as Error)?.message ?? String(err)}`;
}

function exitFor(err: unknown): number {
  if (err instanceof JournalCorruptError || err instanceof ApplyError) return EXIT.INTEGRITY;
  if (err instanceof ListenError) return EXIT.INTERNAL;
  return exitCodeFor(err);
}
