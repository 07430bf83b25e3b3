/**
 * The drive on the real server over TCP with the real client connection (issue 4,
 * SPEC §4 "Drive", §8): uploads, listings and reads, identical content stored once,
 * concurrent uploads of one name, reads during uploads, FILE_READ bounds, restart.
 * Rights and limits: drive-rights.test.ts; failures, removal and GC: drive-failures.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { sleep, useTestServer } from '../unit/server/helpers.js';
import { blobFiles, bytes, download, refusal, sha, tmpFiles, upload, userConn } from './drive-helpers.js';

const start = useTestServer();

async function withGroup(opts: Parameters<typeof start>[0] = {}) {
  const ts = await start(opts);
  const alice = await userConn(ts, 'alice');
  await alice.request('GROUP_CREATE', { group: 'ops', private: false });
  return { ts, alice };
}

describe('drive round trip', () => {
  it('upload → FILES / FILE_INFO / FILE_READ returns the same bytes (sha256 checked)', async () => {
    const { ts, alice } = await withGroup();
    const data = bytes(300_000);
    const file = await upload(alice, 'ops', 'report.pdf', data);
    expect(file).toMatchObject({ name: 'report.pdf', version: 1, size: data.length, sha256: sha(data), uploader: 'alice' });
    expect(file.ts).toBeGreaterThan(0);
    expect((await alice.request('FILES', { group: 'ops', versions: false, afterName: '', afterVersion: 0 })).files).toEqual([file]);
    expect((await alice.request('FILE_INFO', { group: 'ops', name: 'report.pdf', version: 0 })).file).toEqual(file);
    expect((await alice.request('FILE_INFO', { group: 'ops', name: 'report.pdf', version: 1 })).file).toEqual(file);
    const back = await download(alice, 'ops', 'report.pdf', 1, 70_000);
    expect(sha(back)).toBe(sha(data));
    expect(blobFiles(ts.dataDir)).toEqual([sha(data)]);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await alice.close();
  });

  it('a multi-MiB file in many chunks, several in flight; an empty file', async () => {
    const { alice } = await withGroup();
    const data = bytes(5 * 1024 * 1024 + 12_345, 7);
    let acks = 0;
    const file = await upload(alice, 'ops', 'big.bin', data, { chunk: 64 * 1024, window: 4, onChunk: () => { acks++; } });
    expect(acks).toBe(Math.ceil(data.length / (64 * 1024)));
    expect(file).toMatchObject({ size: data.length, sha256: sha(data) });
    expect(sha(await download(alice, 'ops', 'big.bin', 1, 1024 * 1024 - 64))).toBe(sha(data));
    const empty = await upload(alice, 'ops', 'empty.txt', Buffer.alloc(0));
    expect(empty).toMatchObject({ size: 0, sha256: sha(Buffer.alloc(0)) });
    expect((await alice.request('FILE_READ', { group: 'ops', name: 'empty.txt', version: 1, offset: 0, length: 10 })).data.length).toBe(0);
    await alice.close();
  });

  it('identical content under two names and two versions is one blob file', async () => {
    const { ts, alice } = await withGroup();
    const data = bytes(100_000, 3);
    await upload(alice, 'ops', 'a.bin', data);
    await upload(alice, 'ops', 'b.bin', data);
    await upload(alice, 'ops', 'a.bin', data);
    expect(blobFiles(ts.dataDir)).toEqual([sha(data)]);
    const all = (await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files;
    expect(all.map((f: { name: string; version: number }) => `${f.name}@${f.version}`)).toEqual(['a.bin@1', 'a.bin@2', 'b.bin@1']);
    const latest = (await alice.request('FILES', { group: 'ops', versions: false, afterName: '', afterVersion: 0 })).files;
    expect(latest.map((f: { name: string; version: number }) => `${f.name}@${f.version}`)).toEqual(['a.bin@2', 'b.bin@1']);
    await alice.close();
  });

  it('FILES lists by name in UTF-16 order', async () => {
    const { alice } = await withGroup();
    const names = ['zeta', 'Alpha', 'ä-umlaut', 'beta', '😀 smile', 'ﬁ ligature', '10.txt', '9.txt'];
    for (const n of names) await upload(alice, 'ops', n, Buffer.from(n));
    const listed = (await alice.request('FILES', { group: 'ops', versions: false, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name);
    expect(listed).toEqual([...names].sort());
    await alice.close();
  });

  it('two concurrent uploads of the same name become versions 1 and 2, both intact', async () => {
    const { ts, alice } = await withGroup();
    const bob = await userConn(ts, 'bob');
    await bob.request('GROUP_JOIN', { group: 'ops' });
    await alice.request('GROUP_ROLE', { group: 'ops', user: 'bob', role: 'admin' }); // may replace alice's file
    const a = bytes(2 * 1024 * 1024, 11);
    const b = bytes(2 * 1024 * 1024 + 1, 12);
    const [fa, fb] = await Promise.all([
      upload(alice, 'ops', 'same.log', a, { chunk: 100_000 }),
      upload(bob, 'ops', 'same.log', b, { chunk: 100_000 }),
    ]);
    expect([fa.version, fb.version].sort()).toEqual([1, 2]);
    expect(sha(await download(alice, 'ops', 'same.log', fa.version as number))).toBe(sha(a));
    expect(sha(await download(alice, 'ops', 'same.log', fb.version as number))).toBe(sha(b));
    expect(blobFiles(ts.dataDir)).toEqual([sha(a), sha(b)].sort());
    await Promise.all([alice.close(), bob.close()]);
  });

  it('a download of version 1 keeps working while version 2 of the same name is uploaded and committed', async () => {
    const { ts, alice } = await withGroup();
    const bob = await userConn(ts, 'bob');
    await bob.request('GROUP_JOIN', { group: 'ops' });
    const v1 = bytes(3 * 1024 * 1024, 21);
    const v2 = bytes(3 * 1024 * 1024, 22);
    await upload(alice, 'ops', 'data.csv', v1);
    // Bob reads v1 a piece at a time while alice's v2 streams in and commits.
    const parts: Buffer[] = [];
    let v2done = false;
    const uploading = upload(alice, 'ops', 'data.csv', v2, { chunk: 64 * 1024, window: 1 }).then((f) => { v2done = true; return f; });
    let off = 0;
    let readsDuringUpload = 0;
    while (off < v1.length) {
      const r = await bob.request('FILE_READ', { group: 'ops', name: 'data.csv', version: 1, offset: off, length: 32 * 1024 });
      if (!v2done) readsDuringUpload++;
      parts.push(r.data);
      off += r.data.length;
      if (off >= v1.length / 2) await uploading; // the second half is read after v2 is committed
    }
    expect(readsDuringUpload).toBeGreaterThan(0);
    expect(sha(Buffer.concat(parts))).toBe(sha(v1));
    expect((await uploading).version).toBe(2);
    expect((await bob.request('FILE_INFO', { group: 'ops', name: 'data.csv', version: 0 })).file.sha256).toBe(sha(v2));
    await Promise.all([alice.close(), bob.close()]);
  });

  it('FILE_READ: offset at the size is empty, past it INVALID; version 0 INVALID; length capped at maxFrame - 64', async () => {
    const { alice } = await withGroup({ limits: { maxFrame: 64 * 1024 } });
    const data = bytes(200_000, 5);
    await upload(alice, 'ops', 'f.bin', data);
    const read = (p: Record<string, number>) => alice.request('FILE_READ', { group: 'ops', name: 'f.bin', version: 1, offset: 0, length: 10, ...p });
    expect((await read({ offset: data.length })).data.length).toBe(0);
    expect(Buffer.compare((await read({ offset: data.length - 4 })).data, data.subarray(-4))).toBe(0);
    const past = await refusal(alice, 'FILE_READ', { group: 'ops', name: 'f.bin', version: 1, offset: data.length + 1, length: 10 });
    expect(past.code).toBe('CHAT_ERR_INVALID');
    expect((await refusal(alice, 'FILE_READ', { group: 'ops', name: 'f.bin', version: 0, offset: 0, length: 10 })).code).toBe('CHAT_ERR_INVALID');
    expect((await refusal(alice, 'FILE_READ', { group: 'ops', name: 'f.bin', version: 2, offset: 0, length: 10 })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await refusal(alice, 'FILE_READ', { group: 'ops', name: 'nope', version: 1, offset: 0, length: 10 })).code).toBe('CHAT_ERR_NOT_FOUND');
    const capped = await read({ offset: 1000, length: 0xffffffff });
    expect(capped.data.length).toBe(64 * 1024 - 64);
    expect(Buffer.compare(capped.data, data.subarray(1000, 1000 + 64 * 1024 - 64))).toBe(0);
    await alice.close();
  });

  it('a client that pipelines reads without taking the replies is not dropped: reads wait for its socket to drain', async () => {
    // 100 reads of ~1 MiB = 100 MiB of replies against a 16 MiB slow-consumer cap: had
    // every read run at once, the server would queue them all and drop the connection.
    const { ts, alice } = await withGroup({ limits: { writeHighWater: 1024 * 1024, slowConsumerCap: 16 * 1024 * 1024 } });
    const data = bytes(2 * 1024 * 1024, 9);
    await upload(alice, 'ops', 'f.bin', data);
    const raw = await ts.client();
    await raw.login('alice');
    raw.socket.pause();
    const len = 1024 * 1024 - 64;
    const reads = [];
    for (let i = 0; i < 100; i++) {
      reads.push(raw.request('FILE_READ', { group: 'ops', name: 'f.bin', version: 1, offset: (i * 4096) % 1024, length: len }));
    }
    await sleep(500);
    raw.socket.resume();
    const got = await Promise.all(reads);
    for (let i = 0; i < got.length; i++) {
      const off = (i * 4096) % 1024;
      // Buffer.compare: toEqual walks big buffers byte by byte, far too slowly.
      expect(Buffer.compare(got[i]!.data, data.subarray(off, off + len)), `read ${i}`).toBe(0);
    }
    expect(raw.isClosed).toBe(false);
    await alice.close();
  });

  it('stop and start on the same data dir keeps files, versions and blobs', async () => {
    const { ts, alice } = await withGroup();
    const a = bytes(500_000, 31);
    const b = bytes(10, 32);
    await upload(alice, 'ops', 'keep.bin', a);
    await upload(alice, 'ops', 'keep.bin', b);
    const before = (await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files;
    await alice.close();
    await ts.stop();
    const again = await start({ dataDir: ts.dataDir });
    const alice2 = await userConn(again, 'alice', { register: false });
    expect((await alice2.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual(before);
    expect(sha(await download(alice2, 'ops', 'keep.bin', 1))).toBe(sha(a));
    expect(sha(await download(alice2, 'ops', 'keep.bin', 2))).toBe(sha(b));
    expect(blobFiles(again.dataDir)).toEqual([sha(a), sha(b)].sort());
    expect((await upload(alice2, 'ops', 'keep.bin', bytes(3, 33))).version).toBe(3);
    await alice2.close();
  });
});
