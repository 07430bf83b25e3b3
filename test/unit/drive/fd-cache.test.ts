/**
 * The descriptor cache behind BlobStore reads (src/drive/fd-cache.ts), counted by the
 * descriptors the process really holds (/proc/self/fd), not by the cache's map:
 *   - however many reads run at once, at most FD_CACHE_SIZE descriptors stay open
 *     once they are idle;
 *   - a blob deleted by collect() and stored again is read from the new file;
 *   - a blob found damaged is opened afresh by the next read, so a good copy put
 *     back in its place (docs/OPERATIONS.md verify) serves at once;
 *   - close() leaves no descriptor open, reads in flight included.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobStore, blobPath, FD_CACHE_SIZE } from '../../../src/drive/blob-store.js';
import { useScratchDirs } from '../server/helpers.js';

const scratch = useScratchDirs();
const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Descriptors of this process open on files under `dir` (Linux /proc). */
function fdsUnder(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

async function put(store: BlobStore, refs: Map<string, number>, body: string | Buffer): Promise<string> {
  const buf = Buffer.from(body);
  const temp = await store.createTemp(buf.length);
  await temp.append(buf);
  const pin = await store.place(temp, sha(buf));
  refs.set(sha(buf), 1);
  pin.release();
  return sha(buf);
}

function storeWith(): { store: BlobStore; refs: Map<string, number>; dir: string } {
  const dir = scratch();
  const refs = new Map<string, number>();
  return { store: BlobStore.open(dir, (s) => refs.has(s)), refs, dir };
}

describe('blob descriptor cache', () => {
  it(`more reads at once than ${FD_CACHE_SIZE} blobs: once idle, at most ${FD_CACHE_SIZE} descriptors stay open`, async () => {
    const { store, refs, dir } = storeWith();
    const bodies = Array.from({ length: FD_CACHE_SIZE + 40 }, (_, i) => `content ${i} `.repeat(50));
    const shas: string[] = [];
    for (const b of bodies) shas.push(await put(store, refs, b));
    // Every blob read at the same time: all descriptors are in use together.
    const got = await Promise.all(shas.map((h, i) => store.read(h, Buffer.byteLength(bodies[i]!), 0, 20)));
    expect(got.map((b) => b.toString())).toEqual(bodies.map((b) => b.slice(0, 20)));
    await new Promise((r) => setTimeout(r, 20)); // background closes
    expect(fdsUnder(dir)).toBeLessThanOrEqual(FD_CACHE_SIZE);
    await store.close();
    expect(fdsUnder(dir)).toBe(0);
  });

  it('a blob deleted by collect and stored again is read from the new file, and the old descriptor is closed', async () => {
    const { store, refs, dir } = storeWith();
    const body = 'recycled bytes '.repeat(100);
    const h = await put(store, refs, body);
    expect((await store.read(h, body.length, 0, 8)).toString()).toBe(body.slice(0, 8)); // cached now
    refs.delete(h);
    expect(store.collect([h])).toBe(1);
    await store.whenDeleted(h);
    await new Promise((r) => setTimeout(r, 20));
    expect(fdsUnder(dir)).toBe(0); // no descriptor of the unlinked file kept
    await put(store, refs, body);
    expect((await store.read(h, body.length, 3, 10)).toString()).toBe(body.slice(3, 13));
    await store.close();
    expect(fdsUnder(dir)).toBe(0);
  });

  it('a blob found damaged is reopened by the next read: a good copy put in its place serves at once', async () => {
    const { store, refs, dir } = storeWith();
    const body = 'precious content '.repeat(100);
    const h = await put(store, refs, body);
    expect((await store.read(h, body.length, 0, 8)).toString()).toBe(body.slice(0, 8)); // descriptor cached
    truncateSync(blobPath(dir, h), 10); // damaged in place
    await expect(store.read(h, body.length, 0, body.length)).rejects.toMatchObject({ code: 'CHAT_ERR_INTEGRITY' });
    // The operator restores it as docs/OPERATIONS.md says: a good copy moved into place.
    const copy = join(dir, 'restored');
    writeFileSync(copy, body);
    renameSync(copy, blobPath(dir, h));
    expect((await store.read(h, body.length, 0, body.length)).toString()).toBe(body);
    await store.close();
  });

  it('close() waits for reads in flight and leaves no descriptor open', async () => {
    const { store, refs, dir } = storeWith();
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const h = await put(store, refs, big);
    await store.read(h, big.length, 0, 1); // its descriptor is open and cached
    const reads = Array.from({ length: 8 }, (_, i) => store.read(h, big.length, i * 1000, 1024 * 1024));
    await store.close();
    expect(fdsUnder(dir)).toBe(0); // the reads were waited for, then their descriptor closed
    for (const s of await Promise.allSettled(reads)) {
      expect(s.status).toBe('fulfilled');
      if (s.status === 'fulfilled') expect(s.value.equals(big.subarray(0, s.value.length))).toBe(true);
    }
  });
});
