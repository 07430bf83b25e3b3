/**
 * Shared by the drive server tests: users on a real ChatConnection (src/client) to a
 * server started in-process (useTestServer), and an uploader that speaks
 * UPLOAD_BEGIN / CHUNK / END as a client would, with a few chunks in flight.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ChatConnection } from '../../src/client/connection.js';
import { ChatError, type ErrorCode } from '../../src/common/errors.js';
import type { Payload } from '../../src/protocol/codec.js';
import type { CommandName } from '../../src/protocol/commands.js';
import type { TestServer } from '../unit/server/helpers.js';

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes of any size (seeded, so failures can be reproduced). */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let block = createHash('sha256').update(`seed-${seed}`).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export { randomBytes };

/** A user logged in on a real client connection. */
export async function userConn(ts: TestServer, name: string, opts: { register?: boolean } = {}): Promise<ChatConnection> {
  const c = await ChatConnection.connect({ host: '127.0.0.1', port: ts.port });
  await c.request(opts.register === false ? 'LOGIN' : 'REGISTER', { name, password: `pw-${name}` });
  return c;
}

/** The ChatError code a request fails with (throws if it succeeds). */
export async function refusal(c: ChatConnection, name: CommandName, payload: Payload): Promise<ChatError & { code: ErrorCode }> {
  try {
    const r = await c.request(name, payload);
    throw new Error(`${name} succeeded unexpectedly: ${JSON.stringify(r)}`);
  } catch (err) {
    if (err instanceof ChatError) return err;
    throw err;
  }
}

export interface UploadOptions {
  /** Declared sha256 (default: the real one). */
  sha256?: string;
  /** Chunk size to use (default: the server's). */
  chunk?: number;
  /** Chunks in flight at once. */
  window?: number;
  /** Called after each acknowledged chunk with the bytes acknowledged. */
  onChunk?: (received: number) => void | Promise<void>;
}

/** Uploads `data` as `name` in `group`; resolves with the FILE of UPLOAD_END. */
export async function upload(c: ChatConnection, group: string, name: string, data: Buffer, o: UploadOptions = {}): Promise<Payload> {
  const begin = await c.request('UPLOAD_BEGIN', { group, name, size: data.length });
  const id = begin.uploadId as number;
  const chunk = o.chunk ?? (begin.chunkSize as number);
  const window = o.window ?? 3;
  let next = 0;
  const inflight = new Set<Promise<void>>();
  while (next < data.length || inflight.size > 0) {
    while (next < data.length && inflight.size < window) {
      const off = next;
      next = Math.min(data.length, off + chunk);
      const p: Promise<void> = c.request('UPLOAD_CHUNK', { uploadId: id, offset: off, data: data.subarray(off, next) })
        .then(async (r) => { await o.onChunk?.(r.received as number); })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.race(inflight);
  }
  const end = await c.request('UPLOAD_END', { uploadId: id, sha256: o.sha256 ?? sha(data) });
  return end.file as Payload;
}

/** Reads a whole version with FILE_READ, `length` bytes at a time. */
export async function download(c: ChatConnection, group: string, name: string, version: number, length = 256 * 1024): Promise<Buffer> {
  const info = await c.request('FILE_INFO', { group, name, version });
  const parts: Buffer[] = [];
  let off = 0;
  while (off < (info.file.size as number)) {
    const r = await c.request('FILE_READ', { group, name, version: info.file.version, offset: off, length });
    const d = r.data as Buffer;
    if (d.length === 0) throw new Error(`empty read at ${off}`);
    parts.push(d);
    off += d.length;
  }
  return Buffer.concat(parts);
}

/** Blob files in the data dir (every DATA/blobs/<xx>/<sha>). */
export function blobFiles(dataDir: string): string[] {
  const root = join(dataDir, 'blobs');
  const out: string[] = [];
  for (const d of readdirSync(root)) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const f of readdirSync(join(root, d))) out.push(f);
  }
  return out.sort();
}

export function tmpFiles(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'blobs', 'tmp'));
}
