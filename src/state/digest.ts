/**
 * stateDigest(state): the canonical digest of a State (SPEC §3 `chat-server status`).
 * PURE apart from hashing; docs/STORAGE.md "Digests" states the same definition.
 *
 * Contract: two states built by applying the same ops (in any process, any Map
 * insertion order) give the same digest; states that differ in seq, an account (name,
 * display name, password hash, age, gender, admin, created ts, sessions), a group (name,
 * private, owner, created ts, members and roles, invitations), a drive file entry
 * (group, name, owner, next version number, and each version's number, size, sha256,
 * uploader, ts and seq), the message count or the message hash chain give different
 * digests. Derived indexes (displayNames, directPeers, idempotency, blobRefs) are
 * functions of those and are left out.
 *
 * The "files" section is present only when some group holds a file entry, so a state
 * without any (every data dir written before the drive existed) keeps the digest it
 * had: snapshots written then still match their header's stateDigest.
 *
 * Cost: O(users log users + groups log groups + sessions + members + file entries log
 * file entries + file versions); blobs are never read. Messages enter
 * only through State.messagesDigest, the hash chain apply() keeps, so a status with a
 * million stored messages does not rehash them. The hash is fed line by line; no
 * string of the whole state is built.
 */
import { createHash, type Hash } from 'node:crypto';
import type { State } from './types.js';

/**
 * Keys in UTF-16 code-unit order, the same in every locale and runtime (never
 * localeCompare): Array#sort without a comparator compares strings that way (ECMA-262),
 * and fastest.
 */
function sortedKeys<K extends string>(m: { keys(): IterableIterator<K> }): K[] {
  return [...m.keys()].sort();
}

/**
 * Feeds canonical lines (JSON, which escapes every newline, then "\n") to a hash in
 * batches of about 64 KiB: one update() per line costs more than the hashing.
 */
class Lines {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly h: Hash) {}

  add(value: unknown): void {
    const text = JSON.stringify(value) + '\n';
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 65536) this.flush();
  }

  flush(): void {
    this.h.update(this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}

/** Lowercase hex sha256 of the canonical form of `state` (see the file comment). */
export function stateDigest(state: State): string {
  const h = createHash('sha256');
  const out = new Lines(h);
  out.add(['chat-suite state', 1]);
  out.add(['seq', state.seq]);
  out.add(['users', state.users.size]);
  for (const name of sortedKeys(state.users)) {
    const u = state.users.get(name)!;
    const sessions = sortedKeys(u.sessions).map((t) => {
      const s = u.sessions.get(t)!;
      return [t, s.device, s.createdTs];
    });
    out.add([u.name, u.displayName, u.passwordHash, u.age ?? null, u.gender ?? null, u.admin, u.createdTs, sessions]);
  }
  out.add(['groups', state.groups.size]);
  for (const name of sortedKeys(state.groups)) {
    const g = state.groups.get(name)!;
    const members = sortedKeys(g.members).map((m) => [m, g.members.get(m)!]);
    const invited = [...g.invited].sort();
    out.add([g.name, g.private, g.owner, g.createdTs, members, invited]);
  }
  out.add(['messages', state.messageCount, state.messagesDigest]);
  addFiles(state, out);
  out.flush();
  return h.digest('hex');
}

/**
 * ["files", NUMBER_OF_ENTRIES], then one line per entry sorted by group then name:
 * [group, name, owner, nextVersion, [[version, size, sha256, uploader, ts, seq], …]]
 * (versions ascending, as stored). Entries whose versions were all removed count:
 * their owner and nextVersion still decide what the next upload does.
 */
function addFiles(state: State, out: Lines): void {
  let entries = 0;
  for (const files of state.files.values()) entries += files.size;
  if (entries === 0) return;
  out.add(['files', entries]);
  for (const group of sortedKeys(state.files)) {
    const files = state.files.get(group)!;
    for (const name of sortedKeys(files)) {
      const e = files.get(name)!;
      const versions = e.versions.map((v) => [v.version, v.size, v.sha256, v.uploader, v.ts, v.seq]);
      out.add([group, e.name, e.owner, e.nextVersion, versions]);
    }
  }
}
