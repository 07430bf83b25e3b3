/**
 * Drive family: UPLOAD_BEGIN, UPLOAD_CHUNK, UPLOAD_END, UPLOAD_ABORT, FILES,
 * FILE_INFO, FILE_READ, FILE_RM (SPEC §4 "Drive", §8; issue 4). The behaviour each
 * command promises is its `doc` in src/protocol/commands.ts.
 *
 * Contracts:
 *   - rights, checked first by every command: the group must be visible to the caller
 *     (else NOT_FOUND, worded as for a group that does not exist) and the caller a
 *     member (else PERMISSION). Neither answer names a file: a non-member learns
 *     nothing about the files, not even whether a name exists (SPEC §4);
 *   - replacing a name that has versions needs the entry's owner or a group
 *     owner/admin; removing a version also allows its uploader (drive-rights.ts);
 *   - UPLOAD_BEGIN checks name, size limit, free disk space and rights before a temp
 *     file exists; each UPLOAD_CHUNK checks that the uploader is still a member of the
 *     same group (else the upload is dropped); UPLOAD_END re-checks group and rights
 *     (state may have changed during the transfer) after the blob is durable and
 *     before 'file.put' is committed;
 *   - blobs are deleted (BlobStore.collect) only after the 'file.rm' / 'group.delete'
 *     that drops their last reference is durable;
 *   - FILE_EVENT goes, after the reply, to the listening connections of the members
 *     as they were when the change was committed.
 */
import { ChatError } from '../../common/errors.js';
import { checkFileName } from '../../common/names.js';
import { DEFAULT_MAX_FRAME } from '../../protocol/frame.js';
import { encodePush, encodeReplyTail } from '../../protocol/messages.js';
import { giveReadBuffer, takeReadBuffer } from '../read-buffers.js';
import type { FileEntry, FileVersion } from '../../state/types.js';
import { canRemove, canReplace, fileView, findFile, findVersion, listFilesPage, type FileView } from '../../state/queries.js';
import { drivePermission, memberGroup, shown } from './drive-rights.js';
import { readGate } from './drive-reads.js';
import type { Pin } from '../../drive/blob-store.js';
import type { UploadSession } from '../uploads.js';
import { Reply, NO_REPLY, type HandlerTable, type ServerCtx } from './types.js';

/** Bytes a reply frame needs besides the data or the list (FILE_READ doc: maxFrame - 64). */
const FRAME_RESERVE = 64;

/** Bytes a FILES reply needs besides its files (frame header, list count, `more`), with room to spare. */
const FILES_RESERVE = 1024;

/** Free disk space an upload must leave for the journal and snapshots. */
export const DISK_HEADROOM = 16 * 1024 * 1024;

const SHA_ANY_CASE = /^[0-9a-fA-F]{64}$/;

/** Largest UPLOAD_CHUNK data: fits a frame, and at most 1 MiB however big frames may be. */
export function chunkSizeFor(maxFrame: number): number {
  return Math.min(maxFrame, DEFAULT_MAX_FRAME) - FRAME_RESERVE;
}

function entryOf(ctx: ServerCtx, group: string, name: string): FileEntry | undefined {
  const e = findFile(ctx.engine.state, group, name);
  return e && e.versions.length > 0 ? e : undefined;
}

function fileNotFound(group: string, name: string): ChatError {
  return new ChatError('CHAT_ERR_NOT_FOUND', `file "${shown(name)}" not found in group "${group}" (see: chat files -g ${group})`);
}

function versionOf(group: string, entry: FileEntry, version: number): FileVersion {
  const v = findVersion(entry, version);
  if (!v) {
    throw new ChatError('CHAT_ERR_NOT_FOUND',
      `version ${version} of "${shown(entry.name)}" not found in group "${group}" (see: chat files -g ${group} --versions)`);
  }
  return v;
}

function groupGone(group: string): ChatError {
  return new ChatError('CHAT_ERR_NOT_FOUND', `group "${group}" was deleted during the upload; nothing was stored`);
}

/** FILE_EVENT to the listening connections of `recipients`, encoded once. */
function fileEvent(ctx: ServerCtx, recipients: string[], group: string, event: string, files: FileView[], actor: string): void {
  for (const file of files) {
    const buf = encodePush('FILE_EVENT', { group, event, file, actor });
    for (const user of recipients) {
      for (const c of ctx.fanout.connectionsOf(user) ?? []) if (c.listening) c.send(buf);
    }
  }
}

/** Write failures an uploader can do something about; anything else is a bug or a server fault. */
function diskError(err: unknown): ChatError | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ChatError('CHAT_ERR_TOO_LARGE', 'the server ran out of disk space during the upload; nothing was stored (try later or a smaller file)');
  }
  return undefined;
}

export const driveHandlers: HandlerTable = {
  UPLOAD_BEGIN: {
    async run(ctx, conn, p) {
      const user = conn.user!;
      const g = memberGroup(ctx, user, p.group);
      const name = checkFileName(p.name);
      const size = p.size as number;
      const limit = ctx.limits.maxFileSize;
      if (size > limit) {
        throw new ChatError('CHAT_ERR_TOO_LARGE', `"${shown(name)}" is ${size} bytes, over this server's file size limit of ${limit} bytes`);
      }
      const entry = entryOf(ctx, g.name, name);
      if (!canReplace(g, entry, user)) throw drivePermission(g.name, name, 'replace');
      ctx.uploads.checkCapacity(conn);
      const free = await ctx.blobs.freeBytes();
      const available = Math.max(0, free - ctx.uploads.reservedBytes() - DISK_HEADROOM);
      if (size > available) {
        throw new ChatError('CHAT_ERR_TOO_LARGE',
          `"${shown(name)}" is ${size} bytes but the server has only ${available} bytes free for uploads; try later or a smaller file`);
      }
      const s = ctx.uploads.open(conn, { user, group: g.name, drive: ctx.engine.state.files.get(g.name)!, name, size });
      try {
        const temp = await ctx.blobs.createTemp(size);
        if (s.phase === 'closed') {
          await temp.abort(); // the connection went meanwhile
          return NO_REPLY;
        }
        s.temp = temp;
      } catch (err) {
        ctx.uploads.remove(conn, s);
        throw diskError(err) ?? err;
      }
      return { uploadId: s.id, chunkSize: chunkSizeFor(ctx.limits.maxFrame) };
    },
  },

  UPLOAD_CHUNK: {
    async run(ctx, conn, p) {
      const s = ctx.uploads.get(conn, p.uploadId as number);
      const data = p.data as Buffer;
      const offset = p.offset as number;
      if (s.phase !== 'open' || !s.temp) throw new ChatError('CHAT_ERR_INVALID', `upload ${s.id} is finishing; no more chunks`);
      const temp = s.temp;
      if (offset !== temp.received) {
        throw new ChatError('CHAT_ERR_INVALID', `chunk at offset ${offset} of upload ${s.id}, expected ${temp.received}: send chunks in order`);
      }
      const max = chunkSizeFor(ctx.limits.maxFrame);
      if (data.length > max) throw new ChatError('CHAT_ERR_INVALID', `chunk of ${data.length} bytes is over the chunk size of ${max}`);
      if (offset + data.length > s.size) {
        throw new ChatError('CHAT_ERR_INVALID', `chunk ends at byte ${offset + data.length}, past the ${s.size} bytes declared for upload ${s.id}`);
      }
      try {
        // Kicked, left, or the group deleted meanwhile: UPLOAD_END would refuse it, so
        // the upload goes now instead of filling the disk with bytes never stored.
        memberGroup(ctx, s.user, s.group);
        if (ctx.engine.state.files.get(s.group) !== s.drive) throw groupGone(s.group);
      } catch (err) {
        void ctx.uploads.abort(conn, s);
        throw err;
      }
      try {
        await temp.append(data);
      } catch (err) {
        // Aborted meanwhile (UPLOAD_ABORT, or an earlier chunk failed): say so.
        const phase = s.phase as UploadSession['phase'];
        if (phase === 'closed' && !diskError(err)) throw new ChatError('CHAT_ERR_NOT_FOUND', `upload ${s.id} was aborted`);
        // The temp file can no longer be trusted to hold what was sent: drop the upload
        // (an UPLOAD_END already running fails on the same error and drops it itself).
        if (phase === 'open') void ctx.uploads.abort(conn, s);
        throw diskError(err) ?? err;
      }
      return { received: offset + data.length };
    },
  },

  UPLOAD_END: {
    async run(ctx, conn, p) {
      const user = conn.user!;
      const s = ctx.uploads.get(conn, p.uploadId as number);
      if (s.phase !== 'open' || !s.temp) throw new ChatError('CHAT_ERR_INVALID', `upload ${s.id} is already finishing`);
      const declared = String(p.sha256);
      if (!SHA_ANY_CASE.test(declared)) throw new ChatError('CHAT_ERR_INVALID', 'sha256 must be 64 hex digits');
      const sha256 = declared.toLowerCase();
      s.phase = 'ending';
      let pin: Pin;
      try {
        pin = await ctx.blobs.place(s.temp, sha256);
      } catch (err) {
        throw diskError(err) ?? err;
      } finally {
        ctx.uploads.remove(conn, s);
      }
      // The blob is durable; now, in one synchronous step: rights again, then commit.
      let done: Promise<unknown>;
      let file: FileView;
      let recipients: string[];
      try {
        const g = memberGroup(ctx, user, s.group);
        if (ctx.engine.state.files.get(g.name) !== s.drive) throw groupGone(s.group);
        const entry = entryOf(ctx, g.name, s.name);
        if (!canReplace(g, entry, user)) throw drivePermission(g.name, s.name, 'replace');
        done = ctx.engine.commit({ type: 'file.put', group: g.name, name: s.name, size: s.size, sha256, uploader: user });
        const e = ctx.engine.state.files.get(g.name)!.get(s.name)!;
        file = fileView(e, e.versions[e.versions.length - 1]!);
        recipients = [...g.members.keys()];
      } catch (err) {
        pin.release(); // nothing names the blob: it goes, before the client hears of the failure
        await ctx.blobs.whenDeleted(sha256);
        throw err;
      }
      pin.release(); // the state references the blob now
      await done;
      conn.log.info({ group: s.group, file: s.name, version: file.version, size: s.size }, 'file stored');
      return new Reply({ file }, () => fileEvent(ctx, recipients, s.group, 'upload', [file], user));
    },
  },

  UPLOAD_ABORT: {
    async run(ctx, conn, p) {
      const s = ctx.uploads.get(conn, p.uploadId as number);
      if (s.phase !== 'open') throw new ChatError('CHAT_ERR_INVALID', `upload ${s.id} is already finishing`);
      await ctx.uploads.abort(conn, s);
      return {};
    },
  },

  FILES: {
    run(ctx, conn, p) {
      const g = memberGroup(ctx, conn.user!, p.group);
      const after = { name: String(p.afterName), version: p.afterVersion as number };
      return listFilesPage(ctx.engine.state, g.name, p.versions === true, after, ctx.limits.maxFrame - FILES_RESERVE);
    },
  },

  FILE_INFO: {
    run(ctx, conn, p) {
      const g = memberGroup(ctx, conn.user!, p.group);
      const entry = entryOf(ctx, g.name, p.name);
      if (!entry) throw fileNotFound(g.name, p.name);
      return { file: fileView(entry, versionOf(g.name, entry, p.version as number)) };
    },
  },

  FILE_READ: {
    async run(ctx, conn, p, reqId) {
      const user = conn.user!;
      const version = p.version as number;
      const offset = p.offset as number;
      const g = memberGroup(ctx, user, p.group);
      if (version < 1) throw new ChatError('CHAT_ERR_INVALID', 'FILE_READ needs a version >= 1 (FILE_INFO with version 0 names the latest)');
      const find = (): FileVersion => {
        const entry = entryOf(ctx, g.name, p.name);
        if (!entry) throw fileNotFound(g.name, p.name);
        return versionOf(g.name, entry, version);
      };
      const v = find();
      if (offset > v.size) throw new ChatError('CHAT_ERR_INVALID', `offset ${offset} is past the end of "${shown(p.name)}"@${version} (${v.size} bytes)`);
      // Its bytes go out as they are read, not through the dispatcher's durable-reply
      // wait: a version whose file.put is not yet durable could be lost by a crash and
      // its number given to other bytes (SPEC §8), so none is served before that.
      if (!ctx.engine.isDurable(v.seq)) await ctx.engine.whenDurable(v.seq);
      const length = Math.min(p.length as number, ctx.limits.maxFrame - FRAME_RESERVE);
      const release = await readGate(conn, ctx.limits);
      try {
        if (conn.isDead) return NO_REPLY;
        // Removed while this read waited for its turn: as if it had come later.
        const now = find();
        // The blob is read straight into the reply frame (no copy on the way out), built
        // in a reused buffer: a fresh 1 MiB per read cost the server ~35% of its CPU in GC.
        const memory = takeReadBuffer(ctx.limits.maxFrame);
        const reply = encodeReplyTail('FILE_READ', reqId, {}, Math.max(0, Math.min(length, now.size - offset)), memory);
        await ctx.blobs.readInto(now.sha256, now.size, offset, reply.tail).catch((err: unknown) => {
          if (err instanceof ChatError && err.code === 'CHAT_ERR_INTEGRITY') {
            find(); // removed (and its blob collected) during the read: NOT_FOUND
            ctx.log.error({ group: g.name, file: p.name, version, sha256: now.sha256, err: err.message }, 'blob damaged or missing');
          }
          throw err;
        });
        if (!conn.isDead) conn.send(reply.frame, () => giveReadBuffer(memory));
        return NO_REPLY;
      } finally {
        release();
      }
    },
  },

  FILE_RM: {
    async run(ctx, conn, p) {
      const user = conn.user!;
      const g = memberGroup(ctx, user, p.group);
      const entry = entryOf(ctx, g.name, p.name);
      if (!entry) throw fileNotFound(g.name, p.name);
      const version = p.version as number;
      const gone = version === 0 ? [...entry.versions] : [versionOf(g.name, entry, version)];
      if (!canRemove(g, entry, version, user)) throw drivePermission(g.name, entry.name, 'remove');
      const files = gone.map((v) => fileView(entry, v));
      const recipients = [...g.members.keys()];
      await ctx.engine.commit({ type: 'file.rm', group: g.name, name: entry.name, version: version === 0 ? undefined : version, by: user });
      // Durable now: a blob nobody names any more can go (see the file contract).
      ctx.blobs.collect(gone.map((v) => v.sha256));
      conn.log.info({ group: g.name, file: entry.name, versions: gone.map((v) => v.version) }, 'file removed');
      return new Reply({ removed: gone.length }, () => fileEvent(ctx, recipients, g.name, 'remove', files, user));
    },
  },
};
