/**
 * One upload's temp file (DATA/blobs/tmp/<random>.part): chunks are taken strictly in
 * order and each written at its offset while the sha256 is computed incrementally, so
 * finishing costs no second read.
 *
 * Contracts:
 *   - append(data) takes the bytes synchronously, in call order (hash and position are
 *     decided at the call), and resolves once they are written to the file; the
 *     positional write starts at once, beside any still running, so callers may keep
 *     several appends in flight (the caller bounds how many: the connection's input
 *     budget);
 *   - after a failed write every later append and finish() fail with the same error;
 *   - finish() waits for the writes and returns what was received; sync()
 *     fdatasyncs and closes the file; abort() closes and unlinks it (idempotent, also
 *     after finish/sync); renamed() tells it the file has moved into the store;
 *   - the bytes taken are never more than the declared size (the caller checks first).
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { unlink } from 'node:fs/promises';

export class TempBlob {
  private readonly hash: Hash = createHash('sha256');
  private taken = 0;
  private written = 0;
  /** Writes started and not settled; `settled` wakes finish(), sync() and abort(). */
  private pending = 0;
  private settled: Array<() => void> = [];
  private failure: Error | undefined;
  private fhOpen = true;
  private gone = false;
  private digest: string | undefined;

  constructor(
    readonly path: string,
    /** Bytes declared at UPLOAD_BEGIN. */
    readonly size: number,
    private readonly fh: FileHandle,
    /** Hands background work (a close after abort) to the store, which waits for it at close. */
    private readonly track: (p: Promise<unknown>) => void,
  ) {}

  /** Bytes accepted so far (queued or written): the offset the next append must start at. */
  get received(): number {
    return this.taken;
  }

  /** Bytes on the file (written, not necessarily synced). */
  get bytesWritten(): number {
    return this.written;
  }

  append(data: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.digest !== undefined || this.gone) return Promise.reject(new Error('temp blob is finished'));
    const position = this.taken;
    this.taken += data.length;
    this.hash.update(data);
    // Positional, so the write starts now, beside those still running: one chunk's
    // write never waits for the event loop to see the previous one finish.
    this.pending++;
    const p = this.writeAt(data, position).then(() => {
      this.written += data.length;
      if (this.failure) throw this.failure;
    }, (err: Error) => {
      this.failure ??= err;
      throw this.failure;
    }).finally(() => {
      if (--this.pending === 0) for (const wake of this.settled.splice(0)) wake();
    });
    p.catch(() => undefined); // an abort may fail it before its caller awaits it
    return p;
  }

  private async writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  /** Resolves once no write is running (whether they succeeded or not). */
  private quiet(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.settled.push(resolve));
  }

  /** Waits for every write; returns the bytes received and their sha256 (lowercase hex). */
  async finish(): Promise<{ size: number; sha256: string }> {
    await this.quiet();
    if (this.failure) throw this.failure;
    this.digest ??= this.hash.digest('hex');
    return { size: this.taken, sha256: this.digest };
  }

  /** fdatasync and close: the bytes are on disk under `path`. */
  async sync(): Promise<void> {
    await this.quiet();
    if (this.failure) throw this.failure;
    await this.fh.datasync();
    this.fhOpen = false;
    await this.fh.close();
  }

  /** The file was renamed into the store: abort() must not unlink it any more. */
  renamed(): void {
    this.gone = true;
  }

  /** Closes and unlinks the temp file once the writes running settle. Idempotent. */
  abort(): Promise<void> {
    this.failure ??= new Error('upload aborted');
    if (this.gone) return Promise.resolve();
    this.gone = true;
    const p = this.quiet().then(async () => {
      if (this.fhOpen) {
        this.fhOpen = false;
        await this.fh.close().catch(() => undefined);
      }
      await unlink(this.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    });
    this.track(p);
    return p;
  }
}
