/**
 * BlobStore (src/drive/blob-store.ts) on a real temp data dir: placing verified
 * temp files, identical content stored once, GC with pins, the start-up sweep, and
 * positional reads through the descriptor cache.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobMissingError, BlobStore, blobPath, FD_CACHE_SIZE } from '../../../src/drive/blob-store.js';
import { ChatError } from '../../../src/common/errors.js';
import { useScratchDirs } from '../server/helpers.js';

const scratch = useScratchDirs();
const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

function storeWith(refs: Map<string, number> = new Map()): { store: BlobStore; refs: Map<string, number>; dir: string } {
  const dir = scratch();
  return { store: BlobStore.open(dir, (s) => refs.has(s)), refs, dir };
}

async function put(store: BlobStore, content: string | Buffer, declared = sha(content)) {
  const buf = Buffer.from(content);
  const temp = await store.createTemp(buf.length);
  // Several appends in flight at once: they must land in call order.
  await Promise.all([temp.append(buf.subarray(0, 3)), temp.append(buf.subarray(3, 7)), temp.append(buf.subarray(7))]);
  return { temp, pin: await store.place(temp, declared) };
}

const tmpOf = (dir: string) => readdirSync(join(dir, 'blobs', 'tmp'));

describe('BlobStore', () => {
  it('places a verified temp file at DATA/blobs/<2 hex>/<sha256>; the same content twice is one file', async () => {
    const { store, dir } = storeWith();
    const a = await put(store, 'hello, drive world');
    const b = await put(store, 'hello, drive world');
    const h = sha('hello, drive world');
    expect(blobPath(dir, h)).toBe(join(dir, 'blobs', h.slice(0, 2), h));
    expect(readFileSync(blobPath(dir, h), 'utf8')).toBe('hello, drive world');
    expect(readdirSync(join(dir, 'blobs', h.slice(0, 2)))).toEqual([h]);
    expect(tmpOf(dir)).toEqual([]);
    a.pin.release();
    b.pin.release();
    await store.close();
  });

  it('a wrong sha256 or size is CHAT_ERR_INTEGRITY and leaves neither a blob nor a temp file', async () => {
    const { store, dir } = storeWith();
    const err = await put(store, 'some bytes here', sha('other bytes')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe('CHAT_ERR_INTEGRITY');
    const short = await store.createTemp(10);
    await short.append(Buffer.from('abc'));
    await expect(store.place(short, sha('abc'))).rejects.toMatchObject({ code: 'CHAT_ERR_INTEGRITY' });
    await store.close();
    expect(tmpOf(dir)).toEqual([]);
    expect(existsSync(blobPath(dir, sha('some bytes here')))).toBe(false);
  });

  it('collect deletes only unreferenced, unpinned blobs; a pin defers it to its release', async () => {
    const { store, refs, dir } = storeWith();
    const kept = await put(store, 'referenced content');
    const loose = await put(store, 'unreferenced content');
    refs.set(sha('referenced content'), 1);
    kept.pin.release();
    // Still pinned: an upload between "blob placed" and its file.put commit.
    expect(store.collect([sha('unreferenced content'), sha('referenced content')])).toBe(0);
    loose.pin.release(); // the upload failed its rights re-check: now it may go
    await store.close();
    expect(existsSync(blobPath(dir, sha('referenced content')))).toBe(true);
    expect(existsSync(blobPath(dir, sha('unreferenced content')))).toBe(false);
  });

  it('content deleted by collect and uploaded again right after is stored again (the placement waits for the unlink)', async () => {
    const { store, dir } = storeWith();
    const first = await put(store, 'recycled content');
    first.pin.release(); // unreferenced: its unlink starts now
    const again = await put(store, 'recycled content');
    await store.close();
    expect(readFileSync(blobPath(dir, sha('recycled content')), 'utf8')).toBe('recycled content');
    again.pin.release();
  });

  it('sweep removes temp files and orphans, keeps referenced blobs, names the missing ones', async () => {
    const dir = scratch();
    const keep = sha('keep');
    const orphan = sha('orphan');
    const missing = sha('missing');
    for (const [h, body] of [[keep, 'keep'], [orphan, 'orphan']]) {
      mkdirSync(join(dir, 'blobs', h.slice(0, 2)), { recursive: true });
      writeFileSync(blobPath(dir, h), body);
    }
    mkdirSync(join(dir, 'blobs', 'tmp'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'tmp', 'cut.part'), 'half an upload');
    writeFileSync(join(dir, 'blobs', 'README'), 'not a blob');
    const refs = new Map([[keep, 1], [missing, 2]]);
    const store = BlobStore.open(dir, (s) => refs.has(s));
    expect(await store.sweep(refs)).toEqual({ tmpRemoved: 1, orphansRemoved: 1, missing: [missing] });
    expect(existsSync(blobPath(dir, keep))).toBe(true);
    expect(existsSync(blobPath(dir, orphan))).toBe(false);
    expect(existsSync(join(dir, 'blobs', 'README'))).toBe(true);
    expect(tmpOf(dir)).toEqual([]);
    await store.close();
  });

  it('reads ranges through a bounded descriptor cache; damaged and missing blobs are errors', async () => {
    const { store, refs, dir } = storeWith();
    const shas: string[] = [];
    for (let i = 0; i < FD_CACHE_SIZE + 5; i++) {
      const body = `blob number ${i} `.repeat(10);
      const { pin } = await put(store, body);
      refs.set(sha(body), 1);
      pin.release();
      shas.push(sha(body));
      const size = Buffer.byteLength(body);
      expect((await store.read(sha(body), size, 5, 8)).toString()).toBe(body.slice(5, 13));
      expect((await store.read(sha(body), size, size - 3, 100)).toString()).toBe(body.slice(-3));
      expect((await store.read(sha(body), size, size, 100)).length).toBe(0);
    }
    expect(store.openFds).toBeLessThanOrEqual(FD_CACHE_SIZE);
    truncateSync(blobPath(dir, shas[0]!), 4);
    const size0 = Buffer.byteLength('blob number 0 '.repeat(10));
    await expect(store.read(shas[0]!, size0, 0, 100)).rejects.toMatchObject({ code: 'CHAT_ERR_INTEGRITY' });
    await expect(store.read(sha('never stored'), 10, 0, 10)).rejects.toBeInstanceOf(BlobMissingError);
    await store.close();
    expect(store.openFds).toBe(0);
    await expect(store.read(shas[1]!, 10, 0, 1)).rejects.toMatchObject({ code: 'CHAT_ERR_SHUTTING_DOWN' });
  });

  it('abort removes the temp file even with writes in flight', async () => {
    const { store, dir } = storeWith();
    const temp = await store.createTemp(1 << 20);
    const writes = [temp.append(Buffer.alloc(1 << 19, 1)), temp.append(Buffer.alloc(1 << 19, 2))];
    await temp.abort();
    await Promise.allSettled(writes);
    await expect(temp.append(Buffer.alloc(1))).rejects.toThrow();
    await store.close();
    expect(tmpOf(dir)).toEqual([]);
  });
});

describe('BlobStore directory durability', () => {
  it('a blob placed in a <2 hex> directory another placement has just created waits until that directory is durable', async () => {
    const { store, refs } = storeWith();
    // Two contents whose sha256 share the first two hex digits: one directory.
    const a = 'dir twin a';
    let b = '';
    for (let i = 0; ; i++) if (sha(`dir twin b ${i}`).slice(0, 2) === sha(a).slice(0, 2)) { b = `dir twin b ${i}`; break; }
    // The first fsync of a directory (the one that makes the new <2 hex> entry durable
    // in DATA/blobs) is slow; the others are not.
    const probe = await store.createTemp(0);
    const proto = Object.getPrototypeOf((probe as unknown as { fh: object }).fh) as { sync(): Promise<void> };
    await probe.abort();
    const realSync = proto.sync;
    let first: Promise<void> | undefined;
    let firstDone = false;
    proto.sync = function (this: unknown): Promise<void> {
      if (first) return realSync.call(this);
      first = new Promise<void>((r) => setTimeout(r, 150)).then(() => realSync.call(this)).then(() => { firstDone = true; });
      return first;
    };
    try {
      const temps = await Promise.all([a, b].map(async (body) => {
        const t = await store.createTemp(body.length);
        await t.append(Buffer.from(body));
        return t;
      }));
      const order: string[] = [];
      await Promise.all([
        store.place(temps[0]!, sha(a)).then((pin) => { order.push(`a placed, dir durable: ${firstDone}`); refs.set(sha(a), 1); pin.release(); }),
        store.place(temps[1]!, sha(b)).then((pin) => { order.push(`b placed, dir durable: ${firstDone}`); refs.set(sha(b), 1); pin.release(); }),
      ]);
      // A file.put may be journalled as soon as place() resolves: the blob's directory
      // must be durable by then, whichever placement created it.
      expect(order.sort()).toEqual(['a placed, dir durable: true', 'b placed, dir durable: true']);
    } finally {
      proto.sync = realSync;
    }
    await store.close();
  });
});
