/**
 * Issue 4 "Done when" #2: the real chat-server is SIGKILLed mid-download and started
 * again on the same data dir and port. chat-get either rides it out by itself
 * (reconnect, log in again, same version from the bytes it has) or, when its retry
 * time is up (exit 7), a rerun resumes from the checkpoint. Both verify the sha256.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, tempDir, unusedPort, type ServerProcess } from './harness.js';
import {
  chatGet, fileSha, jsonLines, seededBytes, setUpDrive, sizeOf, spawnGet, startProxy, until, upload, type Proxy,
} from './chat-get-harness.js';

const MiB = 1024 * 1024;
const SIZE = 24 * MiB;

let server: ServerProcess | undefined;
let proxy: Proxy | undefined;

afterEach(async () => {
  await proxy?.close();
  await server?.stop();
  proxy = undefined;
  server = undefined;
});

async function setUp() {
  const port = await unusedPort();
  const dataDir = tempDir('chat-get-data-');
  server = await startServer({ dataDir, listen: `127.0.0.1:${port}` });
  const { ann, dir } = await setUpDrive(server.address);
  const file = await upload(ann, dir, 'big.bin', seededBytes(SIZE, 77));
  proxy = await startProxy(port, 4 * MiB);
  const target = join(dir, 'big.bin');
  return { port, dataDir, ann, dir, file, target, opts: { ...ann, server: proxy.address, stateDir: join(dir, 'state') } };
}

/** SIGKILL the server once the part file holds `bytes`, wait `downMs`, start it again on the same dir and port. */
async function killServerAt(part: string, bytes: number, dataDir: string, port: number, downMs: number): Promise<void> {
  await until(() => sizeOf(part) >= bytes, 30_000, `${bytes} bytes in ${part}`);
  expect(await server!.stop('SIGKILL')).toBe('SIGKILL');
  await new Promise((r) => setTimeout(r, downMs));
  server = await startServer({ dataDir, listen: `127.0.0.1:${port}` });
}

describe('chat-get across a server crash', () => {
  it('reconnects by itself and finishes the same version, verified', async () => {
    const { port, dataDir, file, target, opts, dir } = await setUp();
    const get = spawnGet({ ...opts, cwd: dir }, ['-g', 'ops', 'big.bin', '--json']);
    await killServerAt(`${target}.part`, 6 * MiB, dataDir, port, 1500);
    expect(fs.existsSync(target)).toBe(false);
    expect(await get.exit).toBe(0);
    const [r] = jsonLines(get.stdout());
    expect(r).toMatchObject({ name: 'big.bin', version: 1, size: SIZE, sha256: file.sha256, resumedFrom: 0, target });
    // The bytes in flight when the server died are fetched again; never more than the window.
    expect(Number(r.bytes)).toBeGreaterThanOrEqual(SIZE);
    expect(Number(r.bytes)).toBeLessThanOrEqual(SIZE + 4 * MiB);
    expect(get.stderr()).toMatch(/reconnecting to go on from \d+ bytes of "big\.bin"/);
    expect(get.stderr()).toMatch(/reconnected; going on from/);
    expect(fileSha(target)).toBe(file.sha256);
  }, 90_000);

  it('gives up with 7 after its retry time, keeping the progress; a rerun after the restart resumes and verifies', async () => {
    const { port, dataDir, file, target, opts, dir } = await setUp();
    const get = spawnGet({ ...opts, cwd: dir, env: { CHAT_GET_RETRY_SECONDS: '1' } }, ['-g', 'ops', 'big.bin', '--json']);
    await until(() => sizeOf(`${target}.part`) >= 6 * MiB, 30_000, 'part file');
    expect(await server!.stop('SIGKILL')).toBe('SIGKILL');
    expect(await get.exit).toBe(7);
    expect(get.stderr()).toMatch(/gave up after 1 s of retries\. \d+ of 25165824 bytes of "big\.bin" are kept: run the same command again, or chat-get --resume, to go on/);
    expect(get.stderr().trim().split('\n').filter((l) => /^chat-get: .*gave up/.test(l))).toHaveLength(1);
    expect(fs.existsSync(target)).toBe(false);
    const kept = sizeOf(`${target}.part`); // a failing run checkpoints all it wrote
    server = await startServer({ dataDir, listen: `127.0.0.1:${port}` });
    const again = await chatGet({ ...opts, cwd: dir }, ['-g', 'ops', 'big.bin', '--json']);
    expect(again.code).toBe(0);
    const [r] = jsonLines(again.stdout);
    expect(kept).toBeGreaterThanOrEqual(6 * MiB);
    expect(r).toMatchObject({ sha256: file.sha256, resumedFrom: kept, bytes: SIZE - kept });
    expect(fileSha(target)).toBe(file.sha256);
  }, 90_000);
});
