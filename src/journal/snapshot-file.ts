/**
 * Snapshot files: DIR/snapshots/<seq, 20 digits>.snap (docs/STORAGE.md "Snapshots").
 *
 *   line 1   {"magic":"chat-suite snapshot","format":1,"journalId","seq","journalDigest",
 *             "stateDigest","lastTs","createdTs"}
 *   lines    the image (src/state/snapshot.ts), NDJSON
 *   last     {"end":true,"lines":N,"sha256":hex of every byte before this line}
 *
 * Contract:
 *   - writeSnapshot never leaves a partial file under a final name: it writes a temp
 *     file in the same directory chunk by chunk (awaiting each write, so the server
 *     keeps serving), fsyncs it, renames it, fsyncs the directory; on failure it
 *     removes its temp file. Call it once image.seq is durable in the journal (a
 *     snapshot must never name records the journal could still lose).
 *   - loadLatestSnapshot returns the newest snapshot whose trailer (line count,
 *     sha256) verifies and whose restored state has the header's stateDigest; a
 *     damaged newer one is skipped with a warning, since the journal still holds the
 *     records after the older one.
 *   - Temp files are removed by loadLatestSnapshot and pruneSnapshots (both run by the
 *     directory's owner under DIR/LOCK), never those this process is still writing;
 *     listSnapshots and verifySnapshotFile only read.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { stateDigest } from '../state/digest.js';
import { restoreSnapshot, snapshotChunks, type SnapshotImage } from '../state/snapshot.js';
import type { State } from '../state/types.js';

export const SNAPSHOT_DIR = 'snapshots';
export const SNAPSHOT_MAGIC = 'chat-suite snapshot';
export const SNAPSHOT_FORMAT = 1;
const NAME = /^(\d{20})\.snap$/;
const TEMP_PREFIX = '.tmp-';
const READ_CHUNK = 1024 * 1024;
/** A line longer than this is damage (no image line comes near it). */
const MAX_LINE = 256 * 1024 * 1024;

/** When to write the next snapshot (shouldSnapshot). */
export interface SnapshotPolicy {
  everyRecords: number;
  everyBytes: number;
}
export const SNAPSHOT_DEFAULTS: Readonly<SnapshotPolicy> = { everyRecords: 100_000, everyBytes: 64 * 1024 * 1024 };

/**
 * Whether to snapshot now: after `everyRecords` records or `everyBytes` journal bytes
 * since the last snapshot, but never before the journal has grown by half the last
 * snapshot's size, so rewriting a large state stays amortized over the journal bytes
 * that made it (docs/STORAGE.md "Snapshots").
 */
export function shouldSnapshot(
  since: { recordsSince: number; bytesSince: number; lastSnapshotBytes: number },
  policy: SnapshotPolicy = SNAPSHOT_DEFAULTS,
): boolean {
  if (since.bytesSince < since.lastSnapshotBytes / 2) return false;
  return since.recordsSince >= policy.everyRecords || since.bytesSince >= policy.everyBytes;
}

export function snapshotName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.snap`;
}

export interface SnapshotHeader {
  magic: typeof SNAPSHOT_MAGIC;
  format: typeof SNAPSHOT_FORMAT;
  /** 32 lowercase hex digits: the journal the snapshot continues. */
  journalId: string;
  seq: number;
  /** journalDigest at `seq`. */
  journalDigest: string;
  stateDigest: string;
  lastTs: number;
  createdTs: number;
}

export interface SnapshotMeta {
  journalId: string;
  /** journalDigest at image.seq. */
  journalDigest: string;
  /** Clock floor to restore; the greater of this and the image's lastTs is kept. */
  lastTs?: number;
}

/** Temp files this process is writing now: never removed as stale. */
const writing = new Set<string>();

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
    if (bytesWritten === 0) throw new Error('write wrote nothing (disk full?)');
    off += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `image` as DIR/snapshots/<seq>.snap atomically (see the contract above). */
export async function writeSnapshot(
  dataDir: string, image: SnapshotImage, meta: SnapshotMeta,
  /** Aborting stops the write before its next chunk (or the rename); the temp file is removed. */
  opts: { signal?: AbortSignal } = {},
): Promise<{ path: string; seq: number; bytes: number }> {
  const dir = join(dataDir, SNAPSHOT_DIR);
  const tmp = join(dir, `${TEMP_PREFIX}${image.seq}-${process.pid}`);
  const path = join(dir, snapshotName(image.seq));
  // Claimed before the first await, so two calls cannot both pass the check.
  if (writing.has(tmp)) throw new Error(`a snapshot at seq ${image.seq} is already being written`);
  writing.add(tmp);
  let fh: FileHandle | undefined;
  try {
    if (await mkdir(dir, { recursive: true }) !== undefined) await fsyncDir(dataDir); // the new dir's entry
    fh = await open(tmp, 'w', 0o600);
    const hash = createHash('sha256');
    let bytes = 0;
    let lines = 0;
    const header: SnapshotHeader = {
      magic: SNAPSHOT_MAGIC, format: SNAPSHOT_FORMAT, journalId: meta.journalId, seq: image.seq,
      journalDigest: meta.journalDigest, stateDigest: image.stateDigest,
      lastTs: Math.max(meta.lastTs ?? 0, image.lastTs), createdTs: Date.now(),
    };
    const headerBuf = Buffer.from(JSON.stringify(header) + '\n', 'utf8');
    hash.update(headerBuf);
    await writeAll(fh, headerBuf);
    bytes += headerBuf.length;
    for (const chunk of snapshotChunks(image)) {
      for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', nl + 1)) lines++;
      const buf = Buffer.from(chunk, 'utf8');
      hash.update(buf);
      opts.signal?.throwIfAborted();
      await writeAll(fh, buf); // awaited: other connections are served between chunks
      bytes += buf.length;
    }
    const trailer = Buffer.from(JSON.stringify({ end: true, lines, sha256: hash.digest('hex') }) + '\n', 'utf8');
    await writeAll(fh, trailer);
    bytes += trailer.length;
    await fh.sync();
    await fh.close();
    fh = undefined;
    opts.signal?.throwIfAborted();
    await rename(tmp, path);
    await fsyncDir(dir);
    return { path, seq: image.seq, bytes };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    writing.delete(tmp);
  }
}

/** Snapshot files in DIR/snapshots, oldest first. Reads only. */
export async function listSnapshots(dataDir: string): Promise<Array<{ seq: number; path: string }>> {
  const dir = join(dataDir, SNAPSHOT_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => NAME.test(n)).sort().map((n) => ({ seq: Number(NAME.exec(n)![1]), path: join(dir, n) }));
}

/** Removes temp files left by an interrupted writeSnapshot (not this process's current ones). */
async function removeStaleTemps(dataDir: string): Promise<string[]> {
  const dir = join(dataDir, SNAPSHOT_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const n of names) {
    const p = join(dir, n);
    if (!n.startsWith(TEMP_PREFIX) || writing.has(p)) continue;
    await rm(p, { force: true });
    removed.push(p);
  }
  return removed;
}

/**
 * Keeps the newest `keep` snapshot files (by seq), removes the others and stale temp
 * files; returns what it removed. With `trusted` (the seqs the owner verified or wrote)
 * only trusted files are kept and count toward `keep`: a newer file that failed to
 * verify must never push out a verified older one, the fallback retention relies on.
 */
export async function pruneSnapshots(dataDir: string, keep = 2, trusted?: (seq: number) => boolean): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`pruneSnapshots: keep must be a whole number ≥ 1, got ${keep}`);
  const all = await listSnapshots(dataDir);
  const keepers = new Set((trusted === undefined ? all : all.filter((s) => trusted(s.seq))).slice(-keep).map((s) => s.path));
  const removed = await removeStaleTemps(dataDir);
  for (const { path } of all) {
    if (keepers.has(path)) continue;
    await rm(path, { force: true });
    removed.push(path);
  }
  if (removed.length > 0) await fsyncDir(join(dataDir, SNAPSHOT_DIR));
  return removed;
}

export interface LoadedSnapshot {
  path: string;
  seq: number;
  journalId: string;
  journalDigest: string;
  stateDigest: string;
  lastTs: number;
  createdTs: number;
  state: State;
}

/** A snapshot file that does not verify; `reason` says how. */
export class SnapshotDamagedError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`snapshot ${path} is damaged: ${reason}`);
    this.name = 'SnapshotDamagedError';
  }
}

/** Every line of the file with its "\n" (the last one may lack it), read in chunks. */
async function* fileLines(fh: FileHandle): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
    if (bytesRead === 0) break;
    const data = buf.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
      const piece = data.subarray(start, nl + 1);
      yield parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      partBytes = 0;
      start = nl + 1;
    }
    if (start < data.length) {
      parts.push(data.subarray(start));
      partBytes += data.length - start;
      if (partBytes > MAX_LINE) throw new Error(`a line longer than ${MAX_LINE} bytes`);
    }
  }
  if (parts.length > 0) yield Buffer.concat(parts);
}

function parseJson(buf: Buffer | undefined): any {
  if (buf === undefined || buf[buf.length - 1] !== 10) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Reads, verifies and restores one snapshot file; throws SnapshotDamagedError. */
export async function readSnapshotFile(path: string): Promise<LoadedSnapshot> {
  const damaged = (reason: string): never => { throw new SnapshotDamagedError(path, reason); };
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    return damaged(`cannot open: ${(err as Error).message}`);
  }
  try {
    const lines = fileLines(fh);
    const hash = createHash('sha256');
    const first = await lines.next();
    const header = parseJson(first.done ? undefined : first.value) as SnapshotHeader | undefined;
    if (header?.magic !== SNAPSHOT_MAGIC) damaged('no snapshot header line');
    if (header!.format !== SNAPSHOT_FORMAT) damaged(`format ${header!.format}, this version reads ${SNAPSHOT_FORMAT}`);
    if (!Number.isSafeInteger(header!.seq) || !/^[0-9a-f]{32}$/.test(String(header!.journalId))
      || !/^[0-9a-f]{64}$/.test(String(header!.journalDigest)) || !/^[0-9a-f]{64}$/.test(String(header!.stateDigest))) {
      damaged('bad header fields');
    }
    const named = NAME.exec(basename(path));
    if (named && Number(named[1]) !== header!.seq) damaged(`header says seq ${header!.seq}, the file name another`);
    hash.update(first.value as Buffer);
    // Lines are hashed and handed on one step behind, so the last line (the trailer)
    // is held back and never hashed.
    let held: Buffer | undefined;
    let count = 0;
    const step = async (): Promise<Buffer | undefined> => {
      const r = await lines.next();
      if (r.done) return undefined;
      const line = held;
      held = r.value;
      if (line === undefined) return step();
      if (line[line.length - 1] !== 10) damaged('a line without its end');
      hash.update(line);
      count++;
      return line;
    };
    const image = async function* (): AsyncGenerator<string> {
      for (let line = await step(); line !== undefined; line = await step()) yield line.toString('utf8', 0, line.length - 1);
    };
    let restored: Awaited<ReturnType<typeof restoreSnapshot>> | undefined;
    let restoreError: Error | undefined;
    try {
      restored = await restoreSnapshot(image());
    } catch (err) {
      if (err instanceof SnapshotDamagedError) throw err;
      restoreError = err as Error;
      while (await step() !== undefined); // read on: the trailer tells cut from changed
    }
    const trailer = parseJson(held);
    if (trailer?.end !== true) damaged('cut short: no trailer line');
    if (trailer.lines !== count || trailer.sha256 !== hash.digest('hex')) damaged('checksum mismatch: the file was changed after it was written');
    if (restoreError !== undefined) damaged(restoreError.message);
    const { state, lastTs } = restored!;
    if (state.seq !== header!.seq) damaged(`image is at seq ${state.seq}, header says ${header!.seq}`);
    if (stateDigest(state) !== header!.stateDigest) damaged('restored state does not match the header\'s stateDigest');
    const h = header!;
    return {
      path, seq: h.seq, journalId: h.journalId, journalDigest: h.journalDigest, stateDigest: h.stateDigest,
      lastTs: Math.max(h.lastTs, lastTs), createdTs: h.createdTs, state,
    };
  } catch (err) {
    if (err instanceof SnapshotDamagedError) throw err;
    return damaged((err as Error).message);
  } finally {
    await fh.close();
  }
}

/** For `chat-server verify`: re-checks one snapshot file completely (trailer, image, stateDigest). */
export async function verifySnapshotFile(path: string): Promise<{ ok: true; seq: number } | { ok: false; reason: string }> {
  try {
    return { ok: true, seq: (await readSnapshotFile(path)).seq };
  } catch (err) {
    return { ok: false, reason: err instanceof SnapshotDamagedError ? err.reason : (err as Error).message };
  }
}

/**
 * The newest snapshot that verifies, or none; damaged newer ones are skipped, each
 * with a warning in `warnings` for the caller to log. Removes stale temp files (the
 * caller owns the directory); `removed` lists them.
 */
export async function loadLatestSnapshot(
  dataDir: string,
): Promise<{ snapshot: LoadedSnapshot | undefined; warnings: string[]; removed: string[] }> {
  const removed = await removeStaleTemps(dataDir);
  const warnings: string[] = [];
  const all = await listSnapshots(dataDir);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return { snapshot: await readSnapshotFile(all[i]!.path), warnings, removed };
    } catch (err) {
      if (!(err instanceof SnapshotDamagedError)) throw err;
      warnings.push(`${err.message}; skipped it, ${i > 0 ? 'using an older snapshot' : 'replaying the journal from its start'}`);
    }
  }
  return { snapshot: undefined, warnings, removed };
}
