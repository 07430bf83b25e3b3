/**
 * Local file-system steps of a download: directory fsync, streaming hashes of what is
 * already on disk, and errno messages for people.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';

/** fsync of a directory, so a create, rename or unlink in it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** "permission denied (EACCES)" and the like, for one-line errors. */
export function localError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory', EACCES: 'permission denied', EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device', EROFS: 'read-only file system', EISDIR: 'is a directory',
    ENOTDIR: 'a path component is not a directory', EDQUOT: 'disk quota exceeded', EIO: 'input/output error',
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
