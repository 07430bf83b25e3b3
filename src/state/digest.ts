/**
 * stateDigest(state): the canonical digest of a State (SPEC §3 `chat-server status`).
 * PURE apart from hashing; docs/STORAGE.md "Digests" states the same definition.
 *
 * Contract: two states built by applying the same ops (in any process, any Map
 * insertion order) give the same digest; states that differ in seq, an account (name,
 * display name, password hash, age, gender, admin, created ts, sessions), a group (name,
 * private, owner, created ts, members and roles, invitations), the message count or the
 * message hash chain give different digests. Derived indexes (displayNames,
 * directPeers, idempotency) are functions of those and are left out.
 *
 * Cost: O(users log users + groups log groups + sessions + members). Messages enter
 * only through State.messagesDigest, the hash chain apply() keeps, so a status with a
 * million stored messages does not rehash them. The hash is fed line by line; no
 * string of the whole state is built.
 */
import { createHash, type Hash } from 'node:crypto';
import type { State } from './types.js';

/** Plain UTF-16 code-unit order: the same in every locale and runtime (never localeCompare). */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedKeys<K extends string>(m: { keys(): IterableIterator<K> }): K[] {
  return [...m.keys()].sort(compareCodeUnits);
}

/** One canonical line: JSON (which escapes every newline) and a newline. */
function line(h: Hash, value: unknown): void {
  h.update(JSON.stringify(value));
  h.update('\n');
}

/** Lowercase hex sha256 of the canonical form of `state` (see the file comment). */
export function stateDigest(state: State): string {
  const h = createHash('sha256');
  line(h, ['chat-suite state', 1]);
  line(h, ['seq', state.seq]);
  line(h, ['users', state.users.size]);
  for (const name of sortedKeys(state.users)) {
    const u = state.users.get(name)!;
    const sessions = sortedKeys(u.sessions).map((t) => {
      const s = u.sessions.get(t)!;
      return [t, s.device, s.createdTs];
    });
    line(h, [u.name, u.displayName, u.passwordHash, u.age ?? null, u.gender ?? null, u.admin, u.createdTs, sessions]);
  }
  line(h, ['groups', state.groups.size]);
  for (const name of sortedKeys(state.groups)) {
    const g = state.groups.get(name)!;
    const members = sortedKeys(g.members).map((m) => [m, g.members.get(m)!]);
    const invited = [...g.invited].sort(compareCodeUnits);
    line(h, [g.name, g.private, g.owner, g.createdTs, members, invited]);
  }
  line(h, ['messages', state.messageCount, state.messagesDigest]);
  return h.digest('hex');
}
