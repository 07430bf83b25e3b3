/**
 * The canonical state and the operations that change it. PURE data, no I/O.
 *
 * Every change of state is an Op. The server (from a client request) or a replica
 * (from the primary's journal) builds an Op, and apply() in apply.ts is the only
 * code that mutates State. State is therefore a function of the sequence of Ops.
 */

export type Role = 'owner' | 'admin' | 'member';

/** Fields every op carries; set by the server when the op is created. */
export interface OpBase {
  /** Strictly increasing, no gaps: 1, 2, 3, … */
  seq: number;
  /** Server clock in ms since the epoch when the op was created. */
  ts: number;
}

export type OpData =
  | { type: 'user.create'; name: string; passwordHash: string; displayName: string; age?: number; gender?: string; admin: boolean }
  | { type: 'user.passwd'; name: string; passwordHash: string }
  | { type: 'user.rename'; name: string; displayName: string }
  | { type: 'session.create'; name: string; tokenHash: string; device: string }
  | { type: 'session.revoke'; name: string; tokenHash: string }
  | { type: 'group.create'; group: string; owner: string; private: boolean }
  | { type: 'group.join'; group: string; user: string }
  | { type: 'group.leave'; group: string; user: string }
  | { type: 'group.invite'; group: string; user: string; by: string }
  | { type: 'group.kick'; group: string; user: string; by: string }
  | { type: 'group.delete'; group: string; by: string }
  | { type: 'group.role'; group: string; user: string; role: 'admin' | 'member' }
  | { type: 'message.send'; kind: 0 | 1 | 2; from: string; group?: string; to?: string; text: string; idKey?: string }
  /**
   * A new version of a drive file (SPEC §4 "Drive"). The blob named by sha256 is
   * durable in the data dir before this op is committed. apply() gives it the version
   * number FileEntry.nextVersion (versions are never reused, even after removal).
   */
  | { type: 'file.put'; group: string; name: string; size: number; sha256: string; uploader: string }
  /** Removes one version of a drive file, or every version when `version` is absent. */
  | { type: 'file.rm'; group: string; name: string; version?: number; by: string };

export type OpType = OpData['type'];
export type Op = OpBase & OpData;

export interface Session {
  device: string;
  createdTs: number;
}

export interface UserRecord {
  name: string;
  displayName: string;
  /** "scrypt$N$r$p$saltB64$hashB64" (auth.ts). Never logged, never sent. */
  passwordHash: string;
  age?: number;
  gender?: string;
  admin: boolean;
  createdTs: number;
  /** sha256(token) hex → session. The token itself is never stored. */
  sessions: Map<string, Session>;
}

export interface GroupRecord {
  name: string;
  private: boolean;
  owner: string;
  createdTs: number;
  /** user → role; the owner is in here with role 'owner'. Insertion order = join order. */
  members: Map<string, Role>;
  /** Users invited and not yet joined. */
  invited: Set<string>;
}

/** One stored version of a drive file; its bytes are the blob named by sha256. */
export interface FileVersion {
  version: number;
  size: number;
  /** Lowercase hex sha256 of the content: the blob's name (src/drive). */
  sha256: string;
  uploader: string;
  /** Server time of the file.put op. */
  ts: number;
  /** Seq of the file.put op. */
  seq: number;
}

/**
 * A file name in a group's drive. `versions` ascending by version, possibly empty
 * after removals: the entry stays so that nextVersion never hands out a number twice
 * (a resuming download of "x@3" must never get another "x@3"). Listings skip entries
 * with no versions.
 */
export interface FileEntry {
  name: string;
  /**
   * Who may replace the file besides the group's owner and admins: the uploader of
   * the first version; when an upload finds no versions left, its uploader.
   */
  owner: string;
  versions: FileVersion[];
  /** Version number the next file.put gets (1 for a new name). */
  nextVersion: number;
}

export interface StoredMessage {
  seq: number;
  kind: 0 | 1 | 2;
  from: string;
  group?: string;
  to?: string;
  text: string;
  ts: number;
}

export interface State {
  /** Seq of the last op applied; 0 for an empty journal. */
  seq: number;
  users: Map<string, UserRecord>;
  /** Display names in use → their account, compared by displayNameKey (SPEC §4 `chat rename`: refused if taken). */
  displayNames: DisplayNames;
  groups: Map<string, GroupRecord>;
  /** Group messages in seq order, per group. */
  groupMessages: Map<string, StoredMessage[]>;
  /** Direct messages in seq order, per unordered pair (directKey). */
  directMessages: Map<string, StoredMessage[]>;
  /** Broadcasts (`chat send --all`) in seq order. */
  broadcasts: StoredMessage[];
  /** `${from}\n${idKey}` → the message first stored with that key (SPEC §4 --id). */
  idempotency: Map<string, StoredMessage>;
  /** user → the users they share a direct thread with (derived index for FEED). */
  directPeers: Map<string, Set<string>>;
  /** group → file name → entry (SPEC §4 "Drive"); created with the group, dropped with it. */
  files: Map<string, Map<string, FileEntry>>;
  /**
   * sha256 → number of file versions (in any group) naming that blob. Derived index:
   * a blob with no references may be deleted (src/drive); replicas fetch what it names.
   */
  blobRefs: Map<string, number>;
  /** Messages ever stored, including those of groups deleted since. */
  messageCount: number;
  /**
   * Hash chain over every message ever stored, in seq order (messageDigestStep): the
   * "messages" part of stateDigest, kept incrementally so a status never rehashes a
   * million messages. Starts as 64 zeros.
   */
  messagesDigest: string;
}

export const ZERO_DIGEST = '0'.repeat(64);

export function createState(): State {
  return {
    seq: 0,
    users: new Map(),
    displayNames: new DisplayNames(),
    groups: new Map(),
    groupMessages: new Map(),
    directMessages: new Map(),
    broadcasts: [],
    idempotency: new Map(),
    directPeers: new Map(),
    files: new Map(),
    blobRefs: new Map(),
    messageCount: 0,
    messagesDigest: ZERO_DIGEST,
  };
}

/**
 * The form in which two display names are compared: NFKC, then full case folding
 * (upper then lower case: "ß" and "SS" meet), then runs of white space as one space.
 * "Ann", "ANN", "Ａｎｎ" (full width) and "A nn" with a no-break space are one
 * name, so nobody can take a name that reads like someone else's. Deterministic: it
 * uses only the Unicode tables, never the locale; names with characters unassigned in
 * this Node's Unicode version are refused before they reach a journal
 * (checkDisplayName), so the key of a stored name does not change with the runtime.
 * Look-alikes across scripts (Latin "a", Cyrillic "а") are not folded.
 */
export function displayNameKey(displayName: string): string {
  return displayName.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC').replace(/\s+/gu, ' ');
}

/**
 * The display names in use and the account holding each, keyed by displayNameKey.
 * Every method takes a display name as typed and compares its key; apply() is the
 * only writer (so the uniqueness rule is decided in one place, the same way on a
 * primary and a replica).
 */
export class DisplayNames {
  private readonly byKey = new Map<string, string>();

  /** The account whose display name reads like `displayName`, if any. */
  get(displayName: string): string | undefined {
    return this.byKey.get(displayNameKey(displayName));
  }

  has(displayName: string): boolean {
    return this.byKey.has(displayNameKey(displayName));
  }

  set(displayName: string, user: string): void {
    this.byKey.set(displayNameKey(displayName), user);
  }

  delete(displayName: string): boolean {
    return this.byKey.delete(displayNameKey(displayName));
  }

  get size(): number {
    return this.byKey.size;
  }
}

/** Key of the direct-message thread between two users, independent of order. */
export function directKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`;
}

export function idempotencyKey(from: string, idKey: string): string {
  return `${from}\n${idKey}`;
}
