/**
 * `chat-get` (SPEC §6):
 *   chat-get -g GROUP FILE[@VERSION]... [-o DIR|FILE] [--json] [--no-progress] [--restart]
 *   chat-get --resume [-o DIR]
 * plus the common options of SPEC §2.
 *
 * Contract:
 *  - arguments are resolved (targets.ts) before anything is fetched; then the files
 *    are fetched one after the other over one connection with downloadFile()
 *    (download.ts), each printing one line (`saved NAME vN → TARGET (SIZE[, resumed
 *    from X])`) or, with --json, one object {group, name, version, size, bytes,
 *    sha256, seconds, resumedFrom, target};
 *  - a file that fails (4, 6, 8, a local write error) is reported on stderr as one
 *    `chat-get: ...` line and the others go on; the run exits with the first failure's
 *    code. Auth (3) and network (7, after downloadFile's retries) end the run at once;
 *  - a lost connection is retried by downloadFile with a fresh connection and login
 *    (the stored session's token, or the password of an ephemeral login, held in
 *    memory only); CHAT_GET_RETRY_SECONDS (default 30) bounds each outage;
 *  - --resume: every entry of the resume log (restricted to targets inside -o DIR),
 *    grouped by the server it came from, fetched as the original command would have
 *    (the latest, or the pinned @VERSION): a newer latest is 6 as on a rerun, and
 *    with --restart that one (only) starts over with the latest, said in a note. One
 *    whose file, version or group is gone (4) is dropped with its part file;
 *  - SIGINT/SIGTERM: the current download checkpoints what it has, says how to go on,
 *    and the process ends by that signal (a second one ends it at once);
 *  - progress bars (cli-progress, stderr) only on a TTY without --json, --quiet or
 *    --no-progress (SPEC §2).
 */
import fs from 'node:fs';
import path from 'node:path';
import { formatHostPort, parseHostPort } from '../../common/address.js';
import { ChatError, EXIT, exitCodeFor, isChatError } from '../../common/errors.js';
import { checkFileName, checkName, splitFileVersion } from '../../common/names.js';
import { logIn, resume, type Session } from '../auth.js';
import { withHint, type Hints } from '../cli/hints.js';
import { resolveSettings, single, type CommonArgs, type Settings } from '../cli/options.js';
import { errorLine } from '../cli/report.js';
import { connect, storeFor } from '../cli/session.js';
import type { ChatConnection } from '../connection.js';
import { stateDir } from '../cursor-store.js';
import { progressWanted, startProgress, type FileBar, type ProgressBars } from '../drive/progress.js';
import { formatBytes } from '../drive/types.js';
import { jsonLine, printable } from '../format.js';
import { downloadFile, type DownloadRequest, type DownloadResult } from './download.js';
import { dropEntry, listEntries, TargetBusyError, type DownloadMeta } from './resume-log.js';
import { planTargets, resolveFiles } from './targets.js';

export interface GetArgs extends CommonArgs {
  files?: string[];
  group?: string | string[];
  output?: string | string[];
  restart?: boolean;
  resume?: boolean;
  progress?: boolean;
}

/** A logged-in connection that can be replaced after a loss (downloadFile's `reconnect`). */
class Link {
  private constructor(readonly settings: Settings, public conn: ChatConnection, private readonly session: Session) {}

  static async open(settings: Settings): Promise<Link> {
    const conn = await connect(settings, true);
    try {
      return new Link(settings, conn, await logIn(conn, settings.credentials, storeFor(settings)));
    } catch (err) {
      await conn.close();
      throw err;
    }
  }

  async reconnect(): Promise<ChatConnection> {
    if (!this.conn.isClosed) await this.conn.close(500).catch(() => undefined);
    const conn = await connect(this.settings, true);
    try {
      await resume(conn, this.session);
    } catch (err) {
      await conn.close();
      throw err;
    }
    this.conn = conn;
    return conn;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

/**
 * Set when stdout's reader has gone (`chat-get ... | head -1`): the results are then
 * dropped, but the downloads go on and the exit code stays theirs. (Exiting, as a
 * listing command may, would leave files unfetched behind an exit 0.)
 */
let stdoutGone = false;

function writeOut(text: string): void {
  if (!stdoutGone) process.stdout.write(text);
}

/** The run's words: results on stdout, notes on stderr (above any bars), the SPEC §2 way. */
class Printer {
  private bars: ProgressBars | undefined;
  private held: string[] = [];

  constructor(readonly json: boolean, readonly quiet: boolean, readonly showProgress: boolean) {}

  async startBars(): Promise<ProgressBars | undefined> {
    if (this.showProgress && !this.bars) this.bars = await startProgress();
    return this.bars;
  }

  note(text: string): void {
    if (this.quiet) return;
    const line = `chat-get: ${text}`;
    if (this.bars) this.bars.log(line);
    else process.stderr.write(`${line}\n`);
  }

  error(err: unknown): void {
    const line = lineFor(err);
    if (this.bars) this.bars.log(line);
    else process.stderr.write(`${line}\n`);
  }

  saved(group: string, r: DownloadResult): void {
    if (this.json) {
      writeOut(jsonLine({
        group, name: r.name, version: r.version, size: r.size, bytes: r.bytes, sha256: r.sha256,
        seconds: Math.round(r.seconds * 1000) / 1000, resumedFrom: r.resumedFrom, target: r.target,
      }));
      return;
    }
    const how = r.resumedFrom === r.size && r.bytes === 0 && r.size > 0 ? ', already complete'
      : r.resumedFrom > 0 ? `, resumed from ${formatBytes(r.resumedFrom)}` : '';
    const line = `saved ${printable(r.name)} v${r.version} → ${shownPath(r.target)} (${formatBytes(r.size)}${how})`;
    // Result lines wait for the bars when both streams share the terminal.
    if (this.bars && process.stdout.isTTY) this.held.push(line);
    else writeOut(`${line}\n`);
  }

  stopBars(): void {
    this.bars?.stop();
    this.bars = undefined;
    for (const line of this.held.splice(0)) writeOut(`${line}\n`);
  }
}

/** `./dir/x` for a path under the current directory, else the absolute path. */
export function shownPath(target: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, target);
  return rel !== '' && isInside(cwd, target) ? `./${rel}` : target;
}

/** Whether `p` is `dir` or below it (a name like `..cache` is below it, `../x` is not). */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** The one-line error of SPEC §2, as `chat-get: ...`. */
export function lineFor(err: unknown): string {
  return errorLine(err).replace(/^chat: /, 'chat-get: ').replace(/\(see: chat get --help\)/, '(see: chat-get --help)');
}

function hintsFor(group: string): Hints {
  return {
    CHAT_ERR_NOT_FOUND: `see: chat files -g ${group}`,
    CHAT_ERR_PERMISSION: 'see: chat groups',
  };
}

/** Failures after which the next file cannot do better. */
function endsRun(err: unknown): boolean {
  const code = exitCodeFor(err);
  return code === EXIT.AUTH || code === EXIT.NETWORK || code === EXIT.INTERNAL;
}

function retryMs(env: NodeJS.ProcessEnv): number | undefined {
  const s = env.CHAT_GET_RETRY_SECONDS;
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) throw new ChatError('CHAT_ERR_USAGE', `CHAT_GET_RETRY_SECONDS "${s}" is not a number of seconds`);
  return n * 1000;
}

interface Job { group: string; name: string; version?: number; target: string }

/**
 * Fetches `jobs` over `link` one by one; returns the first failure's exit code (0 when
 * none). Errors that end the run are thrown.
 */
async function fetchAll(link: Link, jobs: readonly Job[], argv: GetArgs, out: Printer, signal: AbortSignal): Promise<number> {
  const settings = link.settings;
  // --resume --restart: resume what can be resumed; start over only what changed.
  const restartChanged = Boolean(argv.resume && argv.restart);
  let failed = 0;
  const bars = await out.startBars();
  for (const job of jobs) {
    let bar: FileBar | undefined;
    const req: DownloadRequest = {
      server: settings.server, ...job, restart: Boolean(argv.restart) && !restartChanged, signal,
      stateDir: stateDir(settings.env), retryMs: retryMs(settings.env),
      reconnect: () => link.reconnect(), onNote: (t) => out.note(t),
      onProgress: bars ? (done, size) => { (bar ??= bars.add(job.name, size)).update(done); } : undefined,
    };
    try {
      let result: DownloadResult;
      try {
        result = await downloadFile(link.conn, req);
      } catch (err) {
        if (!restartChanged || signal.aborted || !isChatError(err, 'CHAT_ERR_CONFLICT') || err instanceof TargetBusyError) throw err;
        out.note(`${err.message.replace(/ \(run again with --restart.*\)$/, '')}: starting over with the latest (--restart)`);
        bar?.stop();
        bar = undefined;
        result = await downloadFile(link.conn, { ...req, restart: true });
      }
      out.saved(job.group, result);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      let e = withHint(err, hintsFor(job.group));
      if (endsRun(e)) throw e;
      if (argv.resume && isChatError(e, 'CHAT_ERR_NOT_FOUND')) e = await forget(job, e, stateDir(settings.env));
      out.error(e);
      failed ||= exitCodeFor(e);
    }
  }
  return failed;
}

/**
 * --resume: the file, version or group is gone from the server, and versions never
 * come back, so the entry and its part file are dropped (else every later --resume
 * would fail the same way). Returns the error to report, saying so.
 */
async function forget(job: Job, err: ChatError, root: string): Promise<ChatError> {
  try {
    await dropEntry(root, job.target);
    fs.rmSync(`${job.target}.part`, { force: true });
  } catch {
    return err; // held by another chat-get, or not writable: it stays for a later run
  }
  return new ChatError(err.code, `${err.message}; its interrupted download to ${job.target} is dropped`, { cause: err });
}

async function getFiles(argv: GetArgs, settings: Settings, out: Printer, signal: AbortSignal): Promise<number> {
  const g = single(argv.group, '-g', 'get');
  if (g === undefined) throw new ChatError('CHAT_ERR_USAGE', 'give the group: -g GROUP (see: chat-get --help)');
  const group = checkName('group', String(g));
  const files = (argv.files ?? []).map(String);
  if (files.length === 0) throw new ChatError('CHAT_ERR_USAGE', 'give the files to fetch: FILE[@VERSION]... (see: chat-get --help)');
  // Checked before connecting, with the words of `chat rm`: no name the drive would
  // refuse can match, so it is a usage error (2), not "not found".
  for (const arg of files) checkFileName(splitFileVersion(arg).name);
  const output = single(argv.output, '-o', 'get');
  const link = await Link.open(settings);
  try {
    const wanted = await resolveFiles(link.conn, group, files).catch((err: unknown) => { throw withHint(err, hintsFor(group)); });
    const planned = planTargets(wanted, output);
    return await fetchAll(link, planned.map((p) => ({ group, name: p.name, version: p.version, target: p.target })), argv, out, signal);
  } finally {
    out.stopBars();
    await link.close();
  }
}

async function resumeAll(argv: GetArgs, settings: Settings, out: Printer, signal: AbortSignal): Promise<number> {
  if (argv.group !== undefined || (argv.files ?? []).length > 0) {
    throw new ChatError('CHAT_ERR_USAGE', '--resume takes no -g or FILE: it finishes what the resume log holds (see: chat-get --help)');
  }
  const output = single(argv.output, '-o', 'get');
  const root = stateDir(settings.env);
  const inside = output === undefined ? undefined : path.resolve(output);
  const listed = listEntries(root).filter((m) => inside === undefined || isInside(inside, m.target));
  let failed = 0;
  const entries: DownloadMeta[] = [];
  for (const m of listed) {
    if (dirExists(path.dirname(m.target))) {
      entries.push(m);
      continue;
    }
    // The user removed the directory: the download is given up, not made again there.
    try {
      await dropEntry(root, m.target);
      out.note(`dropped the interrupted download of "${printable(m.name)}" to ${m.target}: its directory is gone `
        + `(to fetch it again: chat-get -g ${m.group} -o DIR/ ${shellWord(m.name)})`);
    } catch (err) {
      out.error(err);
      failed ||= exitCodeFor(err);
    }
  }
  if (listed.length === 0) {
    out.note(`nothing to resume${inside ? ` in ${inside}` : ''} (resume log: ${path.join(root, 'downloads')})`);
    return EXIT.OK;
  }
  for (const server of [...new Set(entries.map((m) => m.server))]) {
    const address = parseHostPort(server);
    const s: Settings = { ...settings, address, server: formatHostPort(address), credentials: { ...settings.credentials, server } };
    const jobs = entries.filter((m) => m.server === server)
      .map((m) => ({ group: m.group, name: m.name, version: m.latest ? undefined : m.version, target: m.target }));
    try {
      const link = await Link.open(s);
      try {
        // Not `failed ||= await ...`: that would skip this server once another failed.
        const code = await fetchAll(link, jobs, argv, out, signal);
        failed ||= code;
      } finally {
        out.stopBars();
        await link.close();
      }
    } catch (err) {
      if (signal.aborted || !isChatError(err)) throw err;
      const e = unreachable(err, server, jobs);
      if (jobs.length === entries.length) throw e;
      out.error(e); // one server's trouble does not stop the others
      failed ||= exitCodeFor(e);
    }
  }
  return failed;
}

/**
 * A resume server that cannot be reached, said as what waits for it: the connect
 * error's own hint (check --server / CHAT_SERVER) does not apply, since --resume goes
 * to the server each download came from.
 */
function unreachable(err: ChatError, server: string, jobs: readonly Job[]): ChatError {
  if (err.exitCode !== EXIT.NETWORK) return err;
  const reason = err.message.replace(/^cannot reach chat server at \S+\s*/, '').replace(/\s*\(is chat-server running\?.*\)$/, '')
    || 'is chat-server running?';
  const what = jobs.length === 1 ? `the interrupted download of "${jobs[0].name}"` : `${jobs.length} interrupted downloads`;
  return new ChatError('CHAT_ERR_NETWORK', `cannot reach ${server}, where ${what} came from (${reason}); `
    + `${jobs.length === 1 ? 'it stays' : 'they stay'} in the resume log: run chat-get --resume again once the server is back`, { cause: err });
}

/**
 * A FILE argument as shell words, quoted only when it needs it, for commands shown in
 * messages; one starting with '-' comes after `--` (so it must be the last argument).
 */
export function shellWord(word: string): string {
  const quoted = /^[A-Za-z0-9._@%+=:,/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
  return word.startsWith('-') ? `-- ${quoted}` : quoted;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function dirExists(dir: string): boolean {
  return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

async function parse(args: string[]): Promise<GetArgs | undefined> {
  const [{ default: yargs }, { withCommonOptions }] = await Promise.all([import('yargs'), import('../cli/options.js')]);
  const parser = withCommonOptions(yargs(args)
    .scriptName('chat-get')
    .usage('$0 -g GROUP FILE[@VERSION]... [-o DIR|FILE] [options]\n$0 --resume [-o DIR]\n\n'
      + 'Resumable, verified downloads from a group\'s drive. Exit codes: 0 ok, 2 usage, 3 auth, 4 not found, '
      + '5 permission, 6 file changed on the server (see --restart), 7 network, 8 checksum mismatch.'))
    .option('group', { alias: 'g', type: 'string', requiresArg: true, describe: 'the group whose drive holds the files' })
    .option('output', { alias: 'o', type: 'string', requiresArg: true, describe: 'a directory (existing, or ending in /) or, for one file, the file to write (default: .)' })
    .option('restart', { type: 'boolean', describe: 'drop an interrupted download of the target and fetch from the start (with --resume: only those whose file changed on the server)' })
    .option('resume', { type: 'boolean', describe: 'finish every interrupted download in the resume log (inside -o DIR if given)' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bars on a terminal (--no-progress: none)' })
    .example('chat-get -g ops report.pdf', '')
    .example('chat-get -g ops \'*.log\' -o logs/ --json', '')
    .example('chat-get -g ops report.pdf@3 -o old-report.pdf', '')
    .example('chat-get --resume', '')
    .strictOptions() // FILE arguments are positionals, not subcommands
    .parserConfiguration({ 'parse-positional-numbers': false })
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .wrap(Math.min(100, process.stdout.columns || 80))
    .exitProcess(false)
    .fail(false);
  let argv: Record<string, unknown>;
  try {
    argv = await parser.parseAsync() as Record<string, unknown>;
  } catch (err) {
    let what = (err as Error).message.split('\n')[0].trim();
    const flag = /^Not enough arguments following: (\S+)/.exec(what)?.[1];
    if (flag) what = `${flag.length === 1 ? '-' : '--'}${flag} needs a value`;
    // `chat-get -g ops -rf` reads as flags r and f: say how to name such a file.
    const dashName = /^Unknown argument/i.test(what) && args.slice(0, (args.indexOf('--') + 1 || args.length + 1) - 1)
      .some((a) => /^-[^-]/.test(a) && !['-g', '-o', '-h'].includes(a));
    const hint = dashName ? "; a FILE starting with '-' goes after --: chat-get -g GROUP -- -FILE" : '';
    throw new ChatError('CHAT_ERR_USAGE', `${what.charAt(0).toLowerCase()}${what.slice(1)} (see: chat-get --help${hint})`);
  }
  if (argv.help || argv.version) return undefined;
  // FILE arguments are the positionals (there are no subcommands).
  return { ...argv, files: (argv._ as unknown[]).map(String) } as GetArgs;
}

/** Resolves on the first SIGINT/SIGTERM (aborting `ctl`); a second one ends the process at once. */
function onSignals(ctl: AbortController): { signal(): NodeJS.Signals | undefined; dispose(): void } {
  let got: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (got) process.exit(sig === 'SIGINT' ? 130 : 143); // the resume log is consistent at any instant
    got = sig;
    ctl.abort(new ChatError('CHAT_ERR_NETWORK', `interrupted by ${sig}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: () => got,
    dispose: () => { process.off('SIGINT', handler); process.off('SIGTERM', handler); },
  };
}

/** Runs chat-get with `args`; returns the exit code, or the signal that interrupted it. */
export async function run(args: string[]): Promise<number | NodeJS.Signals> {
  const ctl = new AbortController();
  const signals = onSignals(ctl);
  let out = new Printer(false, false, false);
  try {
    if (args.some((a) => a === '--peers' || a.startsWith('--peers='))) {
      throw new ChatError('CHAT_ERR_USAGE', '--peers (downloads helped by replicas) is not available yet: it comes with replicas (see: chat-get --help)');
    }
    const argv = await parse(args);
    if (!argv) return EXIT.OK;
    const settings = resolveSettings(argv, 'get');
    out = new Printer(settings.json, settings.quiet, progressWanted(settings) && argv.progress !== false);
    return argv.resume ? await resumeAll(argv, settings, out, ctl.signal) : await getFiles(argv, settings, out, ctl.signal);
  } catch (err) {
    const sig = signals.signal();
    if (sig) {
      out.stopBars();
      out.note(`${sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`}: what was fetched is kept; run the same command again, or chat-get --resume, to go on`);
      return sig;
    }
    out.stopBars();
    out.error(err);
    return exitCodeFor(err);
  } finally {
    signals.dispose();
  }
}

/** bin/chat-get.js calls this: run, then exit with the code (or by the signal) once output is flushed. */
export async function main(args: string[]): Promise<void> {
  process.stdout.on('error', () => { stdoutGone = true; }); // EPIPE and the like: nobody reads
  const code = await run(args);
  if (!stdoutGone) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  if (typeof code === 'string') process.kill(process.pid, code); // handlers are gone: the default action ends us
  else process.exit(code);
}
