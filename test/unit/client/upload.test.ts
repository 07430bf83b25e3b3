/**
 * The client side of `chat upload` without the real server: pattern expansion and
 * naming (patterns.ts, run before connecting), and uploadFile() against a scripted
 * server that checks offsets, counts chunks in flight and records what it got.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChatError, exitCodeFor } from '../../../src/common/errors.js';
import { ChatConnection } from '../../../src/client/connection.js';
import { Readable } from 'node:stream';
import { readFileSync, existsSync } from 'node:fs';
import { expandPatterns, planUploads, spoolStdin } from '../../../src/client/drive/patterns.js';
import { formatEta, formatRate, progressWanted } from '../../../src/client/drive/progress.js';
import { fileJson, formatBytes } from '../../../src/client/drive/types.js';
import { UPLOAD_WINDOW, uploadFile } from '../../../src/client/drive/upload.js';
import { uploadedLine } from '../../../src/client/cli/handlers/drive.js';
import type { Payload } from '../../../src/protocol/codec.js';
import { FakeServer, type FakeConn } from './fake-server.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chat-upload-unit-'));
  for (const f of ['a.txt', 'b.txt', 'x[1].txt', 'x1.txt', '.hidden.txt', 'notes.md', 'v@3']) writeFileSync(join(dir, f), f);
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, 'dir.txt'));
  writeFileSync(join(dir, 'sub', 'a.txt'), 'nested a');
  writeFileSync(join(dir, 'sub', 'c.txt'), 'nested c');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function usageOf(p: Promise<unknown> | (() => unknown)): Promise<ChatError> {
  const err = await (typeof p === 'function' ? Promise.resolve().then(p) : p).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ChatError);
  expect(exitCodeFor(err)).toBe(2);
  return err as ChatError;
}

describe('expandPatterns', () => {
  it('expands globs relative to cwd, sorted, without dot files, skipping directories', async () => {
    const r = await expandPatterns(['*.txt'], dir);
    expect(r.files).toEqual(['a.txt', 'b.txt', 'x1.txt', 'x[1].txt']);
    expect(r.skipped).toEqual(['dir.txt']);
    expect((await expandPatterns(['**/c.txt', '.*.txt'], dir)).files).toEqual(['sub/c.txt', '.hidden.txt']);
  });

  it('uses an existing path as it is, even with glob characters in it', async () => {
    expect((await expandPatterns(['x[1].txt'], dir)).files).toEqual(['x[1].txt']);
    expect((await expandPatterns([join(dir, 'notes.md')], '/')).files).toEqual([join(dir, 'notes.md')]);
  });

  it('skips a directory named directly, and names each file once', async () => {
    const r = await expandPatterns(['sub', 'a.txt', '*.txt', './a.txt'], dir);
    expect(r.skipped).toEqual(['sub', 'dir.txt']);
    expect(r.files).toEqual(['a.txt', 'b.txt', 'x1.txt', 'x[1].txt']);
  });

  it('a file reached twice through a symbolic link loop is uploaded once; a link under another name is its own upload', async () => {
    mkdirSync(join(dir, 'loop', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'loop', 'sub', 'f.pdf'), 'pdf');
    symlinkSync('..', join(dir, 'loop', 'sub', 'up'));
    symlinkSync('f.pdf', join(dir, 'loop', 'sub', 'g.pdf'));
    const r = await expandPatterns(['loop/**/*.pdf'], dir);
    expect(r.files.map((f) => f.split('/').pop()).sort()).toEqual(['f.pdf', 'g.pdf']);
    expect(planUploads(r.files).map((i) => i.name).sort()).toEqual(['f.pdf', 'g.pdf']);
    expect((await expandPatterns(['loop/sub/f.pdf', 'loop/sub/up/sub/f.pdf', 'loop/sub/up/sub/*.pdf'], dir)).files)
      .toEqual(['loop/sub/f.pdf', 'loop/sub/up/sub/g.pdf']);
  });

  it('an unreadable file is a usage error before connecting (named or matched), so nothing is uploaded', async () => {
    // Root reads everything: then the check runs in a child process as nobody.
    const base = await mkdtemp(join(tmpdir(), 'chat-upload-perm-'));
    try {
      chmodSync(base, 0o755);
      writeFileSync(join(base, 'ok.txt'), 'ok');
      writeFileSync(join(base, 'secret.txt'), 'no');
      chmodSync(join(base, 'ok.txt'), 0o644);
      chmodSync(join(base, 'secret.txt'), 0o000);
      const mod = join(process.cwd(), 'dist/client/drive/patterns.js');
      const script = `const { expandPatterns } = await import(${JSON.stringify(mod)});
        for (const p of [['ok.txt', 'secret.txt'], ['*.txt']]) {
          try { await expandPatterns(p, ${JSON.stringify(base)}); console.log('ok'); } catch (e) { console.log(e.code + ' ' + e.message); }
        }`;
      const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { ...asNobody, encoding: 'utf8' });
      expect(out.trim().split('\n')).toEqual([
        'CHAT_ERR_USAGE cannot read "secret.txt": permission denied (see: chat upload --help)',
        'CHAT_ERR_USAGE cannot read "secret.txt" (matched by "*.txt"): permission denied (see: chat upload --help)',
      ]);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('a glob matching nothing or a missing plain path is a usage error naming it', async () => {
    expect((await usageOf(expandPatterns(['a.txt', 'reports/**/*.pdf'], dir))).message).toContain('"reports/**/*.pdf" matches no files');
    expect((await usageOf(expandPatterns(['missing.txt'], dir))).message).toContain('"missing.txt": no such file');
    await usageOf(expandPatterns([''], dir));
  });
});

describe('spoolStdin', () => {
  it('keeps what stdin gives in a private temp file, removed afterwards; a terminal is a usage error', async () => {
    const spool = await spoolStdin(Readable.from([Buffer.from('piped '), Buffer.from('bytes')]));
    expect(readFileSync(spool.path, 'utf8')).toBe('piped bytes');
    spool.remove();
    expect(existsSync(spool.path)).toBe(false);
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    expect((await usageOf(spoolStdin(tty))).message).toContain('stdin is a terminal: pipe the data in');
  });
});

describe('planUploads', () => {
  it('names each file by its base name, or --as for exactly one file', () => {
    expect(planUploads(['a.txt', 'sub/c.txt'])).toEqual([{ path: 'a.txt', name: 'a.txt' }, { path: 'sub/c.txt', name: 'c.txt' }]);
    expect(planUploads(['sub/c.txt'], 'final report.txt')).toEqual([{ path: 'sub/c.txt', name: 'final report.txt' }]);
  });

  it('refuses --as with several files, no files at all, and two files with one name', async () => {
    expect((await usageOf(() => planUploads(['a.txt', 'b.txt'], 'x'))).message).toContain('--as names one file');
    expect((await usageOf(() => planUploads([]))).message).toContain('nothing to upload');
    expect((await usageOf(() => planUploads(['a.txt', 'sub/a.txt']))).message).toContain('both be uploaded as "a.txt"');
  });

  it('checks every name with checkFileName (exit 2), naming the file', async () => {
    for (const bad of ['../x', 'a/b', 'nul\u0000', 'x'.repeat(300), 'a..b', ' lead']) {
      const err = await usageOf(() => planUploads(['f.txt'], bad));
      expect(err.code).toBe('CHAT_ERR_INVALID');
      expect(err.message).toContain('cannot upload "f.txt"');
    }
    expect((await usageOf(() => planUploads(['dir/v@3']))).message).toMatch(/cannot upload "dir\/v@3".*'@' and digits.*--as NAME/);
  });
});

describe('output helpers', () => {
  it('formats sizes, rates, ETAs and the SPEC file object', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1024), formatBytes(1258291), formatBytes(5 * 2 ** 30)])
      .toEqual(['0 B', '1023 B', '1.0 KiB', '1.2 MiB', '5.0 GiB']);
    expect(formatRate(10 * 2 ** 20, 1000)).toBe('10.0 MiB/s');
    expect(formatRate(0, 0)).toBe('-');
    expect([formatEta(5), formatEta(125), formatEta(3725), formatEta(Number.NaN)]).toEqual(['0:05', '2:05', '1:02:05', '-']);
    const f = { name: 'r.pdf', version: 3, size: 1258291, sha256: 'ab12'.repeat(16), uploader: 'alice', ts: 5 };
    expect(Object.keys(fileJson(f, 'ops'))).toEqual(['group', 'name', 'version', 'size', 'sha256', 'uploader', 'ts']);
    expect(uploadedLine(f)).toBe('uploaded r.pdf v3 (1.2 MiB, sha256 ab12ab12ab12…)');
  });

  it('wants bars only on a TTY stderr without --json or --quiet', () => {
    expect(progressWanted({ json: false, quiet: false }, { isTTY: true })).toBe(true);
    expect(progressWanted({ json: true, quiet: false }, { isTTY: true })).toBe(false);
    expect(progressWanted({ json: false, quiet: true }, { isTTY: true })).toBe(false);
    expect(progressWanted({ json: false, quiet: false }, { isTTY: false })).toBe(false);
  });
});

/** A drive that takes uploads like the contract says, slowly enough to see the window. */
class FakeDrive {
  chunks: Array<{ offset: number; length: number }> = [];
  aborted: number[] = [];
  ended: Array<{ uploadId: number; sha256: string }> = [];
  inFlight = 0;
  maxInFlight = 0;
  private received = 0;
  private size = 0;
  private hash = createHash('sha256');
  chunkHook: (offset: number) => void = () => undefined;
  failChunkAt: number | undefined;

  install(server: FakeServer, chunkSize: number): void {
    server.handlers.UPLOAD_BEGIN = (_c: FakeConn, p: Payload) => {
      if (p.size > 1_000_000) throw new ChatError('CHAT_ERR_TOO_LARGE', 'file is too large');
      this.size = p.size;
      return { uploadId: 7, chunkSize };
    };
    server.handlers.UPLOAD_CHUNK = async (_c: FakeConn, p: Payload) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.chunkHook(p.offset);
      await new Promise((r) => setTimeout(r, 3));
      this.inFlight--;
      if (p.offset !== this.received) throw new ChatError('CHAT_ERR_INVALID', `offset ${p.offset}, expected ${this.received}`);
      if (this.failChunkAt === p.offset) throw new ChatError('CHAT_ERR_INTERNAL', 'disk on fire');
      this.chunks.push({ offset: p.offset, length: p.data.length });
      this.received += p.data.length;
      this.hash.update(p.data);
      return { received: this.received };
    };
    server.handlers.UPLOAD_END = (_c: FakeConn, p: Payload) => {
      this.ended.push({ uploadId: p.uploadId, sha256: p.sha256 });
      const sha256 = this.hash.digest('hex');
      if (this.received !== this.size || sha256 !== p.sha256) throw new ChatError('CHAT_ERR_INTEGRITY', 'sha256 mismatch');
      return { file: { name: 'f', version: 1, size: this.size, sha256, uploader: 'alice', ts: 1 } };
    };
    server.handlers.UPLOAD_ABORT = (_c: FakeConn, p: Payload) => {
      this.aborted.push(p.uploadId);
      return {};
    };
  }
}

describe('uploadFile', () => {
  let server: FakeServer;
  let drive: FakeDrive;
  let conn: ChatConnection;
  beforeEach(async () => {
    server = await new FakeServer().start();
    drive = new FakeDrive();
    drive.install(server, 1000);
    conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port });
  });
  afterEach(async () => {
    await conn.close();
    await server.stop();
  });
  const requests = () => server.conns[0].requests.map((r) => r.name).filter((n) => n !== 'HELLO' && n !== 'BYE');

  it('streams in chunkSize pieces with a bounded window and declares the sha256 of what it sent', async () => {
    const data = Buffer.alloc(25_500);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
    const path = join(dir, 'big.bin');
    writeFileSync(path, data);
    const progress: number[] = [];
    const f = await uploadFile(conn, { group: 'ops', name: 'big.bin', path, onProgress: (sent, size) => { expect(size).toBe(data.length); progress.push(sent); } });
    expect(f.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(drive.chunks.map((c) => c.length)).toEqual([...Array(25).fill(1000), 500]);
    expect(drive.maxInFlight).toBeGreaterThan(1);
    expect(drive.maxInFlight).toBeLessThanOrEqual(UPLOAD_WINDOW);
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(data.length);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(server.conns[0].requests.find((r) => r.name === 'UPLOAD_BEGIN')!.payload).toEqual({ group: 'ops', name: 'big.bin', size: data.length });
  });

  it('uploads an empty file with no chunks', async () => {
    const path = join(dir, 'empty');
    writeFileSync(path, '');
    const f = await uploadFile(conn, { group: 'ops', name: 'empty', path });
    expect(f.sha256).toBe(createHash('sha256').digest('hex'));
    expect(requests()).toEqual(['UPLOAD_BEGIN', 'UPLOAD_END']);
  });

  it('a missing or non-regular local file fails before anything is sent', async () => {
    for (const path of [join(dir, 'nope'), join(dir, 'sub')]) {
      const err = await uploadFile(conn, { group: 'ops', name: 'x', path }).catch((e: unknown) => e);
      expect(exitCodeFor(err)).toBe(2);
    }
    expect(requests()).toEqual([]);
  });

  it('a refusal at UPLOAD_BEGIN is thrown as is, before any byte', async () => {
    const path = join(dir, 'huge');
    writeFileSync(path, Buffer.alloc(1_000_001));
    const err = await uploadFile(conn, { group: 'ops', name: 'huge', path }).catch((e: unknown) => e);
    expect((err as ChatError).code).toBe('CHAT_ERR_TOO_LARGE');
    expect(requests()).toEqual(['UPLOAD_BEGIN']);
  });

  it('a file that shrinks or grows while being read is a conflict (6), and the upload is aborted', async () => {
    const path = join(dir, 'changing');
    writeFileSync(path, Buffer.alloc(20_000, 1));
    drive.chunkHook = (offset) => { if (offset === 5000) truncateSync(path, 8000); };
    const shrunk = await uploadFile(conn, { group: 'ops', name: 'c', path }).catch((e: unknown) => e);
    expect(exitCodeFor(shrunk)).toBe(6);
    expect((shrunk as Error).message).toContain('changed while being uploaded');
    expect(drive.aborted).toEqual([7]);
    expect(drive.ended).toEqual([]);

    drive = new FakeDrive();
    drive.install(server, 1000);
    writeFileSync(path, Buffer.alloc(20_000, 1));
    // Appended, not rewritten: writeFileSync truncates first, and a read in that moment sees a shorter file.
    drive.chunkHook = (offset) => { if (offset === 5000) appendFileSync(path, Buffer.alloc(10_000, 2)); };
    const grown = await uploadFile(conn, { group: 'ops', name: 'c', path }).catch((e: unknown) => e);
    expect(exitCodeFor(grown)).toBe(6);
    expect((grown as Error).message).toContain('it has grown');
    expect(drive.aborted).toEqual([7]);
    expect(drive.ended).toEqual([]);
  });

  it('a failed chunk aborts the upload and rethrows the server error', async () => {
    const path = join(dir, 'fails');
    writeFileSync(path, Buffer.alloc(10_000, 3));
    drive.failChunkAt = 3000;
    const err = await uploadFile(conn, { group: 'ops', name: 'f', path }).catch((e: unknown) => e);
    expect((err as ChatError).message).toBe('disk on fire');
    expect(drive.aborted).toEqual([7]);
    expect(requests()).not.toContain('UPLOAD_END');
  });

  it('a sha256 the server disagrees with is an integrity error (8), passed on as is', async () => {
    const path = join(dir, 'garbled');
    writeFileSync(path, Buffer.alloc(3000, 5));
    const real = server.handlers.UPLOAD_END!;
    server.handlers.UPLOAD_END = (c, p) => real(c, { ...p, sha256: '0'.repeat(64) });
    const err = await uploadFile(conn, { group: 'ops', name: 'g', path }).catch((e: unknown) => e);
    expect((err as ChatError).code).toBe('CHAT_ERR_INTEGRITY');
    expect(exitCodeFor(err)).toBe(8);
    expect(requests()).toEqual(['UPLOAD_BEGIN', 'UPLOAD_CHUNK', 'UPLOAD_CHUNK', 'UPLOAD_CHUNK', 'UPLOAD_END', 'UPLOAD_ABORT']);
  });

  it('an aborted signal stops the upload and sends UPLOAD_ABORT', async () => {
    const path = join(dir, 'cancel');
    writeFileSync(path, Buffer.alloc(50_000, 4));
    const ac = new AbortController();
    drive.chunkHook = (offset) => { if (offset === 2000) ac.abort(new Error('cancelled by the user')); };
    const err = await uploadFile(conn, { group: 'ops', name: 'c', path, signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('cancelled by the user');
    expect(drive.aborted).toEqual([7]);
    expect(drive.chunks.length).toBeLessThan(50);
  });
});
