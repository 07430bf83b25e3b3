/**
 * The one table of command codes (STYLE habit 4). PURE.
 *
 * Code ranges:
 *   0x01-0x5F  requests from the client; the server answers each with exactly one
 *              frame carrying the same reqId: the reply (code | 0x80) or ERROR.
 *   0x60-0x7E  pushes from the server (reqId 0), unsolicited events.
 *   0x7F       ERROR, the reply to a failed request (or reqId 0 for a connection error).
 *   0x81-0xDF  replies: request code | 0x80.
 * docs/PROTOCOL.md lists the same table; test/unit/protocol/docs-sync.test.ts keeps them equal.
 */
import type { Schema } from './codec.js';

export const PROTOCOL_VERSION = 2;
export const REPLY_BIT = 0x80;
export const ERROR_CODE = 0x7f;

// ---- shared payload shapes -------------------------------------------------------

/** A user as others see it. */
export const USER: Schema = [
  ['name', 'str'],
  ['displayName', 'str'],
  ['online', 'bool'],
];

/** The caller's own account. */
export const PROFILE: Schema = [
  ['name', 'str'],
  ['displayName', 'str'],
  ['age', { opt: 'u32' }],
  ['gender', { opt: 'str' }],
  ['admin', 'bool'],
  ['createdTs', 'u64'],
];

export const MEMBER: Schema = [
  ['name', 'str'],
  ['role', 'str'], // 'owner' | 'admin' | 'member'
  ['online', 'bool'],
];

export const GROUP: Schema = [
  ['name', 'str'],
  ['private', 'bool'],
  ['owner', 'str'],
  ['memberCount', 'u32'],
  ['joined', 'bool'], // the caller is a member
  ['members', { opt: { list: { struct: MEMBER } } }], // only when asked for
];

/** Message kinds: 0 group, 1 direct, 2 broadcast to everyone connected. */
export const MESSAGE_KIND = { GROUP: 0, DIRECT: 1, ALL: 2 } as const;
export type MessageKind = (typeof MESSAGE_KIND)[keyof typeof MESSAGE_KIND];

export const MESSAGE: Schema = [
  ['seq', 'u64'], // operation sequence that stored it
  ['kind', 'u8'],
  ['from', 'str'],
  ['group', { opt: 'str' }], // kind GROUP
  ['to', { opt: 'str' }], // kind DIRECT
  ['text', 'str'],
  ['ts', 'u64'], // milliseconds since the epoch, set by the server
];

/** A drive file version as clients see it (SPEC §2 --json file fields). */
export const FILE: Schema = [
  ['name', 'str'],
  ['version', 'u32'],
  ['size', 'u64'],
  ['sha256', 'str'], // lowercase hex
  ['uploader', 'str'],
  ['ts', 'u64'], // when this version was stored, ms since the epoch
];

/** `chat-server status` (SPEC §3). Digests are lowercase hex sha256. */
export const STATUS: Schema = [
  ['role', 'str'], // 'primary' (replicas: a later issue)
  ['journalId', 'str'], // 32 hex digits, chosen when the data directory was created
  ['headSeq', 'u64'],
  ['users', 'u32'],
  ['groups', 'u32'],
  ['messages', 'u64'], // every message ever stored
  ['connections', 'u32'], // authenticated connections
  ['journalDigest', 'str'],
  ['stateDigest', 'str'],
  ['uptimeMs', 'u64'],
];

const EMPTY: Schema = [];

// ---- the table ---------------------------------------------------------------------

export interface CommandSpec {
  readonly code: number;
  readonly name: string;
  /** What the request does, for docs/PROTOCOL.md. */
  readonly doc: string;
  readonly request: Schema;
  /** Reply payload schema (requests only). */
  readonly reply?: Schema;
  /** Usable before login (STYLE habit 3: dispatch enforces session state). */
  readonly beforeAuth?: boolean;
}

export const COMMANDS = {
  HELLO: {
    code: 0x01, name: 'HELLO', beforeAuth: true,
    doc: 'First frame on a connection: agree on the protocol version. Any other request before HELLO is refused. The reply also names the journal the server serves and its durable head (what `chat tail --resume` checks its saved position against).',
    request: [['version', 'u32'], ['client', 'str']],
    reply: [['version', 'u32'], ['server', 'str'], ['role', 'str'], ['registration', 'bool'],
      ['maxFrame', 'u32'], ['maxText', 'u32'], ['pingMs', 'u32'],
      // Which journal this server serves and its durable head at HELLO: a resuming
      // client checks its saved position against them without another request.
      ['journalId', 'str'], ['headSeq', 'u64']],
  },
  REGISTER: {
    code: 0x02, name: 'REGISTER', beforeAuth: true,
    doc: 'Create an account with its first-login profile and log in; returns a session token.',
    request: [['name', 'str'], ['password', 'str'], ['displayName', { opt: 'str' }],
      ['age', { opt: 'u32' }], ['gender', { opt: 'str' }], ['device', { opt: 'str' }]],
    reply: [['token', 'str'], ['profile', { struct: PROFILE }]],
  },
  LOGIN: {
    code: 0x03, name: 'LOGIN', beforeAuth: true,
    doc: 'Log in with a password (creates a session token) or with a token from an earlier login. With ephemeral=true and a password (one-shot commands), the password is checked as usual but no session is stored or journalled: the reply\'s token is "", and the connection stays logged in until it closes or sends LOGOUT. ephemeral with a token is INVALID.',
    request: [['name', 'str'], ['password', { opt: 'str' }], ['token', { opt: 'str' }], ['device', { opt: 'str' }],
      ['ephemeral', { opt: 'bool' }]],
    reply: [['token', 'str'], ['profile', { struct: PROFILE }]],
  },
  LOGOUT: {
    code: 0x04, name: 'LOGOUT',
    doc: 'Revoke the session token used by this connection, which stays open, logged out. Other connections logged in with the same token get GOODBYE and are closed. On a connection logged in ephemerally it only logs the connection out (nothing is stored).',
    request: EMPTY, reply: EMPTY,
  },
  WHOAMI: {
    code: 0x05, name: 'WHOAMI',
    doc: 'The caller\'s profile.',
    request: EMPTY, reply: [['profile', { struct: PROFILE }]],
  },
  PASSWD: {
    code: 0x06, name: 'PASSWD',
    doc: 'Change the password; every other session of the account is revoked (this connection\'s token stays valid; a connection logged in ephemerally keeps its login, and every stored session is revoked). Other connections of the account logged in on a revoked session or ephemerally get GOODBYE "password changed; log in again" and are closed.',
    request: [['oldPassword', 'str'], ['newPassword', 'str']], reply: EMPTY,
  },
  RENAME: {
    code: 0x07, name: 'RENAME',
    doc: 'Change the display name; CONFLICT when another account uses it or one that reads alike (compared after NFKC, case folding and space folding; your own name in another case is fine). Control, format and invisible characters are refused.',
    request: [['displayName', 'str']], reply: [['profile', { struct: PROFILE }]],
  },
  PING: {
    code: 0x08, name: 'PING', beforeAuth: true,
    doc: 'Keepalive; also the answer to a server PING push.',
    request: EMPTY, reply: EMPTY,
  },
  BYE: {
    code: 0x09, name: 'BYE', beforeAuth: true,
    doc: 'Clean goodbye: the server replies, then closes; others see the user leave.',
    request: EMPTY, reply: EMPTY,
  },
  LISTEN: {
    code: 0x0a, name: 'LISTEN',
    doc: 'Start (or stop) receiving pushes on this connection: MESSAGE for everything addressed to the user, PRESENCE and GROUP_EVENT. Off by default; without it the connection gets no MESSAGE, PRESENCE or GROUP_EVENT. Turning it on first pushes, in seq order and before the reply, every stored message addressed to the user with seq > afterSeq (absent: the durable head when the connection was accepted), so nothing stored after connecting is missed; a client drops a MESSAGE whose seq it has already seen. More than 10000 such messages, or more than 4 MiB of them (a quarter of the slow-consumer cap when that is smaller), gets TOO_LARGE (page with FEED first). headSeq: the durable head when listening began.',
    request: [['on', 'bool'], ['afterSeq', { opt: 'u64' }]], reply: [['headSeq', 'u64']],
  },
  STATUS: {
    code: 0x0b, name: 'STATUS', beforeAuth: true,
    doc: 'Server status for monitoring (`chat-server status --server`), allowed before login: only aggregate numbers. headSeq is the durable head; both digests are taken at exactly headSeq (docs/STORAGE.md defines them).',
    request: EMPTY, reply: [['status', { struct: STATUS }]],
  },
  GROUPS: {
    code: 0x10, name: 'GROUPS',
    doc: 'List public groups and the private groups the caller belongs to or is invited to.',
    request: [['members', 'bool']], reply: [['groups', { list: { struct: GROUP } }]],
  },
  GROUP_CREATE: {
    code: 0x11, name: 'GROUP_CREATE',
    doc: 'Create a group; the caller becomes its owner. A taken name, public or private, gets CONFLICT `group name "x" is taken (choose another)`: names are unique, so this reveals that the name is in use and nothing else.',
    request: [['group', 'str'], ['private', 'bool']], reply: [['group', { struct: GROUP }]],
  },
  GROUP_JOIN: {
    code: 0x12, name: 'GROUP_JOIN',
    doc: 'Join a public group, or a private one after an invite.',
    request: [['group', 'str']], reply: [['group', { struct: GROUP }]],
  },
  GROUP_LEAVE: {
    code: 0x13, name: 'GROUP_LEAVE',
    doc: 'Leave a group. The owner must delete the group instead.',
    request: [['group', 'str']], reply: EMPTY,
  },
  GROUP_INVITE: {
    code: 0x14, name: 'GROUP_INVITE',
    doc: 'Owner/admin: invite a user (needed to join a private group).',
    request: [['group', 'str'], ['user', 'str']], reply: EMPTY,
  },
  GROUP_KICK: {
    code: 0x15, name: 'GROUP_KICK',
    doc: 'Owner/admin: remove a member (and any invite). Admins cannot kick the owner or other admins.',
    request: [['group', 'str'], ['user', 'str']], reply: EMPTY,
  },
  GROUP_DELETE: {
    code: 0x16, name: 'GROUP_DELETE',
    doc: 'Owner/admin: delete the group.',
    request: [['group', 'str']], reply: EMPTY,
  },
  GROUP_ROLE: {
    code: 0x17, name: 'GROUP_ROLE',
    doc: 'Owner: make a member an admin or a plain member again.',
    request: [['group', 'str'], ['user', 'str'], ['role', 'str']], reply: EMPTY,
  },
  USERS: {
    code: 0x20, name: 'USERS',
    doc: 'Users online, or every account with all=true. Online: at least one of the user\'s connections listens (LISTEN on: an interactive chat, chat tail, chat wait); a one-shot command that only sends or reads does not make its user appear online.',
    request: [['all', 'bool']], reply: [['users', { list: { struct: USER } }]],
  },
  SEND: {
    code: 0x30, name: 'SEND',
    doc: 'Store a message (group, direct or broadcast) and deliver it live. idKey makes a retry idempotent per sender.',
    request: [['kind', 'u8'], ['target', 'str'], ['text', 'str'], ['idKey', { opt: 'str' }]],
    reply: [['message', { struct: MESSAGE }], ['duplicate', 'bool']],
  },
  HISTORY: {
    code: 0x31, name: 'HISTORY',
    doc: 'Stored messages of one conversation in seq order (SPEC §4 `chat history`): a group the caller belongs to (kind 0, else PERMISSION; NOT_FOUND when the caller cannot see it) or the direct thread with `target` (kind 1). Selects messages with afterSeq < seq <= upToSeq (0: the durable head, returned in the reply) and, when maxAgeMs > 0, ts >= server now - maxAgeMs; with last > 0 only the last `last` of those. One reply holds what fits in a frame; `more` says to ask again with afterSeq = the last seq received, last = what is still wanted (0 stays 0), maxAgeMs = 0 and the same upToSeq.',
    request: [['kind', 'u8'], ['target', 'str'], ['afterSeq', 'u64'], ['maxAgeMs', 'u64'], ['last', 'u32'], ['upToSeq', 'u64']],
    reply: [['messages', { list: { struct: MESSAGE } }], ['more', 'bool'], ['upToSeq', 'u64']],
  },
  SEARCH: {
    code: 0x32, name: 'SEARCH',
    doc: 'Messages of one conversation (kind/target as HISTORY, same rights) that contain every word of `query` as a whole word, ignoring case, newest first, only seq < beforeSeq (0: from the newest). At most `limit` messages (0: as many as fit). The server examines a bounded number of messages per request; `more` says to ask again with beforeSeq = `nextBeforeSeq` (the reply may hold fewer than limit, even none, and still have more).',
    request: [['kind', 'u8'], ['target', 'str'], ['query', 'str'], ['beforeSeq', 'u64'], ['limit', 'u32']],
    reply: [['messages', { list: { struct: MESSAGE } }], ['more', 'bool'], ['nextBeforeSeq', 'u64']],
  },
  FEED: {
    code: 0x33, name: 'FEED',
    doc: 'Everything addressed to the caller (messages of the groups they belong to now, their direct messages, broadcasts) with afterSeq < seq <= upToSeq (0: the durable head, returned), in seq order; paged like HISTORY (`more`: ask again with afterSeq = the last seq received). `chat tail --resume` reads what it missed with it, then sends LISTEN with afterSeq.',
    request: [['afterSeq', 'u64'], ['upToSeq', 'u64']],
    reply: [['messages', { list: { struct: MESSAGE } }], ['more', 'bool'], ['upToSeq', 'u64']],
  },
  // ---- drive (SPEC §4 "Drive", §6) ----
  // Rights (every drive request): the caller must be a member of the group, else
  // PERMISSION, or NOT_FOUND for a private group the caller cannot see (as HISTORY);
  // a non-member learns nothing about the files, not even their names.
  UPLOAD_BEGIN: {
    code: 0x40, name: 'UPLOAD_BEGIN',
    doc: 'Start uploading `size` bytes as a new version of file `name` in `group`. Checked before any data flows: the name (SPEC §8), the size limit (TOO_LARGE, also when the server lacks the disk space), membership, and, when the name has versions, that the caller is the file\'s owner or a group owner/admin (PERMISSION). The reply gives an uploadId for this connection and the largest chunk UPLOAD_CHUNK accepts. Closing the connection abandons its unfinished uploads.',
    request: [['group', 'str'], ['name', 'str'], ['size', 'u64']],
    reply: [['uploadId', 'u32'], ['chunkSize', 'u32']],
  },
  UPLOAD_CHUNK: {
    code: 0x41, name: 'UPLOAD_CHUNK',
    doc: 'The next bytes of an upload, in order: `offset` must equal the bytes received so far (else INVALID) and the total must not pass the size declared at UPLOAD_BEGIN. Replied once written to the server\'s temp file; a client keeps a few chunks in flight.',
    request: [['uploadId', 'u32'], ['offset', 'u64'], ['data', 'bytes']],
    reply: [['received', 'u64']],
  },
  UPLOAD_END: {
    code: 0x42, name: 'UPLOAD_END',
    doc: 'Finish an upload: the server checks that every declared byte arrived and that their sha256 equals the one declared here (else CHAT_ERR_INTEGRITY and the upload is dropped), stores the blob durably (once per content), re-checks the rights, then journals the new version and replies with it. Members listening get FILE_EVENT.',
    request: [['uploadId', 'u32'], ['sha256', 'str']],
    reply: [['file', { struct: FILE }]],
  },
  UPLOAD_ABORT: {
    code: 0x43, name: 'UPLOAD_ABORT',
    doc: 'Abandon an upload and delete what was received. An unknown uploadId is NOT_FOUND.',
    request: [['uploadId', 'u32']], reply: EMPTY,
  },
  FILES: {
    code: 0x44, name: 'FILES',
    doc: 'The files of a group, by name (UTF-16 order): the latest version of each, or every version (ascending) with versions=true. Paged: only files after (afterName, afterVersion) — names after afterName, or with versions=true also the versions of afterName above afterVersion; "" and 0 start at the beginning — and as many as fit in a frame; `more` says to ask again with the last file\'s name and version.',
    request: [['group', 'str'], ['versions', 'bool'], ['afterName', 'str'], ['afterVersion', 'u32']],
    reply: [['files', { list: { struct: FILE } }], ['more', 'bool']],
  },
  FILE_INFO: {
    code: 0x45, name: 'FILE_INFO',
    doc: 'One version of a file (version 0: the latest). NOT_FOUND names what is missing (file or version).',
    request: [['group', 'str'], ['name', 'str'], ['version', 'u32']],
    reply: [['file', { struct: FILE }]],
  },
  FILE_READ: {
    code: 0x46, name: 'FILE_READ',
    doc: 'Bytes of one version (version >= 1) from `offset`: at most `length` bytes (length at most maxFrame - 64; fewer only at the end of the file, none at offset = size). An offset past the size is INVALID; a version removed meanwhile is NOT_FOUND. Reads stream from the blob; a client keeps a window of reads in flight.',
    request: [['group', 'str'], ['name', 'str'], ['version', 'u32'], ['offset', 'u64'], ['length', 'u32']],
    reply: [['data', 'bytes']],
  },
  FILE_RM: {
    code: 0x47, name: 'FILE_RM',
    doc: 'Remove one version (version >= 1) or every version (version 0) of a file: allowed to the file\'s owner, the uploader of that version, and the group\'s owner/admins. Replies how many versions went. Version numbers are never reused.',
    request: [['group', 'str'], ['name', 'str'], ['version', 'u32']],
    reply: [['removed', 'u32']],
  },
  // ---- pushes ----
  MESSAGE: {
    code: 0x60, name: 'MESSAGE',
    doc: 'Push: a stored message addressed to the user (after LISTEN).',
    request: [['message', { struct: MESSAGE }]],
  },
  PING_PUSH: {
    code: 0x61, name: 'PING_PUSH',
    doc: 'Push: the server checks the client is alive; answer with PING within the ping interval.',
    request: EMPTY,
  },
  PRESENCE: {
    code: 0x62, name: 'PRESENCE',
    doc: 'Push: a user who shares a group with you came online (their first connection listening) or went away (their last listening connection stopped, logged out or closed); only to connections that sent LISTEN on.',
    request: [['user', 'str'], ['online', 'bool']],
  },
  GROUP_EVENT: {
    code: 0x63, name: 'GROUP_EVENT',
    doc: 'Push: membership change in one of your groups (join, leave, kick, invite, delete, role); only to connections that sent LISTEN on.',
    request: [['group', 'str'], ['event', 'str'], ['user', 'str'], ['actor', 'str']],
  },
  GOODBYE: {
    code: 0x64, name: 'GOODBYE',
    doc: 'Push: the server is going away (shutdown) or is closing this connection; reason says why.',
    request: [['reason', 'str']],
  },
  FILE_EVENT: {
    code: 0x65, name: 'FILE_EVENT',
    doc: 'Push: a file version was stored (event "upload") or removed ("remove") in one of your groups; only to connections that sent LISTEN on.',
    request: [['group', 'str'], ['event', 'str'], ['file', { struct: FILE }], ['actor', 'str']],
  },
  ERROR: {
    code: ERROR_CODE, name: 'ERROR',
    doc: 'Reply to a failed request (same reqId), or a connection error (reqId 0). code is a wire error code.',
    request: [['code', 'u16'], ['name', 'str'], ['message', 'str']],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export const COMMAND_BY_CODE = new Map<number, CommandSpec>(
  Object.values(COMMANDS).map((c) => [c.code, c as CommandSpec]),
);

export function isPushCode(code: number): boolean {
  return code >= 0x60 && code <= 0x7e;
}
