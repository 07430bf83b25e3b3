/**
 * Issue 4 "Done when" #1: SIGKILL the real chat-get at many seeded random moments
 * while it fetches a 32 MiB file (slowed by a throttling proxy in front of the real
 * server), rerun it each time, and check what SPEC §6 promises:
 *  - the final file's sha256 is the source's;
 *  - the target name never exists before the file is complete (polled while each
 *    run goes, and checked after each kill);
 *  - after each kill, the checkpoint the rerun resumes from is within one CHUNK of
 *    the bytes that were in the part file, each rerun reports exactly that point
 *    (stderr "resuming … (N of …)", and resumedFrom in the final --json), and the
 *    bytes the server sent past it ("sent twice") stay under one CHUNK.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK } from '../../src/client/download/download.js';
import { entryDir, parseLog } from '../../src/client/download/resume-log.js';
import { startServer, type ServerProcess } from './harness.js';
import {
  fileSha, jsonLines, prng, seededBytes, setUpDrive, sizeOf, spawnGet, startProxy, upload, type Proxy,
} from './chat-get-harness.js';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const RATE = 3 * MiB; // bytes/s through the proxy: a whole run takes ~11 s
const KILLS = 14;
/** Frame headers and the HELLO/LOGIN/FILE_INFO replies a run also receives. */
const OVERHEAD = 64 * 1024;

let server: ServerProcess;
let proxy: Proxy;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

function checkpointOf(state: string, target: string): number {
  const file = join(entryDir(state, target), 'log');
  return fs.existsSync(file) ? parseLog(fs.readFileSync(file)).checkpoint : 0;
}

describe('chat-get killed at random moments', () => {
  it(`finishes a ${SIZE / MiB} MiB file after ${KILLS} SIGKILLs, resending at most one chunk per kill`, async () => {
    const { ann, dir } = await setUpDrive(server.address);
    const source = seededBytes(SIZE, 4242);
    const file = await upload(ann, dir, 'big.bin', source);
    proxy = await startProxy(Number(server.address.split(':')[1]), RATE);
    const out = join(dir, 'out');
    fs.mkdirSync(out);
    const target = join(out, 'big.bin');
    const part = `${target}.part`;
    const state = join(dir, 'state');
    const opts = { ...ann, server: proxy.address, stateDir: state };
    const random = prng(20261122);

    const report: Array<{ run: number; killedAfterMs: number; partAtKill: number; checkpoint: number; received: number; sentTwice: number }> = [];
    let prevCheckpoint = 0;
    let final: Record<string, unknown> | undefined;
    let sawIncompleteTarget = false;
    let renamedBeforeKill = false;
    for (let run = 0; run <= KILLS && !final; run++) {
      proxy.reset();
      const get = spawnGet(opts, ['-g', 'ops', 'big.bin', '-o', `${out}/`, '--json']);
      const poll = setInterval(() => {
        const s = sizeOf(target);
        if (s !== -1 && s !== SIZE) sawIncompleteTarget = true;
      }, 5);
      const killAfter = Math.round(50 + random() * 1150);
      const timer = run < KILLS ? setTimeout(() => get.proc.kill('SIGKILL'), killAfter) : undefined;
      const code = await get.exit;
      clearTimeout(timer);
      clearInterval(poll);

      // What this run said about where it started: the previous kill's checkpoint.
      const said = /resuming "big\.bin" v1 from .* \((\d+) of \d+ bytes\)/.exec(get.stderr());
      if (said) expect(Number(said[1])).toBe(prevCheckpoint);
      expect(get.stderr()).not.toMatch(/over/); // never "starting … over": every kill left a usable log
      if (code === 0) {
        final = jsonLines(get.stdout())[0];
        break;
      }
      expect(code).toBe('SIGKILL');
      const partAtKill = Math.max(0, sizeOf(part));
      if (sizeOf(target) !== -1) {
        // Killed between the rename and the log's removal: the file is complete.
        expect(fileSha(target)).toBe(file.sha256);
        renamedBeforeKill = true;
      }
      const checkpoint = checkpointOf(state, target);
      expect(checkpoint).toBeGreaterThanOrEqual(prevCheckpoint);
      if (sizeOf(part) !== -1) {
        expect(checkpoint).toBeLessThanOrEqual(partAtKill);
        expect(partAtKill - checkpoint).toBeLessThanOrEqual(CHUNK);
      }
      const sentTwice = Math.max(0, proxy.down - (checkpoint - prevCheckpoint));
      expect(sentTwice).toBeLessThanOrEqual(CHUNK + OVERHEAD);
      report.push({ run, killedAfterMs: killAfter, partAtKill, checkpoint, received: proxy.down, sentTwice });
      prevCheckpoint = checkpoint;
    }

    console.log(`chat-get kill test (CHUNK ${CHUNK} bytes):\n${report.map((r) => JSON.stringify(r)).join('\n')}\nfinal: ${JSON.stringify(final)}`);
    expect(final).toBeDefined();
    expect(report.length).toBeGreaterThanOrEqual(10);
    expect(report.filter((r) => r.checkpoint > 0 && r.checkpoint < SIZE).length).toBeGreaterThanOrEqual(5);
    const from = renamedBeforeKill ? SIZE : prevCheckpoint;
    expect(final).toMatchObject({ name: 'big.bin', version: 1, size: SIZE, sha256: file.sha256, resumedFrom: from, target });
    expect(Number(final!.bytes)).toBe(SIZE - from);
    expect(fileSha(target)).toBe(file.sha256);
    expect(sawIncompleteTarget).toBe(false);
    expect(fs.existsSync(part)).toBe(false);
    expect(fs.readdirSync(join(state, 'downloads'))).toEqual([]);
  }, 180_000);
});
