/**
 * downloadFile() against a fake drive over real TCP: resume from the log, the window
 * bound behind durable checkpoints, conflicts, integrity, reconnects.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatConnection } from '../../../src/client/connection.js';
import { ChatError } from '../../../src/common/errors.js';
import { downloadFile, type DownloadRequest } from '../../../src/client/download/download.js';
import { entryDir, parseLog } from '../../../src/client/download/resume-log.js';
import type { FakeServer } from './fake-server.js';
import { bytes, fakeDrive, login, type FakeDrive } from './download-fake.js';

const KiB = 1024;
const tuning = { chunk: 64 * KiB, checkpointEvery: 16 * KiB, readSize: 8 * KiB, window: 4 };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let server: FakeServer;
let drive: FakeDrive;
let dir: string;
let state: string;
const conns: ChatConnection[] = [];

beforeEach(async () => {
  ({ server, drive } = await fakeDrive());
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-get-dl-'));
  state = path.join(dir, 'state');
});
afterEach(async () => {
  for (const c of conns.splice(0)) await c.close();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function conn(user = 'ann'): Promise<ChatConnection> {
  const c = await login(server, user);
  conns.push(c);
  return c;
}

function req(over: Partial<DownloadRequest> = {}): DownloadRequest {
  return { server: server.address, group: 'ops', name: 'big.bin', target: path.join(dir, 'big.bin'), stateDir: state, tuning, ...over };
}

function logOf(target: string) {
  const file = path.join(entryDir(state, target), 'log');
  return fs.existsSync(file) ? parseLog(fs.readFileSync(file)) : undefined;
}

/** Runs a download that the server cuts after `after` bytes; returns the checkpoint left. */
async function interrupted(after: number, over: Partial<DownloadRequest> = {}): Promise<number> {
  drive.cutAfter = after;
  await expect(downloadFile(await conn(), req(over))).rejects.toMatchObject({ code: 'CHAT_ERR_NETWORK' });
  return logOf(req(over).target)!.checkpoint;
}

describe('downloadFile', () => {
  it('fetches, verifies and renames; leaves no part file and no log entry', async () => {
    const v = drive.put('ops', 'big.bin', bytes(300 * KiB));
    const r = await downloadFile(await conn(), req());
    expect(r).toMatchObject({ name: 'big.bin', version: 1, size: 300 * KiB, bytes: 300 * KiB, sha256: v.sha256, resumedFrom: 0 });
    expect(sha(fs.readFileSync(r.target))).toBe(v.sha256);
    expect(fs.existsSync(`${r.target}.part`)).toBe(false);
    expect(fs.existsSync(entryDir(state, r.target))).toBe(false);
  });

  it('never asks for a byte past the durable checkpoint + chunk; the part file always covers the checkpoint', async () => {
    drive.put('ops', 'big.bin', bytes(1024 * KiB));
    const target = req().target;
    let checked = 0;
    drive.onRead = (p) => {
      const log = logOf(target)!; // what a crash right now would leave
      expect(p.offset + p.length).toBeLessThanOrEqual(log.checkpoint + tuning.chunk);
      expect(fs.statSync(`${target}.part`).size).toBeGreaterThanOrEqual(log.checkpoint);
      expect(fs.existsSync(target)).toBe(false);
      checked++;
    };
    await downloadFile(await conn(), req());
    expect(checked).toBe(128);
  });

  it('resumes from the last checkpoint: cuts the part file back, re-hashes it, reads on from there', async () => {
    const v = drive.put('ops', 'big.bin', bytes(512 * KiB));
    const c = await interrupted(200 * KiB);
    expect(c).toBeGreaterThan(0);
    expect(c).toBeLessThanOrEqual(200 * KiB + 8 * KiB);
    expect(fs.existsSync(req().target)).toBe(false);
    fs.appendFileSync(`${req().target}.part`, Buffer.alloc(5000, 7)); // bytes past the checkpoint are not trusted
    drive.reads = [];
    const r = await downloadFile(await conn(), req());
    expect(r).toMatchObject({ resumedFrom: c, bytes: 512 * KiB - c, sha256: v.sha256 });
    expect(drive.reads[0].offset).toBe(c);
    expect(sha(fs.readFileSync(r.target))).toBe(v.sha256);
  });

  it('a new latest version during an interrupted download is a conflict (6); --restart fetches it', async () => {
    drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    await interrupted(100 * KiB);
    const v2 = drive.put('ops', 'big.bin', bytes(200 * KiB, 2));
    const err = await downloadFile(await conn(), req()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CHAT_ERR_CONFLICT' });
    expect((err as Error).message).toMatch(/changed on the server: the interrupted download is of v1, and the latest is now v2 \(run again with --restart to fetch v2, or ask for big\.bin@1 to finish v1\)/);
    expect(fs.existsSync(req().target)).toBe(false);
    const r = await downloadFile(await conn(), req({ restart: true }));
    expect(r).toMatchObject({ version: 2, resumedFrom: 0, sha256: v2.sha256 });
    expect(sha(fs.readFileSync(r.target))).toBe(v2.sha256);
  });

  it('NAME@V keeps resuming V while it exists, whatever the latest', async () => {
    const v1 = drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    const c = await interrupted(100 * KiB, { version: 1 });
    drive.put('ops', 'big.bin', bytes(10, 2));
    const r = await downloadFile(await conn(), req({ version: 1 }));
    expect(r).toMatchObject({ version: 1, resumedFrom: c, sha256: v1.sha256 });
  });

  it('the version being fetched removed: 6 for the latest (says so), 4 for an explicit @V', async () => {
    drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    await interrupted(100 * KiB);
    drive.put('ops', 'big.bin', bytes(1000, 2));
    drive.remove('ops', 'big.bin', 1);
    await expect(downloadFile(await conn(), req())).rejects.toMatchObject({
      code: 'CHAT_ERR_CONFLICT', message: expect.stringMatching(/of v1, which was removed since, and the latest is now v2 \(run again with --restart to fetch v2\)/),
    });
    await expect(downloadFile(await conn(), req({ version: 1 }))).rejects.toMatchObject({ code: 'CHAT_ERR_NOT_FOUND' });
  });

  it('a version removed while being read: 6 for the latest, and the bytes so far are kept', async () => {
    drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    drive.onRead = (p) => { if (p.offset >= 128 * KiB) drive.remove('ops', 'big.bin', 1); };
    await expect(downloadFile(await conn(), req())).rejects.toMatchObject({
      code: 'CHAT_ERR_CONFLICT', message: expect.stringMatching(/v1 was removed from the server while it was being fetched/),
    });
    expect(logOf(req().target)!.checkpoint).toBeGreaterThan(0);
  });

  it('an interrupted download of another file in the same target is a conflict', async () => {
    drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    drive.put('ops', 'other.bin', bytes(1000, 3));
    await interrupted(100 * KiB);
    await expect(downloadFile(await conn(), req({ name: 'other.bin' }))).rejects.toMatchObject({
      code: 'CHAT_ERR_CONFLICT', message: expect.stringMatching(/is an interrupted download of "big\.bin" v1 from #ops/),
    });
  });

  it('the same version through another server address resumes (the sha256 decides, not the address)', async () => {
    const v = drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    const c = await interrupted(100 * KiB, { server: '10.0.0.1:7700' });
    const r = await downloadFile(await conn(), req({ server: 'chat.example:7700' }));
    expect(r).toMatchObject({ resumedFrom: c, sha256: v.sha256 });
  });

  it('damage in the part file before the checkpoint is caught by the sha256 (8): nothing under the target, part and log gone', async () => {
    drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    const c = await interrupted(150 * KiB);
    const part = `${req().target}.part`;
    const fd = fs.openSync(part, 'r+');
    fs.writeSync(fd, Buffer.from([0xff ^ fs.readFileSync(part)[c - 10]]), 0, 1, c - 10);
    fs.closeSync(fd);
    await expect(downloadFile(await conn(), req())).rejects.toMatchObject({ code: 'CHAT_ERR_INTEGRITY' });
    expect(fs.existsSync(req().target)).toBe(false);
    expect(fs.existsSync(part)).toBe(false);
    expect(logOf(req().target)).toBeUndefined();
    // and the next run starts over and succeeds
    expect((await downloadFile(await conn(), req())).resumedFrom).toBe(0);
  });

  it('a part file shorter than its checkpoint, or a log with a torn header, starts over with a note', async () => {
    drive.put('ops', 'big.bin', bytes(256 * KiB, 1));
    await interrupted(150 * KiB);
    const part = `${req().target}.part`;
    fs.truncateSync(part, 1000);
    const notes: string[] = [];
    let r = await downloadFile(await conn(), req({ onNote: (t) => notes.push(t) }));
    expect(r.resumedFrom).toBe(0);
    expect(notes.join('\n')).toMatch(/holds 1000 bytes, fewer than the \d+ its resume log says are on disk: starting "big\.bin" v1 over/);

    fs.rmSync(r.target);
    await interrupted(150 * KiB);
    const log = path.join(entryDir(state, req().target), 'log');
    fs.writeFileSync(log, fs.readFileSync(log).subarray(0, 20));
    notes.length = 0;
    r = await downloadFile(await conn(), req({ onNote: (t) => notes.push(t) }));
    expect(r.resumedFrom).toBe(0);
    expect(notes.join('\n')).toMatch(/resume log of .* is unreadable .*: starting over/);
  });

  it('a crash after the rename but before the log went: the rerun finds the file complete', async () => {
    const v = drive.put('ops', 'big.bin', bytes(64 * KiB, 1));
    await interrupted(40 * KiB);
    fs.writeFileSync(req().target, v.data); // as if the rename had happened
    fs.rmSync(`${req().target}.part`);
    drive.reads = [];
    const r = await downloadFile(await conn(), req());
    expect(r).toMatchObject({ bytes: 0, resumedFrom: 64 * KiB });
    expect(drive.reads).toEqual([]);
    expect(logOf(req().target)).toBeUndefined();
  });

  it('an existing target keeps its old content until the new file is verified', async () => {
    const v = drive.put('ops', 'big.bin', bytes(128 * KiB, 1));
    fs.writeFileSync(req().target, 'old content');
    drive.onRead = () => expect(fs.readFileSync(req().target, 'utf8')).toBe('old content');
    await downloadFile(await conn(), req());
    expect(sha(fs.readFileSync(req().target))).toBe(v.sha256);
  });

  it('a non-member gets 5 and nothing is created locally', async () => {
    drive.put('ops', 'big.bin', bytes(1000));
    await expect(downloadFile(await conn('bob'), req())).rejects.toMatchObject({ code: 'CHAT_ERR_PERMISSION' });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a lost connection is retried on a new one and goes on from the bytes written', async () => {
    const v = drive.put('ops', 'big.bin', bytes(512 * KiB, 1));
    drive.cutAfter = 200 * KiB;
    const notes: string[] = [];
    const r = await downloadFile(await conn(), req({ reconnect: () => conn(), onNote: (t) => notes.push(t), retryMs: 5000 }));
    expect(r.sha256).toBe(v.sha256);
    expect(r.resumedFrom).toBe(0);
    // Fetched twice: at most what was in flight when the connection dropped.
    expect(r.bytes - 512 * KiB).toBeLessThanOrEqual(tuning.window * tuning.readSize);
    expect(notes.some((n) => /reconnecting/.test(n))).toBe(true);
  });

  it('gives up with 7 after retryMs without a connection, keeping the progress', async () => {
    drive.put('ops', 'big.bin', bytes(512 * KiB, 1));
    drive.cutAfter = 200 * KiB;
    const err = await downloadFile(await conn(), req({
      retryMs: 600, reconnect: () => Promise.reject(new ChatError('CHAT_ERR_NETWORK', 'cannot reach chat server')),
    })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CHAT_ERR_NETWORK', message: expect.stringMatching(/gave up after 1 s of retries\. \d+ of 524288 bytes of "big\.bin" are kept/) });
    expect(logOf(req().target)!.checkpoint).toBeGreaterThan(100 * KiB);
  });

  it('an abort checkpoints what was written before it rejects', async () => {
    drive.put('ops', 'big.bin', bytes(512 * KiB, 1));
    const ctl = new AbortController();
    drive.onRead = (p) => { if (p.offset >= 100 * KiB) ctl.abort(new Error('stop')); };
    await expect(downloadFile(await conn(), req({ signal: ctl.signal }))).rejects.toThrow('stop');
    const log = logOf(req().target)!;
    expect(log.checkpoint).toBe(fs.statSync(`${req().target}.part`).size);
    expect(log.checkpoint).toBeGreaterThanOrEqual(100 * KiB - tuning.window * tuning.readSize);
  });

  it('a zero-byte file', async () => {
    const v = drive.put('ops', 'empty', Buffer.alloc(0));
    const r = await downloadFile(await conn(), req({ name: 'empty', target: path.join(dir, 'empty') }));
    expect(r).toMatchObject({ size: 0, bytes: 0, sha256: v.sha256 });
    expect(fs.statSync(path.join(dir, 'empty')).size).toBe(0);
  });
});
