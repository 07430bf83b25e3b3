/**
 * Streaming upload of one local file as a new version of a drive file (SPEC §4 Drive),
 * shared by `chat upload` and the interactive `/upload`.
 *
 * Contract of uploadFile():
 *  - the local file is opened and stat'ed before anything is sent: a missing,
 *    unreadable or non-regular file is CHAT_ERR_USAGE and the server hears nothing;
 *  - UPLOAD_BEGIN declares the size, so the server refuses a name, a size over its
 *    limit or a caller without rights before any byte flows (its error is thrown as is);
 *  - the file is read in pieces of the chunkSize the server named, one read ahead of
 *    the chunk being hashed, with at most UPLOAD_WINDOW UPLOAD_CHUNK requests in
 *    flight: memory is a bounded number of chunk buffers whatever the file size;
 *  - the sha256 sent with UPLOAD_END is computed over exactly the bytes sent, so the
 *    server's check catches any corruption on the way (CHAT_ERR_INTEGRITY, exit 8);
 *  - a file that is shorter or longer than at the start when its end is reached is
 *    CHAT_ERR_CONFLICT (exit 6): nothing is stored, the user uploads it again once it
 *    is complete;
 *  - on any failure (server error, lost connection, local read error, the signal) the
 *    upload is abandoned with UPLOAD_ABORT while the connection is up, and the error
 *    is rethrown; an aborted signal throws its reason;
 *  - onProgress(sent, size) is called with 0 at the start and then with the bytes the
 *    server has acknowledged, never decreasing.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { ChatError } from '../../common/errors.js';
import { encodeRequestTail } from '../../protocol/messages.js';
import type { ChatConnection } from '../connection.js';
import { fileInfo, type FileInfo } from './types.js';
import { until } from '../../common/abort.js';

export type { FileInfo } from './types.js';

/**
 * UPLOAD_CHUNK requests in flight at once: enough to keep the link busy while the
 * server writes, small enough that memory stays a few chunks.
 */
export const UPLOAD_WINDOW = 4;

export interface UploadOptions {
  group: string;
  /** The name on the server (checked there; the CLI checks it first with checkFileName). */
  name: string;
  /** The local file. */
  path: string;
  onProgress?: (sent: number, size: number) => void;
  signal?: AbortSignal;
}

/** Uploads `opts.path` as a new version of `opts.name` in `opts.group` (see the module contract). */
export async function uploadFile(conn: ChatConnection, opts: UploadOptions): Promise<FileInfo> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const fh = await openLocal(opts.path);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ChatError('CHAT_ERR_USAGE', `cannot upload "${opts.path}": not a regular file`);
    const size = st.size;
    const begin = await until(signal, conn.request('UPLOAD_BEGIN', { group: opts.group, name: opts.name, size }));
    const uploadId = Number(begin.uploadId);
    try {
      const chunkSize = Number(begin.chunkSize);
      if (!Number.isInteger(chunkSize) || chunkSize < 1) {
        throw new ChatError('CHAT_ERR_PROTOCOL', `the server offered chunks of ${String(begin.chunkSize)} bytes`);
      }
      const sha256 = await sendBody(conn, fh, { ...opts, uploadId, size, chunkSize });
      const end = await until(signal, conn.request('UPLOAD_END', { uploadId, sha256 }));
      return fileInfo(end.file);
    } catch (err) {
      // Frees the server's temp file now rather than when the connection closes.
      // After a failed UPLOAD_END the server has already dropped it (NOT_FOUND here).
      if (!conn.isClosed) await conn.request('UPLOAD_ABORT', { uploadId }).catch(() => undefined);
      throw err;
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

interface Body extends UploadOptions {
  uploadId: number;
  size: number;
  chunkSize: number;
}

/** Streams the file's bytes with a window of chunks in flight; returns their sha256 (hex). */
async function sendBody(conn: ChatConnection, fh: FileHandle, b: Body): Promise<string> {
  const hash = createHash('sha256');
  const inFlight: Array<Promise<void>> = [];
  let acked = 0;
  b.onProgress?.(0, b.size);
  const onAck = (reply: { received?: unknown }): void => {
    const received = Number(reply.received);
    if (received > acked) {
      acked = received;
      b.onProgress?.(acked, b.size);
    }
  };
  // The next chunk is read (thread pool) while this one is hashed and sent.
  const readChunk = async (offset: number) => {
    const want = Math.min(b.chunkSize, b.size - offset);
    // A fresh frame per chunk, the file read straight into it (no copy): at most
    // UPLOAD_WINDOW + 2 are alive, and none is overwritten while queued on the socket.
    const { frame, tail } = encodeRequestTail('UPLOAD_CHUNK', 0, { uploadId: b.uploadId, offset }, want);
    const got = await readAt(fh, tail, offset);
    if (got < want) throw changedSize(b.path, b.size, `it ended after ${offset + got} bytes`);
    return { frame, tail };
  };
  let ahead = b.size > 0 ? readChunk(0) : undefined;
  try {
    for (let offset = 0; offset < b.size;) {
      b.signal?.throwIfAborted();
      const { frame, tail } = await until(b.signal, ahead!);
      offset += tail.length;
      ahead = offset < b.size ? readChunk(offset) : undefined;
      ahead?.catch(() => undefined); // handled when awaited; never an unhandled rejection
      hash.update(tail);
      const sent = conn.requestFrame('UPLOAD_CHUNK', frame).then(onAck);
      sent.catch(() => undefined); // handled when awaited below; never an unhandled rejection
      inFlight.push(sent);
      if (inFlight.length >= UPLOAD_WINDOW) await until(b.signal, inFlight.shift()!);
    }
    // Grown while being read: the bytes past the declared size would be lost.
    const probe = Buffer.allocUnsafe(1);
    if ((await fh.read(probe, 0, 1, b.size)).bytesRead > 0) throw changedSize(b.path, b.size, 'it has grown');
    while (inFlight.length > 0) await until(b.signal, inFlight.shift()!);
  } finally {
    // Whatever happened, nothing is left un-awaited (their rejections are already handled).
    inFlight.length = 0;
    await ahead?.catch(() => undefined); // no read of fh may outlive the caller's close
  }
  return hash.digest('hex');
}

/** Reads `buf.length` bytes at `position`, fewer only at the end of the file. */
async function readAt(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

function changedSize(path: string, size: number, what: string): ChatError {
  return new ChatError('CHAT_ERR_CONFLICT',
    `"${path}" changed while being uploaded (${size} bytes at the start, ${what}); nothing was stored: upload it again once it is complete`);
}

async function openLocal(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file'
      : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied'
        : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new ChatError('CHAT_ERR_USAGE', `cannot read "${path}": ${why}`, { cause: err });
  }
}

