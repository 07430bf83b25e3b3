/**
 * Read-only questions about State, shared by server handlers (and later replicas).
 * PURE: no I/O, never mutates.
 */
import type { FileEntry, FileVersion, GroupRecord, Role, State } from './types.js';

export function roleIn(g: GroupRecord, user: string): Role | undefined {
  return g.members.get(user);
}

/** Owner and admins manage a group: invite, kick, delete (SPEC §4). */
export function canManage(g: GroupRecord, user: string): boolean {
  const r = g.members.get(user);
  return r === 'owner' || r === 'admin';
}

/** Whether `user` may see that the group exists: public, member, or invited. */
export function canSee(g: GroupRecord, user: string): boolean {
  return !g.private || g.members.has(user) || g.invited.has(user);
}

/** Groups `user` may see, sorted by name. */
export function visibleGroups(state: State, user: string): GroupRecord[] {
  return [...state.groups.values()].filter((g) => canSee(g, user)).sort((a, b) => a.name.localeCompare(b.name));
}

/** Names of the groups `user` belongs to. O(groups); used on connect/disconnect only. */
export function groupsOf(state: State, user: string): string[] {
  const out: string[] = [];
  for (const g of state.groups.values()) if (g.members.has(user)) out.push(g.name);
  return out;
}

// ---- drive (SPEC §4 "Drive") ----
// Membership is part of every right below: a former member who owns a file or
// uploaded a version can no longer replace or remove it. Handlers still check
// membership first, so that a non-member gets PERMISSION/NOT_FOUND and learns nothing
// about the files (not even whether a name exists).

/** A file version as clients see it: the FILE schema (src/protocol/commands.ts), SPEC §2. */
export interface FileView {
  name: string;
  version: number;
  size: number;
  sha256: string;
  uploader: string;
  ts: number;
}

export function fileView(entry: FileEntry, v: FileVersion): FileView {
  return { name: entry.name, version: v.version, size: v.size, sha256: v.sha256, uploader: v.uploader, ts: v.ts };
}

/** The entry of `name` in `group`'s drive, or undefined (no group, or no such name). */
export function findFile(state: State, group: string, name: string): FileEntry | undefined {
  return state.files.get(group)?.get(name);
}

/** The highest stored version, or undefined when every version has been removed. */
export function latestVersion(entry: FileEntry): FileVersion | undefined {
  return entry.versions[entry.versions.length - 1];
}

/**
 * Version `version` of the entry; 0 means the latest (FILE_INFO). Undefined when that
 * version was never stored or has been removed. Binary search: versions ascend.
 */
export function findVersion(entry: FileEntry, version: number): FileVersion | undefined {
  if (version === 0) return latestVersion(entry);
  const vs = entry.versions;
  let lo = 0;
  let hi = vs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = vs[mid]!.version;
    if (v === version) return vs[mid];
    if (v < version) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/**
 * The files of `group` (FILES): by name in UTF-16 code-unit order (plain sort(), never
 * localeCompare: the same order on every machine), the latest version of each, or
 * every version ascending when `allVersions`. Entries whose versions were all removed
 * are skipped. An unknown group gives [].
 */
export function listFiles(state: State, group: string, allVersions: boolean): FileView[] {
  return listFilesPage(state, group, allVersions, { name: '', version: 0 }, Infinity).files;
}

/** Encoded size of a FILE (commands.ts): four length prefixes, the numbers, the strings. */
function fileWireBytes(f: FileView): number {
  return 4 + Buffer.byteLength(f.name) + 4 + 8 + 4 + f.sha256.length + 4 + Buffer.byteLength(f.uploader) + 8;
}

/**
 * One page of listFiles (FILES): the files after `after` in listing order — names
 * after after.name, and with allVersions also after.name's versions above
 * after.version — while their encoded size stays within maxBytes (at least one file
 * per page). `more`: files are left; ask again after the last one returned.
 */
export function listFilesPage(state: State, group: string, allVersions: boolean, after: { name: string; version: number },
  maxBytes: number): { files: FileView[]; more: boolean } {
  const files = state.files.get(group);
  if (!files) return { files: [], more: false };
  const out: FileView[] = [];
  let bytes = 0;
  for (const name of [...files.keys()].sort()) {
    if (name < after.name || (name === after.name && !allVersions)) continue;
    const entry = files.get(name)!;
    if (entry.versions.length === 0) continue;
    const versions = allVersions ? entry.versions : [latestVersion(entry)!];
    for (const v of versions) {
      if (name === after.name && v.version <= after.version) continue;
      const f = fileView(entry, v);
      const size = fileWireBytes(f);
      if (out.length > 0 && bytes + size > maxBytes) return { files: out, more: true };
      out.push(f);
      bytes += size;
    }
  }
  return { files: out, more: false };
}

/**
 * Whether `user` may store a new version under an existing name: the file's owner
 * (FileEntry.owner) or the group's owner/admins, and a member. A name with no versions
 * left (or a new name) is open to every member: the uploader becomes its owner.
 */
export function canReplace(g: GroupRecord, entry: FileEntry | undefined, user: string): boolean {
  if (!g.members.has(user)) return false;
  if (!entry || entry.versions.length === 0) return true;
  return entry.owner === user || canManage(g, user);
}

/**
 * Whether `user` may remove version `version` of the entry (FILE_RM): the file's owner,
 * that version's uploader, or the group's owner/admins, and a member. `version`
 * undefined (or 0) means every version: the owner, the owner/admins, or a member who
 * uploaded every remaining version (who could remove them one by one anyway).
 * A version that does not exist gives false only for callers without a right to the
 * whole file; handlers answer NOT_FOUND for it first.
 */
export function canRemove(g: GroupRecord, entry: FileEntry, version: number | undefined, user: string): boolean {
  if (!g.members.has(user)) return false;
  if (entry.owner === user || canManage(g, user)) return true;
  if (version === undefined || version === 0) {
    return entry.versions.length > 0 && entry.versions.every((v) => v.uploader === user);
  }
  return findVersion(entry, version)?.uploader === user;
}
