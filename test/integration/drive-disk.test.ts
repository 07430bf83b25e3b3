/**
 * The drive when the disk is short or fails (issue 4, SPEC §8 limits), on the real
 * server over TCP. The file system is faked where it cannot be made full cheaply:
 * BlobStore.freeBytes (statfs) reports what the test says, and a temp file's write
 * fails with ENOSPC at a chosen offset. Checked: a declared size the free space cannot
 * hold is refused at UPLOAD_BEGIN counting what open uploads may still write; a full
 * disk during the chunks or at UPLOAD_END is a clear TOO_LARGE, leaves no temp file
 * and no open descriptor, and the server goes on serving others.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BlobStore } from '../../src/drive/blob-store.js';
import { TempBlob } from '../../src/drive/temp-blob.js';
import { DISK_HEADROOM } from '../../src/server/handlers/drive.js';
import { sleep, useTestServer } from '../unit/server/helpers.js';
import { blobFiles, bytes, download, refusal, sha, tmpFiles, upload, userConn } from './drive-helpers.js';

const start = useTestServer();
afterEach(() => { vi.restoreAllMocks(); });

async function setup() {
  const ts = await start();
  const alice = await userConn(ts, 'alice');
  await alice.request('GROUP_CREATE', { group: 'ops', private: false });
  return { ts, alice };
}

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

/** Temp-file writes at or past `from` fail with ENOSPC after `delayMs` (the earlier ones are real). */
function diskFullFrom(from: number, delayMs = 0): void {
  const real = (TempBlob.prototype as unknown as { writeAt(d: Uint8Array, p: number): Promise<void> }).writeAt;
  vi.spyOn(TempBlob.prototype as unknown as { writeAt(d: Uint8Array, p: number): Promise<void> }, 'writeAt')
    .mockImplementation(function (this: unknown, data: Uint8Array, position: number) {
      if (position + data.length <= from) return real.call(this, data, position);
      return sleep(delayMs).then(() => { throw enospc(); });
    });
}

/** Open descriptors of this process that point into `dir` (Linux /proc). */
async function fdsUnder(dir: string): Promise<string[]> {
  const { readdirSync, readlinkSync } = await import('node:fs');
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

describe('free disk space at UPLOAD_BEGIN', () => {
  it('a declared size over the free space (statfs minus 16 MiB minus what open uploads may still write) is TOO_LARGE', async () => {
    const { ts, alice } = await setup();
    vi.spyOn(BlobStore.prototype, 'freeBytes').mockResolvedValue(DISK_HEADROOM + 1000);
    const over = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'big.bin', size: 1001 });
    expect(over.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(over.message).toContain('only 1000 bytes free');
    // 600 reserved by an open upload: 400 left for the next one.
    const a = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'a.bin', size: 600 });
    const second = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'b.bin', size: 401 });
    expect(second.message).toContain('only 400 bytes free');
    // Written bytes are on the disk already (statfs counts them): the rest stays reserved.
    await alice.request('UPLOAD_CHUNK', { uploadId: a.uploadId, offset: 0, data: bytes(100, 1) });
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'b.bin', size: 401 });
    expect((await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'c.bin', size: 100 })).message).toContain('only 99 bytes free');
    await alice.request('UPLOAD_ABORT', { uploadId: a.uploadId });
    await alice.request('UPLOAD_ABORT', { uploadId: b.uploadId });
    expect((await upload(alice, 'ops', 'fits.bin', bytes(1000, 2))).size).toBe(1000);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await alice.close();
  });

  it('at most maxUploads open uploads on the server (BUSY), whoever opens them; a finished one frees its slot', async () => {
    const ts = await start({ limits: { maxUploads: 3, maxUploadsPerConn: 2 } });
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    await bob.request('GROUP_JOIN', { group: 'ops' });
    const a1 = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'a1', size: 1 });
    await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'a2', size: 1 });
    await bob.request('UPLOAD_BEGIN', { group: 'ops', name: 'b1', size: 1 });
    const busy = await refusal(bob, 'UPLOAD_BEGIN', { group: 'ops', name: 'b2', size: 1 });
    expect(busy.code).toBe('CHAT_ERR_BUSY');
    expect(tmpFiles(ts.dataDir)).toHaveLength(3);
    await alice.request('UPLOAD_CHUNK', { uploadId: a1.uploadId, offset: 0, data: Buffer.from('x') });
    await alice.request('UPLOAD_END', { uploadId: a1.uploadId, sha256: sha(Buffer.from('x')) });
    await bob.request('UPLOAD_BEGIN', { group: 'ops', name: 'b2', size: 1 });
    await Promise.all([alice.close(), bob.close()]);
    for (let i = 0; i < 100 && tmpFiles(ts.dataDir).length > 0; i++) await sleep(10);
    expect(tmpFiles(ts.dataDir)).toEqual([]); // closing abandons the open ones
  });
});

describe('a full disk during an upload', () => {
  it('ENOSPC on a chunk: TOO_LARGE saying so, the upload dropped (temp file and descriptor gone), others served', async () => {
    const { ts, alice } = await setup();
    const data = bytes(400_000, 3);
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'full.bin', size: data.length });
    await alice.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 0, data: data.subarray(0, 100_000) });
    diskFullFrom(100_000);
    const err = await refusal(alice, 'UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 100_000, data: data.subarray(100_000, 200_000) });
    expect(err.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(err.message).toContain('out of disk space');
    vi.restoreAllMocks();
    expect((await refusal(alice, 'UPLOAD_END', { uploadId: b.uploadId, sha256: sha(data) })).code).toBe('CHAT_ERR_NOT_FOUND');
    for (let i = 0; i < 100 && tmpFiles(ts.dataDir).length > 0; i++) await sleep(10);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect(await fdsUnder(ts.dataDir + '/blobs/tmp')).toEqual([]);
    const other = bytes(50_000, 4);
    expect((await upload(alice, 'ops', 'other.bin', other)).version).toBe(1);
    expect(sha(await download(alice, 'ops', 'other.bin', 1))).toBe(sha(other));
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name)).toEqual(['other.bin']);
    await alice.close();
  });

  it('ENOSPC on the last chunk while UPLOAD_END already runs: TOO_LARGE, nothing stored, no temp file or descriptor left', async () => {
    const { ts, alice } = await setup();
    const data = bytes(300_000, 5);
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'late.bin', size: data.length });
    await alice.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 0, data: data.subarray(0, 200_000) });
    diskFullFrom(200_000, 50); // the failure comes after UPLOAD_END has started waiting for the write
    const chunk = alice.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 200_000, data: data.subarray(200_000) });
    const end = alice.request('UPLOAD_END', { uploadId: b.uploadId, sha256: sha(data) });
    const [c, e] = await Promise.allSettled([chunk, end]);
    expect(c.status).toBe('rejected');
    expect(e.status).toBe('rejected');
    const endErr = (e as PromiseRejectedResult).reason as { code: string; message: string };
    expect(endErr.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(endErr.message).toContain('out of disk space');
    vi.restoreAllMocks();
    for (let i = 0; i < 100 && tmpFiles(ts.dataDir).length > 0; i++) await sleep(10);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect(await fdsUnder(ts.dataDir + '/blobs/tmp')).toEqual([]);
    expect(blobFiles(ts.dataDir)).toEqual([]);
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    expect((await upload(alice, 'ops', 'late.bin', data)).version).toBe(1);
    await alice.close();
  });

  it('ENOSPC creating the temp file: TOO_LARGE saying so, not an internal error; the slot is free again', async () => {
    const { ts, alice } = await setup();
    vi.spyOn(BlobStore.prototype, 'createTemp').mockRejectedValueOnce(Object.assign(enospc(), { syscall: 'open' }));
    const err = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'x.bin', size: 10 });
    expect(err.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(err.message).toContain('out of disk space');
    expect(ts.logs.filter((l) => String(l.msg).includes('a bug'))).toEqual([]);
    expect((await upload(alice, 'ops', 'x.bin', bytes(10, 6))).version).toBe(1);
    await alice.close();
  });
});
