/**
 * Fan-out: who is connected, and live delivery of pushes.
 *
 * Contracts:
 *   - the registry holds authenticated connections only, by user; a user may have
 *     several connections (devices, a `chat tail` beside an interactive session);
 *   - MESSAGE, PRESENCE and GROUP_EVENT pushes go only to connections that sent
 *     LISTEN {on: true};
 *   - every push is encoded ONCE and the same Buffer is queued on each connection
 *     (Connection.send batches the writes per turn), which is what makes a group
 *     fan-out cost O(members) queue appends rather than O(members) encodes;
 *   - callers fan out only after the op behind the push is durable (SPEC §8).
 */
import { encodePush } from '../protocol/messages.js';
import type { State, StoredMessage } from '../state/types.js';
import type { Connection } from './connection.js';

/** The MESSAGE schema's object for a stored message. */
export function messageToWire(m: StoredMessage): StoredMessage {
  return m; // StoredMessage has exactly the MESSAGE fields; absent group/to stay absent
}

export class Fanout {
  private readonly byUser = new Map<string, Set<Connection>>();
  /** Every authenticated connection. */
  private readonly authed = new Set<Connection>();

  constructor(private readonly state: State) {}

  /** Registers an authenticated connection; true when it is the user's first. */
  add(conn: Connection): boolean {
    const user = conn.user!;
    this.authed.add(conn);
    let set = this.byUser.get(user);
    const first = !set;
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(conn);
    return first;
  }

  /** Unregisters; true when `user` has no connection left. */
  remove(conn: Connection, user: string): boolean {
    if (!this.authed.delete(conn)) return false;
    const set = this.byUser.get(user);
    if (!set) return false;
    set.delete(conn);
    if (set.size > 0) return false;
    this.byUser.delete(user);
    return true;
  }

  isOnline(user: string): boolean {
    return this.byUser.has(user);
  }

  onlineUsers(): string[] {
    return [...this.byUser.keys()];
  }

  connectionsOf(user: string): ReadonlySet<Connection> | undefined {
    return this.byUser.get(user);
  }

  get connectionCount(): number {
    return this.authed.size;
  }

  private toUser(user: string, buf: Buffer): number {
    const set = this.byUser.get(user);
    if (!set) return 0;
    let n = 0;
    for (const c of set) {
      if (c.listening) {
        c.send(buf);
        n++;
      }
    }
    return n;
  }

  /** Delivers a stored message live; returns the number of connections reached. */
  message(m: StoredMessage): number {
    const buf = encodePush('MESSAGE', { message: messageToWire(m) });
    if (m.kind === 0) {
      const g = this.state.groups.get(m.group!);
      if (!g) return 0;
      let n = 0;
      for (const member of g.members.keys()) n += this.toUser(member, buf);
      return n;
    }
    if (m.kind === 1) {
      let n = this.toUser(m.from, buf);
      if (m.to !== m.from) n += this.toUser(m.to!, buf);
      return n;
    }
    let n = 0;
    for (const c of this.authed) {
      if (c.listening) {
        c.send(buf);
        n++;
      }
    }
    return n;
  }

  /** PRESENCE to the listening connections of everyone who shares a group with `user`. */
  presence(user: string, online: boolean): void {
    const peers = new Set<string>();
    for (const g of this.state.groups.values()) {
      if (!g.members.has(user)) continue;
      for (const m of g.members.keys()) if (m !== user) peers.add(m);
    }
    if (peers.size === 0) return;
    const buf = encodePush('PRESENCE', { user, online });
    for (const p of peers) this.toUser(p, buf);
  }

  /**
   * GROUP_EVENT to the listening connections of `recipients` (the group's members as
   * they were when the event happened, plus the affected user).
   */
  groupEvent(recipients: Iterable<string>, group: string, event: string, user: string, actor: string): void {
    const buf = encodePush('GROUP_EVENT', { group, event, user, actor });
    const seen = new Set<string>();
    for (const r of recipients) {
      if (seen.has(r)) continue;
      seen.add(r);
      this.toUser(r, buf);
    }
  }
}
