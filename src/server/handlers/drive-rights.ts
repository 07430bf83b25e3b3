/**
 * Membership checks and the wording of refusals for the drive (SPEC §4 "Drive"
 * rights). The rules themselves are canReplace / canRemove in src/state/queries.ts,
 * shared with the replica:
 *   - list, read, upload a new name: members;
 *   - replace a name that has versions: the entry's owner, or a group owner/admin;
 *   - remove one version: the entry's owner, that version's uploader, or an owner/admin;
 *     remove every version: the entry's owner, whoever uploaded all of them, or an owner/admin.
 * A caller who cannot see a private group gets NOT_FOUND, a non-member PERMISSION;
 * neither message names a file (a non-member learns nothing about the files).
 */
import { ChatError } from '../../common/errors.js';
import { canSee } from '../../state/queries.js';
import type { GroupRecord } from '../../state/types.js';
import type { ServerCtx } from './types.js';

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

export function drivePermission(group: string, name: string, what: 'replace' | 'remove'): ChatError {
  return new ChatError('CHAT_ERR_PERMISSION', what === 'replace'
    ? `only the owner of "${shown(name)}" or an admin of group "${group}" can upload a new version of it (upload it under another name: --as NAME)`
    : `only the owner of "${shown(name)}", the uploader of that version or an admin of group "${group}" can remove it`);
}
