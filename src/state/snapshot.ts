/**
 * Snapshot images of State. PURE: no I/O (src/journal/snapshot-file.ts writes and
 * reads the files; docs/STORAGE.md "Snapshots" gives the line format).
 *
 * - captureSnapshot(state) is synchronous and cheap, and the image stays the state at
 *   capture while apply() goes on changing the live state, so a large image can be
 *   serialized over many event-loop turns.
 * - snapshotChunks(image) yields the image as NDJSON lines grouped into ~256 KiB
 *   strings, so no string holds a whole large state.
 * - restoreSnapshot(lines) rebuilds a State identical to the captured one in every
 *   field, derived indexes and Map/Set iteration orders included.
 *
 * What capture may share with the live state instead of copying, from apply.ts:
 *   - StoredMessage objects are complete before they are pushed and never changed after.
 *   - groupMessages / directMessages arrays and broadcasts only grow (push). group.delete
 *     drops the array from its Map without touching it, and a group created again under
 *     the same name gets a new array; so an array and its length at capture describe
 *     that conversation at capture for good.
 *   - idempotency entries are only added (apply refuses a key already present), never
 *     replaced or deleted, so the first `size` entries in iteration order are the
 *     entries at capture.
 *   - Session objects are replaced, never changed in place.
 *   - FileVersion objects are complete before they are pushed and never changed after.
 * Everything else apply() changes in place (user fields, sessions Maps, members,
 * invitations, a FileEntry's owner, nextVersion and versions array), so capture copies
 * users, groups and file entries (not their versions).
 *
 * State.blobRefs is not in the image: restore rebuilds it from the file versions (a
 * derived index written separately could disagree with them). Its Map iteration order
 * may then differ from the live state's; nothing depends on that order.
 */
import { stateDigest } from './digest.js';
import {
  createState, directKey,
  type FileEntry, type FileVersion, type GroupRecord, type Role, type State, type StoredMessage, type UserRecord,
} from './types.js';

/**
 * Image format version, written in the first image line. 2 added the "file" lines
 * (the drive); restore still reads format 1 images (no files), so snapshots written
 * before the drive stay usable.
 */
export const IMAGE_FORMAT = 2;
const READABLE_FORMATS: readonly number[] = [1, 2];
/** Target size of one chunk from snapshotChunks, in UTF-16 code units (≈ bytes for mostly-ASCII text). */
export const CHUNK_CHARS = 256 * 1024;

interface Conversation {
  readonly list: readonly StoredMessage[];
  /** list.length at capture: later pushes are not part of the image. */
  readonly length: number;
}

/** The state at one seq, frozen by captureSnapshot. Opaque to callers apart from the scalars. */
export interface SnapshotImage {
  readonly seq: number;
  /** Greatest op ts applied so far (the engine's clock floor), carried to the restored engine. */
  readonly lastTs: number;
  /** stateDigest(state) at capture. */
  readonly stateDigest: string;
  readonly messageCount: number;
  readonly messagesDigest: string;
  /** Copies, in the live Maps' order. */
  readonly users: readonly UserRecord[];
  readonly groups: readonly GroupRecord[];
  /** Copies of every file entry (versions array copied, versions shared), by group, in Map order. */
  readonly files: readonly (readonly [group: string, entries: readonly FileEntry[]])[];
  /** groupMessages by group name, directMessages by thread key, at capture; both in Map order. */
  readonly groupConversations: ReadonlyMap<string, Conversation>;
  readonly directConversations: readonly Conversation[];
  readonly broadcasts: Conversation;
  /** The live idempotency Map and its size at capture (entries are only ever appended). */
  readonly idempotency: ReadonlyMap<string, StoredMessage>;
  readonly idempotencySize: number;
}

/**
 * Freezes `state` at state.seq. O(users + sessions + groups + members + conversations +
 * file entries + file versions), independent of the number of messages. `lastTs`: the engine's clock floor (greatest
 * op ts applied); restored as-is, 0 when not given.
 */
export function captureSnapshot(state: State, lastTs = 0): SnapshotImage {
  const users: UserRecord[] = [];
  for (const u of state.users.values()) users.push({ ...u, sessions: new Map(u.sessions) });
  const groups: GroupRecord[] = [];
  for (const g of state.groups.values()) groups.push({ ...g, members: new Map(g.members), invited: new Set(g.invited) });
  const files: (readonly [string, FileEntry[]])[] = [];
  for (const [group, entries] of state.files) {
    const copies: FileEntry[] = [];
    for (const e of entries.values()) copies.push({ ...e, versions: e.versions.slice() });
    files.push([group, copies]);
  }
  const groupConversations = new Map<string, Conversation>();
  for (const [name, list] of state.groupMessages) groupConversations.set(name, { list, length: list.length });
  const directConversations: Conversation[] = [];
  for (const list of state.directMessages.values()) directConversations.push({ list, length: list.length });
  return {
    seq: state.seq, lastTs, stateDigest: stateDigest(state),
    messageCount: state.messageCount, messagesDigest: state.messagesDigest,
    users, groups, files, groupConversations, directConversations,
    broadcasts: { list: state.broadcasts, length: state.broadcasts.length },
    idempotency: state.idempotency, idempotencySize: state.idempotency.size,
  };
}

type VersionLine = [version: number, size: number, sha256: string, uploader: string, ts: number, seq: number];

type MessageLine = [seq: number, kind: 0 | 1 | 2, from: string, group: string | null, to: string | null, text: string, ts: number];

function messageLine(m: StoredMessage): MessageLine {
  return [m.seq, m.kind, m.from, m.group ?? null, m.to ?? null, m.text, m.ts];
}

/** Whether `m` is still in its conversation in the image (else its group was deleted). */
function storedIn(image: SnapshotImage, m: StoredMessage): boolean {
  if (m.kind !== 0) return true; // direct threads and broadcasts are never dropped
  const c = image.groupConversations.get(m.group ?? '');
  if (c === undefined) return false;
  let lo = 0;
  let hi = c.length - 1;
  while (lo <= hi) { // lists are in seq order
    const mid = (lo + hi) >>> 1;
    const s = c.list[mid]!.seq;
    if (s === m.seq) return c.list[mid] === m;
    if (s < m.seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** The image's lines in file order, each ending with "\n". */
function* imageLines(image: SnapshotImage): Generator<string> {
  const conversations = [...image.groupConversations.values(), ...image.directConversations, image.broadcasts];
  let stored = 0;
  for (const c of conversations) stored += c.length;
  let fileEntries = 0;
  for (const [, entries] of image.files) fileEntries += entries.length;
  yield JSON.stringify({
    t: 'state', format: IMAGE_FORMAT, seq: image.seq, lastTs: image.lastTs,
    messageCount: image.messageCount, messagesDigest: image.messagesDigest,
    users: image.users.length, groups: image.groups.length, files: fileEntries, stored, idempotency: image.idempotencySize,
  }) + '\n';
  for (const u of image.users) {
    const sessions = [...u.sessions].map(([t, s]) => [t, s.device, s.createdTs]);
    yield JSON.stringify({
      t: 'user', name: u.name, displayName: u.displayName, passwordHash: u.passwordHash,
      age: u.age, gender: u.gender, admin: u.admin, createdTs: u.createdTs, sessions,
    }) + '\n';
  }
  for (const g of image.groups) {
    yield JSON.stringify({
      t: 'group', name: g.name, private: g.private, owner: g.owner, createdTs: g.createdTs,
      members: [...g.members], invited: [...g.invited],
    }) + '\n';
  }
  // After the groups: restore creates each group's file Map at its group line.
  for (const [group, entries] of image.files) {
    for (const e of entries) {
      const versions: VersionLine[] = e.versions.map((v) => [v.version, v.size, v.sha256, v.uploader, v.ts, v.seq]);
      yield JSON.stringify({ t: 'file', group, name: e.name, owner: e.owner, nextVersion: e.nextVersion, versions }) + '\n';
    }
  }
  // Idempotency keys come before the messages so that restore can point each key at
  // the very object it stores; a message whose group is gone is written whole here.
  let i = 0;
  for (const [key, m] of image.idempotency) {
    if (i++ >= image.idempotencySize) break;
    yield JSON.stringify(storedIn(image, m) ? { t: 'idem', key, seq: m.seq } : { t: 'idem', key, msg: messageLine(m) }) + '\n';
  }
  for (const c of conversations) {
    for (let j = 0; j < c.length; j++) yield JSON.stringify(messageLine(c.list[j]!)) + '\n';
  }
}

/**
 * The image as NDJSON text in chunks of about CHUNK_CHARS (whole lines, each ending
 * with "\n"). Lazy: the caller may await between chunks while the live state changes.
 */
export function* snapshotChunks(image: SnapshotImage): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  for (const line of imageLines(image)) {
    parts.push(line);
    size += line.length;
    if (size >= CHUNK_CHARS) {
      yield parts.join('');
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield parts.join('');
}

/** Splits NDJSON chunks (as snapshotChunks yields them) into lines without their "\n". */
export function* splitLines(chunks: Iterable<string>): Generator<string> {
  let rest = '';
  for (const chunk of chunks) {
    const text = rest + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      yield text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest !== '') yield rest;
}

export class SnapshotFormatError extends Error {
  constructor(line: number, reason: string) {
    super(`snapshot image line ${line}: ${reason}`);
    this.name = 'SnapshotFormatError';
  }
}

export interface RestoredSnapshot {
  state: State;
  seq: number;
  lastTs: number;
}

/**
 * Rebuilds the State an image was captured from, from its lines (without "\n").
 * Derived indexes (displayNames, directPeers, idempotency) are rebuilt the way apply()
 * builds them, and Maps and Sets get the captured iteration order. Throws
 * SnapshotFormatError when a line does not parse or the counts in the first line do
 * not match what followed (a damaged or cut image).
 */
export async function restoreSnapshot(lines: Iterable<string> | AsyncIterable<string>): Promise<RestoredSnapshot> {
  const state = createState();
  let head: { seq: number; lastTs: number; users: number; groups: number; files?: number; stored: number; idempotency: number } | undefined;
  /** seq → key of an idempotency entry whose message is still to come. */
  const pending = new Map<number, string>();
  let n = 0;
  let stored = 0;
  let fileEntries = 0;
  const fail = (reason: string): never => { throw new SnapshotFormatError(n, reason); };
  for await (const text of lines) {
    n++;
    let v: any;
    try {
      v = JSON.parse(text);
    } catch {
      fail('not JSON');
    }
    if (head === undefined) {
      if (v?.t !== 'state' || !READABLE_FORMATS.includes(v.format)) fail(`expected the state line of image format ${READABLE_FORMATS.join(' or ')}`);
      head = v;
      state.seq = v.seq;
      state.messageCount = v.messageCount;
      state.messagesDigest = v.messagesDigest;
    } else if (Array.isArray(v)) {
      const m = toMessage(v) ?? fail('bad message line');
      if (m.seq > state.seq) fail(`message seq ${m.seq} after the image's seq ${state.seq}`);
      const list = conversationOf(state, m) ?? fail(`message ${m.seq} of unknown group "${m.group}"`);
      const prev = list.length > 0 ? list[list.length - 1]!.seq : 0;
      if (m.seq <= prev) fail(`message ${m.seq} out of order`);
      list.push(m);
      const key = pending.get(m.seq);
      if (key !== undefined) {
        state.idempotency.set(key, m); // replaces the placeholder, keeping its position
        pending.delete(m.seq);
      }
      stored++;
    } else if (v?.t === 'user') {
      state.users.set(v.name, {
        name: v.name, displayName: v.displayName, passwordHash: v.passwordHash, age: v.age, gender: v.gender,
        admin: v.admin, createdTs: v.createdTs,
        sessions: new Map((v.sessions as [string, string, number][]).map(([t, device, createdTs]) => [t, { device, createdTs }])),
      });
      state.displayNames.set(v.displayName, v.name);
    } else if (v?.t === 'group') {
      state.groups.set(v.name, {
        name: v.name, private: v.private, owner: v.owner, createdTs: v.createdTs,
        members: new Map(v.members as [string, Role][]), invited: new Set(v.invited as string[]),
      });
      state.groupMessages.set(v.name, []);
      state.files.set(v.name, new Map()); // as group.create does; also for format 1 images
    } else if (v?.t === 'file') {
      const files = state.files.get(v.group) ?? fail(`file "${v.name}" of unknown group "${v.group}"`);
      if (typeof v.name !== 'string' || files.has(v.name)) fail(`bad or repeated file line "${v.name}"`);
      const entry = toFileEntry(v) ?? fail(`bad file line "${v.name}" in group "${v.group}"`);
      if (entry.versions.some((x) => x.seq > state.seq)) fail(`file "${v.name}" has a version after the image's seq ${state.seq}`);
      files.set(entry.name, entry);
      for (const x of entry.versions) state.blobRefs.set(x.sha256, (state.blobRefs.get(x.sha256) ?? 0) + 1);
      fileEntries++;
    } else if (v?.t === 'idem') {
      if (v.msg !== undefined) {
        state.idempotency.set(v.key, toMessage(v.msg) ?? fail('bad message in idempotency line'));
      } else {
        state.idempotency.set(v.key, undefined as unknown as StoredMessage); // placeholder for order
        pending.set(v.seq, v.key);
      }
    } else {
      fail('unknown line type');
    }
  }
  if (head === undefined) fail('empty image');
  const h = head!;
  if (state.users.size !== h.users || state.groups.size !== h.groups || stored !== h.stored
    || fileEntries !== (h.files ?? 0) || state.idempotency.size !== h.idempotency || pending.size > 0) {
    fail(`image incomplete: ${state.users.size}/${h.users} users, ${state.groups.size}/${h.groups} groups, `
      + `${fileEntries}/${h.files ?? 0} files, `
      + `${stored}/${h.stored} messages, ${state.idempotency.size - pending.size}/${h.idempotency} idempotency keys`);
  }
  return { state, seq: state.seq, lastTs: h.lastTs };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A file line as the FileEntry apply() would have built, or undefined when it is malformed. */
function toFileEntry(v: { name: unknown; owner: unknown; nextVersion: unknown; versions: unknown }): FileEntry | undefined {
  if (typeof v.name !== 'string' || typeof v.owner !== 'string' || !Number.isSafeInteger(v.nextVersion)
    || !Array.isArray(v.versions)) return undefined;
  const versions: FileVersion[] = [];
  let prev = 0;
  for (const x of v.versions as unknown[]) {
    if (!Array.isArray(x) || x.length !== 6) return undefined;
    const [version, size, sha256, uploader, ts, seq] = x as VersionLine;
    if (!Number.isSafeInteger(version) || version <= prev || !Number.isSafeInteger(size) || size < 0
      || typeof sha256 !== 'string' || !SHA256_HEX.test(sha256) || typeof uploader !== 'string'
      || !Number.isSafeInteger(ts) || !Number.isSafeInteger(seq)) return undefined;
    versions.push({ version, size, sha256, uploader, ts, seq });
    prev = version;
  }
  if ((v.nextVersion as number) <= prev) return undefined;
  return { name: v.name, owner: v.owner, versions, nextVersion: v.nextVersion as number };
}

function toMessage(v: unknown): StoredMessage | undefined {
  if (!Array.isArray(v) || v.length !== 7) return undefined;
  const [seq, kind, from, group, to, text, ts] = v as MessageLine;
  if (!Number.isSafeInteger(seq) || (kind !== 0 && kind !== 1 && kind !== 2) || typeof from !== 'string' || typeof text !== 'string') {
    return undefined;
  }
  // Same shape as apply() builds: group/to present only for their kind.
  const m: StoredMessage = { seq, kind, from, text, ts };
  if (kind === 0) {
    if (typeof group !== 'string') return undefined;
    m.group = group;
  } else if (kind === 1) {
    if (typeof to !== 'string') return undefined;
    m.to = to;
  }
  return m;
}

/** The list `m` goes to, created (with its directPeers entries) as apply() does. */
function conversationOf(state: State, m: StoredMessage): StoredMessage[] | undefined {
  if (m.kind === 0) return state.groupMessages.get(m.group!);
  if (m.kind === 2) return state.broadcasts;
  const k = directKey(m.from, m.to!);
  let list = state.directMessages.get(k);
  if (list === undefined) {
    // The first message of a thread is the one that opened it, so these calls run in
    // the order apply() ran them and directPeers gets the same iteration order.
    list = [];
    state.directMessages.set(k, list);
    addPeer(state, m.from, m.to!);
    addPeer(state, m.to!, m.from);
  }
  return list;
}

function addPeer(state: State, user: string, peer: string): void {
  const set = state.directPeers.get(user);
  if (set) set.add(peer);
  else state.directPeers.set(user, new Set([peer]));
}
