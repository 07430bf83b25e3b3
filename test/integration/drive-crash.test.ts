/**
 * The drive's crash test (issue 4, SPEC §4 "Drive", §8): three clients upload files
 * (new names, new versions, content shared between them and empty files) and remove
 * versions through the real client connection, while the real `chat-server` binary is
 * SIGKILLed at random moments and started again on the same data dir, ROUNDS times.
 * Then, on a server that stays up:
 *   - every version whose UPLOAD_END was answered is listed with its size and sha256,
 *     unless a removal of it was answered (then it is gone) or cut off (either way);
 *   - every version listed holds bytes whose sha256 is the one listed and that some
 *     upload under that name sent (a cut upload may or may not have been stored);
 *   - no temp file is left, and the blob directory holds exactly the listed contents
 *     (no orphan, none missing); no start logged a missing blob;
 *   - after a clean stop, `chat-server verify` passes.
 * Checked against a server that journalled file.put before placing its blob (a
 * download then failed on a missing blob) and one whose start-up kept orphans.
 * Random choices come from one seed (DRIVE_CRASH_SEED=… replays the kill delays and
 * the choices; the interleaving of clients only roughly). Bounded: ROUNDS kills, at
 * most BUDGET operations per client and round, files of at most MAX_SIZE bytes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatConnection } from '../../src/client/connection.js';
import type { ChatError } from '../../src/common/errors.js';
import type { Payload } from '../../src/protocol/codec.js';
import { ROOT, startServer, tempDir, type ServerProcess } from './harness.js';
import { blobFiles, download, tmpFiles } from './drive-helpers.js';
import { prng } from './prng.js';

const ROUNDS = 10;
const BUDGET = 60;
const MAX_SIZE = 500_000;
const NAMES = ['u0', 'u1', 'u2'];
const SEED = Number(process.env.DRIVE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

const running: ServerProcess[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop('SIGKILL');
});


const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const isNetwork = (err: unknown) => (err as ChatError).code === 'CHAT_ERR_NETWORK';

/** Content from a seed: the same seed is the same bytes (so clients share some). */
function content(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const r = prng(seed);
  for (let i = 0; i + 4 <= size; i += 4) out.writeUInt32LE(Math.floor(r() * 2 ** 32), i);
  for (let i = size - (size % 4); i < size; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** What the clients know from answers only. */
class World {
  /** `${name}@${version}` → sha256, from answered UPLOAD_ENDs. */
  readonly acked = new Map<string, { sha256: string; size: number }>();
  /** Versions whose FILE_RM was answered. */
  readonly removed = new Set<string>();
  /** Versions whose FILE_RM was sent and cut off: there or not. */
  readonly maybeRemoved = new Set<string>();
  /** Every sha256 an upload under a name sent, answered or not. */
  readonly tried = new Map<string, Set<string>>();
}

class Client {
  private conn: ChatConnection | undefined;

  constructor(readonly name: string, private readonly world: World, private readonly rng: () => number) {}

  async round(port: number, budget: number): Promise<void> {
    try {
      this.conn = await ChatConnection.connect({ host: '127.0.0.1', port, retryDelaysMs: [50, 100, 200, 400] });
      await this.conn.request('LOGIN', { name: this.name, password: `pw-${this.name}` });
      for (let i = 0; i < budget && !this.conn.isClosed; i++) await this.step();
      if (!this.conn.isClosed) await new Promise((r) => this.conn!.once('close', r)); // wait for the kill
    } catch (err) {
      if (!isNetwork(err)) throw new Error(`seed ${SEED}: ${this.name}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** One upload or removal; an answer is recorded, a cut-off one only as possible. */
  private async step(): Promise<void> {
    const c = this.conn!;
    const mine = [...this.world.acked.keys()].filter((k) => k.startsWith(`${this.name}-`)
      && !this.world.removed.has(k) && !this.world.maybeRemoved.has(k));
    if (this.rng() < 0.2 && mine.length > 0) {
      const key = mine[Math.floor(this.rng() * mine.length)]!;
      const at = key.lastIndexOf('@');
      this.world.maybeRemoved.add(key);
      await c.request('FILE_RM', { group: 'ops', name: key.slice(0, at), version: Number(key.slice(at + 1)) });
      this.world.maybeRemoved.delete(key);
      this.world.removed.add(key);
      return;
    }
    const name = `${this.name}-f${Math.floor(this.rng() * 4)}`;
    // A quarter of the uploads use one of 3 shared contents (blobs stored once, one
    // content named by several versions and clients); some files are empty.
    const r = this.rng();
    const size = r < 0.05 ? 0 : Math.floor(this.rng() * MAX_SIZE);
    const data = r < 0.3 ? content(1000 + Math.floor(this.rng() * 3), 300_000) : content(Math.floor(this.rng() * 2 ** 31), size);
    const digest = sha(data);
    let tried = this.world.tried.get(name);
    if (!tried) this.world.tried.set(name, (tried = new Set()));
    tried.add(digest);
    const begin = await c.request('UPLOAD_BEGIN', { group: 'ops', name, size: data.length });
    const step = begin.chunkSize as number;
    // The chunks pipelined, several in flight, as chat upload sends them.
    const sends: Array<Promise<unknown>> = [];
    for (let off = 0; off < data.length; off += step) {
      sends.push(c.request('UPLOAD_CHUNK', { uploadId: begin.uploadId, offset: off, data: data.subarray(off, off + step) }));
    }
    await Promise.all(sends);
    const end = await c.request('UPLOAD_END', { uploadId: begin.uploadId, sha256: digest });
    const f = end.file as Payload;
    expect(f, `seed ${SEED}`).toMatchObject({ name, size: data.length, sha256: digest });
    this.world.acked.set(`${name}@${f.version as number}`, { sha256: digest, size: data.length });
  }
}

function chatServer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [join(ROOT, 'bin/chat-server.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((res) => p.on('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

describe('drive crash test: SIGKILL at random moments during uploads and removals', () => {
  it(`loses no acknowledged version, serves only whole ones, leaves no temp file or orphan (seed ${SEED})`, async () => {
    const rng = prng(SEED);
    const dataDir = tempDir('chat-drive-crash-');
    const world = new World();
    const clients = NAMES.map((n, i) => new Client(n, world, prng(SEED + i + 1)));
    const start = async (port = 0) => {
      const s = await startServer({ dataDir, listen: `127.0.0.1:${port}`, args: ['--snapshot-records', '30', '--segment-bytes', '16384'] });
      running.push(s);
      return s;
    };
    let server = await start();
    const port = Number(server.address.split(':').at(-1));
    for (const name of NAMES) {
      const c = await ChatConnection.connect({ host: '127.0.0.1', port });
      await c.request('REGISTER', { name, password: `pw-${name}` });
      await c.request(name === NAMES[0] ? 'GROUP_CREATE' : 'GROUP_JOIN', name === NAMES[0] ? { group: 'ops', private: false } : { group: 'ops' });
      await c.close();
    }
    const delays: number[] = [];
    const missingLogged: unknown[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      if (round > 1) server = await start(port);
      const work = clients.map((c) => c.round(port, BUDGET));
      const delay = 100 + Math.floor(rng() * 600);
      delays.push(delay);
      await Promise.race([sleep(delay), Promise.all(work)]);
      expect(await server.stop('SIGKILL'), `seed ${SEED}`).toBe('SIGKILL');
      missingLogged.push(...server.logs.filter((l) => String(l.msg).includes('missing')));
      await Promise.all(work);
    }
    const context = `seed ${SEED}, kill delays ${delays.join(',')} ms`;

    server = await start(port);
    expect(tmpFiles(dataDir), context).toEqual([]); // swept before serving
    const conn = await ChatConnection.connect({ host: '127.0.0.1', port });
    await conn.request('LOGIN', { name: 'u0', password: 'pw-u0' });
    const listed = (await conn.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files as Payload[];
    const byKey = new Map(listed.map((f) => [`${f.name as string}@${f.version as number}`, f]));
    expect(world.acked.size, `${context}: the rounds stored something`).toBeGreaterThan(10);
    for (const [key, want] of world.acked) {
      if (world.maybeRemoved.has(key)) continue;
      const got = byKey.get(key);
      if (world.removed.has(key)) {
        expect(got, `${context}: ${key} was removed (acknowledged) but is listed`).toBeUndefined();
        continue;
      }
      expect(got, `${context}: acknowledged ${key} is missing`).toBeDefined();
      expect(got, `${context}: ${key}`).toMatchObject({ sha256: want.sha256, size: want.size });
    }
    for (const f of listed) {
      const key = `${f.name as string}@${f.version as number}`;
      expect(world.tried.get(f.name as string)?.has(f.sha256 as string), `${context}: ${key} holds content nobody uploaded under that name`).toBe(true);
      const back = await download(conn, 'ops', f.name as string, f.version as number, 1024 * 1024 - 64)
        .catch((err: Error) => { throw new Error(`${context}: reading ${key}: ${err.message}`); });
      expect(sha(back), `${context}: bytes of ${key}`).toBe(f.sha256);
    }
    expect(blobFiles(dataDir), `${context}: blobs are exactly the listed contents`).toEqual([...new Set(listed.map((f) => f.sha256 as string))].sort());
    missingLogged.push(...server.logs.filter((l) => String(l.msg).includes('missing')));
    expect(missingLogged, context).toEqual([]);
    await conn.close();
    expect(await server.stop('SIGTERM'), context).toBe(0);
    const verify = await chatServer(['verify', '--data', dataDir]);
    expect(verify.code, `${context}: ${verify.stderr}`).toBe(0);
  }, 120_000);
});
