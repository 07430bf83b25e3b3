/**
 * `chat-server verify --data DIR` re-checks the drive's blobs (SPEC §3 "every blob"):
 * a data dir filled by a real server through the real `chat upload`, then a blob
 * removed, cut short, or with one byte flipped (each in a copy of the dir): exit 8
 * naming the blob, the file version that holds it and what to do. Also through a
 * snapshot (the state at head comes from it plus the records after), and a record that
 * does not apply to the state before it. Finally a real server writes a snapshot
 * holding the files and a restart from it lists the same files with the same digests.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobPath } from '../../src/drive/blob-store.js';
import { readJournalDir } from '../../src/journal/reader.js';
import { writeJournalFiles } from '../../src/journal/segments.js';
import { listSnapshots, readSnapshotFile, writeSnapshot } from '../../src/journal/snapshot-file.js';
import { apply } from '../../src/state/apply.js';
import { listFiles } from '../../src/state/queries.js';
import { captureSnapshot } from '../../src/state/snapshot.js';
import { createState, type Op } from '../../src/state/types.js';
import { chat, ROOT, startServer, tempDir, type ChatOptions, type ServerProcess } from './harness.js';

const SERVER_BIN = join(ROOT, 'bin/chat-server.js');

interface Run { code: number; stdout: string; stderr: string }

function chatServer(args: string[]): Promise<Run> {
  const p = spawn(process.execPath, [SERVER_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHAT_SERVER: '' } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((res) => p.on('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let server: ServerProcess;
let dataDir: string;
const files = {
  // report.pdf v1 and notes.txt hold the same bytes: one blob, two references.
  shared: randomBytes(300_000),
  report2: randomBytes(2_500_000), // several read pieces of verify's 1 MiB buffer
  empty: Buffer.alloc(0),
};

beforeAll(async () => {
  server = await startServer();
  dataDir = server.dataDir;
  const as: ChatOptions = { server: server.address, configDir: join(dataDir, 'cfg-ann'), user: 'ann', password: 'pw-ann-1' };
  const src = tempDir('chat-upload-src-');
  const put = (name: string, data: Buffer): string => { mkdirSync(join(src, name), { recursive: true }); const p = join(src, name, name); writeFileSync(p, data); return p; };
  const run = async (args: string[]): Promise<void> => {
    const r = await chat(as, args);
    expect(r.code, `chat ${args.join(' ')}: ${r.stderr}`).toBe(0);
  };
  await run(['register']);
  await run(['group', 'create', 'dev']);
  await run(['upload', '-g', 'dev', put('report.pdf', files.shared)]);
  await run(['upload', '-g', 'dev', put('notes.txt', files.shared)]);
  await run(['upload', '-g', 'dev', join(src, 'report.pdf', 'report.pdf'), '--as', 'other.bin']);
  await run(['rm', '-g', 'dev', 'other.bin']);
  writeFileSync(join(src, 'report.pdf', 'report.pdf'), files.report2);
  await run(['upload', '-g', 'dev', join(src, 'report.pdf', 'report.pdf')]);
  await run(['upload', '-g', 'dev', put('empty', files.empty)]);
  expect(await server.stop()).toBe(0);
}, 60_000);
afterAll(async () => { await server?.stop('SIGKILL'); });

/** A copy of the server's data dir to damage. */
function copy(): string {
  const dir = tempDir('chat-verify-drive-');
  cpSync(dataDir, dir, { recursive: true });
  return dir;
}

describe('chat-server verify checks the drive blobs', () => {
  it('a good data dir: exit 0, every distinct referenced blob checked once', async () => {
    const r = await chatServer(['verify', '--data', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    const bytes = files.shared.length + files.report2.length;
    expect(r.stdout).toMatch(new RegExp(`, 3 blobs \\(${bytes} bytes\\) checked\\n$`));
    const j = JSON.parse((await chatServer(['verify', '--data', dataDir, '--json'])).stdout);
    expect(j).toMatchObject({ ok: true, blobs: 3, blobBytes: bytes });
  });

  const damages: Array<[string, (path: string) => void, RegExp]> = [
    ['missing', (p) => rmSync(p), /: missing;/],
    ['cut short', (p) => truncateSync(p, files.report2.length - 1), new RegExp(`: ${files.report2.length - 1} bytes, the journal says ${files.report2.length};`)],
    ['a flipped byte', (p) => {
      const b = readFileSync(p);
      b[1_500_000] ^= 0x40;
      writeFileSync(p, b);
    }, /: content does not match its name \(its sha256 is [0-9a-f]{64}\);/],
  ];
  for (const [what, damage, reason] of damages) {
    it(`a blob ${what}: exit 8 naming it, the version that holds it and what to do`, async () => {
      const dir = copy();
      const blob = `blobs/${sha(files.report2).slice(0, 2)}/${sha(files.report2)}`;
      damage(join(dir, blob));
      const r = await chatServer(['verify', '--data', dir]);
      expect(r.code).toBe(8);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`chat-server: blob damaged: ${blob}`);
      expect(lines[0]).toMatch(reason);
      expect(lines[0]).toContain('it holds "report.pdf" version 2 in group "dev"');
      expect(lines[0]).toMatch(/version 2 in group "dev" \(put back a good copy at (.*) from a backup or a replica: any file whose sha256 is its name; or remove the version holding it: chat rm -g dev report.pdf@2\)$/);
      expect(lines[0]).toContain(` at ${join(dir, blob)} from`);
    });
  }

  it('names every reference count of a shared blob', async () => {
    const dir = copy();
    rmSync(blobPath(dir, sha(files.shared)));
    const r = await chatServer(['verify', '--data', dir]);
    expect(r.code).toBe(8);
    // notes.txt sorts before report.pdf: the first reference named, the other counted.
    expect(r.stderr).toContain('it holds "notes.txt" version 1 in group "dev" and 1 more version (put back');
    expect(r.stderr).toMatch(/or remove the versions holding it: chat rm -g dev notes.txt@1 …\)\n$/);
  });

  it('a blob nothing references (an orphan the next start sweeps) is not damage', async () => {
    const dir = copy();
    const stray = blobPath(dir, 'ab'.repeat(32));
    mkdirSync(dirname(stray), { recursive: true });
    writeFileSync(stray, 'stray');
    const r = await chatServer(['verify', '--data', dir]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('through a snapshot: the state at head is the snapshot plus the records after it', async () => {
    const dir = copy();
    const j = readJournalDir(dir);
    const state = createState();
    for (const op of j.ops) apply(state, op);
    await writeSnapshot(dir, captureSnapshot(state), { journalId: j.journalId, journalDigest: j.journalDigest });
    const ok = await chatServer(['verify', '--data', dir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/1 snapshot checked, 3 blobs/);
    truncateSync(blobPath(dir, sha(files.shared)), 10);
    const bad = await chatServer(['verify', '--data', dir]);
    expect(bad.code).toBe(8);
    expect(bad.stderr).toContain(': 10 bytes, the journal says 300000; it holds "notes.txt" version 1');
  });

  it('a record that does not apply to the state before it: exit 8 naming its seq and segment', async () => {
    const dir = tempDir('chat-verify-apply-');
    mkdirSync(join(dir, 'journal'));
    const ops = [
      { type: 'user.create', name: 'ann', passwordHash: 'h', displayName: 'Ann', admin: false },
      { type: 'file.put', group: 'nope', name: 'x', size: 1, sha256: 'a'.repeat(64), uploader: 'ann' },
    ].map((d, i) => ({ ...d, seq: i + 1, ts: 1000 + i }) as Op);
    writeJournalFiles(join(dir, 'journal'), Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), ops, 1 << 20);
    const r = await chatServer(['verify', '--data', dir]);
    expect(r.code).toBe(8);
    expect(r.stderr).toBe('chat-server: journal damaged: record seq 2 (file.put) in journal/00000000000000000001.seg does not apply to the state before it: '
      + `op 2 (file.put) cannot be applied: no group "nope" (restore ${dir} from a backup, or from a replica, before starting the server on it; see docs/OPERATIONS.md)\n`);
  });
});

describe('a server snapshot holds the drive', () => {
  it('written by the server, restored at restart: same files, same digests, verify passes', async () => {
    const dir = copy();
    const srv = await startServer({ dataDir: dir, args: ['--snapshot-records', '1'] });
    const as: ChatOptions = { server: srv.address, configDir: join(dataDir, 'cfg-ann'), user: 'ann', password: 'pw-ann-1' };
    const src = join(tempDir('chat-upload-src-'), 'late.bin');
    writeFileSync(src, randomBytes(5000));
    let r = await chat(as, ['upload', '-g', 'dev', src]);
    expect(r.code, r.stderr).toBe(0);
    // The snapshot of the upload's seq is written in the background after it is durable.
    const status = JSON.parse((await chatServer(['status', '--server', srv.address, '--json'])).stdout);
    for (let i = 0; i < 200 && !(await listSnapshots(dir)).some((x) => x.seq === status.headSeq); i++) await new Promise((res) => setTimeout(res, 50));
    const snaps = await listSnapshots(dir);
    expect(snaps.at(-1)?.seq).toBe(status.headSeq);
    const listing = (await chat(as, ['files', '-g', 'dev', '--versions', '--json'])).stdout;
    expect(await srv.stop()).toBe(0);

    const snap = await readSnapshotFile(snaps.at(-1)!.path);
    expect(snap.stateDigest).toBe(status.stateDigest);
    expect(listFiles(snap.state, 'dev', true).map((f) => `${f.name}@${f.version}`))
      .toEqual(['empty@1', 'late.bin@1', 'notes.txt@1', 'report.pdf@1', 'report.pdf@2']);

    const again = await startServer({ dataDir: dir });
    try {
      const after = JSON.parse((await chatServer(['status', '--server', again.address, '--json'])).stdout);
      expect(pick(after)).toEqual(pick(status));
      r = await chat({ ...as, server: again.address }, ['files', '-g', 'dev', '--versions', '--json']);
      expect(r.stdout).toBe(listing);
    } finally {
      expect(await again.stop()).toBe(0);
    }
    const v = await chatServer(['verify', '--data', dir]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/snapshots? checked, 4 blobs/);
  });
});

const pick = (o: Record<string, unknown>) => ({ headSeq: o.headSeq, journalDigest: o.journalDigest, stateDigest: o.stateDigest });
