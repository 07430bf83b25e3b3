/**
 * Damaged journals through the real binaries (SPEC §8, issue 3), from the committed
 * fixtures in test/fixtures/journals (scripts/make-journal-fixtures.mjs), each copied
 * to a temp dir first: a torn tail is cut with a warning naming the segment and the
 * bytes, and the data before it is served; a flipped byte or a missing segment stops
 * `chat-server start` with exit 8 and one line naming the place.
 */
import { spawn } from 'node:child_process';
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chat, ROOT, startServer, tempDir, type ServerProcess } from './harness.js';

const SERVER_BIN = join(ROOT, 'bin/chat-server.js');
const FIXTURES = join(ROOT, 'test/fixtures/journals');
const running: ServerProcess[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop('SIGKILL');
});

function fixture(name: string): string {
  const dir = tempDir(`chat-${name}-`);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

/** Runs `chat-server start` on `dataDir` to its exit. */
function startToExit(dataDir: string): Promise<{ code: number; stderr: string }> {
  const p = spawn(process.execPath, [SERVER_BIN, 'start', '--data', dataDir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((res) => p.on('close', (code) => res({ code: code ?? -1, stderr })));
}

describe('damaged journals at start-up', () => {
  it('torn-tail: starts, warns naming the segment and the bytes cut, and serves what came before', async () => {
    const dataDir = fixture('torn-tail');
    const last = join(dataDir, 'journal', '00000000000000000030.seg');
    const s = await startServer({ dataDir });
    running.push(s);
    for (let t = 0; t < 100 && s.logs.length < 2; t++) await new Promise((r) => setTimeout(r, 20));
    expect(s.logs[0]).toMatchObject({ msg: 'listening', seq: 37 });
    expect(s.logs[1]).toMatchObject({ level: 40, msg: 'journal had a torn record at its tail; truncated it', file: 'journal/00000000000000000030.seg', offset: 827, bytes: 46 });
    expect(statSync(last).size).toBe(827);
    const ann = { server: s.address, configDir: tempDir(), user: 'ann', password: 'pw-ann' };
    const groups = await chat(ann, ['groups', '--json']);
    expect(groups.code).toBe(0);
    expect(groups.stdout).toContain('"dev"');
    expect((await chat({ ...ann, configDir: tempDir(), user: 'ben', password: 'pw-ben' }, ['whoami'])).code).toBe(0);
  });

  it('flipped-byte: exit 8, one line naming the segment file and byte offset; nothing is changed', async () => {
    const dataDir = fixture('flipped-byte');
    const sizes = readdirSync(join(dataDir, 'journal')).map((f) => statSync(join(dataDir, 'journal', f)).size);
    const r = await startToExit(dataDir);
    expect(r.code).toBe(8);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `chat-server: journal damaged: journal/00000000000000000009.seg at byte 145 (after seq 9): checksum mismatch; run: chat-server verify --data ${dataDir}`);
    expect(readdirSync(join(dataDir, 'journal')).map((f) => statSync(join(dataDir, 'journal', f)).size)).toEqual(sizes);
  });

  it('missing-segment: exit 8 naming the missing seqs and the segments around them', async () => {
    const r = await startToExit(fixture('missing-segment'));
    expect(r.code).toBe(8);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      /^chat-server: journal damaged: journal\/00000000000000000020\.seg at byte 0 \(after seq 8\): records 9\.\.19 are missing: journal\/00000000000000000001\.seg ends at seq 8 and journal\/00000000000000000020\.seg starts at seq 20 \(a segment file is missing\); run: chat-server verify --data /);
  });
});
