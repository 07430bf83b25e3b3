/**
 * Fan-out: who is connected, and live delivery of pushes.
 *
 * Contracts:
 *   - the registry holds authenticated connections only, by user; a user may have
 *     several connections (devices, a `chat tail` beside an interactive session);
 *   - MESSAGE, PRESENCE and GROUP_EVENT pushes go only to connections that sent
 *     LISTEN {on: true};
 *   - a user is online while at least one of their connections listens (a live
 *     session: interactive chat, chat tail, chat wait). One-shot commands (a cron
 *     `chat send`) log in without listening, so they never flash "online"/"offline"
 *     at everyone sharing a group; PRESENCE goes out when the count of listening
 *     connections goes from 0 to 1 and back;
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
  /** Authenticated connections counted as listening (see setListening). */
  private readonly listeners = new Set<Connection>();
  /** user → how many of their connections listen: the online users. */
  private readonly listening = new Map<string, number>();

  constructor(private readonly state: State) {}

  /** Registers an authenticated connection (not yet listening: nobody is told). */
  add(conn: Connection): void {
    const user = conn.user!;
    this.authed.add(conn);
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(conn);
  }

  /** Unregisters (logout or close); the user goes offline if it was their last listening connection. */
  remove(conn: Connection, user: string): void {
    this.unlisten(conn, user);
    if (!this.authed.delete(conn)) return;
    const set = this.byUser.get(user);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.byUser.delete(user);
  }

  /**
   * LISTEN on/off for an authenticated connection: sets conn.listening and keeps the
   * online count, telling the user's peers (PRESENCE) when it goes 0 → 1 or 1 → 0.
   */
  setListening(conn: Connection, on: boolean): void {
    const user = conn.user!;
    conn.listening = on;
    if (!on) {
      this.unlisten(conn, user);
      return;
    }
    if (this.listeners.has(conn)) return;
    this.listeners.add(conn);
    const n = (this.listening.get(user) ?? 0) + 1;
    this.listening.set(user, n);
    if (n === 1) this.presence(user, true);
  }

  private unlisten(conn: Connection, user: string): void {
    if (!this.listeners.delete(conn)) return;
    const n = (this.listening.get(user) ?? 1) - 1;
    if (n > 0) {
      this.listening.set(user, n);
      return;
    }
    this.listening.delete(user);
    this.presence(user, false);
  }

  /** Whether `user` has a live session (a listening connection). */
  isOnline(user: string): boolean {
    return this.listening.has(user);
  }

  onlineUsers(): string[] {
    return [...this.listening.keys()];
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
