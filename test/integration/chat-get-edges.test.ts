/**
 * chat-get's edges through the real bin/chat-get.js against the real chat-server:
 * --resume over several servers (one of them gone), targets that collide, -o paths
 * that are not what they seem, names that are valid on the server but awkward here,
 * and argument checks that agree with `chat rm`.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, entryDir, type DownloadMeta } from '../../src/client/download/resume-log.js';
import { chat, ROOT, startServer, unusedPort, type ChatOptions, type ServerProcess } from './harness.js';
import {
  chatGet, fileSha, jsonLines, seededBytes, setUpDrive, sha256, sizeOf, spawnGet, startProxy, until, upload, resumeEntries, type GetOptions,
} from './chat-get-harness.js';

let server: ServerProcess;
let ann: ChatOptions;
let dir: string;
let n = 0;

beforeAll(async () => {
  server = await startServer();
  ({ ann, dir } = await setUpDrive(server.address));
});
afterAll(async () => {
  await server?.stop();
});

/** A fresh output dir and state dir. */
function place(): { out: string; opts: GetOptions } {
  const base = join(dir, `case-${++n}`);
  const out = join(base, 'out');
  fs.mkdirSync(out, { recursive: true });
  return { out, opts: { ...ann, server: server.address, stateDir: join(base, 'state'), cwd: base } };
}

/** Writes a resume-log entry as an interrupted chat-get would have left it (no checkpoint yet). */
function logEntry(stateDir: string, meta: Omit<DownloadMeta, 'group' | 'latest' | 'started'> & { started?: number }): void {
  const entry = entryDir(stateDir, meta.target);
  fs.mkdirSync(entry, { recursive: true });
  fs.writeFileSync(join(entry, 'log'), encodeHeader({ group: 'ops', latest: true, started: Date.now(), ...meta }));
}

describe('chat-get --resume', () => {
  it('a server that cannot be reached does not stop the downloads of the other servers', async () => {
    const data = seededBytes(300_000, 21);
    const up = await upload(ann, dir, 'kept.bin', data);
    const { out, opts } = place();
    const gone = `127.0.0.1:${await unusedPort()}`;
    // The gone server's entry is the older one, so it is tried first.
    logEntry(opts.stateDir, { server: gone, name: 'kept.bin', version: 1, size: data.length, sha256: sha256(data), target: join(out, 'elsewhere.bin'), started: 1 });
    logEntry(opts.stateDir, { server: server.address, name: 'kept.bin', version: Number(up.version), size: data.length, sha256: sha256(data), target: join(out, 'kept.bin') });

    const r = await chatGet(opts, ['--resume', '--json']);
    expect(r.code).toBe(7);
    expect(jsonLines(r.stdout).map((l) => l.target)).toEqual([join(out, 'kept.bin')]);
    expect(fileSha(join(out, 'kept.bin'))).toBe(sha256(data));
    // One line naming the server and what waits for it; --server has nothing to do with it.
    expect(r.stderr).toMatch(new RegExp(`^chat-get: cannot reach ${gone}, where the interrupted download of "kept\\.bin" came from \\(.*\\); `
      + 'it stays in the resume log: run chat-get --resume again once the server is back\n$'));
    expect(r.stderr).not.toContain('--server');
    expect(resumeEntries(opts)).toHaveLength(1); // the gone server's download is kept for later
  });

  it('a download whose directory was removed since is dropped from the log with a note, and the others go on', async () => {
    const data = seededBytes(5000, 22);
    const up = await upload(ann, dir, 'moved.bin', data);
    const { out, opts } = place();
    const gone = join(out, 'removed-dir');
    const common = { server: server.address, name: 'moved.bin', version: Number(up.version), size: data.length, sha256: sha256(data) };
    logEntry(opts.stateDir, { ...common, target: join(gone, 'moved.bin'), started: 1 });
    logEntry(opts.stateDir, { ...common, target: join(out, 'moved.bin') });

    const r = await chatGet(opts, ['--resume']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`chat-get: dropped the interrupted download of "moved.bin" to ${join(gone, 'moved.bin')}: `
      + `its directory is gone (to fetch it again: chat-get -g ops -o DIR/ moved.bin)\n`);
    expect(r.stdout).toBe('saved moved.bin v1 → ./out/moved.bin (4.9 KiB)\n');
    expect(fs.existsSync(gone)).toBe(false); // not made again behind the user's back
    expect(resumeEntries(opts)).toEqual([]);
    expect((await chatGet(opts, ['--resume'])).stderr).toMatch(/^chat-get: nothing to resume/);
  });
});

describe('chat-get --resume of files gone from the server', () => {
  it('a file removed from the server is 4 once, and its interrupted download is dropped (part file too)', async () => {
    const data = seededBytes(50_000, 31);
    const up = await upload(ann, dir, 'vanishing.bin', data);
    const { out, opts } = place();
    const target = join(out, 'vanishing.bin');
    logEntry(opts.stateDir, { server: server.address, name: 'vanishing.bin', version: Number(up.version), size: data.length, sha256: sha256(data), target });
    fs.writeFileSync(`${target}.part`, data.subarray(0, 1000));
    expect((await chat(ann, ['rm', '-g', 'ops', 'vanishing.bin'])).code).toBe(0);

    const r = await chatGet(opts, ['--resume']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^chat-get: file "vanishing\.bin" not found in group "ops" .*; its interrupted download to .*vanishing\.bin is dropped\n$/);
    expect(fs.readdirSync(out)).toEqual([]);
    expect(resumeEntries(opts)).toEqual([]);
    expect(await chatGet(opts, ['--resume'])).toMatchObject({ code: 0, stderr: expect.stringMatching(/^chat-get: nothing to resume/) });
  });
});

describe('chat-get --resume --restart', () => {
  it('a download whose file changed stops --resume with 6; --resume --restart fetches the new version and resumes the others', async () => {
    const v1 = seededBytes(200_000, 27);
    const other = seededBytes(150_000, 28);
    const up1 = await upload(ann, dir, 'moving.bin', v1);
    const upOther = await upload(ann, dir, 'steady.bin', other);
    const { out, opts } = place();
    const moving = join(out, 'moving.bin');
    const steady = join(out, 'steady.bin');
    logEntry(opts.stateDir, { server: server.address, name: 'moving.bin', version: Number(up1.version), size: v1.length, sha256: sha256(v1), target: moving, started: 1 });
    logEntry(opts.stateDir, { server: server.address, name: 'steady.bin', version: Number(upOther.version), size: other.length, sha256: sha256(other), target: steady, started: 2 });
    fs.writeFileSync(`${moving}.part`, v1.subarray(0, 1000));
    const v2 = seededBytes(100_000, 29);
    await upload(ann, dir, 'moving.bin', v2);

    const stuck = await chatGet(opts, ['--resume', '--json']);
    expect(stuck.code).toBe(6);
    expect(stuck.stderr).toMatch(/^chat-get: "moving\.bin" changed on the server: .*\(run again with --restart to fetch v2, or ask for moving\.bin@1 to finish v1\)\n$/);
    expect(jsonLines(stuck.stdout).map((l) => l.name)).toEqual(['steady.bin']);
    expect(fs.existsSync(moving)).toBe(false);

    const r = await chatGet(opts, ['--resume', '--restart', '--json']);
    expect(r).toMatchObject({
      code: 0,
      stderr: 'chat-get: "moving.bin" changed on the server: the interrupted download is of v1, and the latest is now v2: starting over with the latest (--restart)\n',
    });
    expect(jsonLines(r.stdout)).toEqual([expect.objectContaining({ name: 'moving.bin', version: 2, resumedFrom: 0, sha256: sha256(v2) })]);
    expect(fileSha(moving)).toBe(sha256(v2));
    expect(resumeEntries(opts)).toEqual([]);
  });

  it('--resume --restart leaves alone a download another chat-get is doing (6, no start over)', async () => {
    const data = seededBytes(6 * 1024 * 1024, 30);
    await upload(ann, dir, 'busy.bin', data);
    const proxy = await startProxy(Number(server.address.split(':')[1]), 2 * 1024 * 1024);
    try {
      const { out, opts } = place();
      const target = join(out, 'busy.bin');
      const first = spawnGet({ ...opts, server: proxy.address }, ['-g', 'ops', 'busy.bin', '-o', `${out}/`]);
      await until(() => sizeOf(`${target}.part`) > 0, 20_000, 'part file');
      const r = await chatGet(opts, ['--resume', '--restart']);
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/^chat-get: .*busy\.bin is being downloaded by chat-get \(pid \d+.*\); wait for it to finish or stop it\n$/);
      expect(await first.exit).toBe(0);
      expect(fileSha(target)).toBe(sha256(data));
    } finally {
      await proxy.close();
    }
  });
});

describe('chat-get targets', () => {
  it('two arguments for one target: the same version is fetched once, two versions are refused (2) before anything is written', async () => {
    const v1 = seededBytes(1000, 23);
    const v2 = seededBytes(2000, 24);
    await upload(ann, dir, 'twice.txt', v1);
    await upload(ann, dir, 'twice.txt', v2);
    const { out, opts } = place();

    const same = await chatGet(opts, ['-g', 'ops', 'twice.txt', 'twice.txt@2', 'twic?.txt', '-o', `${out}/`]);
    expect(same).toMatchObject({ code: 0, stderr: '', stdout: 'saved twice.txt v2 → ./out/twice.txt (2.0 KiB)\n' });

    for (const args of [['twice.txt@1', 'twice.txt'], ['twice.txt', 'twice.txt@1'], ['twi*', 'twice.txt@1']]) {
      fs.rmSync(join(out, 'twice.txt'), { force: true });
      const r = await chatGet(opts, ['-g', 'ops', ...args, '-o', `${out}/`]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^chat-get: "twice\.txt(@1)?" and "twice\.txt(@1)?" would both be saved as .*\/out\/twice\.txt: fetch one of them in another run, with -o FILE\n$/);
      expect(fs.readdirSync(out)).toEqual([]);
    }
  });
});

describe('chat-get -o and local names', () => {
  it('-o paths that cannot work are refused (2) before anything is fetched, each saying what to do', async () => {
    const data = seededBytes(3000, 25);
    await upload(ann, dir, 'plain.txt', data);
    await upload(ann, dir, 'other.txt', data);
    await upload(ann, dir, 'sub', data);
    const { out, opts } = place();
    fs.writeFileSync(join(out, 'afile'), 'mine');
    fs.mkdirSync(join(out, 'sub'));
    const cases: Array<[string[], RegExp]> = [
      [['plain.txt', 'other.txt', '-o', 'out/afile'],
        /^chat-get: -o out\/afile names one file, but 2 files are to be fetched \(give a directory: -o DIR\/\)\n$/],
      [['plain.txt', '-o', 'out/afile/'], /^chat-get: -o out\/afile\/: .*\/out\/afile is a file, not a directory \(give a directory, or -o FILE\)\n$/],
      [['plain.txt', '-o', 'out/no/such/dir/x.txt'],
        /^chat-get: cannot save to .*\/out\/no\/such\/dir\/x\.txt: the directory .*\/out\/no\/such\/dir does not exist \(create it first, or give -o DIR\/ to have it made\)\n$/],
      [['plain.txt', '-o', 'out/afile/x.txt'], /^chat-get: cannot save to .*\/out\/afile\/x\.txt: .*\/out\/afile is not a directory/],
      [['plain.txt', 'sub', '-o', 'out'], /^chat-get: cannot save "sub" as .*\/out\/sub: that is a directory \(give another -o DIR\/, or fetch it alone with -o FILE\)\n$/],
      [['plain.txt', '-o', '-'], /^chat-get: -o -: chat-get saves verified files only, never to stdout; give a file name \(then read it from there\)\n$/],
    ];
    for (const [args, msg] of cases) {
      const r = await chatGet(opts, ['-g', 'ops', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stdout).toBe('');
    }
    expect(fs.readdirSync(out).sort()).toEqual(['afile', 'sub']);
    expect(fs.readdirSync(join(out, 'sub'))).toEqual([]);
    expect(fs.readFileSync(join(out, 'afile'), 'utf8')).toBe('mine');
    expect(resumeEntries(opts)).toEqual([]);
  });

  it('awkward names: "." is refused by the server and by chat-get (2); dot and dash names are saved as asked', async () => {
    const data = seededBytes(100, 26);
    for (const name of ['.profile', '-rf']) await upload(ann, dir, name, data);
    const { out, opts } = place();
    const dot = await chatGet(opts, ['-g', 'ops', '.', '-o', join(out, 'dot.bin')]);
    expect(dot.code).toBe(2);
    expect(dot.stderr).toMatch(/^chat-get: file name "\." is invalid: '\.' names the current directory/);
    // '*' skips names starting with '.', as a shell does; asked by name (or '.*'), they come.
    const star = await chatGet(opts, ['-g', 'ops', '*', '-o', `${out}/`, '--json']);
    expect(jsonLines(star.stdout).map((l) => l.name)).not.toContain('.profile');
    expect(jsonLines(star.stdout).map((l) => l.name)).toContain('-rf');
    expect((await chatGet(opts, ['-g', 'ops', '-o', `${out}/`, '--', '.profile'])).code).toBe(0);
    expect(fileSha(join(out, '.profile'))).toBe(sha256(data));
    expect(fileSha(join(out, '-rf'))).toBe(sha256(data));
    const dash = await chatGet(opts, ['-g', 'ops', '-rf']);
    expect(dash.code).toBe(2);
    expect(dash.stderr).toMatch(/^chat-get: unknown arguments: r, f \(see: chat-get --help; a FILE starting with '-' goes after --: chat-get -g GROUP -- -FILE\)\n$/);
  });
});

describe('chat-get output', () => {
  it('a reader that closes stdout early (| head -1) does not stop the downloads, nor hide a failure behind exit 0', async () => {
    const files = [1, 2, 3].map((i) => seededBytes(2 * 1024 * 1024, 40 + i));
    for (const [i, data] of files.entries()) await upload(ann, dir, `piped-${i}.bin`, data);
    const proxy = await startProxy(Number(server.address.split(':')[1]), 4 * 1024 * 1024);
    try {
      const { out, opts } = place();
      const run = spawnGet({ ...opts, server: proxy.address }, ['-g', 'ops', 'piped-*.bin', '-o', `${out}/`, '--json']);
      await until(() => run.stdout().includes('\n'), 20_000, 'the first line');
      run.proc.stdout!.destroy(); // as `head -1` does after its line
      expect(await run.exit).toBe(0);
      expect(run.stderr()).toBe('');
      for (const [i, data] of files.entries()) expect(fileSha(join(out, `piped-${i}.bin`))).toBe(sha256(data));
    } finally {
      await proxy.close();
    }
  });
});

describe('chat-get arguments', () => {
  it('--version prints the version, as chat --version does', async () => {
    const { opts } = place();
    const pkg = JSON.parse(fs.readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await chatGet(opts, ['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect((await chat(opts, ['--version'])).stdout).toBe(`${pkg.version}\n`);
  });

  it('FILE[@VERSION] is checked before connecting, as chat rm checks it: a bad name or version is 2 with the same words', async () => {
    const { opts } = place();
    const nowhere = { ...opts, server: `127.0.0.1:${await unusedPort()}` };
    for (const arg of ['../x', 'a/b', '', 'x@1@2', 'x@0', ' x', '*/y']) {
      const got = await chatGet(nowhere, ['-g', 'ops', arg]);
      const rm = await chat(nowhere, ['rm', '-g', 'ops', arg === '' ? '@1' : arg]);
      expect(got.code, JSON.stringify(arg)).toBe(2);
      expect(rm.code, JSON.stringify(arg)).toBe(2);
      expect(got.stderr.split('\n').filter((l) => l !== ''), JSON.stringify(arg)).toHaveLength(1);
      if (arg !== '') expect(got.stderr.replace(/^chat-get: /, '')).toBe(rm.stderr.replace(/^chat: /, ''));
    }
  });
});
