/**
 * `chat-server verify` and `chat-server status` through the real binary (SPEC §3,
 * issue 3 "Tools"): the committed damaged-journal fixtures (copied to temp dirs
 * first), a damaged snapshot, a journal whose covered segments were removed, exit
 * codes, and the digests: `status --data` equals
 * `status --server` on one running server; two servers fed the same records (a copy,
 * and a journal rebuilt from the same ops under another journal id) report the same
 * digests.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readJournalDir } from '../../src/journal/reader.js';
import { writeJournalFiles } from '../../src/journal/segments.js';
import { listSnapshots, writeSnapshot } from '../../src/journal/snapshot-file.js';
import { apply } from '../../src/state/apply.js';
import { captureSnapshot } from '../../src/state/snapshot.js';
import { createState } from '../../src/state/types.js';
import { chat, ROOT, startServer, tempDir, unusedPort, type ServerProcess } from './harness.js';

const SERVER_BIN = join(ROOT, 'bin/chat-server.js');
const FIXTURES = join(ROOT, 'test/fixtures/journals');
const running: ServerProcess[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop('SIGKILL');
});

interface Run { code: number; stdout: string; stderr: string }

/** Runs `chat-server ARGS…` to its exit. */
function chatServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const p = spawn(process.execPath, [SERVER_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHAT_SERVER: '', ...env } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((res) => p.on('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

function fixture(name: string): string {
  const dir = tempDir(`chat-${name}-`);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function statusJson(args: string[]): Promise<Record<string, unknown>> {
  const r = await chatServer(['status', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

const DIGEST_FIELDS = ['headSeq', 'users', 'groups', 'messages', 'journalDigest', 'stateDigest'] as const;
const pick = (o: Record<string, unknown>, keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, o[k]]));

/** Writes a snapshot of `dir`'s journal state at its head, the way the server does. */
async function snapshotOf(dir: string): Promise<string> {
  const j = readJournalDir(dir);
  const state = createState();
  for (const op of j.ops) apply(state, op);
  const { path } = await writeSnapshot(dir, captureSnapshot(state), { journalId: j.journalId, journalDigest: j.journalDigest });
  return path;
}

describe('chat-server verify on the fixtures', () => {
  it('good: exit 0, one summary line with segments, records, head seq and journalDigest', async () => {
    const dir = fixture('good');
    const r = await chatServer(['verify', '--data', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^verified ${dir}: 4 segments, 38 records, head seq 38, journalDigest [0-9a-f]{64}, 0 snapshots checked, 0 blobs \\(0 bytes\\) checked\\n$`));
    const j = JSON.parse((await chatServer(['verify', '--data', dir, '--json'])).stdout);
    expect(j).toMatchObject({ ok: true, segments: 4, records: 38, headSeq: 38, journalId: '0123456789abcdef0123456789abcdef', snapshots: 0, blobs: 0, blobBytes: 0, warnings: [] });
    expect(r.stdout).toContain(j.journalDigest);
  });

  it('flipped-byte: exit 8 naming the same segment, offset and seq as the refused start-up', async () => {
    const dir = fixture('flipped-byte');
    const v = await chatServer(['verify', '--data', dir]);
    const s = await chatServer(['start', '--data', dir, '--listen', '127.0.0.1:0']);
    expect(v.code).toBe(8);
    expect(s.code).toBe(8);
    expect(v.stdout).toBe('');
    const line = v.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    const place = 'chat-server: journal damaged: journal/00000000000000000009.seg at byte 145 (after seq 9): checksum mismatch';
    expect(line).toBe(`${place} (restore ${dir} from a backup, or from a replica, before starting the server on it; see docs/OPERATIONS.md)`);
    expect(s.stderr.trim().split('\n').at(-1)).toBe(`${place}; run: chat-server verify --data ${dir}`);
  });

  it('missing-segment: exit 8 naming the missing records', async () => {
    const dir = fixture('missing-segment');
    const v = { ...(await chatServer(['verify', '--data', dir])), dir };
    expect(v.code).toBe(8);
    expect(v.stderr.trim()).toBe('chat-server: journal damaged: journal/00000000000000000020.seg at byte 0 (after seq 8): records 9..19 are missing: '
      + 'journal/00000000000000000001.seg ends at seq 8 and journal/00000000000000000020.seg starts at seq 20 (a segment file is missing) (restore '
      + `${v.dir} from a backup, or from a replica, before starting the server on it; see docs/OPERATIONS.md)`);
  });

  it('torn-tail: exit 0 with a warning that the server cuts the torn bytes; nothing is changed', async () => {
    const dir = fixture('torn-tail');
    const last = join(dir, 'journal', '00000000000000000030.seg');
    const before = readFileSync(last);
    const v = await chatServer(['verify', '--data', dir]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^verified .*: 4 segments, 37 records, head seq 37, /);
    expect(v.stderr).toBe('chat-server: warning: journal/00000000000000000030.seg ends with a torn record at byte 827 (46 bytes); the server cuts it at start\n');
    expect(readFileSync(last).equals(before)).toBe(true);
  });

  it('snapshots: a good one is checked (and used by status --data); a damaged one is exit 8 naming the file', async () => {
    const dir = fixture('good');
    const plain = await statusJson(['--data', dir]);
    const path = await snapshotOf(dir);
    const ok = await chatServer(['verify', '--data', dir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/, 1 snapshot checked, 0 blobs \(0 bytes\) checked\n$/);
    expect(pick(await statusJson(['--data', dir]), DIGEST_FIELDS)).toEqual(pick(plain, DIGEST_FIELDS));

    const bytes = readFileSync(path);
    const at = bytes.indexOf('"t":"user"');
    bytes[at + 2] ^= 0x01; // inside the image: the trailer's sha256 no longer matches
    writeFileSync(path, bytes);
    const bad = await chatServer(['verify', '--data', dir]);
    expect(bad.code).toBe(8);
    expect(bad.stderr).toBe(`chat-server: snapshot damaged: snapshots/${path.split('/').at(-1)}: checksum mismatch: the file was changed after it was written (the server skips it and starts from an older snapshot or the journal; move it aside)\n`);
    // status --data skips it like start-up does, says so, and still reports the journal's numbers.
    const s = await chatServer(['status', '--data', dir, '--json']);
    expect(s.code).toBe(0);
    expect(s.stderr).toMatch(/^chat-server: note: snapshot .* is damaged: checksum mismatch/);
    expect(pick(JSON.parse(s.stdout), DIGEST_FIELDS)).toEqual(pick(plain, DIGEST_FIELDS));
  });

  it('a snapshot whose journalDigest disagrees with the journal at its seq is exit 8', async () => {
    const dir = fixture('good');
    const j = readJournalDir(dir);
    const state = createState();
    for (const op of j.ops.slice(0, 20)) apply(state, op);
    // A well-formed snapshot at seq 20 that claims the head's digest: not this journal's history.
    await writeSnapshot(dir, captureSnapshot(state), { journalId: j.journalId, journalDigest: j.journalDigest });
    expect((await listSnapshots(dir)).map((s) => s.seq)).toEqual([20]);
    const v = await chatServer(['verify', '--data', dir]);
    expect(v.code).toBe(8);
    expect(v.stderr).toMatch(/^chat-server: journal damaged: journal\/00000000000000000020\.seg at byte \d+ \(after seq 19\): the snapshot's journalDigest at seq 20 does not match the journal's \(restore .* from a backup, or from a replica, before starting the server on it; see docs\/OPERATIONS.md\)\n$/);
  });

  it('no such dir, or a dir without a journal: exit 4 with one line', async () => {
    const empty = tempDir();
    const a = await chatServer(['verify', '--data', join(empty, 'nope')]);
    expect(a.code).toBe(4);
    expect(a.stderr).toBe(`chat-server: data directory ${join(empty, 'nope')} does not exist (check --data)\n`);
    const b = await chatServer(['verify', '--data', empty]);
    expect(b.code).toBe(4);
    expect(b.stderr).toMatch(/^chat-server: no journal in .*check --data\)\n$/);
    expect((await chatServer(['verify'])).code).toBe(2);
  });

  it('--data naming a file: verify and status exit 4, start exits 2, each with one line and no stack trace', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a data dir');
    for (const cmd of ['verify', 'status']) {
      const r = await chatServer([cmd, '--data', file]);
      expect([r.code, r.stderr]).toEqual([4, `chat-server: data directory ${file} is not a directory (check --data)\n`]);
    }
    const s = await chatServer(['start', '--data', file, '--listen', '127.0.0.1:0']);
    expect([s.code, s.stderr]).toEqual([2, `chat-server: data directory ${file} is not a directory (check --data)\n`]);
  });
});

describe('chat-server status', () => {
  it('usage: exactly one of --data and --server (2); --max-lag takes seconds and checks nothing yet', async () => {
    const dir = fixture('good');
    const neither = await chatServer(['status']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/^chat-server: give --data DIR .* or --server HOST:PORT .*\n$/);
    expect((await chatServer(['status', '--data', dir, '--server', '127.0.0.1:1'])).code).toBe(2);
    expect((await chatServer(['status', '--data', dir, '--max-lag', 'soon'])).code).toBe(2);
    const lag = await chatServer(['status', '--data', dir, '--max-lag', '5']);
    expect(lag.code).toBe(0);
    expect(lag.stdout).toMatch(/^replicas: none$/m);
  });

  it('--data: human lines and JSON; missing dir 4, damaged journal 8 naming the place, unreachable server 7', async () => {
    const dir = fixture('good');
    const human = await chatServer(['status', '--data', dir]);
    expect(human.code).toBe(0);
    const j = await statusJson(['--data', dir]);
    expect(j).toEqual({
      role: 'primary', journalId: '0123456789abcdef0123456789abcdef', headSeq: 38, users: 3, groups: 1, messages: 32, connections: null,
      journalDigest: expect.stringMatching(/^[0-9a-f]{64}$/), stateDigest: expect.stringMatching(/^[0-9a-f]{64}$/), replicas: [], lock: null,
    });
    expect(human.stdout).toBe([
      'role: primary', 'journalId: 0123456789abcdef0123456789abcdef', 'headSeq: 38', 'users: 3', 'groups: 1', 'messages: 32',
      'connections: unknown (read offline)', `journalDigest: ${j.journalDigest}`, `stateDigest: ${j.stateDigest}`, 'replicas: none',
      `lock: free (no process holds ${dir})`, '',
    ].join('\n'));
    expect((await chatServer(['status', '--data', join(dir, 'nope')])).code).toBe(4);
    const bad = await chatServer(['status', '--data', fixture('flipped-byte')]);
    expect(bad.code).toBe(8);
    expect(bad.stderr).toMatch(/^chat-server: journal damaged: journal\/00000000000000000009\.seg at byte 145 \(after seq 9\): checksum mismatch; run: chat-server verify --data /);
    const down = await chatServer(['status', '--server', `127.0.0.1:${await unusedPort()}`]);
    expect(down.code).toBe(7);
    expect(down.stderr).toMatch(/^chat-server: cannot reach chat server at 127\.0\.0\.1:\d+ /);
  });

  it('--data beside a running server equals --server on it (head, counts, digests); the lock holder is named', async () => {
    const s = await startServer({ dataDir: fixture('good') });
    running.push(s);
    const ann = { server: s.address, configDir: tempDir(), user: 'ann', password: 'pw-ann' };
    expect((await chat(ann, ['send', '-g', 'dev', 'one more'])).code).toBe(0);
    expect((await chat(ann, ['group', 'create', 'ops'])).code).toBe(0);
    const live = await statusJson(['--server', s.address]);
    const offline = await statusJson(['--data', s.dataDir]);
    expect(live).toMatchObject({ role: 'primary', users: 3, groups: 2, messages: 33, connections: 0, replicas: [] });
    expect(live.uptimeMs).toEqual(expect.any(Number));
    expect(pick(offline, ['journalId', ...DIGEST_FIELDS])).toEqual(pick(live, ['journalId', ...DIGEST_FIELDS]));
    expect(offline.lock).toMatchObject({ holder: 'chat-server start', pid: s.proc.pid, live: true });
    const human = await chatServer(['status', '--data', s.dataDir]);
    expect(human.stdout).toMatch(new RegExp(`^lock: held by chat-server start \\(pid ${s.proc.pid} on .*, since .*\\)$`, 'm'));
    // verify runs beside it too, read-only.
    const v = await chatServer(['verify', '--data', s.dataDir]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`head seq ${live.headSeq}, journalDigest ${live.journalDigest}`);
    // CHAT_SERVER stands for --server.
    const viaEnv = await chatServer(['status', '--json'], { CHAT_SERVER: s.address });
    expect(pick(JSON.parse(viaEnv.stdout), DIGEST_FIELDS)).toEqual(pick(live, DIGEST_FIELDS));
  });
});

describe('status and verify over snapshots and removed segments', () => {
  it('--journal-retention covered: status --data starts from the snapshot and equals --server; verify checks the snapshots', async () => {
    const s = await startServer({ args: ['--snapshot-records', '40', '--segment-bytes', '4096', '--journal-retention', 'covered'] });
    running.push(s);
    const ann = { server: s.address, configDir: tempDir(), user: 'ann', password: 'pw-ann' };
    expect((await chat(ann, ['register'])).code).toBe(0);
    expect((await chat(ann, ['group', 'create', 'dev'])).code).toBe(0);
    const lines = Array.from({ length: 60 }, (_, i) => `line ${i}`).join('\n');
    for (let i = 0; i < 4; i++) expect((await chat({ ...ann, input: lines }, ['send', '-g', 'dev', '--lines'])).code).toBe(0);
    const live = await statusJson(['--server', s.address]);
    expect(live).toMatchObject({ users: 1, groups: 1, messages: 240 });
    expect((await listSnapshots(s.dataDir)).length).toBeGreaterThan(0);
    expect(() => readJournalDir(s.dataDir)).toThrow(/are missing/); // seq 1.. is gone: only a snapshot explains it
    expect(pick(await statusJson(['--data', s.dataDir]), ['journalId', ...DIGEST_FIELDS])).toEqual(pick(live, ['journalId', ...DIGEST_FIELDS]));
    const v = await chatServer(['verify', '--data', s.dataDir, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, headSeq: live.headSeq, journalDigest: live.journalDigest, snapshots: expect.any(Number) });
    expect(JSON.parse(v.stdout).snapshots).toBeGreaterThan(0);
    expect(await s.stop()).toBe(0);
    expect(pick(await statusJson(['--data', s.dataDir]), DIGEST_FIELDS)).toEqual(pick(live, DIGEST_FIELDS));
  });
});

describe('two servers fed the same records report the same digests', () => {
  it('a copy of the data dir, and the same ops written as another journal (new id, other segment sizes)', async () => {
    const first = await startServer({ dataDir: fixture('good') });
    running.push(first);
    const ann = { server: first.address, configDir: tempDir(), user: 'ann', password: 'pw-ann' };
    for (let i = 0; i < 5; i++) expect((await chat(ann, ['send', '-g', 'dev', `live ${i}`])).code).toBe(0);
    expect((await chat(ann, ['send', '--to', 'ben', 'psst'])).code).toBe(0);
    const a = await statusJson(['--server', first.address]);
    await first.stop();

    // 1. A byte copy (without DIR/LOCK, which a stopped server has removed anyway).
    const copy = tempDir('chat-copy-');
    cpSync(first.dataDir, copy, { recursive: true, filter: (src) => !src.endsWith('/LOCK') });
    // 2. The same ops re-framed into a new journal: another id, segments of ~2 KiB.
    const ops = readJournalDir(first.dataDir).ops;
    const rebuilt = tempDir('chat-rebuilt-');
    mkdirSync(join(rebuilt, 'journal'));
    writeJournalFiles(join(rebuilt, 'journal'), randomBytes(16), ops, 2048);

    const second = await startServer({ dataDir: copy });
    const third = await startServer({ dataDir: rebuilt });
    running.push(second, third);
    const b = await statusJson(['--server', second.address]);
    const c = await statusJson(['--server', third.address]);
    expect(a.headSeq).toBe(38 + 6); // the fixture's 38 records + the 6 sends (password logins journal nothing)
    expect(pick(b, ['journalId', ...DIGEST_FIELDS])).toEqual(pick(a, ['journalId', ...DIGEST_FIELDS]));
    expect(pick(c, DIGEST_FIELDS)).toEqual(pick(a, DIGEST_FIELDS));
    expect(c.journalId).not.toBe(a.journalId);
    // The same numbers offline, from both data dirs while their servers run.
    expect(pick(await statusJson(['--data', rebuilt]), DIGEST_FIELDS)).toEqual(pick(a, DIGEST_FIELDS));
    // And one record more on one of them is told apart.
    const ben = { server: third.address, configDir: tempDir(), user: 'ben', password: 'pw-ben' };
    expect((await chat(ben, ['send', '-g', 'dev', 'diverge'])).code).toBe(0);
    const d = await statusJson(['--server', third.address]);
    expect(d.journalDigest).not.toBe(a.journalDigest);
    expect(d.stateDigest).not.toBe(a.stateDigest);
  });
});
