/**
 * Open blob descriptors shared by reads (blob-store.ts): a download reads one blob in
 * many FILE_READ requests, so each request must not pay an open() and close().
 *
 * Contracts: at most FD_CACHE_SIZE descriptors stay open while idle (the least
 * recently used idle one is closed first; more may be open while more blobs are read
 * at once, and the surplus is closed as they go idle); a descriptor in use is never
 * closed under its reader: evict() (its blob deleted or found damaged, or shutdown)
 * closes it once the last reader releases it; a failed open is not kept (the next
 * read tries again).
 */
import type { FileHandle } from 'node:fs/promises';

/** Open descriptors kept for reads; idle ones beyond this are closed, oldest use first. */
export const FD_CACHE_SIZE = 64;

export interface CachedFd {
  readonly fh: Promise<FileHandle>;
  users: number;
  /** Removed from the cache (evicted or its blob deleted): close once unused. */
  stale: boolean;
}

export class FdCache {
  /** sha256 → descriptor, in order of last use (oldest first). */
  private readonly fds = new Map<string, CachedFd>();

  /** `track`: hands background closes to the owner, which waits for them at shutdown. */
  constructor(private readonly track: (p: Promise<unknown>) => void) {}

  get size(): number {
    return this.fds.size;
  }

  /** The descriptor of `sha256` (opened with `open` if not cached), counted as in use. */
  acquire(sha256: string, open: () => Promise<FileHandle>): CachedFd {
    let entry = this.fds.get(sha256);
    if (entry) {
      this.fds.delete(sha256); // re-inserted below: most recently used last
    } else {
      const fh = open();
      fh.catch(() => undefined);
      entry = { fh, users: 0, stale: false };
      this.trim(FD_CACHE_SIZE - 1);
    }
    this.fds.set(sha256, entry);
    entry.users++;
    return entry;
  }

  release(sha256: string, entry: CachedFd): void {
    entry.users--;
    void entry.fh.catch(() => {
      if (this.fds.get(sha256) === entry) this.fds.delete(sha256);
    });
    if (entry.users > 0) return;
    if (entry.stale) this.close(entry);
    // More blobs were read at once than the cache keeps: the surplus goes once idle.
    else if (this.fds.size > FD_CACHE_SIZE) this.trim(FD_CACHE_SIZE);
  }

  /** Drops `sha256` from the cache; its descriptor closes once no read uses it. */
  evict(sha256: string): void {
    const e = this.fds.get(sha256);
    if (!e) return;
    this.fds.delete(sha256);
    e.stale = true;
    if (e.users === 0) this.close(e);
  }

  evictAll(): void {
    for (const sha of [...this.fds.keys()]) this.evict(sha);
  }

  /** Closes idle descriptors, oldest use first, until at most `keep` are cached (or none is idle). */
  private trim(keep: number): void {
    if (this.fds.size <= keep) return;
    for (const [sha, e] of this.fds) {
      if (this.fds.size <= keep) break;
      if (e.users === 0) this.evict(sha);
    }
  }

  private close(e: CachedFd): void {
    this.track(e.fh.then((fh) => fh.close(), () => undefined));
  }
}
