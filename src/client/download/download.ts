/**
 * One resumable, verified download (SPEC §6), shared by `chat-get` and the interactive
 * client's /get. docs/DOWNLOADS.md describes the same contract for users.
 *
 * Contract of downloadFile():
 *  - it asks the server about the file (FILE_INFO) before touching anything local: a
 *    refusal (4 not found, 5 not a member) leaves no part file and no log entry;
 *  - bytes go to `${target}.part`; the resume log (resume-log.ts) records what is
 *    fetched and checkpoints of the bytes on disk (transfer.ts); only a file whose
 *    sha256 equals the server's appears under the target name: fsync, rename, fsync
 *    of the directory; then the log entry goes. An existing target is replaced only
 *    then (until that rename it keeps its old content);
 *  - an entry for the target is resumed: part file cut back to the last checkpoint C,
 *    its C bytes hashed again from disk, the same version read from C. A part file
 *    shorter than C, or a log whose header cannot be read, starts over with a note;
 *  - the resume never splices two versions: when the entry holds another version
 *    than the one this run asks for (the latest changed, or was removed, or another
 *    @VERSION, or another file), CHAT_ERR_CONFLICT (6) explains, and `restart` drops
 *    the entry and the part file and fetches from 0;
 *  - the final sha256 differs from the server's: CHAT_ERR_INTEGRITY (8); the part
 *    file and the entry are deleted (nothing wrong is kept; a rerun starts over);
 *  - a lost connection (server killed or restarted) with `reconnect` given: new
 *    connections with backoff, the same version checked again with FILE_INFO and read
 *    on from the bytes on disk; after `retryMs` without getting a connection back,
 *    CHAT_ERR_NETWORK (7) saying the progress is kept. Without `reconnect`, 7 at once;
 *  - on any failure but 8 (and on the signal), what was written is checkpointed before
 *    it rejects, so the next run goes on from there.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChatError, isChatError } from '../../common/errors.js';
import { fileInfo, formatBytes, type FileInfo } from '../drive/types.js';
import type { ChatConnection } from '../connection.js';
import { stateDir } from '../cursor-store.js';
import { fsyncDir, hashFile, hashPrefix, localError } from './local-files.js';
import { ResumeEntry, type DownloadMeta, type LogState } from './resume-log.js';
import { until } from '../../common/abort.js';
import { Checkpointer, DEFAULT_TUNING, fetchRest, type Position, type Tuning } from './transfer.js';

export { CHUNK, DEFAULT_TUNING, type Tuning } from './transfer.js';

/** How long a lost connection is retried before giving up (7). */
export const DEFAULT_RETRY_MS = 30_000;

export interface DownloadRequest {
  /** Normalized HOST:PORT of `conn`: recorded in the log, so --resume knows where to go. */
  server: string;
  group: string;
  name: string;
  /** A version (>= 1); undefined: the latest (a newer one during a resume is a conflict). */
  version?: number;
  /** Where the file goes (a file path; the caller resolves -o and directories). */
  target: string;
  /** Drop an interrupted download of this target and start over. */
  restart?: boolean;
  onProgress?: (done: number, size: number) => void;
  signal?: AbortSignal;
  /** A new logged-in connection after a loss (the caller owns and closes it). */
  reconnect?: () => Promise<ChatConnection>;
  /** Things people should know (a part file started over, a reconnect). */
  onNote?: (text: string) => void;
  /** The state dir whose downloads/ holds the resume log (default: stateDir()). */
  stateDir?: string;
  retryMs?: number;
  tuning?: Partial<Tuning>;
  /** Test hook: each FILE_READ as it is sent, with the durable checkpoint then. */
  onRead?: (offset: number, length: number, durable: number) => void;
}

export interface DownloadResult {
  name: string;
  version: number;
  size: number;
  /** Bytes received from the server in this run. */
  bytes: number;
  sha256: string;
  seconds: number;
  /** Where this run started (the checkpoint it resumed from; 0 for a fresh download). */
  resumedFrom: number;
  /** Absolute path of the file written. */
  target: string;
}

const sleep = (ms: number, signal?: AbortSignal) => until(signal, new Promise<void>((r) => setTimeout(r, ms)));

/** FILE_INFO as a FileInfo; version 0 is the latest. */
export async function askFileInfo(conn: ChatConnection, group: string, name: string, version: number): Promise<FileInfo> {
  return fileInfo((await conn.request('FILE_INFO', { group, name, version })).file);
}

function isNetwork(err: unknown): err is ChatError {
  return isChatError(err) && err.exitCode === 7;
}

/** Downloads one file version to `req.target` (see the module contract). */
export async function downloadFile(conn: ChatConnection, req: DownloadRequest): Promise<DownloadResult> {
  const started = performance.now();
  const target = path.resolve(req.target);
  const part = `${target}.part`;
  const note = req.onNote ?? (() => undefined);
  req.signal?.throwIfAborted();
  checkTargetPath(target);
  const info = await askFileInfo(conn, req.group, req.name, req.version ?? 0);
  const want: DownloadMeta = {
    server: req.server, group: req.group, name: info.name, version: info.version, latest: req.version === undefined,
    size: info.size, sha256: info.sha256, target, started: Date.now(),
  };
  const entry = await ResumeEntry.open(req.stateDir ?? stateDir(), target);
  let fh: FileHandle | undefined;
  try {
    const state = entry.read();
    let from: { meta: DownloadMeta; state: LogState } | undefined;
    if (state?.problem) note(`the resume log of ${target} is unreadable (${state.problem}): starting over`);
    else if (state?.meta && !req.restart) {
      const why = await conflict(conn, state.meta, want, req);
      if (why) throw new ChatError('CHAT_ERR_CONFLICT', why);
      from = { meta: state.meta, state };
    }
    const meta = from?.meta ?? want;
    const result = (n: { bytes: number; resumedFrom: number }): DownloadResult => ({
      name: meta.name, version: meta.version, size: meta.size, sha256: meta.sha256, target,
      seconds: (performance.now() - started) / 1000, ...n,
    });

    let position: Position | undefined;
    if (from) {
      const resumed = await reopen(from.state, part, target, note);
      if (resumed === 'complete') {
        await entry.remove();
        return result({ bytes: 0, resumedFrom: meta.size });
      }
      if (resumed) {
        ({ fh, position } = resumed);
        await entry.startAppending(from.state);
        note(`resuming "${meta.name}" v${meta.version} from ${formatBytes(position.written)} (${position.written} of ${meta.size} bytes)`);
      }
    }
    if (!position) {
      fh = await openFresh(part, target);
      await entry.create(meta);
      position = { written: 0, hash: createHash('sha256'), received: 0 };
    }
    const resumedFrom = position.written;
    const tuning = { ...DEFAULT_TUNING, ...req.tuning };
    const checkpointer = new Checkpointer(fh!, entry, resumedFrom, tuning.checkpointEvery);
    req.onProgress?.(position.written, meta.size);
    try {
      await fetchWithRetries(conn, req, meta, position, {
        group: meta.group, name: meta.name, version: meta.version, size: meta.size, part: fh!, checkpointer, tuning,
        onProgress: req.onProgress, signal: req.signal, onRead: req.onRead,
      });
      await checkpointer.flush(position.written);
    } catch (err) {
      // Keep what was fetched for the next run (SPEC §6); the failure is what counts.
      await checkpointer.flush(position.written).catch(() => undefined);
      throw err;
    }
    const sha256 = position.hash.digest('hex');
    if (sha256 !== meta.sha256) {
      await fh!.close();
      fh = undefined;
      fs.rmSync(part, { force: true });
      await entry.remove();
      throw new ChatError('CHAT_ERR_INTEGRITY',
        `"${meta.name}" v${meta.version}: the bytes fetched have sha256 ${sha256.slice(0, 12)}…, the server says ${meta.sha256.slice(0, 12)}…; `
        + `nothing was saved as ${target} and the partial download was discarded (run again to fetch it from the start)`);
    }
    await commit(fh!, part, target);
    fh = undefined;
    await entry.remove();
    return result({ bytes: position.received, resumedFrom });
  } finally {
    await fh?.close().catch(() => undefined);
    await entry.release();
  }
}

/** Why resuming `have` for this request would be wrong (SPEC §6: never splice two versions), or undefined. */
async function conflict(conn: ChatConnection, have: DownloadMeta, want: DownloadMeta, req: DownloadRequest): Promise<string | undefined> {
  const partName = `${have.target}.part`;
  // The server is not compared: the same version (same sha256) may come from another
  // address of the same server, or later from a replica; the final sha256 decides.
  if (have.group !== want.group || have.name !== want.name) {
    return `${partName} is an interrupted download of "${have.name}" v${have.version} from #${have.group} at ${have.server} `
      + `(finish it with chat-get --resume, or pass --restart to replace it with "${want.name}")`;
  }
  if (have.version !== want.version) {
    if (req.version !== undefined) {
      return `${partName} is an interrupted download of "${have.name}" v${have.version}, not of the v${want.version} asked for `
        + `(ask for ${have.name}@${have.version} to finish it, or pass --restart to fetch v${want.version})`;
    }
    const oldKept = await askFileInfo(conn, have.group, have.name, have.version).then(() => true, (err: unknown) => {
      if (isChatError(err, 'CHAT_ERR_NOT_FOUND')) return false;
      throw err;
    });
    return `"${have.name}" changed on the server: the interrupted download is of v${have.version}, `
      + `${oldKept ? '' : 'which was removed since, '}and the latest is now v${want.version} `
      + `(run again with --restart to fetch v${want.version}${oldKept ? `, or ask for ${have.name}@${have.version} to finish v${have.version}` : ''})`;
  }
  if (have.size !== want.size || have.sha256 !== want.sha256) {
    return `"${have.name}" v${have.version} on ${want.server} is not the one the interrupted download began with (its size or sha256 differ: `
      + `was the server's data replaced?); pass --restart to fetch it again`;
  }
  return undefined;
}

/**
 * Reopens the part file of an entry at its last checkpoint: 'complete' when the
 * target already holds the finished file (a crash after the rename), the handle and
 * position to go on from, or undefined to start over (with a note saying why).
 */
async function reopen(state: LogState, part: string, target: string, note: (t: string) => void):
  Promise<'complete' | { fh: FileHandle; position: Position } | undefined> {
  const meta = state.meta!;
  const c = state.checkpoint;
  let size: number | undefined;
  try {
    size = fs.statSync(part).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw local(part, err);
  }
  if (size === undefined) {
    const t = fs.statSync(target, { throwIfNoEntry: false });
    if (t?.isFile() && t.size === meta.size && await hashFile(target) === meta.sha256) return 'complete';
    if (c > 0) note(`${part} is missing: starting "${meta.name}" v${meta.version} over`);
    return undefined;
  }
  if (size < c) {
    note(`${part} holds ${size} bytes, fewer than the ${c} its resume log says are on disk: starting "${meta.name}" v${meta.version} over`);
    return undefined;
  }
  let fh: FileHandle;
  try {
    fh = await open(part, 'r+');
    if (size > c) await fh.truncate(c);
  } catch (err) {
    throw local(part, err);
  }
  const hash = await hashPrefix(part, c);
  if (!hash) {
    await fh.close();
    note(`${part} changed while being read: starting "${meta.name}" v${meta.version} over`);
    return undefined;
  }
  return { fh, position: { written: c, hash, received: 0 } };
}

/** An empty part file, its directory entry durable. */
async function openFresh(part: string, target: string): Promise<FileHandle> {
  try {
    const fh = await open(part, 'w', 0o644);
    fsyncDir(path.dirname(target));
    return fh;
  } catch (err) {
    throw local(part, err);
  }
}

/** fsync the part file, rename it to the target, fsync the directory; closes `fh`. */
async function commit(fh: FileHandle, part: string, target: string): Promise<void> {
  try {
    await fh.sync();
    await fh.close();
    fs.renameSync(part, target);
    fsyncDir(path.dirname(target));
  } catch (err) {
    throw local(target, err);
  }
}

function checkTargetPath(target: string): void {
  if (fs.statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ChatError('CHAT_ERR_USAGE', `cannot save to ${target}: it is a directory`);
  }
}

function local(file: string, err: unknown): ChatError {
  return new ChatError('CHAT_ERR_USAGE', `cannot write ${file}: ${localError(err)}`, { cause: err });
}

/**
 * fetchRest, reconnecting after a lost connection (see the module contract). Each
 * loss gets `retryMs` to get a connection back; the clock starts again after progress.
 */
async function fetchWithRetries(conn: ChatConnection, req: DownloadRequest, meta: DownloadMeta, p: Position,
  job: Parameters<typeof fetchRest>[1]): Promise<void> {
  let link = conn;
  for (;;) {
    try {
      await fetchRest(link, job, p);
      return;
    } catch (err) {
      if (isChatError(err, 'CHAT_ERR_NOT_FOUND')) throw removed(req, meta, p, err);
      if (!isNetwork(err) || !req.reconnect) throw err;
      const note = req.onNote ?? (() => undefined);
      note(`${err.message}; reconnecting to go on from ${p.written} bytes of "${meta.name}"`);
      link = await reconnect(req, meta, p, err);
      note(`reconnected; going on from ${p.written} bytes of "${meta.name}"`);
    }
  }
}

/**
 * The version being fetched is gone from the server (NOT_FOUND on FILE_READ or
 * FILE_INFO): for a run that asked for the latest, the file changed (6, --restart
 * fetches the new latest); for an explicit @VERSION, that version is not found (4).
 */
function removed(req: DownloadRequest, meta: DownloadMeta, p: Position, err: ChatError): ChatError {
  const kept = `${p.written} of ${meta.size} bytes are kept in ${meta.target}.part`;
  return req.version === undefined
    ? new ChatError('CHAT_ERR_CONFLICT', `"${meta.name}" v${meta.version} was removed from the server while it was being fetched `
      + `(${kept}; run again with --restart to fetch the latest version)`, { cause: err })
    : new ChatError('CHAT_ERR_NOT_FOUND', `"${meta.name}" v${meta.version} was removed from the server while it was being fetched `
      + `(${kept}; see: chat files -g ${meta.group} --versions)`, { cause: err });
}

async function reconnect(req: DownloadRequest, meta: DownloadMeta, p: Position, lost: ChatError): Promise<ChatConnection> {
  const budget = req.retryMs ?? DEFAULT_RETRY_MS;
  const lostAt = performance.now();
  let last: ChatError = lost;
  for (let attempt = 0; ; attempt++) {
    const left = budget - (performance.now() - lostAt);
    if (left <= 0) {
      throw new ChatError('CHAT_ERR_NETWORK',
        `${last.message}; gave up after ${Math.round(budget / 1000)} s of retries. ${p.written} of ${meta.size} bytes of "${meta.name}" are kept: `
        + 'run the same command again, or chat-get --resume, to go on', { cause: last });
    }
    await sleep(Math.min(left, Math.min(4000, 250 * 2 ** attempt)), req.signal);
    let conn: ChatConnection | undefined;
    try {
      conn = await req.reconnect!();
      const now = await askFileInfo(conn, meta.group, meta.name, meta.version);
      if (now.size !== meta.size || now.sha256 !== meta.sha256) {
        throw new ChatError('CHAT_ERR_CONFLICT', `"${meta.name}" v${meta.version} changed on the server while it was being fetched `
          + '(its size or sha256 differ: was the server\'s data replaced?); pass --restart to fetch it again');
      }
      return conn;
    } catch (err) {
      if (isChatError(err, 'CHAT_ERR_NOT_FOUND')) throw removed(req, meta, p, err);
      if (!isNetwork(err)) throw err;
      last = err;
    }
  }
}
