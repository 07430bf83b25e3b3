/**
 * The drive against the real `chat-server` binary (issue 4): the --max-file-size flag,
 * and what a stop (SIGTERM) or a crash (SIGKILL) in the middle of uploads leaves:
 * acknowledged versions stay, unfinished temp files are gone after the next start.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseHostPort } from '../../src/common/address.js';
import { ChatConnection } from '../../src/client/connection.js';
import { startServer, type ServerProcess } from './harness.js';
import { blobFiles, bytes, download, refusal, sha, tmpFiles, upload } from './drive-helpers.js';

const running: ServerProcess[] = [];
const conns: ChatConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close().catch(() => undefined);
  for (const s of running.splice(0)) await s.stop('SIGKILL');
});

async function serve(args: string[] = [], dataDir?: string): Promise<ServerProcess> {
  const s = await startServer({ args, dataDir });
  running.push(s);
  return s;
}

async function login(s: ServerProcess, name: string, register: boolean): Promise<ChatConnection> {
  const c = await ChatConnection.connect(parseHostPort(s.address, '--server'));
  conns.push(c);
  await c.request(register ? 'REGISTER' : 'LOGIN', { name, password: `pw-${name}` });
  return c;
}

describe('chat-server binary and the drive', () => {
  it('--max-file-size: a larger upload is TOO_LARGE at UPLOAD_BEGIN, naming the limit, no temp file', async () => {
    const s = await serve(['--max-file-size', '1000']);
    const alice = await login(s, 'alice', true);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    const err = await refusal(alice, 'UPLOAD_BEGIN', { group: 'ops', name: 'big.bin', size: 1001 });
    expect(err.code).toBe('CHAT_ERR_TOO_LARGE');
    expect(err.message).toContain('limit of 1000 bytes');
    expect(tmpFiles(s.dataDir)).toEqual([]);
    expect((await upload(alice, 'ops', 'fits.bin', bytes(1000))).size).toBe(1000);
  });

  it('SIGTERM with an upload open exits 0 and removes its temp file; SIGKILL leaves one that the next start removes', async () => {
    const s = await serve();
    const alice = await login(s, 'alice', true);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    const done = bytes(300_000, 1);
    await upload(alice, 'ops', 'done.bin', done);
    const b = await alice.request('UPLOAD_BEGIN', { group: 'ops', name: 'open.bin', size: 1_000_000 });
    await alice.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: 0, data: bytes(100_000, 2) });
    expect(tmpFiles(s.dataDir)).toHaveLength(1);
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(tmpFiles(s.dataDir)).toEqual([]);

    const s2 = await serve([], s.dataDir);
    const alice2 = await login(s2, 'alice', false);
    const b2 = await alice2.request('UPLOAD_BEGIN', { group: 'ops', name: 'cut.bin', size: 1_000_000 });
    await alice2.request('UPLOAD_CHUNK', { uploadId: b2.uploadId, offset: 0, data: bytes(100_000, 3) });
    expect(await s2.stop('SIGKILL')).toBe('SIGKILL');
    expect(tmpFiles(s.dataDir)).toHaveLength(1);

    const s3 = await serve([], s.dataDir);
    expect(tmpFiles(s.dataDir)).toEqual([]);
    const alice3 = await login(s3, 'alice', false);
    // The warning follows "listening" on stderr (bounded wait: the pipe is read asynchronously).
    const warned = () => s3.logs.some((l) => String(l.msg).startsWith('removed temp files'));
    for (let i = 0; i < 100 && !warned(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(warned()).toBe(true);
    expect((await alice3.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name)).toEqual(['done.bin']);
    expect(sha(await download(alice3, 'ops', 'done.bin', 1))).toBe(sha(done));
    expect(blobFiles(s.dataDir)).toEqual([sha(done)]);
  });
});
