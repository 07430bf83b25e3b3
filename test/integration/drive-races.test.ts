/**
 * The drive under concurrency and hostile framing (issue 4, SPEC §4 "Drive", §8), on
 * the real server over TCP:
 *   - buffer lifetime: UPLOAD_CHUNK data is a view of the received frame and is written
 *     to the temp file asynchronously, FILE_READ reads blobs straight into reply frames;
 *     a raw client that pipelines hundreds of chunks cut at random points into odd
 *     socket writes must get back exactly the bytes it sent (sha256 and byte compare);
 *   - removals racing uploads of the same content and downloads of the same version:
 *     a blob that a version names is never deleted, a read is NOT_FOUND or the right
 *     bytes, never other bytes;
 *   - a group deleted, or the uploader kicked, while UPLOAD_END is running.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Payload } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION, type CommandName } from '../../src/protocol/commands.js';
import { FrameDecoder } from '../../src/protocol/frame.js';
import { decodeFrame, encodeRequest } from '../../src/protocol/messages.js';
import { holdSyncs, sleep, useTestServer, type TestServer } from '../unit/server/helpers.js';
import { blobFiles, bytes, download, refusal, sha, tmpFiles, upload, userConn } from './drive-helpers.js';
import { prng } from './prng.js';

const start = useTestServer();

const SEED = Number(process.env.DRIVE_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface Answer { ok: boolean; payload: Payload }

/**
 * A raw protocol client that writes whatever bytes it is given, cut where the test
 * says, and matches replies by reqId. Replies are copied out of the frame (decodeFrame
 * gives views) only where the test keeps them.
 */
class RawPipe {
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private readonly waiting = new Map<number, (a: Answer) => void>();
  private nextId = 1;
  private broken = '';

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        this.broken = String(err);
        socket.destroy();
        return;
      }
      for (const f of frames) {
        const d = decodeFrame(f);
        const w = this.waiting.get(d.reqId);
        if (!w) continue; // pushes
        this.waiting.delete(d.reqId);
        w({ ok: d.kind !== 'error', payload: d.payload });
      }
    });
    socket.on('error', () => undefined);
    // Every request still waiting fails at once (a test never hangs on a broken stream).
    socket.on('close', () => {
      for (const w of this.waiting.values()) w({ ok: false, payload: { name: 'CLOSED', message: `connection closed ${this.broken}` } });
      this.waiting.clear();
    });
  }

  static connect(port: number): Promise<RawPipe> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawPipe(s)));
      s.once('error', reject);
    });
  }

  /** Encodes a request and registers for its answer; the bytes are the caller's to send. */
  frame(name: CommandName, payload: Payload): { bytes: Buffer; answer: Promise<Answer> } {
    const reqId = this.nextId++;
    const answer = new Promise<Answer>((resolve) => this.waiting.set(reqId, resolve));
    return { bytes: encodeRequest(name, reqId, payload), answer };
  }

  async call(name: CommandName, payload: Payload): Promise<Payload> {
    const f = this.frame(name, payload);
    this.socket.write(f.bytes);
    const a = await f.answer;
    if (!a.ok) throw new Error(`${name}: ${a.payload.name} ${a.payload.message}`);
    return a.payload;
  }

  /**
   * Writes `bytes` in pieces of random sizes (1 byte to 3 pieces of a frame), often
   * letting the event loop turn between writes, so the server's socket reads end at
   * arbitrary points inside frames and headers.
   */
  async writeScattered(bytes: Buffer, rng: () => number): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const r = rng();
      const n = r < 0.3 ? 1 + Math.floor(rng() * 16) : r < 0.8 ? 1 + Math.floor(rng() * 5000) : 1 + Math.floor(rng() * 200_000);
      const piece = bytes.subarray(off, Math.min(bytes.length, off + n));
      off += piece.length;
      // A copy per write: the test must not depend on the client's own buffer lifetime.
      if (!this.socket.write(Buffer.from(piece))) await new Promise((r2) => this.socket.once('drain', r2));
      if (rng() < 0.5) await new Promise((r2) => setImmediate(r2));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

async function rawUser(ts: TestServer, name: string, register: boolean): Promise<RawPipe> {
  const c = await RawPipe.connect(ts.port);
  await c.call('HELLO', { version: PROTOCOL_VERSION, client: 'race-test/0' });
  await c.call(register ? 'REGISTER' : 'LOGIN', { name, password: `pw-${name}` });
  return c;
}

const blobOf = (data: Buffer) => sha(data);

describe(`buffer lifetime on the drive data path (seed ${SEED})`, () => {
  it('hundreds of pipelined UPLOAD_CHUNKs cut into odd socket writes arrive intact; pipelined FILE_READs of odd ranges are exact', async () => {
    const ts = await start();
    const rng = prng(SEED);
    const c = await rawUser(ts, 'alice', true);
    await c.call('GROUP_CREATE', { group: 'ops', private: false });
    const data = bytes(6 * 1024 * 1024 + 777, SEED);
    const begin = await c.call('UPLOAD_BEGIN', { group: 'ops', name: 'odd.bin', size: data.length });
    // Odd chunk sizes, from 1 byte to the server's chunk size: frames of every length.
    const frames: Buffer[] = [];
    const answers: Array<Promise<Answer>> = [];
    let off = 0;
    while (off < data.length) {
      const r = rng();
      const n = Math.min(data.length - off, r < 0.1 ? 1 + Math.floor(rng() * 8) : r < 0.98 ? 1 + Math.floor(rng() * 20_000) : begin.chunkSize as number);
      const f = c.frame('UPLOAD_CHUNK', { uploadId: begin.uploadId, offset: off, data: data.subarray(off, off + n) });
      frames.push(f.bytes);
      answers.push(f.answer);
      off += n;
    }
    const end = c.frame('UPLOAD_END', { uploadId: begin.uploadId, sha256: sha(data) });
    frames.push(end.bytes);
    expect(frames.length).toBeGreaterThan(100);
    await c.writeScattered(Buffer.concat(frames), rng);
    const acks = await Promise.all(answers);
    expect(acks.filter((a) => !a.ok).map((a) => a.payload.message)).toEqual([]);
    const done = await end.answer;
    expect(done.ok, String(done.payload.message)).toBe(true);
    expect(done.payload.file).toMatchObject({ size: data.length, sha256: sha(data) });
    expect(blobFiles(ts.dataDir)).toEqual([blobOf(data)]);

    // Reads: many in flight at once, odd offsets and lengths, each compared byte for byte.
    const reads: Array<{ offset: number; length: number; answer: Promise<Answer> }> = [];
    const out: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const offset = Math.floor(rng() * data.length);
      const length = 1 + Math.floor(rng() * (rng() < 0.2 ? 1024 * 1024 : 70_000));
      const f = c.frame('FILE_READ', { group: 'ops', name: 'odd.bin', version: 1, offset, length });
      out.push(f.bytes);
      reads.push({ offset, length, answer: f.answer });
    }
    // The client stops reading for a while: replies back up in the server's socket
    // buffer, where a frame reused before it was written would be sent altered.
    c.socket.pause();
    await c.writeScattered(Buffer.concat(out), rng);
    await sleep(300);
    c.socket.resume();
    for (const [i, r] of reads.entries()) {
      const a = await r.answer;
      expect(a.ok, `read ${i}`).toBe(true);
      const want = data.subarray(r.offset, Math.min(data.length, r.offset + Math.min(r.length, 1024 * 1024 - 64)));
      expect(Buffer.compare(a.payload.data as Buffer, want), `read ${i} at ${r.offset}+${r.length}`).toBe(0);
    }
    c.close();
  });
});

/** Polls (bounded) until `check` holds: blob deletions run in the background. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await sleep(10);
  expect(check(), what).toBe(true);
}

/** Every chunk of an upload sent and acknowledged; UPLOAD_END left to the caller. */
async function sendAll(c: Awaited<ReturnType<typeof userConn>>, group: string, name: string, data: Buffer): Promise<number> {
  const b = await c.request('UPLOAD_BEGIN', { group, name, size: data.length });
  const step = b.chunkSize as number;
  await Promise.all(Array.from({ length: Math.ceil(data.length / step) }, (_, i) =>
    c.request('UPLOAD_CHUNK', { uploadId: b.uploadId, offset: i * step, data: data.subarray(i * step, (i + 1) * step) })));
  return b.uploadId as number;
}

/** The blobs the listing of `groups` names, as the data dir must hold them once quiet. */
async function referenced(c: Awaited<ReturnType<typeof userConn>>, groups: string[]): Promise<string[]> {
  const shas = new Set<string>();
  for (const g of groups) for (const f of (await c.request('FILES', { group: g, versions: true, afterName: '', afterVersion: 0 })).files) shas.add(f.sha256 as string);
  return [...shas].sort();
}

describe(`removals racing uploads and reads (seed ${SEED})`, () => {
  it('FILE_RM of the only version naming a content while an upload of that content ends: the blob stays while named', async () => {
    const ts = await start();
    const rng = prng(SEED + 1);
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    await bob.request('GROUP_JOIN', { group: 'ops' });
    const data = bytes(300_000, SEED);
    await upload(alice, 'ops', 'holder-0', data);
    for (let i = 1; i <= 12; i++) {
      // bob uploads the same content under a new name while alice removes the name that
      // holds it now: END and RM leave together, in either order, a little apart.
      const id = await sendAll(bob, 'ops', `holder-${i}`, data);
      const gap = Math.floor(rng() * 4);
      const endFirst = rng() < 0.5;
      const end = () => bob.request('UPLOAD_END', { uploadId: id, sha256: sha(data) });
      const rm = () => alice.request('FILE_RM', { group: 'ops', name: `holder-${i - 1}`, version: 0 });
      const [first, second] = endFirst ? [end, rm] : [rm, end];
      const p1 = first();
      if (gap > 0) await sleep(gap - 1);
      const p2 = second();
      await Promise.all([p1, p2]);
      const files = (await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files;
      expect(files.map((f: { name: string }) => f.name), `round ${i}`).toEqual([`holder-${i}`]);
      expect(blobFiles(ts.dataDir), `round ${i}: the blob of holder-${i}`).toEqual([sha(data)]);
      expect(sha(await download(alice, 'ops', `holder-${i}`, 1)), `round ${i}`).toBe(sha(data));
    }
    await alice.request('FILE_RM', { group: 'ops', name: 'holder-12', version: 0 });
    await eventually(() => blobFiles(ts.dataDir).length === 0, 'blob deleted once nothing names it');
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('GROUP_DELETE of the only group naming a content while an upload of it to another group ends: the blob stays', async () => {
    const ts = await start();
    const rng = prng(SEED + 5);
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    await bob.request('GROUP_CREATE', { group: 'keep', private: false });
    const data = bytes(250_000, SEED + 5);
    for (let i = 0; i < 10; i++) {
      await alice.request('GROUP_CREATE', { group: `gone${i}`, private: false });
      await upload(alice, `gone${i}`, 'a.bin', data);
      // The previous round's copy in "keep" goes first: gone{i} is the only holder now.
      if (i > 0) await bob.request('FILE_RM', { group: 'keep', name: `b${i - 1}`, version: 0 });
      const id = await sendAll(bob, 'keep', `b${i}`, data);
      const end = bob.request('UPLOAD_END', { uploadId: id, sha256: sha(data) });
      await sleep(Math.floor(rng() * 3));
      await Promise.all([end, alice.request('GROUP_DELETE', { group: `gone${i}` })]);
      expect(blobFiles(ts.dataDir), `round ${i}`).toEqual([sha(data)]);
      expect(sha(await download(bob, 'keep', `b${i}`, 1)), `round ${i}`).toBe(sha(data));
    }
    await bob.request('FILE_RM', { group: 'keep', name: 'b9', version: 0 });
    await eventually(() => blobFiles(ts.dataDir).length === 0, 'blob deleted once nothing names it');
    await Promise.all([alice.close(), bob.close()]);
  });

  it('two connections upload the same content at once; removing one version keeps the other whole', async () => {
    const ts = await start();
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    await bob.request('GROUP_JOIN', { group: 'ops' });
    for (let i = 0; i < 4; i++) {
      const data = bytes(700_000 + i, SEED + 10 + i);
      const [ia, ib] = await Promise.all([sendAll(alice, 'ops', `a${i}`, data), sendAll(bob, 'ops', `b${i}`, data)]);
      await Promise.all([
        alice.request('UPLOAD_END', { uploadId: ia, sha256: sha(data) }),
        bob.request('UPLOAD_END', { uploadId: ib, sha256: sha(data) }),
      ]);
      expect(blobFiles(ts.dataDir)).toEqual([sha(data)]);
      await (i % 2 === 0 ? alice.request('FILE_RM', { group: 'ops', name: `a${i}`, version: 0 }) : bob.request('FILE_RM', { group: 'ops', name: `b${i}`, version: 0 }));
      await sleep(20);
      expect(blobFiles(ts.dataDir)).toEqual([sha(data)]);
      const kept = i % 2 === 0 ? `b${i}` : `a${i}`;
      expect(sha(await download(alice, 'ops', kept, 1))).toBe(sha(data));
      await alice.request('FILE_RM', { group: 'ops', name: kept, version: 0 });
      await eventually(() => blobFiles(ts.dataDir).length === 0, `blob of round ${i} deleted`);
    }
    expect(tmpFiles(ts.dataDir)).toEqual([]);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('FILE_RM while many reads of that version are in flight: each read is NOT_FOUND or exactly the right bytes', async () => {
    const ts = await start();
    const rng = prng(SEED + 2);
    const alice = await userConn(ts, 'alice');
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    const reader = await rawUser(ts, 'alice', false);
    let notFound = 0;
    let served = 0;
    for (let round = 0; round < 8; round++) {
      const data = bytes(3 * 1024 * 1024 + round, SEED + 100 + round);
      await upload(alice, 'ops', 'gone.bin', data);
      const version = round + 1;
      // Half the rounds warm the descriptor cache first: the removal then meets an open fd.
      if (round % 2 === 0) await reader.call('FILE_READ', { group: 'ops', name: 'gone.bin', version, offset: 0, length: 1 });
      const reads: Array<{ offset: number; length: number; answer: Promise<Answer> }> = [];
      for (let i = 0; i < 40; i++) {
        const offset = Math.floor(rng() * data.length);
        const length = 1 + Math.floor(rng() * 300_000);
        const f = reader.frame('FILE_READ', { group: 'ops', name: 'gone.bin', version, offset, length });
        reader.socket.write(f.bytes);
        reads.push({ offset, length, answer: f.answer });
      }
      await sleep(Math.floor(rng() * 6));
      await alice.request('FILE_RM', { group: 'ops', name: 'gone.bin', version: 0 });
      for (const r of reads) {
        const a = await r.answer;
        if (!a.ok) {
          expect(a.payload.name, `round ${round}: ${a.payload.message}`).toBe('CHAT_ERR_NOT_FOUND');
          notFound++;
          continue;
        }
        served++;
        expect(Buffer.compare(a.payload.data as Buffer, data.subarray(r.offset, r.offset + r.length)), `round ${round} read at ${r.offset}`).toBe(0);
      }
      await eventually(() => blobFiles(ts.dataDir).length === 0, `round ${round}: blob deleted`);
    }
    // Both outcomes happened (else the race was not exercised); bounded by 8 × 40 reads.
    expect(served).toBeGreaterThan(0);
    expect(notFound).toBeGreaterThan(0);
    expect(ts.logs.filter((l) => l.msg === 'blob damaged or missing')).toEqual([]);
    reader.close();
    await alice.close();
  });

  it('GROUP_DELETE (and the group created again) while UPLOAD_END runs: stored then dropped, or refused; no blob or temp file stays', async () => {
    const ts = await start();
    const rng = prng(SEED + 3);
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    for (let i = 0; i < 10; i++) {
      await alice.request('GROUP_CREATE', { group: 'ops', private: false });
      await bob.request('GROUP_JOIN', { group: 'ops' });
      const data = bytes(200_000, SEED + 200 + i);
      const id = await sendAll(bob, 'ops', 'x.bin', data);
      const end = bob.request('UPLOAD_END', { uploadId: id, sha256: sha(data) }).then(() => 'stored', (err: { code: string }) => err.code);
      await sleep(Math.floor(rng() * 3));
      await alice.request('GROUP_DELETE', { group: 'ops' });
      await alice.request('GROUP_CREATE', { group: 'ops', private: false });
      const outcome = await end;
      // Refused: the group is gone (NOT_FOUND), or back without bob (PERMISSION).
      expect(['stored', 'CHAT_ERR_NOT_FOUND', 'CHAT_ERR_PERMISSION'], `round ${i}`).toContain(outcome);
      expect((await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files, `round ${i}`).toEqual([]);
      await eventually(() => blobFiles(ts.dataDir).length === 0, `round ${i}: no blob left`);
      expect(tmpFiles(ts.dataDir)).toEqual([]);
      await alice.request('GROUP_DELETE', { group: 'ops' });
    }
    await Promise.all([alice.close(), bob.close()]);
  });

  it('the uploader kicked while UPLOAD_END runs: stored, or PERMISSION with nothing left behind', async () => {
    const ts = await start();
    const rng = prng(SEED + 4);
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    for (let i = 0; i < 10; i++) {
      await bob.request('GROUP_JOIN', { group: 'ops' });
      const data = bytes(150_000, SEED + 300 + i);
      const id = await sendAll(bob, 'ops', `k${i}.bin`, data);
      const end = bob.request('UPLOAD_END', { uploadId: id, sha256: sha(data) }).then(() => 'stored', (err: { code: string }) => err.code);
      await sleep(Math.floor(rng() * 3));
      await alice.request('GROUP_KICK', { group: 'ops', user: 'bob' });
      const outcome = await end;
      expect(['stored', 'CHAT_ERR_PERMISSION'], `round ${i}`).toContain(outcome);
      const names = (await alice.request('FILES', { group: 'ops', versions: true, afterName: '', afterVersion: 0 })).files.map((f: { name: string }) => f.name);
      expect(names.includes(`k${i}.bin`), `round ${i}`).toBe(outcome === 'stored');
      const named = await referenced(alice, ['ops']);
      await eventually(() => blobFiles(ts.dataDir).join() === named.join(), `round ${i}: exactly the named blobs`);
      expect(tmpFiles(ts.dataDir)).toEqual([]);
    }
    await Promise.all([alice.close(), bob.close()]);
  });
});

describe('a version is not served before its file.put is durable', () => {
  it('FILE_READ of a version whose record is still being synced waits for it (as FILE_INFO does)', async () => {
    const ts = await start();
    const [alice, bob] = await Promise.all([userConn(ts, 'alice'), userConn(ts, 'bob')]);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    await bob.request('GROUP_JOIN', { group: 'ops' });
    const data = bytes(100_000, 77);
    await upload(alice, 'ops', 'x.bin', data);
    const id = await sendAll(alice, 'ops', 'x.bin', data); // same content: no blob fsync at END
    const syncs = await holdSyncs();
    try {
      const end = alice.request('UPLOAD_END', { uploadId: id, sha256: sha(data) });
      for (let i = 0; i < 200 && syncs.waiting() === 0; i++) await sleep(5);
      expect(syncs.waiting()).toBeGreaterThan(0); // version 2 is applied, its record not yet durable
      let answered = false;
      const read = bob.request('FILE_READ', { group: 'ops', name: 'x.bin', version: 2, offset: 0, length: 10 })
        .finally(() => { answered = true; });
      await sleep(150);
      // A crash now would lose version 2, and the next upload would get the number again.
      expect(answered).toBe(false);
      syncs.release();
      expect(Buffer.compare((await read).data, data.subarray(0, 10))).toBe(0);
      expect((await end).file.version).toBe(2);
    } finally {
      syncs.restore();
    }
    await Promise.all([alice.close(), bob.close()]);
  });
});
