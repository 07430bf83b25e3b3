/**
 * Local file-system steps of a download: directory fsync, streaming hashes of what is
 * already on disk, and errno messages for people.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** fsync of a directory, so a create, rename or unlink in it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * mkdir -p, one level at a time. (Node 20's recursive mkdirSync spins for ever on
 * some ENOENT cases, e.g. a path under /proc.)
 */
export function makeDirs(dir: string, mode = 0o777): void {
  const abs = path.resolve(dir);
  if (fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory()) return;
  const parent = path.dirname(abs);
  if (parent !== abs) makeDirs(parent, mode);
  try {
    fs.mkdirSync(abs, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(abs).isDirectory()) throw err;
  }
}

/** "permission denied (EACCES)" and the like, for one-line errors. */
export function localError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory', EACCES: 'permission denied', EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device', EROFS: 'read-only file system', EISDIR: 'is a directory',
    ENOTDIR: 'a path component is not a directory', EDQUOT: 'disk quota exceeded', EIO: 'input/output error',
    EEXIST: 'a file of that name is in the way',
  };
  return e?.code && words[e.code] ? `${words[e.code]} (${e.code})` : String(e?.message ?? err);
}

/**
 * A sha256 over the first `length` bytes of `file`, read in a stream (memory flat);
 * undefined when the file holds fewer bytes than that.
 */
export async function hashPrefix(file: string, length: number): Promise<Hash | undefined> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  let seen = 0;
  const stream = fs.createReadStream(file, { start: 0, end: length - 1, highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    seen += chunk.length;
  }
  return seen === length ? hash : undefined;
}

/** sha256 (hex) of a whole file, streamed. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}
