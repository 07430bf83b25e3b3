/**
 * Data-directory lock (SPEC §3: one process owns a data dir; a second server, useradd,
 * passwd or sync on it exits 6 at once). `DIR/LOCK` is created with O_EXCL and holds
 * one JSON line naming its holder: what it is ("chat-server start"), pid, host, since
 * when, and on Linux the boot id and the process start time.
 *
 * Contract:
 *   - acquire() succeeds only if it created DIR/LOCK itself. A lock whose holder runs
 *     (this process included) throws ChatError CHAT_ERR_CONFLICT naming the holder;
 *     the CLIs turn that into exit 6 with that one line.
 *   - A lock whose holder is gone (SIGKILL, crash, power cut) is stale: it is removed
 *     and taken over; the caller logs the returned `tookOver` as a warning.
 *     Gone means: same host and no process has that pid; or a different boot id
 *     (rebooted); or that pid now belongs to a process that started at another time
 *     (pid reuse, checked through /proc where there is one); or the pid is ours while
 *     this process holds no lock on the dir (a container restart reuses pids).
 *   - A lock from another host (shared storage) is never judged stale: its pid means
 *     nothing here. The message says to delete DIR/LOCK if that process is gone.
 *   - Two processes breaking the same stale lock: each moves DIR/LOCK aside with
 *     rename() and checks it moved the very file it judged stale (the content is
 *     unique: it carries a nonce); if not, it puts the file back and starts over. Only
 *     then does it create its own lock with O_EXCL, which exactly one of them wins.
 *   - release() removes DIR/LOCK only if it still holds this lock's content. Locks
 *     still held when the process exits (process.exit after a journal failure, a
 *     second signal) are released by an 'exit' hook. A SIGKILL leaves a stale lock.
 * Limitations: without /proc (macOS) a pid reused by an unrelated process after a
 * crash looks alive, and the message says to delete DIR/LOCK. Breaking a stale lock
 * while a third process is starting on the same dir can, in a window of a few system
 * calls, leave two holders; it needs three starters racing a crashed holder's lock.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ChatError } from '../common/errors.js';

export const LOCK_FILE = 'LOCK';

/** What DIR/LOCK says about its holder. */
export interface LockInfo {
  holder: string;
  pid: number;
  host: string;
  since: string;
  /** Linux: /proc/sys/kernel/random/boot_id. */
  bootId?: string;
  /** Linux: the holder's start time in clock ticks since boot (/proc/PID/stat field 22). */
  startTime?: string;
  nonce: string;
}

/** A lock file that does not parse and is older than this is stale, else being written. */
const WRITING_GRACE_MS = 2000;
const ATTEMPTS = 50;

/** realpath of each dir this process holds a lock on, with its lock. */
const held = new Map<string, DirLock>();
let exitHook = false;

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  return readOr('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** Start time of `pid` from /proc/PID/stat (field 22), or undefined without /proc. */
export function processStartTime(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // Field 2 (comm) is in parentheses and may contain spaces: count after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19]; // field 22 overall; fields[0] is field 3
}

export function parseLockInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.holder !== 'string' || typeof v.host !== 'string' || typeof v.since !== 'string') return undefined;
    if (typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid) || v.pid <= 0) return undefined;
    return v as LockInfo;
  } catch {
    return undefined;
  }
}

type Verdict = 'alive' | 'gone' | 'elsewhere';

function judge(info: LockInfo, key: string): Verdict {
  if (info.host !== hostname()) return 'elsewhere';
  const boot = bootId();
  if (info.bootId !== undefined && boot !== undefined && info.bootId !== boot) return 'gone';
  if (info.pid === process.pid) return held.has(key) ? 'alive' : 'gone';
  try {
    process.kill(info.pid, 0); // signal 0: only asks whether the pid exists
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    // EPERM: it exists but belongs to another user.
  }
  const started = info.startTime !== undefined ? processStartTime(info.pid) : undefined;
  if (started !== undefined && started !== info.startTime) return 'gone'; // pid reused
  return 'alive';
}

function describeHolder(info: LockInfo): string {
  return `${info.holder} (pid ${info.pid}, since ${info.since})`;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class DirLock {
  private released = false;

  private constructor(readonly dir: string, readonly path: string, private readonly key: string, private readonly content: string) {}

  /**
   * Takes the lock on `dir` (which must exist) for `holder`, e.g. "chat-server start".
   * `tookOver` describes a stale lock that was removed (undefined when there was none).
   */
  static async acquire(dir: string, holder: string): Promise<{ lock: DirLock; tookOver?: LockInfo | { unreadable: string } }> {
    const path = join(dir, LOCK_FILE);
    const key = realpathSync(dir);
    const info: LockInfo = {
      holder, pid: process.pid, host: hostname(), since: new Date().toISOString(),
      bootId: bootId(), startTime: processStartTime(process.pid), nonce: randomBytes(8).toString('hex'),
    };
    const content = `${JSON.stringify(info)}\n`;
    let tookOver: LockInfo | { unreadable: string } | undefined;
    // Bounded: each pass either succeeds, throws, or saw the file change under it.
    const deadline = Date.now() + 2 * WRITING_GRACE_MS;
    for (let attempt = 0; attempt < ATTEMPTS && Date.now() < deadline; attempt++) {
      if (create(path, content)) {
        const lock = new DirLock(dir, path, key, content);
        held.set(key, lock);
        if (!exitHook) {
          exitHook = true;
          process.on('exit', () => { for (const l of [...held.values()]) l.release(); });
        }
        return { lock, tookOver };
      }
      const text = readOr(path);
      if (text === undefined) continue; // removed meanwhile: try again
      const other = parseLockInfo(text);
      if (other === undefined) {
        // Created but not written yet by a starter right now, or garbage left behind.
        let age = Infinity;
        try { age = Date.now() - statSync(path).mtimeMs; } catch { continue; }
        if (age < WRITING_GRACE_MS) {
          await sleep(Math.min(100, WRITING_GRACE_MS - age + 1));
          attempt--; // waiting is not contention
          continue;
        }
      } else {
        const verdict = judge(other, key);
        if (verdict === 'alive') {
          throw new ChatError('CHAT_ERR_CONFLICT', `data directory ${dir} is in use by ${describeHolder(other)}; stop it first`);
        }
        if (verdict === 'elsewhere') {
          throw new ChatError('CHAT_ERR_CONFLICT', `data directory ${dir} is in use by ${describeHolder(other)} on host ${other.host}; `
            + `stop it first (if it is gone, delete ${path})`);
        }
      }
      // Stale: move aside exactly the file judged stale, never a lock taken meanwhile.
      const aside = `${path}.stale-${process.pid}-${info.nonce}`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if (errno(err) === 'ENOENT') continue;
        throw err;
      }
      if (readOr(aside) !== text) {
        // Another starter broke the stale lock and took the dir in between: put its
        // lock back (O_EXCL: not over one created since) and judge again.
        try { renameBack(aside, path); } catch { /* see Limitations */ }
        continue;
      }
      unlinkSync(aside);
      tookOver = other ?? { unreadable: text.slice(0, 200) };
    }
    throw new ChatError('CHAT_ERR_CONFLICT', `data directory ${dir}: could not take ${path}, other processes keep taking it; try again`);
  }

  /**
   * Removes DIR/LOCK if it is still this lock. Returns false when the file was gone or
   * held by someone else (left alone). Idempotent; never throws.
   */
  release(): boolean {
    if (this.released) return true;
    this.released = true;
    if (held.get(this.key) === this) held.delete(this.key);
    try {
      if (readFileSync(this.path, 'utf8') !== this.content) return false;
      unlinkSync(this.path);
      return true;
    } catch {
      return false;
    }
  }
}

/** O_CREAT|O_EXCL: true if this call created the file (and wrote `content`). */
function create(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  }
  const buf = Buffer.from(content, 'utf8');
  try {
    for (let off = 0; off < buf.length;) {
      const n = writeSync(fd, buf, off, buf.length - off);
      if (n <= 0) throw new Error(`could not write ${path}`);
      off += n;
    }
  } catch (err) {
    try { unlinkSync(path); } catch { /* already gone */ }
    throw err;
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Puts a moved lock file back without overwriting one created meanwhile. */
function renameBack(aside: string, path: string): void {
  try {
    // O_EXCL copy: the original file is gone either way; content is what matters.
    const text = readFileSync(aside, 'utf8');
    if (!create(path, text)) return;
  } finally {
    try { unlinkSync(aside); } catch { /* gone */ }
  }
}
