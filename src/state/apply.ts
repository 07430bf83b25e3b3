/**
 * apply(state, op): the only code that changes State (see types.ts).
 *
 * Contract: deterministic — the same ops in the same order always give the same
 * state; it reads nothing but its arguments (no clock, no randomness, no I/O) and
 * mutates only the state it is given, which it returns. It mutates in place because
 * copying a state of a million messages per op is not an option.
 *
 * Ops are validated by their producer (server handlers) against the current state
 * before they are applied; apply() re-checks the invariants it relies on and throws
 * ApplyError when an op cannot follow the state (a bug, or a journal that does not
 * belong to this state). It checks before it changes anything, so a throwing apply
 * leaves the state untouched.
 */
import { createHash } from 'node:crypto';
import {
  directKey, idempotencyKey,
  type GroupRecord, type Op, type State, type StoredMessage, type UserRecord,
} from './types.js';

export class ApplyError extends Error {
  constructor(readonly op: Op, reason: string) {
    super(`op ${op.seq} (${op.type}) cannot be applied: ${reason}`);
    this.name = 'ApplyError';
  }
}

function user(state: State, op: Op, name: string): UserRecord {
  const u = state.users.get(name);
  if (!u) throw new ApplyError(op, `no user "${name}"`);
  return u;
}

function group(state: State, op: Op, name: string): GroupRecord {
  const g = state.groups.get(name);
  if (!g) throw new ApplyError(op, `no group "${name}"`);
  return g;
}

function check(cond: boolean, op: Op, reason: string): void {
  if (!cond) throw new ApplyError(op, reason);
}

export function apply(state: State, op: Op): State {
  check(op.seq === state.seq + 1, op, `expected seq ${state.seq + 1}`);
  switch (op.type) {
    case 'user.create': {
      check(!state.users.has(op.name), op, `user "${op.name}" exists`);
      check(!state.displayNames.has(op.displayName), op, `display name "${op.displayName}" taken`);
      state.users.set(op.name, {
        name: op.name, displayName: op.displayName, passwordHash: op.passwordHash,
        age: op.age, gender: op.gender, admin: op.admin, createdTs: op.ts, sessions: new Map(),
      });
      state.displayNames.set(op.displayName, op.name);
      break;
    }
    case 'user.passwd': {
      const u = user(state, op, op.name);
      u.passwordHash = op.passwordHash;
      u.sessions.clear(); // a new password ends every remembered login
      break;
    }
    case 'user.rename': {
      const u = user(state, op, op.name);
      // Holder: whoever has a name that reads alike (displayNameKey); the user may
      // change the case or form of their own name.
      const holder = state.displayNames.get(op.displayName);
      check(holder === undefined || holder === op.name, op, `display name "${op.displayName}" taken`);
      state.displayNames.delete(u.displayName);
      u.displayName = op.displayName;
      state.displayNames.set(op.displayName, op.name);
      break;
    }
    case 'session.create':
      user(state, op, op.name).sessions.set(op.tokenHash, { device: op.device, createdTs: op.ts });
      break;
    case 'session.revoke':
      user(state, op, op.name).sessions.delete(op.tokenHash);
      break;
    case 'group.create': {
      check(!state.groups.has(op.group), op, `group "${op.group}" exists`);
      user(state, op, op.owner);
      state.groups.set(op.group, {
        name: op.group, private: op.private, owner: op.owner, createdTs: op.ts,
        members: new Map([[op.owner, 'owner']]), invited: new Set(),
      });
      state.groupMessages.set(op.group, []);
      state.files.set(op.group, new Map());
      break;
    }
    case 'group.join': {
      const g = group(state, op, op.group);
      user(state, op, op.user);
      check(!g.members.has(op.user), op, `"${op.user}" already a member`);
      g.invited.delete(op.user);
      g.members.set(op.user, 'member');
      break;
    }
    case 'group.leave': {
      const g = group(state, op, op.group);
      const role = g.members.get(op.user);
      check(role !== undefined && role !== 'owner', op, `"${op.user}" cannot leave`);
      g.members.delete(op.user);
      break;
    }
    case 'group.invite': {
      const g = group(state, op, op.group);
      user(state, op, op.user);
      check(!g.members.has(op.user), op, `"${op.user}" already a member`);
      g.invited.add(op.user);
      break;
    }
    case 'group.kick': {
      const g = group(state, op, op.group);
      check(g.members.get(op.user) !== 'owner', op, 'the owner cannot be kicked');
      g.members.delete(op.user);
      g.invited.delete(op.user);
      break;
    }
    case 'group.delete':
      group(state, op, op.group);
      for (const entry of state.files.get(op.group)?.values() ?? []) {
        for (const v of entry.versions) unrefBlob(state, v.sha256);
      }
      state.groups.delete(op.group);
      state.groupMessages.delete(op.group);
      state.files.delete(op.group);
      break;
    case 'group.role': {
      const g = group(state, op, op.group);
      const role = g.members.get(op.user);
      check(role !== undefined && role !== 'owner', op, `"${op.user}" is not a non-owner member`);
      g.members.set(op.user, op.role);
      break;
    }
    case 'message.send':
      applyMessage(state, op);
      break;
    case 'file.put':
      applyFilePut(state, op);
      break;
    case 'file.rm':
      applyFileRm(state, op);
      break;
    default: {
      const unknown: never = op;
      throw new ApplyError(unknown as Op, 'unknown op type');
    }
  }
  state.seq = op.seq;
  return state;
}

function applyMessage(state: State, op: Extract<Op, { type: 'message.send' }>): void {
  user(state, op, op.from);
  const key = op.idKey === undefined ? undefined : idempotencyKey(op.from, op.idKey);
  check(key === undefined || !state.idempotency.has(key), op, `idempotency key "${op.idKey}" reused`);
  const msg: StoredMessage = { seq: op.seq, kind: op.kind, from: op.from, text: op.text, ts: op.ts };
  if (op.kind === 0) {
    const list = state.groupMessages.get(op.group ?? '');
    check(list !== undefined, op, `no group "${op.group}"`);
    msg.group = op.group;
    list!.push(msg);
  } else if (op.kind === 1) {
    user(state, op, op.to ?? '');
    msg.to = op.to;
    const k = directKey(op.from, op.to!);
    const list = state.directMessages.get(k);
    if (list) list.push(msg);
    else {
      state.directMessages.set(k, [msg]);
      addPeer(state, op.from, op.to!);
      addPeer(state, op.to!, op.from);
    }
  } else {
    state.broadcasts.push(msg);
  }
  if (key !== undefined) state.idempotency.set(key, msg);
  state.messageCount++;
  state.messagesDigest = messageDigestStep(state.messagesDigest, msg);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function applyFilePut(state: State, op: Extract<Op, { type: 'file.put' }>): void {
  const files = state.files.get(op.group);
  check(files !== undefined, op, `no group "${op.group}"`);
  user(state, op, op.uploader);
  check(SHA256_HEX.test(op.sha256), op, 'sha256 is not 64 lowercase hex digits');
  check(Number.isSafeInteger(op.size) && op.size >= 0, op, 'bad size');
  let entry = files!.get(op.name);
  if (!entry) {
    entry = { name: op.name, owner: op.uploader, versions: [], nextVersion: 1 };
    files!.set(op.name, entry);
  } else if (entry.versions.length === 0) {
    entry.owner = op.uploader;
  }
  entry.versions.push({
    version: entry.nextVersion, size: op.size, sha256: op.sha256, uploader: op.uploader, ts: op.ts, seq: op.seq,
  });
  entry.nextVersion++;
  state.blobRefs.set(op.sha256, (state.blobRefs.get(op.sha256) ?? 0) + 1);
}

function applyFileRm(state: State, op: Extract<Op, { type: 'file.rm' }>): void {
  const entry = state.files.get(op.group)?.get(op.name);
  check(entry !== undefined && entry.versions.length > 0, op, `no file "${op.name}" in group "${op.group}"`);
  if (op.version === undefined) {
    for (const v of entry!.versions) unrefBlob(state, v.sha256);
    entry!.versions = [];
    return;
  }
  const i = entry!.versions.findIndex((v) => v.version === op.version);
  check(i >= 0, op, `no version ${op.version} of "${op.name}"`);
  unrefBlob(state, entry!.versions[i]!.sha256);
  entry!.versions.splice(i, 1);
}

function unrefBlob(state: State, sha256: string): void {
  const n = (state.blobRefs.get(sha256) ?? 0) - 1;
  if (n > 0) state.blobRefs.set(sha256, n);
  else state.blobRefs.delete(sha256);
}

function addPeer(state: State, user: string, peer: string): void {
  const set = state.directPeers.get(user);
  if (set) set.add(peer);
  else state.directPeers.set(user, new Set([peer]));
}

/**
 * One link of State.messagesDigest: sha256 hex of the previous digest (hex), a newline,
 * and the message as the JSON array [seq, kind, from, group|null, to|null, text, ts].
 * docs/STORAGE.md states the same definition; replicas compute it the same way.
 */
export function messageDigestStep(prev: string, m: StoredMessage): string {
  const canonical = JSON.stringify([m.seq, m.kind, m.from, m.group ?? null, m.to ?? null, m.text, m.ts]);
  return createHash('sha256').update(prev).update('\n').update(canonical).digest('hex');
}
