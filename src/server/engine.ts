/**
 * The engine owns the State and the Journal: ops → journal → state (STYLE "the house").
 *
 * Contract of commit(data):
 *   - the op gets seq = state.seq + 1 and a server timestamp, and is applied to the
 *     state at once, synchronously, so the next request's validation (which also runs
 *     synchronously on the event loop) already sees it: two requests can never both
 *     pass a check that only one of them may pass;
 *   - the returned promise resolves only once the op's journal record is durable
 *     (SPEC §8): callers reply to the client and fan out only after it resolves;
 *   - if the journal fails, memory is ahead of disk and nothing can be acknowledged any
 *     more: onJournalFailure runs (default: log fatal and exit the process non-zero).
 * Handlers validate against the state before they commit; apply() re-checks and throws
 * ApplyError (a bug) before changing anything, so a refused op leaves no trace.
 *
 * Snapshots (snapshotter.ts, docs/STORAGE.md): open() restores the newest usable
 * snapshot and replays only the journal records after it; commit() hands each new
 * state to the snapshotter in the same synchronous step, which writes a snapshot in
 * the background every N records or M bytes and, with retention 'covered', removes
 * journal segments the oldest kept snapshot covers.
 *
 * Ownership: open() takes the data-dir lock (src/journal/lock.ts) before it reads the
 * journal, so a second server or offline tool on the same dir fails with
 * CHAT_ERR_CONFLICT (exit 6) instead of appending a second record with the same seq;
 * close() (or the process exiting) releases it.
 */
import { mkdirSync } from 'node:fs';
import { ChatError } from '../common/errors.js';
import type { Logger } from 'pino';
import { Journal } from '../journal/journal.js';
import type { AfterPoint } from '../journal/segments.js';
import { DirLock } from '../journal/lock.js';
import { loadLatestSnapshot } from '../journal/snapshot-file.js';
import { apply } from '../state/apply.js';
import { createState, type Op, type OpData, type State } from '../state/types.js';
import { Snapshotter } from './snapshotter.js';
import { STORAGE_DEFAULTS, type StorageOptions } from './storage-flags.js';

/**
 * segmentBytes: roll the journal at this size; snapshotRecords / snapshotBytes: when
 * to snapshot; retention: whether to remove covered segments. Defaults:
 * STORAGE_DEFAULTS (storage-flags.ts); tests use small values.
 */
export interface EngineOptions extends Partial<StorageOptions> {
  dataDir: string;
  log: Logger;
  /** Called once when an append fails. Default: log fatal, exit(1). */
  onJournalFailure?: (err: Error) => void;
  /** Who takes the data-dir lock, shown to a second process: "chat-server start". */
  holder?: string;
  /**
   * Keep the start-up warnings (torn tail cut, stale lock taken over) until
   * logStartupWarnings(): a server logs them after its "listening" line, which SPEC §3
   * wants first. Default false: open() logs them itself.
   */
  deferWarnings?: boolean;
}

/** A torn tail that open() cut off the last segment (SPEC §8). */
export interface Recovery {
  /** Segment file relative to the data dir: journal/000…1.seg */
  file: string;
  /** Where the cut was made (the segment's new length). */
  offset: number;
  /** Bytes removed. */
  bytes: number;
}

type Warning = [obj: Record<string, unknown>, msg: string];

export class Engine {
  /** Highest seq known durable; appends become durable in seq order. */
  private durableSeq = 0;
  /** Callers of whenDurable(), in nondecreasing seq order. */
  private waiters: Array<{ seq: number; resolve: () => void }> = [];
  private lastTs = 0;
  private failed = false;
  private closed = false;
  /** Set when open() cut a torn tail off the journal. */
  recovered: Recovery | undefined;
  private warnings: Warning[] = [];
  private snapshotter!: Snapshotter;
  private restoredSeq = 0;

  private constructor(
    /** The state: restored from a snapshot or fresh, then every op applied in order. */
    readonly state: State,
    /** For read()/follow() by replicas and history catch-up; commit() is the only writer. */
    readonly journal: Journal,
    private readonly lock: DirLock,
    private readonly log: Logger,
    private readonly onJournalFailure: (err: Error) => void,
  ) {}

  /**
   * Takes the data-dir lock, opens (creating if missing) the data dir and its journal,
   * restores the newest usable snapshot (damaged newer ones are skipped with a warning,
   * stale temp files removed) and replays the ops after it. Throws ChatError
   * CHAT_ERR_USAGE when dataDir is a file, CHAT_ERR_CONFLICT when another live process holds the dir, JournalCorruptError for damage before the tail (SPEC §8), ApplyError
   * when the journal does not describe a valid history; the lock is released then.
   */
  static async open(opts: EngineOptions): Promise<Engine> {
    const { dataDir, log } = opts;
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
      throw new ChatError('CHAT_ERR_USAGE', `data directory ${dataDir} is not a directory (check --data)`, { cause: err });
    }
    const warnings: Warning[] = [];
    const { lock, tookOver } = await DirLock.acquire(dataDir, opts.holder ?? 'chat-server');
    if (tookOver !== undefined) {
      warnings.push([{ path: lock.path, stale: tookOver }, 'data directory lock was left by a process that is gone; took it over']);
    }
    let engine: Engine;
    try {
      const loaded = await loadLatestSnapshot(dataDir);
      for (const w of loaded.warnings) warnings.push([{ dataDir }, w]);
      if (loaded.removed.length > 0) warnings.push([{ removed: loaded.removed }, 'removed unfinished snapshot temp files (a write cut by a crash or a stop)']);
      const snap = loaded.snapshot;
      // The journal returns only the ops after the snapshot and continues the digest
      // chain from it. It refuses (JournalCorruptError) a snapshot of another journal,
      // records missing between the snapshot and the first segment, and a journal
      // that ends before the snapshot.
      const after: AfterPoint | undefined = snap && { seq: snap.seq, journalId: snap.journalId, journalDigest: snap.journalDigest };
      const segmentBytes = opts.segmentBytes ?? STORAGE_DEFAULTS.segmentBytes;
      // Ops are applied as the segments are read, never collected first: a journal of
      // 10^6 records after the snapshot would otherwise sit in memory twice. An op that
      // does not apply is reported only once the whole journal was read, so damage
      // anywhere (JournalCorruptError, naming the place) is still reported first.
      const state = snap?.state ?? createState();
      let lastTs = snap?.lastTs ?? 0;
      let applyError: unknown;
      const onOp = (op: Op): void => {
        if (applyError !== undefined) return;
        try {
          apply(state, op);
        } catch (err) {
          applyError = err;
        }
        if (op.ts > lastTs) lastTs = op.ts;
      };
      const { journal, truncated, warnings: journalWarnings } = await Journal.open(dataDir, { segmentBytes, after, onOp });
      for (const w of journalWarnings) warnings.push([{ dataDir }, w]);
      if (truncated !== undefined) warnings.push([{ ...truncated }, 'journal had a torn record at its tail; truncated it']);
      if (applyError !== undefined) {
        await journal.close();
        throw applyError;
      }
      const onFailure = opts.onJournalFailure ?? ((err: Error) => {
        log.fatal({ err }, 'journal write failed; memory is ahead of disk, stopping');
        // Give the async log destination a moment to write the line, then stop hard.
        setTimeout(() => process.exit(1), 50);
      });
      engine = new Engine(state, journal, lock, log, onFailure);
      engine.warnings = warnings;
      engine.lastTs = lastTs;
      if (snap !== undefined) engine.restoredSeq = snap.seq;
      engine.snapshotter = new Snapshotter({
        dataDir, journal, log,
        policy: { everyRecords: opts.snapshotRecords ?? STORAGE_DEFAULTS.snapshotRecords, everyBytes: opts.snapshotBytes ?? STORAGE_DEFAULTS.snapshotBytes },
        retention: opts.retention ?? STORAGE_DEFAULTS.retention,
        whenDurable: (seq) => engine.whenDurable(seq),
        loaded: snap && { seq: snap.seq, path: snap.path },
      });
      engine.recovered = truncated;
    } catch (err) {
      for (const [obj, msg] of warnings) log.warn(obj, msg); // no "listening" line will come
      lock.release();
      throw err;
    }
    engine.durableSeq = engine.state.seq;
    if (opts.deferWarnings !== true) engine.logStartupWarnings();
    // debug, not info: SPEC §3 wants the first line to say where the server listens.
    log.debug({ journalId: engine.journalId, seq: engine.state.seq, snapshotSeq: engine.snapshotSeq }, 'journal replayed');
    return engine;
  }

  /** Logs the warnings open() kept back (deferWarnings), once. */
  logStartupWarnings(): void {
    for (const [obj, msg] of this.warnings.splice(0)) this.log.warn(obj, msg);
  }

  /** Seq of the snapshot open() restored (0: none, the whole journal was replayed). */
  get snapshotSeq(): number {
    return this.restoredSeq;
  }

  get seq(): number {
    return this.state.seq;
  }

  /** The journal's identity: 32 lowercase hex digits (docs/STORAGE.md). */
  get journalId(): string {
    return this.journal.journalId;
  }

  /**
   * journalDigest at state.seq (SPEC §3 status). commit() appends the op to the
   * journal in the same synchronous step that applies it, so the two never disagree.
   */
  get journalDigest(): string {
    return this.journal.digest;
  }

  /** See the contract at the top of the file. */
  commit<D extends OpData>(data: D): Promise<Op & D> {
    if (this.failed) return Promise.reject(new Error('journal failed; no more writes'));
    if (this.closed) return Promise.reject(new Error('engine closed'));
    // Timestamps never go backwards, even when the wall clock does: history is
    // ordered by seq and people read ts next to it.
    const now = Date.now();
    this.lastTs = now > this.lastTs ? now : this.lastTs;
    const op = { ...data, seq: this.state.seq + 1, ts: this.lastTs } as Op & D;
    apply(this.state, op);
    const appended = this.journal.append(op);
    // Same synchronous step: the state and journal.digest both describe op.seq.
    if (this.journal.headSeq === op.seq) this.snapshotter.afterCommit(this.state, this.lastTs);
    return appended.then(
      () => {
        this.markDurable(op.seq);
        return op;
      },
      (err: Error) => {
        if (!this.failed) {
          this.failed = true;
          this.onJournalFailure(err);
        }
        throw err;
      },
    );
  }

  private markDurable(seq: number): void {
    if (seq > this.durableSeq) this.durableSeq = seq;
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].seq <= this.durableSeq) this.waiters[i++].resolve();
    if (i > 0) this.waiters.splice(0, i);
  }

  /** Highest seq whose record is on disk (everything up to it is durable). */
  get durableHead(): number {
    return this.durableSeq;
  }

  /** True when everything up to `seq` is on disk. */
  isDurable(seq: number): boolean {
    return this.durableSeq >= seq;
  }

  /**
   * Resolves once every op up to `seq` (default: all committed so far) is durable. A
   * reply that shows state (a listing, a duplicate SEND) waits for the seq it read,
   * so it never reveals a write that a crash could still take back. Never rejects:
   * a journal failure stops the process instead.
   */
  whenDurable(seq: number = this.state.seq): Promise<void> {
    if (this.durableSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { seq, resolve };
      // Callers almost always come in seq order; keep the list sorted regardless.
      let i = this.waiters.length;
      while (i > 0 && this.waiters[i - 1].seq > seq) i--;
      this.waiters.splice(i, 0, w);
    });
  }

  /** Resolves once no snapshot write is in flight (tests; a write may start at the next commit). */
  whenSnapshotsIdle(): Promise<void> {
    return this.snapshotter.idle();
  }

  /**
   * Abandons a snapshot write in flight (its temp file is removed), waits for pending
   * appends, closes the journal and releases the data-dir lock. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.snapshotter.close();
      await this.journal.close();
    } finally {
      if (!this.lock.release()) this.log.warn({ path: this.lock.path }, 'data directory lock was no longer ours; left it alone');
    }
  }
}
