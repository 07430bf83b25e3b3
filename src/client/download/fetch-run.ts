/**
 * The parts of a `chat-get` run (cli.ts) that fetch and tell (SPEC §6, §2): the
 * logged-in link that reconnects, the printer (results on stdout, notes and errors on
 * stderr above any bars), and fetchAll(), which downloads a list of jobs one after
 * the other, each failure one line, and returns the first failure's exit code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChatError, EXIT, exitCodeFor, isChatError } from '../../common/errors.js';
import { logIn, resume, type Session } from '../auth.js';
import { withHint, type Hints } from '../cli/hints.js';
import type { CommonArgs, Settings } from '../cli/options.js';
import { errorLine } from '../cli/report.js';
import { connect, storeFor } from '../cli/session.js';
import type { ChatConnection } from '../connection.js';
import { stateDir } from '../cursor-store.js';
import { startProgress, type FileBar, type ProgressBars } from '../drive/progress.js';
import { formatBytes } from '../drive/types.js';
import { jsonLine, printable } from '../format.js';
import { downloadFile, type DownloadRequest, type DownloadResult } from './download.js';
import { dropEntry, TargetBusyError } from './resume-log.js';

export interface GetArgs extends CommonArgs {
  files?: string[];
  group?: string | string[];
  output?: string | string[];
  restart?: boolean;
  resume?: boolean;
  progress?: boolean;
}
/** A logged-in connection that can be replaced after a loss (downloadFile's `reconnect`). */
export class Link {
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

/** Called when stdout fails (EPIPE and the like): nobody reads it any more. */
export function stdoutClosed(): void {
  stdoutGone = true;
}

export function isStdoutGone(): boolean {
  return stdoutGone;
}

function writeOut(text: string): void {
  if (!stdoutGone) process.stdout.write(text);
}

/** The run's words: results on stdout, notes on stderr (above any bars), the SPEC §2 way. */
export class Printer {
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

export function hintsFor(group: string): Hints {
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

export interface Job { group: string; name: string; version?: number; target: string }

/**
 * Fetches `jobs` over `link` one by one; returns the first failure's exit code (0 when
 * none). Errors that end the run are thrown.
 */
export async function fetchAll(link: Link, jobs: readonly Job[], argv: GetArgs, out: Printer, signal: AbortSignal): Promise<number> {
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

/**
 * A FILE argument as shell words, quoted only when it needs it, for commands shown in
 * messages; one starting with '-' comes after `--` (so it must be the last argument).
 */
export function shellWord(word: string): string {
  const quoted = /^[A-Za-z0-9._@%+=:,/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
  return word.startsWith('-') ? `-- ${quoted}` : quoted;
}

