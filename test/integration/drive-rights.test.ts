/**
 * Drive rights, names and limits on the real server (SPEC §4 "Drive" rights, §8 names
 * and limits; issue 4): non-members learn nothing, private groups stay invisible,
 * owner/admin/uploader rules for replacing and removing, invalid names and sizes
 * refused at UPLOAD_BEGIN before any temp file exists.
 */
import { describe, expect, it } from 'vitest';
import type { ChatConnection } from '../../src/client/connection.js';
import { useTestServer } from '../unit/server/helpers.js';
import { blobFiles, bytes, refusal, sha, tmpFiles, upload, userConn } from './drive-helpers.js';

const start = useTestServer();

/** alice owns public "ops" (bob member, dave admin) and private "vault"; eve is in neither. */
async function setup(opts: Parameters<typeof start>[0] = {}) {
  const ts = await start(opts);
  const [alice, bob, dave, eve] = await Promise.all(['alice', 'bob', 'dave', 'eve'].map((u) => userConn(ts, u)));
  await alice.request('GROUP_CREATE', { group: 'ops', private: false });
  await alice.request('GROUP_CREATE', { group: 'vault', private: true });
  await bob.request('GROUP_JOIN', { group: 'ops' });
  await dave.request('GROUP_JOIN', { group: 'ops' });
  await alice.request('GROUP_ROLE', { group: 'ops', user: 'dave', role: 'admin' });
  const conns = { alice: alice!, bob: bob!, dave: dave!, eve: eve! };
  return { ts, ...conns, closeAll: () => Promise.all(Object.values(conns).map((c) => c.close())) };
}

const SECRET = 'secret-plans.txt';

/** Every drive request a non-member might try, naming `group` and the secret file. */
function probes(group: string): Array<[Parameters<ChatConnection['request']>[0], Record<string, unknown>]> {
  return [
    ['UPLOAD_BEGIN', { group, name: SECRET, size: 10 }],
    ['UPLOAD_BEGIN', { group, name: 'new-name.txt', size: 10 }],
    ['FILES', { group, versions: true, afterName: '', afterVersion: 0 }],
    ['FILE_INFO', { group, name: SECRET, version: 0 }],
    ['FILE_INFO', { group, name: 'does-not-exist', version: 0 }],
    ['FILE_READ', { group, name: SECRET, version: 1, offset: 0, length: 100 }],
    ['FILE_READ', { group, name: 'does-not-exist', version: 1, offset: 0, length: 100 }],
    ['FILE_RM', { group, name: SECRET, version: 0 }],
  ];
}

describe('drive rights', () => {
  it('a non-member of a public group gets PERMISSION for everything, worded alike whether the file exists or not', async () => {
    const { ts, alice, eve, closeAll } = await setup();
    await upload(alice, 'ops', SECRET, bytes(100));
    const messages = new Set<string>();
    for (const [cmd, payload] of probes('ops')) {
      const err = await refusal(eve, cmd, payload);
      expect(err.code, `${cmd} ${JSON.stringify(payload)}`).toBe('CHAT_ERR_PERMISSION');
      expect(err.message).not.toContain('secret');
      expect(err.message).not.toContain('does-not-exist');
      messages.add(err.message);
    }
    expect(messages.size).toBe(1);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await closeAll();
  });

  it('a private group the caller cannot see is NOT_FOUND, as a group that does not exist', async () => {
    const { alice, eve, closeAll } = await setup();
    await upload(alice, 'vault', SECRET, bytes(100));
    for (const [cmd, payload] of probes('vault')) {
      const err = await refusal(eve, cmd, payload);
      const none = await refusal(eve, cmd, { ...payload, group: 'no-such-group' });
      expect(err.code, cmd).toBe('CHAT_ERR_NOT_FOUND');
      expect(err.message.replace('vault', 'X')).toBe(none.message.replace('no-such-group', 'X'));
      expect(err.message).not.toContain('secret');
    }
    await closeAll();
  });

  it('members upload new names and read; a non-owner non-admin cannot replace or remove; the uploader of a version may remove it', async () => {
    const { alice, bob, closeAll } = await setup();
    await upload(alice, 'ops', 'alice.txt', bytes(50, 1));
    const mine = await upload(bob, 'ops', 'bob.txt', bytes(60, 2));
    expect(mine).toMatchObject({ version: 1, uploader: 'bob' });
    expect((await bob.request('FILE_READ', { group: 'ops', name: 'alice.txt', version: 1, offset: 0, length: 100 })).data.length).toBe(50);
    const replace = await refusal(bob, 'UPLOAD_BEGIN', { group: 'ops', name: 'alice.txt', size: 5 });
    expect(replace.code).toBe('CHAT_ERR_PERMISSION');
    expect((await refusal(bob, 'FILE_RM', { group: 'ops', name: 'alice.txt', version: 0 })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await refusal(bob, 'FILE_RM', { group: 'ops', name: 'alice.txt', version: 1 })).code).toBe('CHAT_ERR_PERMISSION');
    // bob owns bob.txt: replaces and removes it.
    expect((await upload(bob, 'ops', 'bob.txt', bytes(61, 3))).version).toBe(2);
    // The group owner adds a version of bob.txt; bob, owner of the entry, may still remove it.
    expect((await upload(alice, 'ops', 'bob.txt', bytes(62, 4))).version).toBe(3);
    expect((await bob.request('FILE_RM', { group: 'ops', name: 'bob.txt', version: 3 })).removed).toBe(1);
    expect((await bob.request('FILE_RM', { group: 'ops', name: 'bob.txt', version: 0 })).removed).toBe(2);
    await closeAll();
  });

  it('an admin replaces and removes any file; after every version is gone, a member may take the name', async () => {
    const { alice, bob, dave, closeAll } = await setup();
    await upload(alice, 'ops', 'plan.txt', bytes(10, 1));
    expect((await upload(dave, 'ops', 'plan.txt', bytes(11, 2)))).toMatchObject({ version: 2, uploader: 'dave' });
    expect((await dave.request('FILE_RM', { group: 'ops', name: 'plan.txt', version: 0 })).removed).toBe(2);
    expect((await upload(bob, 'ops', 'plan.txt', bytes(12, 3)))).toMatchObject({ version: 3, uploader: 'bob' });
    // bob owns the name now: replacing it needs no admin.
    expect((await upload(bob, 'ops', 'plan.txt', bytes(13, 4))).version).toBe(4);
    await closeAll();
  });

  it('rights are checked again at UPLOAD_END: kicked during the transfer → PERMISSION, nothing stored', async () => {
    const { ts, alice, bob, closeAll } = await setup();
    const begin = await bob.request('UPLOAD_BEGIN', { group: 'ops', name: 'late.txt', size: 4 });
    await bob.request('UPLOAD_CHUNK', { uploadId: begin.uploadId, offset: 0, data: Buffer.from('late') });
    await alice.request('GROUP_KICK', { group: 'ops', user: 'bob' });
    const refused = await refusal(bob, 'UPLOAD_END', { uploadId: begin.uploadId, sha256: sha(Buffer.from('late')) });
    expect(refused.code).toBe('CHAT_ERR_PERMISSION');
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect(blobFiles(ts.dataDir)).toEqual([]); // placed, then dropped: nothing names it
    await closeAll();
  });

  it('kicked, or the group deleted, during the transfer: the next chunk is refused and the upload dropped at once (no more bytes written)', async () => {
    const { ts, alice, bob, closeAll } = await setup();
    const kicked = await bob.request('UPLOAD_BEGIN', { group: 'ops', name: 'big.bin', size: 3_000_000 });
    await bob.request('UPLOAD_CHUNK', { uploadId: kicked.uploadId, offset: 0, data: bytes(1_000_000, 1) });
    await alice.request('GROUP_KICK', { group: 'ops', user: 'bob' });
    expect((await refusal(bob, 'UPLOAD_CHUNK', { uploadId: kicked.uploadId, offset: 1_000_000, data: bytes(1_000, 2) })).code).toBe('CHAT_ERR_PERMISSION');
    expect((await refusal(bob, 'UPLOAD_END', { uploadId: kicked.uploadId, sha256: sha(Buffer.alloc(0)) })).code).toBe('CHAT_ERR_NOT_FOUND');

    const gone = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'big.bin', size: 3_000_000 });
    await alice.request('UPLOAD_CHUNK', { uploadId: gone.uploadId, offset: 0, data: bytes(1_000_000, 3) });
    await alice.request('GROUP_DELETE', { group: 'ops' });
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    expect((await refusal(alice, 'UPLOAD_CHUNK', { uploadId: gone.uploadId, offset: 1_000_000, data: bytes(1_000, 4) })).code).toBe('CHAT_ERR_NOT_FOUND');
    for (let i = 0; i < 100 && tmpFiles(ts.dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await closeAll();
  });

  it('a group deleted during the transfer → NOT_FOUND at UPLOAD_END, even if created again under the same name', async () => {
    const { ts, alice, closeAll } = await setup();
    const begin = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'x.txt', size: 1 });
    await alice.request('UPLOAD_CHUNK', { uploadId: begin.uploadId, offset: 0, data: Buffer.from('x') });
    await alice.request('GROUP_DELETE', { group: 'ops' });
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    expect((await refusal(alice, 'UPLOAD_END', { uploadId: begin.uploadId, sha256: sha(Buffer.from('x')) })).code).toBe('CHAT_ERR_NOT_FOUND');
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    expect(blobFiles(ts.dataDir)).toEqual([]);
    await closeAll();
  });
});

describe('drive names and limits, checked before any data flows', () => {
  // Every rule of checkFileName (src/common/names.ts), as a raw client may send them.
  const bad = ['../x', 'a/b', 'a\\b', 'x\u0000y', 'x'.repeat(300), '..', '', ' lead', 'tab\tin', 'report@3',
    '.', 'x..y', 'trail ', 'nl\nin', 'del\u007f', 'c1\u0085', 'bidi\u202etxt.exe', 'zero\u200bwidth', 'bom\ufeff',
    'line\u2028sep', 'para\u2029sep', 'unassigned\u0378', 'private\ue000use', 'é'.repeat(128) /* 256 bytes */];

  it.each(bad.map((n) => [JSON.stringify(n.length > 20 ? `${n.slice(0, 10)}…(${n.length})` : n), n]))('name %s → INVALID at UPLOAD_BEGIN, no temp file', async (_label, name) => {
    const { ts, alice, closeAll } = await setup();
    const err = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name, size: 10 });
    expect(err.code).toBe('CHAT_ERR_INVALID');
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files).toEqual([]);
    await closeAll();
  });

  it('names that look odd but break no rule are taken as they are, up to 255 bytes of UTF-8', async () => {
    const { alice, closeAll } = await setup();
    const good = ['é'.repeat(127) + 'a', '-rf', '~', 'C:x', '.hidden', 'a.', 'v@2x', '@', 'ünï cödé 文件.txt', 'a b'];
    for (const name of good) expect((await upload(alice, 'ops', name, Buffer.from(name))).name).toBe(name);
    const listed = (await alice.request('FILES', { group: 'ops', versions: false, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name);
    expect([...listed].sort()).toEqual([...good].sort());
    await closeAll();
  });

  it('a size over --max-file-size is TOO_LARGE at UPLOAD_BEGIN, naming the limit; at the limit it is accepted', async () => {
    const { ts, alice, closeAll } = await setup({ limits: { maxFileSize: 1000 } });
    const err = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'big.bin', size: 1001 });
    expect(err.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(err.message).toContain('1000 bytes');
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    expect((await upload(alice, 'ops', 'ok.bin', bytes(1000))).size).toBe(1000);
    await closeAll();
  });

  it('a size beyond the free disk space is TOO_LARGE at UPLOAD_BEGIN, saying how much is free', async () => {
    const { ts, alice, closeAll } = await setup({ limits: { maxFileSize: 1024 ** 4 } });
    const err = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'huge.bin', size: 1024 ** 4 - 1 });
    expect(err.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(err.message).toMatch(/only \d+ bytes free/);
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await closeAll();
  });

  it('at most maxUploadsPerConn open uploads per connection; ending one frees its slot', async () => {
    const { alice, closeAll } = await setup({ limits: { maxUploadsPerConn: 2 } });
    const a = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'a', size: 1 });
    await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'b', size: 1 });
    expect((await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'c', size: 1 })).code).toBe('CHAT_ERR_TOO_LARGE');
    await alice.request('UPLOAD_ABORT', { uploadId: a.uploadId });
    await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'c', size: 1 });
    await closeAll();
  });
});
