/**
 * Drive failures, removal and garbage collection on the real server (issue 4, SPEC
 * §4 "Drive", §8): a wrong sha256, a dropped connection, chunks out of order, aborts,
 * FILE_RM with its blob GC and version numbers, FILE_EVENT pushes, GROUP_DELETE, and
 * the start-up sweep of temp files and orphan blobs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobPath } from '../../src/drive/blob-store.js';
import { sleep, useTestServer } from '../unit/server/helpers.js';
import { blobFiles, bytes, download, refusal, sha, tmpFiles, upload, userConn } from './drive-helpers.js';

const start = useTestServer();

async function setup(opts: Parameters<typeof start>[0] = {}) {
  const ts = await start(opts);
  const alice = await userConn(ts, 'alice');
  await alice.request('GROUP_CREATE', { group: 'ops', private: false });
  return { ts, alice };
}

/** Polls (bounded) until `check` holds; the server removes temp files in the background. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  expect(check(), what).toBe(true);
}

describe('upload failures', () => {
  it('a wrong declared sha256 is INTEGRITY: nothing journalled, temp file and blob gone, upload id dropped', async () => {
    const { ts, alice } = await setup();
    const data = bytes(200_000, 1);
    const seq = ts.srv.engine.seq;
    const err = await upload(alice, 'ops', 'x.bin', data, { sha256: sha(bytes(200_000, 2)) }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('CHAT_ERR_INTEGRITY');
    expect(ts.srv.engine.seq).toBe(seq);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect(blobFiles(ts.dataDir)).toEqual([]);
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    // Fewer bytes than declared is the same failure.
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'y.bin', size: 10 });
    await alice.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 0, data: Buffer.from('abc') });
    expect((await refusal(alice, 'UPLOAD_END', { uploadId: b.uploadId, sha256: sha(Buffer.from('abc')) })).code).toBe('CHAT_ERR_INTEGRITY');
    expect((await refusal(alice, 'UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 3, data: Buffer.from('d') })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await alice.close();
  });

  it('chunks must come in order and within the declared size (INVALID); the upload survives a bad chunk', async () => {
    const { ts, alice } = await setup();
    const data = bytes(1000, 3);
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'z.bin', size: data.length });
    const id = b.uploadId;
    expect((await refusal(alice, 'UPLOAD_CHUNK', { uploadId: id, offset: 100, data: data.subarray(100, 200) })).code).toBe('CHAT_ERR_INVALID');
    expect((await alice.request('UPLOAD_CHUNK', { uploadId: id, offset: 0, data: data.subarray(0, 500) })).received).toBe(500);
    expect((await refusal(alice, 'UPLOAD_CHUNK', { uploadId: id, offset: 0, data: data.subarray(0, 500) })).code).toBe('CHAT_ERR_INVALID');
    expect((await refusal(alice, 'UPLOAD_CHUNK', { uploadId: id, offset: 500, data: Buffer.alloc(501) })).code).toBe('CHAT_ERR_INVALID');
    expect((await alice.request('UPLOAD_CHUNK', { uploadId: id, offset: 500, data: data.subarray(500) })).received).toBe(1000);
    const end = await alice.request('UPLOAD_END', { uploadId: id, sha256: sha(data).toUpperCase() });
    expect(end.file).toMatchObject({ size: 1000, sha256: sha(data) });
    expect(sha(await download(alice, 'ops', 'z.bin', 1))).toBe(sha(data));
    expect((await refusal(alice, 'UPLOAD_END', { uploadId: id, sha256: sha(data) })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await alice.close();
  });

  it('UPLOAD_ABORT deletes what was received; upload ids belong to their connection', async () => {
    const { ts, alice } = await setup();
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'a.bin', size: 100 });
    await alice.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 0, data: Buffer.alloc(50, 7) });
    expect(tmpFiles(ts.dataDir)).toHaveLength(1);
    const other = await userConn(ts, 'alice', { register: false });
    expect((await refusal(other, 'UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 50, data: Buffer.alloc(1) })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await refusal(other, 'UPLOAD_ABORT', { uploadId: b.uploadId })).code).toBe('CHAT_ERR_NOT_FOUND');
    await alice.request('UPLOAD_ABORT', { uploadId: b.uploadId });
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect((await refusal(alice, 'UPLOAD_ABORT', { uploadId: b.uploadId })).code).toBe('CHAT_ERR_NOT_FOUND');
    await Promise.all([alice.close(), other.close()]);
  });

  it('an upload belongs to the login that began it: after LOGOUT and a LOGIN as another user on the same connection it is gone', async () => {
    const { ts, alice } = await setup();
    const raw = await ts.client();
    await raw.register('bob');
    await raw.request('GROUP_JOIN', { group: 'ops' });
    const data = Buffer.from('begun by bob');
    const b = await raw.request('UPLOAD_BEGIN', { group: 'ops', name: 'who.txt', size: data.length });
    await raw.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 0, data });
    await raw.request('LOGOUT');
    await raw.request('LOGIN', { name: 'alice', password: 'pw-alice' });
    // alice cannot finish (and so sign) what bob sent, nor touch it.
    expect((await raw.refusal('UPLOAD_END', { uploadId: b.uploadId, sha256: sha(data) })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await raw.refusal('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: data.length, data: Buffer.alloc(0) })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    // bob's abandoned upload does not hold one of the connection's slots, nor its temp file.
    for (let i = 0; i < 4; i++) await raw.request('UPLOAD_BEGIN', { group: 'ops', name: `a${i}`, size: 1 });
    await eventually(() => tmpFiles(ts.dataDir).length === 4, 'only alice\'s 4 temp files');
    raw.close();
    await alice.close();
  });

  it('a connection dropped mid-upload leaves no temp file, and the server serves others meanwhile', async () => {
    const { ts, alice } = await setup();
    const raw = await ts.client();
    await raw.login('alice');
    const b = await raw.request('UPLOAD_BEGIN', { group: 'ops', name: 'cut.bin', size: 4 * 1024 * 1024 });
    for (let i = 0; i < 4; i++) {
      await raw.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: i * 512 * 1024, data: bytes(512 * 1024, i) });
    }
    // More chunks in flight when the socket goes.
    void raw.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 2 * 1024 * 1024, data: bytes(512 * 1024, 9) }).catch(() => undefined);
    expect(tmpFiles(ts.dataDir)).toHaveLength(1);
    raw.close();
    const data = bytes(100_000, 5);
    expect((await upload(alice, 'ops', 'other.bin', data)).version).toBe(1);
    await eventually(() => tmpFiles(ts.dataDir).length === 0, 'temp file of the dropped upload removed');
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name)).toEqual(['other.bin']);
    expect(blobFiles(ts.dataDir)).toEqual([sha(data)]);
    await alice.close();
  });
});

describe('removal, GC and events', () => {
  it('FILE_RM removes and GCs an unreferenced blob, keeps a shared one; version numbers are never reused', async () => {
    const { ts, alice } = await setup();
    const shared = bytes(50_000, 1);
    const only = bytes(60_000, 2);
    await upload(alice, 'ops', 'doc.txt', shared); // @1
    await upload(alice, 'ops', 'doc.txt', only); // @2
    await upload(alice, 'ops', 'copy.txt', shared);
    expect(blobFiles(ts.dataDir)).toEqual([sha(shared), sha(only)].sort());
    expect((await alice.request('FILE_RM', { group: 'ops', name: 'doc.txt', version: 2 })).removed).toBe(1);
    await eventually(() => blobFiles(ts.dataDir).length === 1, 'blob of doc.txt@2 deleted');
    expect(blobFiles(ts.dataDir)).toEqual([sha(shared)]);
    expect((await refusal(alice, 'FILE_INFO', { group: 'ops', name: 'doc.txt', version: 2 })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await refusal(alice, 'FILE_READ', { group: 'ops', name: 'doc.txt', version: 2, offset: 0, length: 1 })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await alice.request('FILE_RM', { group: 'ops', name: 'doc.txt', version: 0 })).removed).toBe(1);
    await sleep(50);
    expect(blobFiles(ts.dataDir)).toEqual([sha(shared)]); // copy.txt still names it
    expect(sha(await download(alice, 'ops', 'copy.txt', 1))).toBe(sha(shared));
    expect((await refusal(alice, 'FILE_RM', { group: 'ops', name: 'doc.txt', version: 0 })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name)).toEqual(['copy.txt']);
    expect((await upload(alice, 'ops', 'doc.txt', only)).version).toBe(3);
    await alice.close();
    await ts.stop(); // and after a restart too
    const again = await start({ dataDir: ts.dataDir });
    const alice2 = await userConn(again, 'alice', { register: false });
    expect((await upload(alice2, 'ops', 'doc.txt', bytes(5, 3))).version).toBe(4);
    await alice2.close();
  });

  it('FILE_EVENT goes to listening members on upload and remove, not to others', async () => {
    const { ts, alice } = await setup();
    const bob = await ts.user('bob');
    await bob.request('GROUP_JOIN', { group: 'ops' });
    const eve = await ts.user('eve');
    const data = bytes(1000, 4);
    const file = await upload(alice, 'ops', 'ev.txt', data);
    const up = await bob.waitFor((d) => d.name === 'FILE_EVENT' && d.payload.event === 'upload');
    expect(up.payload).toEqual({ group: 'ops', event: 'upload', file, actor: 'alice' });
    await alice.request('FILE_RM', { group: 'ops', name: 'ev.txt', version: 0 });
    const rm = await bob.waitFor((d) => d.name === 'FILE_EVENT' && d.payload.event === 'remove');
    expect(rm.payload).toEqual({ group: 'ops', event: 'remove', file, actor: 'alice' });
    await eve.request('GROUPS', {}); // a round trip: pushes sent before it have arrived
    expect(eve.pushes.filter((d) => d.name === 'FILE_EVENT')).toEqual([]);
    await alice.close();
  });

  it('GROUP_DELETE drops the group\'s files and the blobs no other group names', async () => {
    const { ts, alice } = await setup();
    await alice.request('GROUP_CREATE', { group: 'dev', private: false });
    const shared = bytes(10_000, 1);
    const own = bytes(20_000, 2);
    await upload(alice, 'ops', 'a', shared);
    await upload(alice, 'ops', 'b', own);
    await upload(alice, 'dev', 'a', shared);
    await alice.request('GROUP_DELETE', { group: 'ops' });
    await eventually(() => blobFiles(ts.dataDir).length === 1, 'blob only ops named deleted');
    expect(blobFiles(ts.dataDir)).toEqual([sha(shared)]);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    await alice.close();
  });

  it('a restart from a snapshot keeps every referenced blob (the sweep counts the snapshot\'s file versions)', async () => {
    const { ts, alice } = await setup({ storage: { snapshotRecords: 3 } });
    const files = [bytes(1000, 1), bytes(2000, 2), bytes(3000, 3), bytes(4000, 4)];
    for (const [i, f] of files.entries()) await upload(alice, 'ops', `f${i}`, f);
    await alice.request('FILE_RM', { group: 'ops', name: 'f0', version: 0 });
    await ts.srv.engine.whenSnapshotsIdle();
    await alice.close();
    await ts.stop();
    const again = await start({ dataDir: ts.dataDir, storage: { snapshotRecords: 3 } });
    expect(again.srv.engine.snapshotSeq).toBeGreaterThan(0);
    expect(blobFiles(again.dataDir)).toEqual(files.slice(1).map(sha).sort());
    const alice2 = await userConn(again, 'alice', { register: false });
    for (let i = 1; i < files.length; i++) expect(sha(await download(alice2, 'ops', `f${i}`, 1))).toBe(sha(files[i]!));
    await alice2.close();
  });

  it('start-up removes temp files and blobs no file version names, logged after "listening"', async () => {
    const { ts, alice } = await setup();
    const data = bytes(3000, 8);
    await upload(alice, 'ops', 'kept.bin', data);
    await alice.close();
    await ts.stop();
    const orphan = sha(Buffer.from('orphan'));
    mkdirSync(join(ts.dataDir, 'blobs', orphan.slice(0, 2)), { recursive: true });
    writeFileSync(blobPath(ts.dataDir, orphan), 'orphan');
    writeFileSync(join(ts.dataDir, 'blobs', 'tmp', 'abc.part'), 'half');
    const again = await start({ dataDir: ts.dataDir });
    expect(blobFiles(again.dataDir)).toEqual([sha(data)]);
    expect(tmpFiles(again.dataDir)).toEqual([]);
    const msgs = again.logs.map((l) => l.msg);
    const listening = msgs.indexOf('listening');
    expect(listening).toBe(0);
    expect(msgs.findIndex((m) => String(m).includes('temp files'))).toBeGreaterThan(listening);
    expect(msgs.findIndex((m) => String(m).includes('no file version names'))).toBeGreaterThan(listening);
    const alice2 = await userConn(again, 'alice', { register: false });
    expect(sha(await download(alice2, 'ops', 'kept.bin', 1))).toBe(sha(data));
    await alice2.close();
  });
});
