/**
 * Read positions of `chat tail --resume` (SPEC §4): the last seq a tail printed, per
 * server, user, device and filter, so the next run prints what came meanwhile, once.
 *
 * Where: $CHAT_STATE_DIR, else $XDG_STATE_HOME/chat-suite, else
 * ~/.local/state/chat-suite; one file per cursor under cursors/. The "device" is this
 * state directory: two machines (or two state dirs) keep separate cursors.
 * Contract:
 *  - a cursor's key is (server HOST:PORT, journal id, user, filter): a server whose data
 *    directory was replaced has another journal id, so an old position (whose seqs
 *    mean nothing there) is never applied to it; the filter is normalized
 *    (groups sorted, without repeats) so `-g a -g b` and `-g b -g a` share a cursor
 *    and `-g a` and `-g b` do not;
 *  - one file per key (named by a hash of the key), so two tails with different
 *    filters never overwrite each other's position;
 *  - files are replaced whole (temp file 0600 + fsync + rename) in a directory made
 *    0700: a crash leaves the old or the new position, never a torn file;
 *  - a missing or unreadable file reads as "no cursor" (first run).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatError } from '../common/errors.js';

const FORMAT_VERSION = 2;

/** The state directory for this environment (see the module comment). */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHAT_STATE_DIR) return path.resolve(env.CHAT_STATE_DIR);
  const base = env.XDG_STATE_HOME ? path.resolve(env.XDG_STATE_HOME) : path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'chat-suite');
}

export interface CursorKey {
  server: string;
  /** The server's journal id (its HELLO reply), 32 hex digits. */
  journal: string;
  user: string;
  groups: readonly string[];
  with?: string;
}

interface CursorFile {
  version: number;
  server: string;
  journal: string;
  user: string;
  filter: { groups: string[]; with: string | null };
  seq: number;
  savedAt: number;
}

/** The canonical form of a key: what its file name hashes and what the file repeats. */
export function canonicalKey(k: CursorKey): { server: string; journal: string; user: string; filter: { groups: string[]; with: string | null } } {
  return { server: k.server, journal: k.journal, user: k.user, filter: { groups: [...new Set(k.groups)].sort(), with: k.with ?? null } };
}

export class CursorStore {
  readonly dir: string;

  constructor(root: string = stateDir()) {
    this.dir = path.join(root, 'cursors');
  }

  file(k: CursorKey): string {
    const id = createHash('sha256').update(JSON.stringify(canonicalKey(k))).digest('hex').slice(0, 32);
    return path.join(this.dir, `${id}.json`);
  }

  /** The saved position, or undefined when there is none (first run). */
  load(k: CursorKey): number | undefined {
    let parsed: CursorFile;
    try {
      parsed = JSON.parse(fs.readFileSync(this.file(k), 'utf8')) as CursorFile;
    } catch {
      return undefined;
    }
    const want = canonicalKey(k);
    const same = parsed?.version === FORMAT_VERSION && parsed.server === want.server && parsed.journal === want.journal && parsed.user === want.user &&
      JSON.stringify(parsed.filter) === JSON.stringify(want.filter);
    return same && Number.isSafeInteger(parsed.seq) && parsed.seq >= 0 ? parsed.seq : undefined;
  }

  /** Saves `seq` atomically (see the module contract); a failure is a usage error naming the dir. */
  save(k: CursorKey, seq: number): void {
    const body: CursorFile = { version: FORMAT_VERSION, ...canonicalKey(k), seq, savedAt: Date.now() };
    const target = this.file(k);
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.fchmodSync(fd, 0o600); // the umask may only remove bits; make it exact
        fs.writeFileSync(fd, `${JSON.stringify(body)}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, target);
    } catch (err) {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // the directory itself is the problem; the error below names it
      }
      throw new ChatError('CHAT_ERR_USAGE',
        `cannot save the tail position in ${this.dir}: ${(err as Error).message} (set CHAT_STATE_DIR to a writable directory)`, { cause: err });
    }
  }
}

/**
 * Saves a moving position without writing on every message: advance() records it and
 * schedules one save at most every `intervalMs` (default 100 ms); flush() saves now
 * (on exit, SIGINT, a lost connection). Positions only move forward. A failed
 * scheduled save goes to `onError` (the tail goes on; flush() throws instead).
 */
export class CursorSaver {
  private seq: number;
  private saved: number;
  private timer: NodeJS.Timeout | undefined;
  private lastSave = 0;

  constructor(private readonly store: CursorStore, private readonly key: CursorKey, start: number,
    private readonly intervalMs = 100, private readonly onError: (err: Error) => void = () => undefined) {
    this.seq = start;
    this.saved = start;
  }

  get position(): number {
    return this.seq;
  }

  advance(seq: number): void {
    if (seq <= this.seq) return;
    this.seq = seq;
    if (this.timer) return;
    const wait = Math.max(0, this.lastSave + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.flush();
      } catch (err) {
        this.onError(err as Error);
      }
    }, wait);
  }

  /**
   * Sets the position to `seq` even if lower, and saves it at the next flush: the
   * server's seqs went back (a restored data directory), so a higher saved position
   * would hide new messages.
   */
  reset(seq: number): void {
    this.seq = seq;
    this.saved = -1;
  }

  /** Saves the position now if it moved since the last save. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.seq === this.saved) return;
    this.lastSave = Date.now();
    this.store.save(this.key, this.seq);
    this.saved = this.seq;
  }
}
