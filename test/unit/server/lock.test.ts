/**
 * One process owns a data directory (SPEC §3): a second server or an offline tool on
 * a dir a server uses is CHAT_ERR_CONFLICT and writes nothing; the lock goes with a
 * clean stop and with a failed start. (A journal failure stopping the real server:
 * test/integration/lock.test.ts.)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { encodeRecord, JournalCorruptError, listSegments } from '../../../src/journal/journal.js';
import { writeJournalFiles } from '../../../src/journal/segments.js';
import { LOCK_FILE } from '../../../src/journal/lock.js';
import { Engine } from '../../../src/server/engine.js';
import { addUser, setPassword } from '../../../src/server/offline.js';
import { useScratchDirs, useTestServer } from './helpers.js';

const testServer = useTestServer();
const dir = useScratchDirs();
const fast = { N: 1024, r: 8, p: 1 };

async function conflict(p: Promise<unknown>): Promise<ChatError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ChatError);
  expect((err as ChatError).code).toBe('CHAT_ERR_CONFLICT');
  return err as ChatError;
}

describe('data directory lock', () => {
  it('a second server on the same dir is refused with CONFLICT; the first carries on; a clean stop frees the dir', async () => {
    const first = await testServer();
    const lock = join(first.dataDir, LOCK_FILE);
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ holder: 'chat-server start', pid: process.pid });

    const err = await conflict(testServer({ dataDir: first.dataDir }));
    expect(err.message).toMatch(/^data directory .* is in use by chat-server start \(pid \d+, since .*\); stop it first$/);
    await first.user('ann'); // still serving, still writing

    await first.stop();
    expect(existsSync(lock)).toBe(false);
    const second = await testServer({ dataDir: first.dataDir });
    await (await second.client()).login('ann');
  });

  it('useradd and passwd while the server runs are CONFLICT and leave the journal alone', async () => {
    const ts = await testServer();
    await ts.user('ann');
    const journal = listSegments(ts.dataDir)[0].path;
    const before = readFileSync(journal);
    const add = await conflict(addUser({ dataDir: ts.dataDir, name: 'root', password: 'rootpw', log: silentLogger(), scrypt: fast }));
    expect(add.message).toContain('in use by chat-server start');
    await conflict(setPassword({ dataDir: ts.dataDir, name: 'ann', password: 'newpw', log: silentLogger(), scrypt: fast }));
    expect(readFileSync(journal)).toEqual(before);
    // The server's next write takes the next seq and survives a restart.
    await ts.user('ben');
    await ts.stop();
    const again = await testServer({ dataDir: ts.dataDir });
    expect([...again.srv.engine.state.users.keys()]).toEqual(['ann', 'ben']);
  });

  it('an offline tool holds the lock while it runs: a server cannot start under it', async () => {
    const d = dir();
    const engine = await Engine.open({ dataDir: d, log: silentLogger(), holder: 'chat-server useradd' });
    const err = await conflict(testServer({ dataDir: d }));
    expect(err.message).toContain('in use by chat-server useradd');
    await engine.close();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    await testServer({ dataDir: d });
  });

  it('a start that fails (damaged journal, port in use, bad TLS key) releases the lock', async () => {
    const d = dir();
    const ops = [1, 2, 3].map((seq) => ({ seq, ts: seq, type: 'message.send' as const, kind: 2 as const, from: 'a', text: 'x' }));
    const id = Buffer.alloc(16, 1);
    mkdirSync(join(d, 'journal'));
    writeJournalFiles(join(d, 'journal'), id, ops, 1 << 20);
    const file = listSegments(d)[0].path;
    const buf = readFileSync(file);
    buf[48 + encodeRecord(ops[0], id).length + 12] ^= 0xff;
    writeFileSync(file, buf);
    await expect(Engine.open({ dataDir: d, log: silentLogger() })).rejects.toBeInstanceOf(JournalCorruptError);
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
    await expect(Engine.open({ dataDir: d, log: silentLogger() })).rejects.toBeInstanceOf(JournalCorruptError); // not CONFLICT

    const running = await testServer();
    const other = dir();
    await expect(testServer({ dataDir: other, listen: `127.0.0.1:${running.port}` })).rejects.toThrow(/address in use/);
    expect(existsSync(join(other, LOCK_FILE))).toBe(false);

    const badTls = dir();
    await expect(testServer({ dataDir: badTls, tls: { cert: 'not a certificate', key: 'not a key' } })).rejects.toThrow();
    expect(existsSync(join(badTls, LOCK_FILE))).toBe(false);
  });
});
