/**
 * Content-addressed blob store of the drive (SPEC §4 "Drive", §8; issue 4).
 *
 * Layout (fixed: `chat-server verify` and replicas read it through blobPath):
 *   DATA/blobs/<first two hex digits>/<sha256>   one file per distinct content
 *   DATA/blobs/tmp/<random>.part                 uploads in progress (temp-blob.ts)
 * File names never touch these paths: a blob is named by the sha256 of its bytes.
 *
 * Contracts:
 *   - place(temp, sha256) verifies the temp file's size and sha256 against the declared
 *     ones (else CHAT_ERR_INTEGRITY, temp removed), fdatasyncs it, renames it into place
 *     and fsyncs the blob's directory; when the blob already exists (identical content
 *     is stored once) it removes the temp file instead, unsynced. Only after it
 *     resolves may a 'file.put' naming the blob be committed to the journal (a crash
 *     before the commit leaves an orphan, removed by sweep() at the next start).
 *     Placements of the same content run one after another, so "already exists"
 *     always means "already durable";
 *   - the sha256 placed stays pinned until the returned Pin is released (after the
 *     'file.put' commit, or on failure): collect() never deletes a pinned blob, and a
 *     place() of a blob being deleted waits for that deletion, so an upload that found
 *     "blob already exists" cannot lose it to a concurrent removal;
 *   - collect(shas) deletes the blobs among `shas` that nothing references
 *     (isReferenced, i.e. State.blobRefs) and nothing pins. The decision is taken
 *     synchronously; callers call it once the removal op is durable (never before: a
 *     crash would bring the reference back without its blob);
 *   - read() and readInto() are positional reads through a small shared cache of open descriptors;
 *     a blob shorter than asked is CHAT_ERR_INTEGRITY, a missing one BlobMissingError;
 *   - close() waits for reads, deletions and unlinks in flight and closes every descriptor.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ChatError } from '../common/errors.js';
import { FdCache } from './fd-cache.js';
import { TempBlob } from './temp-blob.js';

export { FD_CACHE_SIZE } from './fd-cache.js';
export { TempBlob } from './temp-blob.js';

/** A blob name: 64 lowercase hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** DATA/blobs */
export function blobsDir(dataDir: string): string {
  return join(dataDir, 'blobs');
}

/** Where temp files of uploads in progress live: DATA/blobs/tmp */
export function blobTmpDir(dataDir: string): string {
  return join(dataDir, 'blobs', 'tmp');
}

/** DATA/blobs/<first two hex>/<sha256>: the one place the blob of `sha256` lives. */
export function blobPath(dataDir: string, sha256: string): string {
  return join(dataDir, 'blobs', sha256.slice(0, 2), sha256);
}

/** A referenced blob is not in the store (damage, or deleted by hand). */
export class BlobMissingError extends ChatError {
  constructor(readonly sha256: string) {
    super('CHAT_ERR_INTEGRITY', `blob ${sha256} is missing from the server's data directory (run chat-server verify)`);
  }
}

/** Holds a sha256 against collect() until released; release() is idempotent. */
export interface Pin {
  readonly sha256: string;
  release(): void;
}

export interface SweepResult {
  /** Temp files of uploads cut by a crash or a stop. */
  tmpRemoved: number;
  /** Blobs no file version names (a crash between rename and journal commit, or a removal cut short). */
  orphansRemoved: number;
  /** Referenced blobs not found (verify names them). */
  missing: string[];
}

export class BlobStore {
  private readonly pins = new Map<string, number>();
  /** sha256 → its unlink in progress. */
  private readonly deleting = new Map<string, Promise<void>>();
  /** sha256 → the last placement of that content, which the next one waits for. */
  private readonly placing = new Map<string, Promise<void>>();
  /** Work close() waits for (unlinks, temp removals). */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly fds = new FdCache((p) => this.track(p));
  /** <2 hex> directory → done once it exists and its entry in DATA/blobs is durable. */
  private readonly knownDirs = new Map<string, Promise<void>>();
  private closed = false;

  private constructor(
    readonly dataDir: string,
    private readonly isReferenced: (sha256: string) => boolean,
  ) {}

  /**
   * Creates DATA/blobs and DATA/blobs/tmp if missing (a new DATA/blobs is made durable
   * in DATA, as the journal's and snapshots' directories are: every blob's path must
   * be). `isReferenced`: State.blobRefs has the sha.
   */
  static open(dataDir: string, isReferenced: (sha256: string) => boolean): BlobStore {
    const fresh = !existsSync(blobsDir(dataDir));
    mkdirSync(blobTmpDir(dataDir), { recursive: true });
    if (fresh) {
      const fd = openSync(dataDir, 'r');
      try { fsyncSync(fd); } finally { closeSync(fd); }
    }
    return new BlobStore(dataDir, isReferenced);
  }

  /**
   * Start-up clean-up, before serving: removes every temp file, and every blob that
   * `refs` (the restored State.blobRefs) does not name; lists referenced blobs that
   * are missing. Entries that are not blob names are left alone.
   */
  async sweep(refs: ReadonlyMap<string, number>): Promise<SweepResult> {
    const result: SweepResult = { tmpRemoved: 0, orphansRemoved: 0, missing: [] };
    for (const name of await readdir(blobTmpDir(this.dataDir))) {
      await rm(join(blobTmpDir(this.dataDir), name), { force: true, recursive: true });
      result.tmpRemoved++;
    }
    const present = new Set<string>();
    for (const dir of await readdir(blobsDir(this.dataDir))) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      this.knownDirs.set(dir, Promise.resolve());
      for (const name of await readdir(join(blobsDir(this.dataDir), dir))) {
        if (!SHA256_HEX.test(name) || !name.startsWith(dir)) continue;
        if (refs.has(name)) {
          present.add(name);
        } else {
          await unlink(join(blobsDir(this.dataDir), dir, name));
          result.orphansRemoved++;
        }
      }
    }
    for (const sha of refs.keys()) if (!present.has(sha)) result.missing.push(sha);
    return result;
  }

  /** Bytes the server may still write under DATA/blobs (statfs: blocks available to us). */
  async freeBytes(): Promise<number> {
    const s = await statfs(blobsDir(this.dataDir));
    return Number(s.bavail) * Number(s.bsize);
  }

  /** A new temp file for an upload of `size` bytes (temp-blob.ts). */
  async createTemp(size: number): Promise<TempBlob> {
    this.assertOpen();
    const path = join(blobTmpDir(this.dataDir), `${randomBytes(12).toString('hex')}.part`);
    const fh = await open(path, 'wx', 0o600);
    return new TempBlob(path, size, fh, (p) => this.track(p));
  }

  /** See the file contract. On any failure the temp file is gone and nothing is pinned. */
  async place(temp: TempBlob, sha256: string): Promise<Pin> {
    this.assertOpen();
    let got: { size: number; sha256: string };
    try {
      got = await temp.finish();
    } catch (err) {
      // A write failed (a full disk): the temp file goes with its descriptor, now.
      await temp.abort().catch(() => undefined);
      throw err;
    }
    if (got.size !== temp.size || got.sha256 !== sha256) {
      await temp.abort();
      throw new ChatError('CHAT_ERR_INTEGRITY', got.size !== temp.size
        ? `upload incomplete: ${got.size} of ${temp.size} bytes received; nothing was stored (upload again)`
        : `upload corrupted: the bytes received have sha256 ${got.sha256}, not the declared ${sha256}; nothing was stored (upload again)`);
    }
    const pin = this.pin(sha256);
    // Placements of one content go one at a time: a second one that found the blob
    // "already there" while the first had renamed it but not yet synced its directory
    // would let its file.put be journalled before the blob is durable.
    const before = this.placing.get(sha256);
    let placed!: () => void;
    const mine = new Promise<void>((resolve) => { placed = resolve; });
    this.placing.set(sha256, mine);
    try {
      const dir = sha256.slice(0, 2);
      await this.ensureDir(dir);
      await before;
      // A removal of the same content may be unlinking it right now: let it finish,
      // then look (else the rename could land before the unlink and be lost).
      await this.deleting.get(sha256);
      const target = blobPath(this.dataDir, sha256);
      if (await exists(target)) {
        // Already durable (see the contract): the copy is dropped without an fsync
        // (which would also make its unlink slow: blocks allocated, then freed).
        await temp.abort();
      } else {
        await temp.sync();
        await rename(temp.path, target);
        temp.renamed();
        await fsyncDir(join(blobsDir(this.dataDir), dir));
      }
      return pin;
    } catch (err) {
      await temp.abort().catch(() => undefined);
      pin.release();
      throw err;
    } finally {
      placed();
      if (this.placing.get(sha256) === mine) this.placing.delete(sha256);
    }
  }

  /** Pins `sha256` (see the file contract). */
  pin(sha256: string): Pin {
    this.pins.set(sha256, (this.pins.get(sha256) ?? 0) + 1);
    let held = true;
    return {
      sha256,
      release: () => {
        if (!held) return;
        held = false;
        const n = (this.pins.get(sha256) ?? 1) - 1;
        if (n > 0) this.pins.set(sha256, n);
        else this.pins.delete(sha256);
        // An upload that failed after placing (rights lost, group deleted) leaves an
        // unreferenced blob: drop it now rather than at the next start.
        this.collect([sha256]);
      },
    };
  }

  /**
   * Deletes, among `shas`, the blobs nothing references or pins; returns how many it
   * set out to delete. The decision is synchronous; the unlinks run in the background.
   */
  collect(shas: Iterable<string>): number {
    if (this.closed) return 0;
    let n = 0;
    for (const sha of new Set(shas)) {
      if (this.isReferenced(sha) || this.pins.has(sha) || this.deleting.has(sha)) continue;
      this.fds.evict(sha);
      const p = unlink(blobPath(this.dataDir, sha)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }).finally(() => this.deleting.delete(sha));
      this.deleting.set(sha, p.catch(() => undefined));
      this.track(p);
      n++;
    }
    return n;
  }

  /** Resolves once a deletion of `sha256` that collect() started is done (at once if none is). */
  whenDeleted(sha256: string): Promise<void> {
    return this.deleting.get(sha256) ?? Promise.resolve();
  }

  /**
   * Up to `length` bytes of blob `sha256` from `offset`, exactly min(length, size -
   * offset) when the caller passes the recorded `size`: fewer means the blob is damaged
   * (CHAT_ERR_INTEGRITY). A missing blob is BlobMissingError.
   */
  async read(sha256: string, size: number, offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
    await this.readInto(sha256, size, offset, buf);
    return buf;
  }

  /**
   * Fills `buf` with the bytes of blob `sha256` from `offset` (the caller sizes it to
   * at most `size - offset`, the recorded size): a blob that ends sooner is
   * CHAT_ERR_INTEGRITY, a missing one BlobMissingError. Lets FILE_READ read straight
   * into its reply frame.
   */
  async readInto(sha256: string, size: number, offset: number, buf: Buffer): Promise<void> {
    this.assertOpen();
    if (buf.length === 0) return;
    if (offset + buf.length > size) throw new RangeError(`read of ${buf.length} bytes at ${offset} is past the ${size} bytes of blob ${sha256}`);
    const read = this.readFromCache(sha256, size, offset, buf);
    this.track(read); // close() waits for it, then closes its descriptor
    return read;
  }

  private async readFromCache(sha256: string, size: number, offset: number, buf: Buffer): Promise<void> {
    const entry = this.fds.acquire(sha256, () => open(blobPath(this.dataDir, sha256), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new BlobMissingError(sha256);
      throw err;
    }));
    let damaged = false;
    try {
      const fh = await entry.fh;
      const want = buf.length;
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < want) {
        damaged = true;
        throw new ChatError('CHAT_ERR_INTEGRITY', `blob ${sha256} is shorter than its recorded ${size} bytes (run chat-server verify)`);
      }
    } finally {
      this.fds.release(sha256, entry);
      // Damaged: the next read opens the path again, so a good copy put in its place
      // (docs/OPERATIONS.md, verify) serves at once instead of this descriptor's file.
      if (this.closed || damaged) this.fds.evict(sha256);
    }
  }

  /** Descriptors open now (tests). */
  get openFds(): number {
    return this.fds.size;
  }

  /** Waits for reads and background work, closes every descriptor; later calls fail. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.fds.evictAll();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  // ---- internals -------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new ChatError('CHAT_ERR_SHUTTING_DOWN', 'the server is stopping; try again in a moment');
  }

  /** Keeps `p` for close() to wait on; its failure is logged by nobody but never unhandled. */
  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined);
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /**
   * Resolves once DATA/blobs/<dir> exists and its entry is durable. Placements into a
   * directory another one is creating wait for that one's sync of DATA/blobs: a blob
   * renamed into a directory whose own entry could still be lost is not durable.
   */
  private ensureDir(dir: string): Promise<void> {
    let ready = this.knownDirs.get(dir);
    if (!ready) {
      ready = (async () => {
        const created = await mkdir(join(blobsDir(this.dataDir), dir), { recursive: true });
        // A new directory entry is durable only once its parent is synced.
        if (created !== undefined) await fsyncDir(blobsDir(this.dataDir));
      })();
      this.knownDirs.set(dir, ready);
      // A failure is the caller's; the next placement tries again.
      ready.catch(() => { if (this.knownDirs.get(dir) === ready) this.knownDirs.delete(dir); });
    }
    return ready;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** fsync of a directory: makes the entries created or renamed in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
