/**
 * BlobStore.open on a data dir without DATA/blobs makes the new directory's entry in
 * DATA durable (fsync of DATA), as the journal and snapshot directories are: a blob
 * is durable only if every directory on its path is (docs/STORAGE.md "Blobs").
 * node:fs is wrapped to see which directories get fsynced.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const synced: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const paths = new Map<number, string>();
  const openSync = ((p: string, ...rest: unknown[]) => {
    const fd = (fs.openSync as (...a: unknown[]) => number)(p, ...rest);
    paths.set(fd, String(p));
    return fd;
  }) as typeof fs.openSync;
  const fsyncSync = ((fd: number) => {
    synced.push(paths.get(fd) ?? `fd ${fd}`);
    return fs.fsyncSync(fd);
  }) as typeof fs.fsyncSync;
  return { ...fs, default: { ...fs, openSync, fsyncSync }, openSync, fsyncSync };
});

const { BlobStore } = await import('../../../src/drive/blob-store.js');
const { useScratchDirs } = await import('../server/helpers.js');
const scratch = useScratchDirs();

describe('BlobStore.open', () => {
  it('creates DATA/blobs and DATA/blobs/tmp and fsyncs DATA for the new entry; an existing one is left as it is', async () => {
    const dir = scratch();
    synced.length = 0;
    const store = BlobStore.open(dir, () => false);
    expect(existsSync(join(dir, 'blobs', 'tmp'))).toBe(true);
    expect(synced).toContain(dir);
    await store.close();
    synced.length = 0;
    const again = BlobStore.open(dir, () => false);
    expect(synced).toEqual([]);
    await again.close();
  });
});
