/**
 * chat-get end to end: the real bin/chat-get.js against the real chat-server (files
 * uploaded with the real bin/chat.js). Interrupted downloads are made by SIGKILLing
 * chat-get while a throttling proxy slows it down.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryDir, parseLog } from '../../src/client/download/resume-log.js';
import { chat, startServer, type ChatOptions, type ServerProcess } from './harness.js';
import {
  chatGet, chatGetInTerminal, fileSha, jsonLines, seededBytes, setUpDrive, sha256, sizeOf, spawnGet, startProxy, until, upload,
  resumeEntries, type GetOptions, type Proxy,
} from './chat-get-harness.js';

const MiB = 1024 * 1024;

let server: ServerProcess;
let proxy: Proxy;
let ann: ChatOptions;
let dir: string;
let n = 0;

beforeAll(async () => {
  server = await startServer();
  ({ ann, dir } = await setUpDrive(server.address));
  proxy = await startProxy(Number(server.address.split(':')[1]), 4 * MiB);
});
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

/** A fresh output dir and state dir; `slow` goes through the throttling proxy. */
function place(slow = false): { out: string; opts: GetOptions } {
  const base = join(dir, `case-${++n}`);
  const out = join(base, 'out');
  fs.mkdirSync(out, { recursive: true });
  return { out, opts: { ...ann, server: slow ? proxy.address : server.address, stateDir: join(base, 'state'), cwd: base } };
}

/** Starts chat-get ARGS through the proxy and SIGKILLs it once `part` holds `bytes`. */
async function interrupt(opts: GetOptions, args: string[], part: string, bytes: number): Promise<void> {
  const get = spawnGet({ ...opts, server: proxy.address }, args);
  await until(() => sizeOf(part) >= bytes, 30_000, `${bytes} bytes in ${part}`);
  get.proc.kill('SIGKILL');
  expect(await get.exit).toBe('SIGKILL');
}

describe('chat-get', () => {
  it('fetches a file into the current directory, one line per file; --json has the SPEC fields', async () => {
    const data = seededBytes(3 * MiB + 17, 1);
    await upload(ann, dir, 'report.pdf', data);
    const { opts } = place();
    const human = await chatGet(opts, ['-g', 'ops', 'report.pdf']);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toBe('saved report.pdf v1 → ./report.pdf (3.0 MiB)\n');
    expect(fileSha(join(opts.cwd!, 'report.pdf'))).toBe(sha256(data));

    const { out, opts: o2 } = place();
    const r = await chatGet(o2, ['-g', 'ops', 'report.pdf', '-o', join(out, 'mine.pdf'), '--json']);
    expect(r.code).toBe(0);
    const [line] = jsonLines(r.stdout);
    expect(Object.keys(line)).toEqual(['group', 'name', 'version', 'size', 'bytes', 'sha256', 'seconds', 'resumedFrom', 'target']);
    expect(line).toMatchObject({ group: 'ops', name: 'report.pdf', version: 1, size: data.length, bytes: data.length, sha256: sha256(data), resumedFrom: 0, target: join(out, 'mine.pdf') });
    expect(fs.readdirSync(out)).toEqual(['mine.pdf']);
    expect(resumeEntries(o2)).toEqual([]);
  });

  it('a glob fetches the matching names only; -o FILE with several files is a usage error', async () => {
    const files = { 'a.log': seededBytes(1000, 2), 'b.log': seededBytes(200_000, 3), 'c.txt': seededBytes(10, 4) };
    for (const [name, data] of Object.entries(files)) await upload(ann, dir, name, data);
    const { out, opts } = place();
    const r = await chatGet(opts, ['-g', 'ops', '*.log', '-o', `${out}/`, '--json']);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout).map((l) => l.name)).toEqual(['a.log', 'b.log']);
    expect(fs.readdirSync(out).sort()).toEqual(['a.log', 'b.log']);
    expect(fileSha(join(out, 'b.log'))).toBe(sha256(files['b.log']));

    const many = await chatGet(opts, ['-g', 'ops', '*.log', '-o', join(out, 'one.file')]);
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(/^chat-get: -o .*one\.file names one file, but 2 files are to be fetched/);
    const none = await chatGet(opts, ['-g', 'ops', '*.pdf.gz']);
    expect(none).toMatchObject({ code: 4, stderr: 'chat-get: no file in #ops matches "*.pdf.gz" (see: chat files -g ops)\n' });
    const missing = await chatGet(opts, ['-g', 'ops', 'a.log', 'nope.bin']);
    expect(missing.code).toBe(4);
    expect(missing.stdout).toBe(''); // every argument is resolved before anything is fetched
    const noVersion = await chatGet(opts, ['-g', 'ops', 'a.log@9']);
    expect(noVersion.code).toBe(4);
  });

  it('a non-member gets 5 and learns nothing about the files; nothing is written locally', async () => {
    await upload(ann, dir, 'secret-plan.txt', seededBytes(5000, 5));
    const { out, opts } = place();
    const bob = { ...opts, configDir: join(dir, 'bob-cfg'), user: 'bob', password: 'bob-secret' };
    expect((await chat(bob, ['register'])).code).toBe(0);
    for (const args of [['*'], ['*.txt'], ['secret-plan.txt'], ['no-such-file']]) {
      const r = await chatGet(bob, ['-g', 'ops', ...args, '-o', `${out}/`, '--json']);
      expect(r.code).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^chat-get: only members use the files of group "ops"/);
      expect(r.stderr).not.toMatch(/secret-plan|report\.pdf|a\.log/);
    }
    expect(fs.readdirSync(out)).toEqual([]);
    expect(resumeEntries(bob)).toEqual([]);
  });

  it('a new version uploaded during an interrupted download: the rerun exits 6 explaining; --restart fetches the new one', async () => {
    const v1 = seededBytes(12 * MiB, 6);
    await upload(ann, dir, 'data.bin', v1);
    const { out, opts } = place();
    const target = join(out, 'data.bin');
    const args = ['-g', 'ops', 'data.bin', '-o', `${out}/`, '--json'];
    await interrupt(opts, args, `${target}.part`, 3 * MiB);
    const v2 = seededBytes(5 * MiB, 7);
    const up = await upload(ann, dir, 'data.bin', v2);
    expect(up.version).toBe(2);

    const rerun = await chatGet(opts, args);
    expect(rerun.code).toBe(6);
    expect(rerun.stdout).toBe('');
    expect(rerun.stderr).toBe('chat-get: "data.bin" changed on the server: the interrupted download is of v1, and the latest is now v2 '
      + '(run again with --restart to fetch v2, or ask for data.bin@1 to finish v1)\n');
    expect(fs.existsSync(target)).toBe(false);
    expect(sizeOf(`${target}.part`)).toBeGreaterThanOrEqual(3 * MiB); // kept for @1 or --restart

    const restarted = await chatGet(opts, [...args, '--restart']);
    expect(restarted.code).toBe(0);
    expect(jsonLines(restarted.stdout)[0]).toMatchObject({ version: 2, resumedFrom: 0, size: v2.length, sha256: sha256(v2) });
    expect(fileSha(target)).toBe(sha256(v2));
    expect(resumeEntries(opts)).toEqual([]);
  });

  it('NAME@V goes on with V after a newer version appears', async () => {
    const v1 = seededBytes(10 * MiB, 8);
    await upload(ann, dir, 'pinned.bin', v1);
    const { out, opts } = place();
    const target = join(out, 'pinned.bin');
    await interrupt(opts, ['-g', 'ops', 'pinned.bin@1', '-o', `${out}/`], `${target}.part`, 3 * MiB);
    await upload(ann, dir, 'pinned.bin', seededBytes(100, 9));
    const r = await chatGet(opts, ['-g', 'ops', 'pinned.bin@1', '-o', `${out}/`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^saved pinned\.bin v1 → \.\/out\/pinned\.bin \(10\.0 MiB, resumed from \d+\.\d MiB\)\n$/);
    expect(r.stderr).toMatch(/^chat-get: resuming "pinned\.bin" v1 from .* \(\d+ of 10485760 bytes\)\n$/);
    expect(fileSha(target)).toBe(sha256(v1));
  });

  it('--resume finishes every interrupted download; with -o DIR only those inside DIR', async () => {
    const x = seededBytes(9 * MiB, 10);
    const y = seededBytes(8 * MiB, 11);
    await upload(ann, dir, 'x.bin', x);
    await upload(ann, dir, 'y.bin', y);
    const { out, opts } = place();
    const d1 = join(out, 'd1');
    const d2 = join(out, 'd2');
    await interrupt(opts, ['-g', 'ops', 'x.bin', '-o', `${d1}/`], join(d1, 'x.bin.part'), 2 * MiB);
    await interrupt(opts, ['-g', 'ops', 'y.bin', '-o', `${d2}/`], join(d2, 'y.bin.part'), 2 * MiB);
    expect(resumeEntries(opts)).toHaveLength(2);

    const only1 = await chatGet(opts, ['--resume', '-o', d1, '--json']);
    expect(only1.code).toBe(0);
    const [r1] = jsonLines(only1.stdout);
    expect(r1).toMatchObject({ group: 'ops', name: 'x.bin', sha256: sha256(x), target: join(d1, 'x.bin') });
    expect(Number(r1.resumedFrom)).toBeGreaterThan(0);
    expect(fs.existsSync(join(d2, 'y.bin'))).toBe(false);

    const rest = await chatGet(opts, ['--resume', '--json']);
    expect(rest.code).toBe(0);
    expect(jsonLines(rest.stdout).map((l) => [l.name, l.sha256])).toEqual([['y.bin', sha256(y)]]);
    expect(fileSha(join(d2, 'y.bin'))).toBe(sha256(y));
    expect(resumeEntries(opts)).toEqual([]);

    const nothing = await chatGet(opts, ['--resume']);
    expect(nothing.code).toBe(0);
    expect(nothing.stderr).toMatch(/^chat-get: nothing to resume \(resume log: .*downloads\)\n$/);
    expect((await chatGet(opts, ['--resume', '-g', 'ops', 'x.bin'])).code).toBe(2);
  });

  it('damage in the part file before the checkpoint is caught by the final sha256: exit 8, no target, a rerun starts over', async () => {
    const data = seededBytes(10 * MiB, 12);
    await upload(ann, dir, 'fragile.bin', data);
    const { out, opts } = place();
    const target = join(out, 'fragile.bin');
    const args = ['-g', 'ops', 'fragile.bin', '-o', `${out}/`, '--json'];
    await interrupt(opts, args, `${target}.part`, 4 * MiB);
    const { checkpoint } = parseLog(fs.readFileSync(join(entryDir(opts.stateDir, target), 'log')));
    expect(checkpoint).toBeGreaterThan(1 * MiB);
    const fd = fs.openSync(`${target}.part`, 'r+');
    fs.writeSync(fd, Buffer.from('garbage'), 0, 7, Math.floor(checkpoint / 2)); // inside what the rerun keeps
    fs.closeSync(fd);

    const bad = await chatGet(opts, args);
    expect(bad.code).toBe(8);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^chat-get: resuming .*\nchat-get: "fragile\.bin" v1: the bytes fetched have sha256 [0-9a-f]{12}…, the server says [0-9a-f]{12}…; nothing was saved as .*fragile\.bin and the partial download was discarded \(run again to fetch it from the start\)\n$/);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(`${target}.part`)).toBe(false);
    expect(resumeEntries(opts)).toEqual([]);

    const good = await chatGet(opts, args);
    expect(good.code).toBe(0);
    expect(jsonLines(good.stdout)[0]).toMatchObject({ resumedFrom: 0, sha256: sha256(data) });
  });

  it('an existing target is replaced only by a verified file; a second chat-get on the same target exits 6', async () => {
    const data = seededBytes(8 * MiB, 13);
    await upload(ann, dir, 'replace.bin', data);
    const { out, opts } = place();
    const target = join(out, 'replace.bin');
    fs.writeFileSync(target, 'the old file');
    const first = spawnGet({ ...opts, server: proxy.address }, ['-g', 'ops', 'replace.bin', '-o', `${out}/`]);
    await until(() => sizeOf(`${target}.part`) > 0, 20_000, 'part file');
    const second = await chatGet(opts, ['-g', 'ops', 'replace.bin', '-o', `${out}/`]);
    expect(second.code).toBe(6);
    expect(second.stderr).toMatch(/^chat-get: .*replace\.bin is being downloaded by chat-get \(pid \d+, .*\); wait for it to finish or stop it\n$/);
    expect(fs.readFileSync(target, 'utf8')).toBe('the old file');
    expect(await first.exit).toBe(0);
    expect(fileSha(target)).toBe(sha256(data));
  });

  it('SIGINT keeps what was fetched and says how to go on; the rerun resumes', async () => {
    const data = seededBytes(10 * MiB, 14);
    await upload(ann, dir, 'ctrlc.bin', data);
    const { out, opts } = place();
    const target = join(out, 'ctrlc.bin');
    const get = spawnGet({ ...opts, server: proxy.address }, ['-g', 'ops', 'ctrlc.bin', '-o', `${out}/`]);
    await until(() => sizeOf(`${target}.part`) >= 2 * MiB, 20_000, 'part file');
    get.proc.kill('SIGINT');
    expect(await get.exit).toBe('SIGINT');
    expect(get.stderr()).toMatch(/chat-get: interrupted: what was fetched is kept; run the same command again, or chat-get --resume, to go on\n$/);
    const kept = sizeOf(`${target}.part`);
    const r = await chatGet(opts, ['-g', 'ops', 'ctrlc.bin', '-o', `${out}/`, '--json']);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)[0]).toMatchObject({ resumedFrom: kept, sha256: sha256(data) });
  });

  it.skipIf(!fs.existsSync('/usr/bin/script'))('progress bars on a terminal only, never with --no-progress, --json or --quiet', async () => {
    await upload(ann, dir, 'shown.bin', seededBytes(2 * MiB, 15));
    const { out, opts } = place();
    const bars = await chatGetInTerminal(opts, ['-g', 'ops', 'shown.bin', '-o', `${out}/`]);
    expect(bars.code).toBe(0);
    expect(bars.screen).toMatch(/shown\.bin +\[#+\] 100% +2\.0 MiB\/2\.0 MiB/);
    expect(bars.screen).toMatch(/saved shown\.bin v1 → \.\/out\/shown\.bin \(2\.0 MiB\)/);
    for (const flag of ['--no-progress', '--json', '--quiet']) {
      fs.rmSync(join(out, 'shown.bin'));
      const plain = await chatGetInTerminal(opts, ['-g', 'ops', 'shown.bin', '-o', `${out}/`, flag]);
      expect(plain.code).toBe(0);
      expect(plain.screen, flag).not.toMatch(/\[#|%/);
    }
  });

  it('usage errors exit 2 with one line', async () => {
    const { opts } = place();
    for (const [args, msg] of [
      [['report.pdf'], /^chat-get: give the group: -g GROUP \(see: chat-get --help\)\n$/],
      [['-g', 'ops'], /^chat-get: give the files to fetch: FILE\[@VERSION\]\.\.\. \(see: chat-get --help\)\n$/],
      [['-g', 'ops', 'x', '--peers', 'a:1'], /^chat-get: --peers \(downloads helped by replicas\) is not available yet/],
      [['-g', 'ops', 'x', '--frobnicate'], /^chat-get: unknown argument: frobnicate \(see: chat-get --help\)\n$/],
      [['-g', 'ops', 'x@0'], /^chat-get: version in "x@0" must be a whole number/],
    ] as Array<[string[], RegExp]>) {
      const r = await chatGet(opts, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});
