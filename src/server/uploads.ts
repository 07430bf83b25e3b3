/**
 * Upload sessions (UPLOAD_BEGIN … UPLOAD_END/ABORT), per connection (issue 4).
 *
 * Contracts:
 *   - an uploadId means something only on the connection that began it, and only to
 *     the user logged in there when it began: after a LOGOUT (and maybe a LOGIN as
 *     someone else) it is NOT_FOUND, so nobody finishes, and signs as uploader, bytes
 *     another login sent; such leftovers are dropped at the connection's next
 *     UPLOAD_BEGIN or close. Ids are never reused while the server runs (a stale id is
 *     NOT_FOUND, never another upload);
 *   - at most limits.maxUploadsPerConn open uploads per connection (CHAT_ERR_TOO_LARGE)
 *     and limits.maxUploads on the server (CHAT_ERR_BUSY); a slot is taken
 *     synchronously by open(), before any await, so concurrent BEGINs cannot overshoot;
 *   - a connection that closes abandons its uploads still 'open' (temp files removed);
 *     an upload whose UPLOAD_END has begun ('ending') is finished by that request;
 *   - reservedBytes() is what the open uploads may still write: UPLOAD_BEGIN counts it
 *     against the free disk space, so two uploads cannot both count the same bytes.
 */
import { ChatError } from '../common/errors.js';
import type { TempBlob } from '../drive/temp-blob.js';
import type { Connection } from './connection.js';
import type { Limits } from './limits.js';

export interface UploadSession {
  readonly id: number;
  /** Who began it (Connection.user at UPLOAD_BEGIN). */
  readonly user: string;
  readonly group: string;
  /**
   * The group's file map at BEGIN (State.files.get(group)): apply() makes a new one
   * at each group.create, so a group deleted and created again is another group.
   */
  readonly drive: ReadonlyMap<string, unknown>;
  readonly name: string;
  readonly size: number;
  /** Set once the temp file is open (UPLOAD_BEGIN awaits it before replying). */
  temp: TempBlob | undefined;
  /** open: takes chunks; ending: UPLOAD_END runs; closed: gone (aborted or finished). */
  phase: 'open' | 'ending' | 'closed';
}

export class Uploads {
  private readonly byConn = new Map<Connection, Map<number, UploadSession>>();
  private count = 0;
  private nextId = 1;

  constructor(private readonly limits: Limits) {}

  /** Uploads open on the server now. */
  get openCount(): number {
    return this.count;
  }

  /** Throws unless `conn` may open one more upload now (leftovers of an earlier login dropped first). */
  checkCapacity(conn: Connection): void {
    this.dropOtherLogins(conn);
    const mine = this.byConn.get(conn)?.size ?? 0;
    if (mine >= this.limits.maxUploadsPerConn) {
      throw new ChatError('CHAT_ERR_TOO_LARGE',
        `too many uploads at once on this connection (limit ${this.limits.maxUploadsPerConn}); finish or abort one first`);
    }
    if (this.count >= this.limits.maxUploads) {
      throw new ChatError('CHAT_ERR_BUSY', `the server has ${this.count} uploads in progress (its limit); try again shortly`);
    }
  }

  /** Takes a slot (see checkCapacity) and registers a session without a temp file yet. */
  open(conn: Connection, meta: { user: string; group: string; drive: ReadonlyMap<string, unknown>; name: string; size: number }): UploadSession {
    this.checkCapacity(conn);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const s: UploadSession = { id, ...meta, temp: undefined, phase: 'open' };
    let mine = this.byConn.get(conn);
    if (!mine) this.byConn.set(conn, (mine = new Map()));
    mine.set(id, s);
    this.count++;
    return s;
  }

  /** The session `id` of `conn`, else NOT_FOUND. */
  get(conn: Connection, id: number): UploadSession {
    const s = this.byConn.get(conn)?.get(id);
    if (!s || s.user !== conn.user) throw new ChatError('CHAT_ERR_NOT_FOUND', `upload ${id} not found on this connection (finished, aborted, or never begun)`);
    return s;
  }

  /** Forgets the session (finished or failed); its temp file is the caller's business. */
  remove(conn: Connection, s: UploadSession): void {
    const mine = this.byConn.get(conn);
    if (!mine?.delete(s.id)) return;
    this.count--;
    s.phase = 'closed';
    if (mine.size === 0) this.byConn.delete(conn);
  }

  /** Abandons the open uploads of `conn` that another login began (see the file contract). */
  private dropOtherLogins(conn: Connection): void {
    const mine = this.byConn.get(conn);
    if (!mine) return;
    for (const s of [...mine.values()]) {
      if (s.user !== conn.user && s.phase === 'open') void this.abort(conn, s);
    }
  }

  /** Removes the session and its temp file. */
  abort(conn: Connection, s: UploadSession): Promise<void> {
    this.remove(conn, s);
    s.phase = 'closed';
    return s.temp?.abort() ?? Promise.resolve();
  }

  /** Bytes the open uploads have declared and not yet written. */
  reservedBytes(): number {
    let n = 0;
    for (const mine of this.byConn.values()) {
      for (const s of mine.values()) n += s.size - (s.temp?.bytesWritten ?? 0);
    }
    return n;
  }

  /** The connection closed: abandon its open uploads (an 'ending' one is finished by its request). */
  connectionClosed(conn: Connection): void {
    const mine = this.byConn.get(conn);
    if (!mine) return;
    for (const s of [...mine.values()]) {
      if (s.phase === 'open') void this.abort(conn, s);
    }
  }

  /** Shutdown: abandon every open upload; resolves once their temp files are gone. */
  async abortAll(): Promise<void> {
    const work: Array<Promise<void>> = [];
    for (const [conn, mine] of [...this.byConn]) {
      for (const s of [...mine.values()]) if (s.phase === 'open') work.push(this.abort(conn, s));
    }
    await Promise.allSettled(work);
  }
}
