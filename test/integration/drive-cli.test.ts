/**
 * `chat upload`, `chat files` and `chat rm` end to end (issue 4, SPEC §4 Drive): the
 * real bin/chat.js against the real chat-server: globs, versions, --json fields,
 * removal, rights (a non-member gets 5 and no file names), usage errors before any
 * byte is sent, the size limit, partial failures, and a 20 MiB file whose sha256 the
 * server agrees with, read back byte for byte.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatConnection } from '../../src/client/connection.js';
import { parseHostPort } from '../../src/common/address.js';
import { bytes, download, sha } from './drive-helpers.js';
import { chat, ROOT, startServer, tempDir, type ChatOptions, type ChatResult, type ServerProcess } from './harness.js';

let server: ServerProcess;
let small: ServerProcess; // --max-file-size 1000
let dir: string;
const as = (user: string, srv: ServerProcess = server): ChatOptions =>
  ({ server: srv.address, configDir: join(dir, `cfg-${user}`), user, password: `pw-${user}` });
const lines = (out: string) => out.split('\n').filter((l) => l !== '');
const objects = (out: string) => lines(out).map((l) => JSON.parse(l) as Record<string, unknown>);
const FILE_KEYS = ['name', 'version', 'size', 'sha256', 'uploader', 'ts'];

async function ok(user: string, args: string[], srv: ServerProcess = server): Promise<string> {
  const r = await chat(as(user, srv), args);
  expect(r.stderr, `chat ${args.join(' ')} as ${user}`).toBe('');
  expect(r.code, `chat ${args.join(' ')} as ${user}`).toBe(0);
  return r.stdout;
}

/** `chat files -g GROUP --versions --json` as "name@version" strings. */
async function versions(group: string, user = 'alice'): Promise<string[]> {
  return objects(await ok(user, ['files', '-g', group, '--versions', '--json'])).map((f) => `${String(f.name)}@${String(f.version)}`);
}

function local(path: string, content: string | Buffer): string {
  const full = join(dir, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, content);
  return full;
}

/** `chat ARGS…` run in `cwd` with `input` on stdin (bytes), as `user`. */
function chatIn(cwd: string, user: string, args: string[], input: Buffer | string = ''): Promise<ChatResult> {
  const o = as(user);
  const env: NodeJS.ProcessEnv = { ...process.env, CHAT_SERVER: o.server, CHAT_CONFIG_DIR: o.configDir, CHAT_USER: user, CHAT_PASSWORD: o.password, NO_COLOR: '1' };
  const proc = spawn(process.execPath, [join(ROOT, 'bin/chat.js'), ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  proc.stdin.on('error', () => undefined); // a run that never reads stdin may exit first
  proc.stdin.end(input);
  return new Promise((res) => proc.on('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

beforeAll(async () => {
  dir = tempDir('chat-drive-cli-');
  [server, small] = await Promise.all([startServer(), startServer({ args: ['--max-file-size', '1000'] })]);
  for (const u of ['alice', 'bob', 'carol']) expect((await chat(as(u), ['register'])).code).toBe(0);
  expect((await chat(as('alice', small), ['register'])).code).toBe(0);
  await ok('alice', ['group', 'create', 'ops']);
  await ok('bob', ['join', 'ops']);
  await ok('alice', ['group', 'create', 'vault', '--private']);
  await ok('alice', ['group', 'create', 'ops'], small);
  local('reports/q1.pdf', 'first quarter');
  local('reports/q2.pdf', 'second quarter, longer');
  local('reports/2024/q3.pdf', 'third');
  local('reports/notes.txt', 'not a pdf');
  mkdirSync(join(dir, 'reports/empty.pdf')); // a directory that the glob matches
});
afterAll(async () => {
  await Promise.all([server.stop(), small.stop()]);
});

describe('chat upload / files / rm', () => {
  it('uploads the files a glob matches (directories skipped), one line each; files --json has the SPEC fields', async () => {
    const r = await chat(as('alice'), ['upload', '-g', 'ops', join(dir, 'reports/**/*.pdf')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`chat: skipping directory "${join(dir, 'reports/empty.pdf')}"\n`);
    const want = { 'q1.pdf': 'first quarter', 'q2.pdf': 'second quarter, longer', 'q3.pdf': 'third' };
    // Argument order: fast-glob's sorted paths (reports/2024/q3.pdf first).
    expect(lines(r.stdout)).toEqual(['q3.pdf', 'q1.pdf', 'q2.pdf'].map((n) => {
      const data = Buffer.from(want[n as keyof typeof want]);
      return `uploaded ${n} v1 (${data.length} B, sha256 ${sha(data).slice(0, 12)}…)`;
    }));

    const listed = objects(await ok('bob', ['files', '-g', 'ops', '--json']));
    expect(listed.map((f) => f.name)).toEqual(['q1.pdf', 'q2.pdf', 'q3.pdf']);
    for (const f of listed) {
      expect(Object.keys(f)).toEqual(FILE_KEYS);
      const data = Buffer.from(want[f.name as keyof typeof want]);
      expect(f).toEqual({ name: f.name, version: 1, size: data.length, sha256: sha(data), uploader: 'alice', ts: expect.any(Number) });
      expect(Math.abs(Number(f.ts) - Date.now())).toBeLessThan(10 * 60_000);
    }
    const human = lines(await ok('bob', ['files', '-g', 'ops']));
    expect(human[0]).toMatch(new RegExp(`^q1\\.pdf\\s+v1\\s+13 B\\s+${sha(Buffer.from('first quarter')).slice(0, 12)}\\s+alice\\s+\\d\\d:\\d\\d:\\d\\d$`));
  });

  it('a re-upload is version 2 (--json: one object with group); --versions lists both; --as names the file', async () => {
    const changed = local('v2/q1.pdf', 'first quarter, revised');
    const r = objects(await ok('alice', ['upload', '-g', 'ops', changed, '--json']));
    expect(r).toEqual([{ group: 'ops', name: 'q1.pdf', version: 2, size: 22, sha256: sha(Buffer.from('first quarter, revised')), uploader: 'alice', ts: expect.any(Number) }]);
    expect(await versions('ops')).toEqual(['q1.pdf@1', 'q1.pdf@2', 'q2.pdf@1', 'q3.pdf@1']);
    expect(objects(await ok('alice', ['files', '-g', 'ops', '--json'])).map((f) => `${String(f.name)}@${String(f.version)}`))
      .toEqual(['q1.pdf@2', 'q2.pdf@1', 'q3.pdf@1']);

    expect(lines(await ok('alice', ['upload', '-g', 'ops', join(dir, 'reports/notes.txt'), '--as', 'README for ops'])))
      .toEqual([expect.stringMatching(/^uploaded README for ops v1 \(9 B, sha256 [0-9a-f]{12}…\)$/)]);
  });

  it('rm NAME@1 removes that version, rm NAME every version; then the name is not found (4)', async () => {
    local('tmp/scratch.txt', 'one');
    await ok('alice', ['upload', '-g', 'ops', join(dir, 'tmp/scratch.txt')]);
    local('tmp/scratch.txt', 'two');
    await ok('alice', ['upload', '-g', 'ops', join(dir, 'tmp/scratch.txt')]);
    local('tmp/scratch.txt', 'three');
    await ok('alice', ['upload', '-g', 'ops', join(dir, 'tmp/scratch.txt')]);
    expect(await ok('alice', ['rm', '-g', 'ops', 'scratch.txt@1'])).toBe('removed scratch.txt v1 from #ops\n');
    expect((await versions('ops')).filter((v) => v.startsWith('scratch'))).toEqual(['scratch.txt@2', 'scratch.txt@3']);
    expect(objects(await ok('alice', ['rm', '-g', 'ops', 'scratch.txt', '--json']))).toEqual([{ group: 'ops', name: 'scratch.txt', removed: 2 }]);
    expect((await versions('ops')).filter((v) => v.startsWith('scratch'))).toEqual([]);
    const again = await chat(as('alice'), ['rm', '-g', 'ops', 'scratch.txt']);
    expect(again.code).toBe(4);
    expect(lines(again.stderr)).toHaveLength(1);
    expect((await chat(as('alice'), ['rm', '-g', 'ops', 'q2.pdf@7'])).code).toBe(4);
    expect((await chat(as('alice'), ['files', '-g', 'nosuch'])).code).toBe(4);
  });

  it('a non-member gets 5 and learns no file names; a private group they cannot see is 4', async () => {
    local('vault/secret-plan.txt', 'plans');
    await ok('alice', ['upload', '-g', 'vault', join(dir, 'vault/secret-plan.txt')]);
    const mine = local('carol/mine.txt', 'carol was here');
    const tries: Array<[string[], number]> = [
      [['files', '-g', 'ops'], 5], [['files', '-g', 'ops', '--versions', '--json'], 5],
      [['upload', '-g', 'ops', mine], 5], [['rm', '-g', 'ops', 'q1.pdf'], 5], [['rm', '-g', 'ops', 'q1.pdf@1'], 5],
      [['files', '-g', 'vault'], 4], [['upload', '-g', 'vault', mine], 4], [['rm', '-g', 'vault', 'secret-plan.txt'], 4],
    ];
    for (const [args, code] of tries) {
      const r: ChatResult = await chat(as('carol'), args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(lines(r.stderr), args.join(' ')).toHaveLength(1);
      const typed = args.join(' ');
      for (const name of ['q1.pdf', 'q2.pdf', 'q3.pdf', 'README for ops', 'secret-plan.txt']) {
        if (!typed.includes(name)) expect(r.stderr, `${typed} leaks ${name}`).not.toContain(name);
      }
    }
    expect(await versions('ops')).toEqual(['README for ops@1', 'q1.pdf@1', 'q1.pdf@2', 'q2.pdf@1', 'q3.pdf@1']);
  });

  it('usage errors exit 2 before anything is uploaded: a pattern matching nothing, --as with two files, a bad name', async () => {
    const good = local('usage/good.txt', 'good');
    const before = await versions('ops');
    const none = await chat(as('alice'), ['upload', '-g', 'ops', good, join(dir, 'nothing/*.pdf')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`chat: "${join(dir, 'nothing/*.pdf')}" matches no files (see: chat upload --help)\n`);
    const twoAs = await chat(as('alice'), ['upload', '-g', 'ops', good, join(dir, 'reports/notes.txt'), '--as', 'x.txt']);
    expect(twoAs.code).toBe(2);
    expect(twoAs.stderr).toContain('--as names one file');
    const badName = local('usage/v@3', 'bad');
    const bad = await chat(as('alice'), ['upload', '-g', 'ops', good, badName]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`cannot upload "${badName}"`);
    expect((await chat(as('alice'), ['upload', '-g', 'ops', good, '--as', '../x'])).code).toBe(2);
    expect((await chat(as('alice'), ['rm', '-g', 'ops', 'a/b'])).code).toBe(2);
    expect(await versions('ops')).toEqual(before);
  });

  it('a file over the server\'s size limit is refused with 2 and nothing stored; the others still go up', async () => {
    const fits = local('limit/fits.bin', bytes(1000, 1));
    const over = local('limit/over.bin', bytes(1001, 2));
    const one = await chat(as('alice', small), ['upload', '-g', 'ops', over]);
    expect(one.code).toBe(2);
    expect(lines(one.stderr)).toEqual([expect.stringMatching(/1001 bytes.*limit of 1000 bytes/)]);
    const both = await chat(as('alice', small), ['upload', '-g', 'ops', over, fits, '--json']);
    expect(both.code).toBe(2);
    expect(objects(both.stdout).map((f) => f.name)).toEqual(['fits.bin']);
    expect(lines(both.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^chat: "${over}": .*limit of 1000 bytes`)),
      'chat: 1 of 2 files was not uploaded (see above)',
    ]);
    expect(objects(await ok('alice', ['files', '-g', 'ops', '--json'], small)).map((f) => f.name)).toEqual(['fits.bin']);
  });

  it('one file refused among several: the others are uploaded, the exit code is the refusal\'s (5)', async () => {
    // q1.pdf is alice's: bob, a plain member, may not add a version of it.
    const mine = local('bob/bobs-notes.txt', 'bob');
    const theirs = local('bob/q1.pdf', 'bob overwrites');
    const r = await chat(as('bob'), ['upload', '-g', 'ops', theirs, mine]);
    expect(r.code).toBe(5);
    expect(lines(r.stdout)).toEqual([expect.stringMatching(/^uploaded bobs-notes\.txt v1 /)]);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^chat: "${theirs}": `)), 'chat: 1 of 2 files was not uploaded (see above)']);
    expect((await versions('ops')).filter((v) => v.startsWith('q1') || v.startsWith('bobs'))).toEqual(['bobs-notes.txt@1', 'q1.pdf@1', 'q1.pdf@2']);
  });

  it('names starting with "-": upload and rm take them after -- (and rm takes "-" itself); none is dropped', async () => {
    const cwd = join(dir, 'dashes');
    local('dashes/-notes.txt', 'dash notes');
    local('dashes/plain.txt', 'plain');
    const up = await chatIn(cwd, 'alice', ['upload', '-g', 'ops', '--json', '--', '-notes.txt', 'plain.txt']);
    expect(up.code, up.stderr).toBe(0);
    expect(objects(up.stdout).map((f) => f.name)).toEqual(['-notes.txt', 'plain.txt']);
    await ok('alice', ['upload', '-g', 'ops', join(cwd, 'plain.txt'), '--as=-']);
    expect(await chatIn(cwd, 'alice', ['rm', '-g', 'ops', '--', '-notes.txt'])).toMatchObject({ code: 0, stdout: 'removed -notes.txt from #ops (1 version)\n' });
    expect(await chatIn(cwd, 'alice', ['rm', '-g', 'ops', '-'])).toMatchObject({ code: 0, stdout: 'removed - from #ops (1 version)\n' });
    const two = await chatIn(cwd, 'alice', ['rm', '-g', 'ops', 'plain.txt', 'other.txt']);
    expect(two).toMatchObject({ code: 2, stdout: '' });
    expect(two.stderr).toMatch(/^chat: give one file: NAME or NAME@VERSION \(see: chat rm --help\)\n$/);
    expect((await versions('ops')).filter((v) => v.startsWith('-') || v.startsWith('plain'))).toEqual(['plain.txt@1']);
    await ok('alice', ['rm', '-g', 'ops', 'plain.txt']);
  });

  it('"-" uploads stdin under --as NAME (spooled, so its size is known before the first byte); without --as or with other files it is 2', async () => {
    const data = bytes(3 * 1024 * 1024 + 5, 7);
    const r = await chatIn(dir, 'alice', ['upload', '-g', 'ops', '-', '--as', 'piped.bin', '--json'], data);
    expect(r.code, r.stderr).toBe(0);
    expect(objects(r.stdout)).toEqual([expect.objectContaining({ name: 'piped.bin', version: 1, size: data.length, sha256: sha(data) })]);
    const empty = await chatIn(dir, 'alice', ['upload', '-g', 'ops', '-', '--as', 'empty-pipe.txt']);
    expect(empty.stdout).toMatch(/^uploaded empty-pipe\.txt v1 \(0 B, /);
    const before = await versions('ops');
    for (const [args, msg] of [
      [['-'], /^chat: "-" uploads stdin, which needs a name: give --as NAME \(see: chat upload --help\)\n$/],
      [['-', local('stdin/other.txt', 'x'), '--as', 'x.txt'], /^chat: "-" \(stdin\) is uploaded alone: chat upload -g GROUP - --as NAME \(see: chat upload --help\)\n$/],
      [['-', '--as', 'a/b'], /^chat: cannot upload "-": file name "a\/b" is invalid/],
    ] as Array<[string[], RegExp]>) {
      const bad = await chatIn(dir, 'alice', ['upload', '-g', 'ops', ...args], 'data');
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr, args.join(' ')).toMatch(msg);
    }
    expect(await versions('ops')).toEqual(before);
  });

  it('the spool of stdin goes when the upload is interrupted (SIGINT, SIGTERM), and the process ends by the signal', async () => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const tmp = join(dir, `spool-tmp-${sig}`);
      mkdirSync(tmp);
      const o = as('alice');
      const env = { ...process.env, CHAT_SERVER: o.server, CHAT_CONFIG_DIR: o.configDir, CHAT_USER: 'alice', CHAT_PASSWORD: o.password, TMPDIR: tmp };
      const proc = spawn(process.execPath, [join(ROOT, 'bin/chat.js'), 'upload', '-g', 'ops', '-', '--as', 'never.bin'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      const exit = new Promise<string | number>((res) => proc.on('close', (code, s) => res(s ?? code ?? -1)));
      proc.stdin.write(bytes(1000, 3)); // stdin stays open: the spool is being written
      const deadline = Date.now() + 10_000;
      while (!readdirSync(tmp).some((d) => d.startsWith('chat-upload-')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(readdirSync(tmp)).toHaveLength(1);
      proc.kill(sig);
      expect(await exit).toBe(sig);
      expect(readdirSync(tmp)).toEqual([]);
    }
  });

  it('files of an empty drive: exit 0, nothing on stdout, a note on stderr unless --quiet', async () => {
    await ok('alice', ['group', 'create', 'bare']);
    expect(await chat(as('alice'), ['files', '-g', 'bare'])).toEqual({ code: 0, stdout: '', stderr: 'chat: no files in #bare (upload one: chat upload -g bare FILE)\n' });
    expect(await chat(as('alice'), ['files', '-g', 'bare', '--json', '--versions'])).toMatchObject({ code: 0, stdout: '' });
    expect(await chat(as('alice'), ['files', '-g', 'bare', '--quiet'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('a 20 MiB file: the sha256 the client sent is the server\'s (FILE_INFO), and the bytes read back are the same', async () => {
    const data = bytes(20 * 1024 * 1024 + 4321, 42);
    const path = local('big/twenty.bin', data);
    const [up] = objects(await ok('alice', ['upload', '-g', 'ops', path, '--json']));
    expect(up).toMatchObject({ group: 'ops', name: 'twenty.bin', version: 1, size: data.length, sha256: sha(data) });
    const conn = await ChatConnection.connect(parseHostPort(server.address, 'server'));
    try {
      await conn.request('LOGIN', { name: 'bob', password: 'pw-bob', ephemeral: true });
      const info = (await conn.request('FILE_INFO', { group: 'ops', name: 'twenty.bin', version: 0 })).file;
      expect(info).toMatchObject({ version: 1, size: data.length, sha256: sha(data), uploader: 'alice' });
      expect(Buffer.compare(await download(conn, 'ops', 'twenty.bin', 1, 1024 * 1024 - 64), data)).toBe(0);
    } finally {
      await conn.close();
    }
  });
});
