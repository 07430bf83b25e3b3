/**
 * The drive on the real server over TCP with the real client connection (issue 4,
 * SPEC §4 "Drive", §8): uploads, listings, reads, rights, limits, removal and GC.
 */
import { describe, expect, it } from 'vitest';
import { useTestServer } from '../unit/server/helpers.js';
import { blobFiles, bytes, download, refusal, sha, tmpFiles, upload, userConn } from './drive-helpers.js';

const start = useTestServer();

describe('drive round trip', () => {
  it('upload → FILES / FILE_INFO / FILE_READ returns the same bytes (sha256 checked)', async () => {
    const ts = await start();
    const alice = await userConn(ts, 'alice');
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    const data = bytes(300_000);
    const file = await upload(alice, 'ops', 'report.pdf', data);
    expect(file).toMatchObject({ name: 'report.pdf', version: 1, size: data.length, sha256: sha(data), uploader: 'alice' });
    const list = await alice.request('FILES', { group: 'ops', versions: false });
    expect(list.files).toEqual([file]);
    expect((await alice.request('FILE_INFO', { group: 'ops', name: 'report.pdf', version: 0 })).file).toEqual(file);
    const back = await download(alice, 'ops', 'report.pdf', 1, 70_000);
    expect(sha(back)).toBe(sha(data));
    expect(blobFiles(ts.dataDir)).toEqual([sha(data)]);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await alice.close();
  });
});
