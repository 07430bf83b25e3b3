/**
 * Read-only questions about State, shared by server handlers (and later replicas).
 * PURE: no I/O, never mutates.
 */
import type { GroupRecord, Role, State } from './types.js';

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
