/**
 * Who may do what in a group's drive (SPEC §4 "Drive" rights), and the FILE view.
 * Kept apart from drive.ts so the rules read in one place:
 *   - list, read, upload a new name: members;
 *   - replace a name that has versions: the entry's owner, or a group owner/admin;
 *   - remove one version: the entry's owner, that version's uploader, or an owner/admin;
 *     remove every version: the entry's owner, whoever uploaded all of them, or an owner/admin.
 * A caller who cannot see a private group gets NOT_FOUND, a non-member PERMISSION;
 * neither message names a file (a non-member learns nothing about the files).
 */
import { ChatError } from '../../common/errors.js';
import { canManage, canSee } from '../../state/queries.js';
import type { FileEntry, FileVersion, GroupRecord } from '../../state/types.js';
import type { ServerCtx } from './types.js';

/** The FILE schema's object (commands.ts). */
export interface FileView {
  name: string;
  version: number;
  size: number;
  sha256: string;
  uploader: string;
  ts: number;
}

export function fileView(name: string, v: FileVersion): FileView {
  return { name, version: v.version, size: v.size, sha256: v.sha256, uploader: v.uploader, ts: v.ts };
}

/** A name as quoted in an error message: at most 80 characters. */
export function shown(name: unknown): string {
  const s = String(name);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** The group `name` when `user` is a member; else NOT_FOUND (invisible or missing) or PERMISSION. */
export function memberGroup(ctx: ServerCtx, user: string, name: string): GroupRecord {
  const g = ctx.engine.state.groups.get(name);
  if (!g || !canSee(g, user)) throw new ChatError('CHAT_ERR_NOT_FOUND', `group "${shown(name)}" not found (see: chat groups)`);
  if (!g.members.has(user)) {
    throw new ChatError('CHAT_ERR_PERMISSION', `only members use the files of group "${g.name}" (join it first: chat join ${g.name})`);
  }
  return g;
}

export function mayReplace(g: GroupRecord, entry: FileEntry, user: string): boolean {
  return entry.versions.length === 0 || entry.owner === user || canManage(g, user);
}

/** `version` undefined: every version of the entry. */
export function mayRemove(g: GroupRecord, entry: FileEntry, user: string, version: FileVersion | undefined): boolean {
  if (entry.owner === user || canManage(g, user)) return true;
  if (version) return version.uploader === user;
  return entry.versions.every((v) => v.uploader === user);
}

export function drivePermission(group: string, name: string, what: 'replace' | 'remove'): ChatError {
  return new ChatError('CHAT_ERR_PERMISSION', what === 'replace'
    ? `only the owner of "${shown(name)}" or an admin of group "${group}" can upload a new version of it (upload it under another name: --as NAME)`
    : `only the owner of "${shown(name)}", the uploader of that version or an admin of group "${group}" can remove it`);
}
