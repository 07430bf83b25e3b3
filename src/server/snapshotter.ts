/**
 * Snapshot scheduling for the engine (docs/STORAGE.md "Snapshots", "Retention").
 *
 * Contract:
 *   - afterCommit() runs in the same synchronous step as a commit's apply and journal
 *     append, so state.seq equals the journal head and journal.digest describes it:
 *     when shouldSnapshot() says so and no write is in flight, it captures the image
 *     and the digest there and then (capture is cheap and freezes the image while the
 *     live state moves on), and starts the write in the background.
 *   - The write waits until image.seq is durable (a snapshot never names records the
 *     journal could still lose), then writeSnapshot, pruneSnapshots to the newest KEEP
 *     snapshots this process verified or wrote (a file that failed to verify at start-up
 *     goes, never a verified one), and with retention 'covered' removes the journal
 *     segments the OLDEST kept snapshot covers, once KEEP of them exist: falling back
 *     to the older one when the newest is damaged must still work, so a lone snapshot
 *     covers nothing. One write at a time.
 *   - A failed write is a warning, never a stop (the journal alone is enough); the
 *     counters were reset at capture, so the next try comes after the next threshold.
 *   - close() abandons a write in flight: it stops before its next chunk and removes its
 *     temp file (a crash leaves one, removed at the next start); close() resolves once
 *     the write has settled, which takes at most one chunk's write.
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Journal } from '../journal/journal.js';
import { listSnapshots, pruneSnapshots, shouldSnapshot, writeSnapshot, type SnapshotPolicy } from '../journal/snapshot-file.js';
import { captureSnapshot } from '../state/snapshot.js';
import type { State } from '../state/types.js';
import type { Retention } from './storage-flags.js';

/** Snapshot files kept: the newest, and one to fall back on when it is damaged. */
export const KEEP_SNAPSHOTS = 2;

export interface SnapshotterOptions {
  dataDir: string;
  journal: Journal;
  log: Logger;
  policy: SnapshotPolicy;
  retention: Retention;
  /** Resolves once every op up to seq is durable (Engine.whenDurable). */
  whenDurable: (seq: number) => Promise<void>;
  /** The snapshot loaded at start-up, if any: its seq and file (already verified). */
  loaded?: { seq: number; path: string };
}

/** Resolves when `p` does; throws the abort reason as soon as `signal` aborts. */
async function untilOrAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    })]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
  signal.throwIfAborted();
}

export class Snapshotter {
  private readonly o: SnapshotterOptions;
  /** Seq and journal byte count at the last capture. */
  private baseSeq: number;
  private baseBytes = 0;
  private lastSnapshotBytes = 0;
  /** Snapshot seqs this process knows are good: loaded (verified) or written by it. */
  private readonly good = new Set<number>();
  private inFlight: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(opts: SnapshotterOptions) {
    this.o = opts;
    this.baseSeq = opts.loaded?.seq ?? 0;
    if (opts.loaded !== undefined) {
      this.good.add(opts.loaded.seq);
      try { this.lastSnapshotBytes = statSync(opts.loaded.path).size; } catch { /* gone: treat as 0 */ }
    }
  }

  /** See the contract at the top of the file: call right after a commit's append. */
  afterCommit(state: State, lastTs: number): void {
    if (this.inFlight !== undefined || this.abort.signal.aborted) return;
    const j = this.o.journal;
    const since = { recordsSince: state.seq - this.baseSeq, bytesSince: j.bytesAppended - this.baseBytes, lastSnapshotBytes: this.lastSnapshotBytes };
    if (!shouldSnapshot(since, this.o.policy)) return;
    if (state.seq !== j.headSeq) return; // the append was refused: nothing consistent to capture
    const image = captureSnapshot(state, lastTs);
    const meta = { journalId: j.journalId, journalDigest: j.digest, lastTs };
    this.baseSeq = state.seq;
    this.baseBytes = j.bytesAppended;
    this.inFlight = this.write(image, meta).finally(() => { this.inFlight = undefined; });
  }

  private async write(image: ReturnType<typeof captureSnapshot>, meta: { journalId: string; journalDigest: string; lastTs: number }): Promise<void> {
    const { dataDir, log } = this.o;
    const signal = this.abort.signal;
    try {
      // Never snapshot what the journal could still lose; close() ends the wait.
      await untilOrAborted(this.o.whenDurable(image.seq), signal);
      const written = await writeSnapshot(dataDir, image, meta, { signal });
      this.good.add(written.seq);
      this.lastSnapshotBytes = written.bytes;
      log.info({ seq: written.seq, bytes: written.bytes, file: written.path }, 'snapshot written');
      signal.throwIfAborted();
      await pruneSnapshots(dataDir, KEEP_SNAPSHOTS, (seq) => this.good.has(seq));
      signal.throwIfAborted();
      if (this.o.retention === 'covered') await this.retain();
    } catch (err) {
      if (signal.aborted) {
        log.debug({ seq: image.seq }, 'snapshot abandoned at shutdown');
        return;
      }
      log.warn({ seq: image.seq, err: (err as Error).message }, 'could not write a snapshot; the journal still holds everything, will try again after the next threshold');
    }
  }

  /**
   * Removes the segments the oldest kept snapshot covers, once KEEP_SNAPSHOTS snapshots
   * are kept and every one is a file this process verified or wrote: with a single
   * snapshot, its damage would leave neither a fallback nor the records it covers.
   */
  private async retain(): Promise<void> {
    const kept = await listSnapshots(this.o.dataDir);
    if (kept.length < KEEP_SNAPSHOTS) return;
    const oldest = kept[0]!;
    for (const s of kept) if (!this.good.has(s.seq)) return;
    const removed = this.o.journal.removeSegmentsThrough(oldest.seq);
    if (removed.length > 0) this.o.log.info({ through: oldest.seq, removed }, 'journal retention: removed segments covered by the oldest kept snapshot');
  }

  /** Resolves once no snapshot write is in flight (tests, tools). */
  async idle(): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight;
  }

  /** Abandons a write in flight and waits for it to settle. No new write starts after. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.idle();
  }
}
