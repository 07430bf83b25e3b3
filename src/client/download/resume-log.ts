/**
 * The local resume log of `chat-get` (SPEC §6; docs/DOWNLOADS.md has the format).
 *
 * One entry per download target, in a directory named by a hash of the target's
 * absolute path: STATE/downloads/<32 hex>/ holding `log` and, while a chat-get works
 * on it, `LOCK` (the journal's DirLock: a second chat-get on the same target exits 6;
 * a lock left by a killed process is taken over).
 *
 * `log` is append-only text, one record per line: PAYLOAD, a space, the CRC-32C of
 * PAYLOAD's UTF-8 bytes as 8 lowercase hex digits, "\n". The first record is the
 * header, `chat-get-resume/1 {json}` (DownloadMeta); every later one is a checkpoint
 * `@OFFSET` (decimal): the first OFFSET bytes of the part file are on disk.
 *
 * Contract (crash consistency at any instant):
 *  - the header is written whole: temp file, fsync, rename, fsync of the entry dir;
 *    a fresh header replaces the whole log (start over), never appends to one;
 *  - the caller appends a checkpoint only after the bytes it covers were fdatasync'ed
 *    to the part file; append() writes the record in one write() and fdatasyncs the log
 *    before it resolves, so a checkpoint that can be read back is durable and true;
 *  - a record that is incomplete (no "\n"), fails its CRC, goes backwards or past the
 *    size ends the log: it and everything after it are ignored (a torn append), and
 *    are cut off before the next append so that new records never follow garbage;
 *  - a header that cannot be read makes the whole entry unreadable (`problem`): the
 *    caller starts that download over.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ChatError } from '../../common/errors.js';
import { DirLock } from '../../journal/lock.js';
import { crc32c } from '../../journal/crc32c.js';
import { fsyncDir, localError, makeDirs } from './local-files.js';

const HEADER_TAG = 'chat-get-resume/1';
const LOG_FILE = 'log';

/** Another chat-get holds the target's entry (6): unlike a changed file, --restart cannot help. */
export class TargetBusyError extends ChatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CHAT_ERR_CONFLICT', message, options);
  }
}

/** What a log entry says is being fetched. */
export interface DownloadMeta {
  /** Normalized HOST:PORT of the server it comes from. */
  server: string;
  group: string;
  name: string;
  version: number;
  /** The run asked for the latest version (no @VERSION): a newer one on the server is a conflict. */
  latest: boolean;
  size: number;
  /** Lowercase hex, as the server reported it. */
  sha256: string;
  /** Absolute path of the target file; the part file is `${target}.part`. */
  target: string;
  /** When this download began, ms since the epoch. */
  started: number;
}

export interface LogState {
  /** The header, or undefined when it is unreadable (see problem). */
  meta?: DownloadMeta;
  /** The last valid checkpoint (0 when there is none). */
  checkpoint: number;
  /** Bytes of the log up to the end of the last valid record. */
  validBytes: number;
  /** Why the header could not be used; the download must start over. */
  problem?: string;
  /** A torn or bad record after the last valid one was ignored. */
  tornTail: boolean;
}

/** The entry directory of `target` under `root` (the state dir). */
export function entryDir(root: string, target: string): string {
  const id = createHash('sha256').update(path.resolve(target)).digest('hex').slice(0, 32);
  return path.join(downloadsDir(root), id);
}

export function downloadsDir(root: string): string {
  return path.join(root, 'downloads');
}

/** One record as stored: PAYLOAD, space, CRC-32C hex, newline. */
export function encodeRecord(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const crc = crc32c(body).toString(16).padStart(8, '0');
  return Buffer.concat([body, Buffer.from(` ${crc}\n`, 'latin1')]);
}

export function encodeHeader(meta: DownloadMeta): Buffer {
  return encodeRecord(`${HEADER_TAG} ${JSON.stringify(meta)}`);
}

export function encodeCheckpoint(offset: number): Buffer {
  return encodeRecord(`@${offset}`);
}

function isMeta(m: unknown): m is DownloadMeta {
  const o = m as Record<string, unknown> | null;
  const count = (v: unknown, min: number) => Number.isSafeInteger(v) && (v as number) >= min;
  return typeof o === 'object' && o !== null && typeof o.server === 'string' && typeof o.group === 'string'
    && typeof o.name === 'string' && o.name !== '' && count(o.version, 1) && typeof o.latest === 'boolean'
    && count(o.size, 0) && typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256)
    && typeof o.target === 'string' && path.isAbsolute(o.target) && count(o.started, 0);
}

/** Splits `buf` into records; yields each payload with the offset just past its line, until the first bad one. */
function* records(buf: Buffer): Generator<{ payload: string; end: number }, boolean> {
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) return true; // incomplete last line: torn
    const line = buf.subarray(start, nl);
    if (line.length < 10 || line[line.length - 9] !== 0x20) return true;
    const body = line.subarray(0, line.length - 9);
    const crc = line.subarray(line.length - 8).toString('latin1');
    if (!/^[0-9a-f]{8}$/.test(crc) || crc32c(body) !== parseInt(crc, 16)) return true;
    yield { payload: body.toString('utf8'), end: nl + 1 };
    start = nl + 1;
  }
  return false;
}

/** Reads a whole log (see the module contract for what counts). PURE. */
export function parseLog(buf: Buffer): LogState {
  const it = records(buf);
  const first = it.next();
  if (first.done) return { checkpoint: 0, validBytes: 0, problem: 'its header is missing or torn', tornTail: false };
  const { payload, end } = first.value;
  let meta: unknown;
  if (payload.startsWith(`${HEADER_TAG} `)) {
    try {
      meta = JSON.parse(payload.slice(HEADER_TAG.length + 1));
    } catch {
      meta = undefined;
    }
  }
  if (!isMeta(meta)) return { checkpoint: 0, validBytes: 0, problem: 'its header is not a chat-get resume header this version reads', tornTail: false };
  let checkpoint = 0;
  let validBytes = end;
  let tornTail = false;
  for (;;) {
    const r = it.next();
    if (r.done) {
      tornTail = r.value;
      break;
    }
    const m = /^@(\d{1,16})$/.exec(r.value.payload);
    const offset = m ? Number(m[1]) : NaN;
    if (!Number.isSafeInteger(offset) || offset < checkpoint || offset > meta.size) {
      tornTail = true;
      break;
    }
    checkpoint = offset;
    validBytes = r.value.end;
  }
  return { meta, checkpoint, validBytes, tornTail };
}

/**
 * The log entry of one target, locked for this process while open. Use:
 * open() → read() → (create(meta) | startAppending(state)) → append()… → remove() →
 * release() (always, in a finally).
 */
export class ResumeEntry {
  private fh: FileHandle | undefined;
  private pos = 0;

  private constructor(readonly dir: string, readonly target: string, private readonly lock: DirLock) {}

  get logPath(): string {
    return path.join(this.dir, LOG_FILE);
  }

  /** Creates the entry dir if needed and locks it; 6 when another chat-get holds it. */
  static async open(root: string, target: string): Promise<ResumeEntry> {
    const abs = path.resolve(target);
    const dir = entryDir(root, abs);
    try {
      const parent = downloadsDir(root);
      makeDirs(parent, 0o700);
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir, { mode: 0o700 });
        fsyncDir(parent);
      }
    } catch (err) {
      throw new ChatError('CHAT_ERR_USAGE',
        `cannot use the resume log in ${downloadsDir(root)}: ${localError(err)} (set CHAT_STATE_DIR to a writable directory)`, { cause: err });
    }
    let lock: DirLock;
    try {
      lock = (await DirLock.acquire(dir, 'chat-get')).lock;
    } catch (err) {
      if (err instanceof ChatError && err.code === 'CHAT_ERR_CONFLICT') {
        const holder = /in use by (.*?)(?:; stop it first| on host )/.exec(err.message)?.[1] ?? 'another process';
        throw new TargetBusyError(`${abs} is being downloaded by ${holder}; wait for it to finish or stop it`, { cause: err });
      }
      throw err;
    }
    return new ResumeEntry(dir, abs, lock);
  }

  /** The log as it is on disk, or undefined when there is none. */
  read(): LogState | undefined {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.logPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ChatError('CHAT_ERR_USAGE', `cannot read the resume log ${this.logPath}: ${localError(err)}`, { cause: err });
    }
    const state = parseLog(buf);
    if (state.meta && path.resolve(state.meta.target) !== this.target) {
      // A hash collision of two target paths (or a copied state dir): not this download.
      return { checkpoint: 0, validBytes: 0, problem: `it belongs to another target (${state.meta.target})`, tornTail: false };
    }
    return state;
  }

  /** Starts the log over with `meta` and no checkpoint (atomically), and opens it for appending. */
  async create(meta: DownloadMeta): Promise<void> {
    await this.closeLog();
    const tmp = path.join(this.dir, `${LOG_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const header = encodeHeader(meta);
      const fh = await open(tmp, 'w', 0o600);
      try {
        await writeAll(fh, header, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      fs.renameSync(tmp, this.logPath);
      fsyncDir(this.dir);
      this.fh = await open(this.logPath, 'r+');
      this.pos = header.length;
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw new ChatError('CHAT_ERR_USAGE', `cannot write the resume log ${this.logPath}: ${localError(err)}`, { cause: err });
    }
  }

  /** Opens the existing log for appending after its last valid record (cutting a torn tail). */
  async startAppending(state: LogState): Promise<void> {
    await this.closeLog();
    try {
      this.fh = await open(this.logPath, 'r+');
      const st = await this.fh.stat();
      if (st.size !== state.validBytes) {
        await this.fh.truncate(state.validBytes);
        await this.fh.datasync();
      }
      this.pos = state.validBytes;
    } catch (err) {
      throw new ChatError('CHAT_ERR_USAGE', `cannot write the resume log ${this.logPath}: ${localError(err)}`, { cause: err });
    }
  }

  /** Appends checkpoint `offset` and makes it durable (the caller synced the bytes it covers first). */
  async append(offset: number): Promise<void> {
    if (!this.fh) throw new Error('resume log not open for appending');
    const rec = encodeCheckpoint(offset);
    try {
      await writeAll(this.fh, rec, this.pos);
      await this.fh.datasync();
    } catch (err) {
      throw new ChatError('CHAT_ERR_USAGE', `cannot write the resume log ${this.logPath}: ${localError(err)}`, { cause: err });
    }
    this.pos += rec.length;
  }

  /** Deletes the log (the download is done, or is being started over without one). */
  async remove(): Promise<void> {
    await this.closeLog();
    try {
      fs.rmSync(this.logPath, { force: true });
      fsyncDir(this.dir);
    } catch (err) {
      throw new ChatError('CHAT_ERR_USAGE', `cannot remove the resume log ${this.logPath}: ${localError(err)}`, { cause: err });
    }
  }

  /** Unlocks; removes the entry dir too when no log is left in it. Never throws. */
  async release(): Promise<void> {
    await this.closeLog().catch(() => undefined);
    const hasLog = fs.existsSync(this.logPath);
    this.lock.release();
    if (!hasLog) {
      try {
        fs.rmdirSync(this.dir);
      } catch {
        // another chat-get took it meanwhile, or leftovers: harmless
      }
    }
  }

  private async closeLog(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

/** Writes all of `buf` at `position`. */
export async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/** Removes the entry of `target` (under its lock: 6 while a chat-get works on it). */
export async function dropEntry(root: string, target: string): Promise<void> {
  const entry = await ResumeEntry.open(root, target);
  try {
    await entry.remove();
  } finally {
    await entry.release();
  }
}

/** Every entry with a readable header under `root` (for `chat-get --resume`), oldest first. */
export function listEntries(root: string): DownloadMeta[] {
  let names: string[];
  try {
    names = fs.readdirSync(downloadsDir(root));
  } catch {
    return [];
  }
  const found: DownloadMeta[] = [];
  for (const id of names) {
    if (!/^[0-9a-f]{32}$/.test(id)) continue;
    let buf: Buffer;
    try {
      buf = fs.readFileSync(path.join(downloadsDir(root), id, LOG_FILE));
    } catch {
      continue; // no log: an entry being created or removed
    }
    const { meta } = parseLog(buf);
    if (meta && entryDir(root, meta.target) === path.join(downloadsDir(root), id)) found.push(meta);
  }
  return found.sort((a, b) => a.started - b.started || a.target.localeCompare(b.target));
}
