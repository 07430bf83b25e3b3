/**
 * A scripted stand-in for chat-server, just enough protocol for the client's unit
 * tests: real TCP on 127.0.0.1:0, real frames from src/protocol, a tiny in-memory
 * model (users, tokens, groups, messages). It is not the server and checks nothing
 * the server's own tests check; it lets client tests run before and apart from it.
 */
import net from 'node:net';
import { ChatError, type ErrorCode } from '../../../src/common/errors.js';
import type { Payload } from '../../../src/protocol/codec.js';
import { MESSAGE_KIND, PROTOCOL_VERSION, type CommandName } from '../../../src/protocol/commands.js';
import { FrameDecoder } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeError, encodePush, encodeReply } from '../../../src/protocol/messages.js';

export interface FakeConn {
  socket: net.Socket;
  user?: string;
  token?: string;
  listening: boolean;
  /** How the client left: 'bye' after BYE, 'end' for a FIN, 'reset' for an error. */
  ended?: 'end' | 'reset';
  requests: Array<{ name: CommandName; payload: Payload }>;
}

interface Group { name: string; private: boolean; owner: string; members: Map<string, string>; invited: Set<string> }

export interface FakeOptions { pingMs?: number }

export class FakeServer {
  readonly conns: FakeConn[] = [];
  readonly users = new Map<string, { password: string; displayName: string; age?: number; gender?: string }>();
  readonly tokens = new Map<string, string>();
  readonly groups = new Map<string, Group>();
  readonly sent: Payload[] = [];
  private readonly idKeys = new Map<string, Payload>();
  private seq = 100;
  /** What HELLO and STATUS report; a test may change it to play a replaced data directory. */
  journalId = 'f'.repeat(32);
  private server!: net.Server;
  port = 0;
  /** Override or add a handler: return a reply payload or throw a ChatError. */
  handlers: Partial<Record<CommandName, (c: FakeConn, p: Payload) => Payload | Promise<Payload>>> = {};

  constructor(readonly opts: FakeOptions = {}) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  addUser(name: string, password: string, displayName = name): void {
    this.users.set(name, { password, displayName });
  }

  addGroup(name: string, owner: string, members: string[] = [], isPrivate = false): void {
    this.groups.set(name, { name, private: isPrivate, owner, members: new Map([[owner, 'owner'], ...members.map((m) => [m, 'member'] as [string, string])]), invited: new Set() });
  }

  /** Stores and delivers a message as if `from` had sent it. */
  deliver(from: string, kind: number, target: string, text: string): Payload {
    const message: Payload = { seq: ++this.seq, kind, from, text, ts: Date.now() };
    if (kind === MESSAGE_KIND.GROUP) message.group = target;
    if (kind === MESSAGE_KIND.DIRECT) message.to = target;
    this.sent.push(message);
    for (const c of this.conns) {
      if (!c.listening || c.socket.destroyed) continue;
      const g = message.group ? this.groups.get(message.group) : undefined;
      const reaches = kind === MESSAGE_KIND.ALL || (g && g.members.has(c.user!)) || message.to === c.user || message.from === c.user;
      if (reaches) c.socket.write(encodePush('MESSAGE', { message }));
    }
    return message;
  }

  push(c: FakeConn, name: CommandName, payload: Payload = {}): void {
    c.socket.write(encodePush(name, payload));
  }

  private accept(socket: net.Socket): void {
    const c: FakeConn = { socket, listening: false, requests: [] };
    this.conns.push(c);
    const decoder = new FrameDecoder();
    socket.on('end', () => { c.ended ??= 'end'; socket.end(); });
    socket.on('error', () => { c.ended ??= 'reset'; });
    socket.on('data', (chunk) => {
      for (const frame of decoder.push(chunk)) {
        const msg = decodeFrame(frame);
        c.requests.push({ name: msg.name, payload: msg.payload });
        void this.answer(c, msg.name, msg.reqId, msg.payload);
      }
    });
  }

  private async answer(c: FakeConn, name: CommandName, reqId: number, p: Payload): Promise<void> {
    try {
      const handler = this.handlers[name] ?? ((conn: FakeConn, payload: Payload) => this.builtin(name, conn, payload));
      const reply = await handler(c, p);
      if (!c.socket.destroyed) c.socket.write(encodeReply(name, reqId, reply));
      if (name === 'BYE') c.socket.end();
    } catch (err) {
      const e = err instanceof ChatError ? err : new ChatError('CHAT_ERR_INTERNAL', String(err));
      if (!c.socket.destroyed) c.socket.write(encodeError(reqId, e.code, e.message));
    }
  }

  private groupView(g: Group, user: string, withMembers: boolean): Payload {
    return {
      name: g.name, private: g.private, owner: g.owner, memberCount: g.members.size, joined: g.members.has(user),
      members: withMembers ? [...g.members].map(([name, role]) => ({ name, role, online: false })) : undefined,
    };
  }

  private profile(name: string): Payload {
    const u = this.users.get(name)!;
    return { name, displayName: u.displayName, age: u.age, gender: u.gender, admin: false, createdTs: 0 };
  }

  private builtin(name: CommandName, c: FakeConn, p: Payload): Payload {
    const fail = (code: ErrorCode, message: string): never => { throw new ChatError(code, message); };
    const session = () => ({ token: `tok-${p.name}-${this.seq++}`, profile: this.profile(p.name) });
    if (!['HELLO', 'REGISTER', 'LOGIN', 'PING', 'BYE'].includes(name) && !c.user) fail('CHAT_ERR_NOT_AUTHENTICATED', 'log in first');
    const me = c.user!;
    switch (name) {
      case 'HELLO':
        return { version: PROTOCOL_VERSION, server: 'fake', role: 'primary', registration: true, maxFrame: 1 << 20, maxText: 4096, pingMs: this.opts.pingMs ?? 0,
          journalId: this.journalId, headSeq: this.seq };
      case 'PING': case 'BYE':
        return {};
      case 'STATUS':
        return { status: { role: 'primary', journalId: this.journalId, headSeq: this.seq, users: this.users.size, groups: this.groups.size,
          messages: this.sent.length, connections: this.conns.length, journalDigest: '0'.repeat(64), stateDigest: '0'.repeat(64), uptimeMs: 0 } };
      case 'LISTEN': // no catch-up here: it reports its head and delivers what comes after
        c.listening = p.on;
        return { headSeq: this.seq };
      case 'REGISTER': {
        if (this.users.has(p.name)) fail('CHAT_ERR_CONFLICT', `user name "${p.name}" is taken`);
        this.users.set(p.name, { password: p.password, displayName: p.displayName ?? p.name, age: p.age, gender: p.gender });
        const s = session();
        this.tokens.set(s.token, p.name);
        c.user = p.name;
        return s;
      }
      case 'LOGIN': {
        if (p.ephemeral === true && p.password === undefined) fail('CHAT_ERR_INVALID', 'an ephemeral LOGIN needs a password');
        const u = this.users.get(p.name);
        const ok = u && (p.password !== undefined ? p.password === u.password : this.tokens.get(p.token) === p.name);
        if (!ok) fail('CHAT_ERR_AUTH_FAILED', p.password !== undefined ? 'wrong user name or password' : 'session expired or revoked');
        if (p.password !== undefined && p.ephemeral === true) { // no stored session: token ""
          c.user = p.name;
          c.token = undefined;
          return { token: '', profile: this.profile(p.name) };
        }
        const s = p.token !== undefined ? { token: p.token, profile: this.profile(p.name) } : session();
        this.tokens.set(s.token, p.name);
        c.user = p.name;
        c.token = s.token;
        return s;
      }
      case 'LOGOUT':
        this.tokens.delete(c.token ?? '');
        return {};
      case 'WHOAMI':
        return { profile: this.profile(me) };
      case 'GROUPS':
        return { groups: [...this.groups.values()].filter((g) => !g.private || g.members.has(me)).map((g) => this.groupView(g, me, p.members)) };
      case 'GROUP_CREATE': {
        if (this.groups.has(p.group)) fail('CHAT_ERR_CONFLICT', `group "${p.group}" exists`);
        this.addGroup(p.group, me, [], p.private);
        return { group: this.groupView(this.groups.get(p.group)!, me, false) };
      }
      case 'GROUP_JOIN': {
        const g = this.groups.get(p.group) ?? fail('CHAT_ERR_NOT_FOUND', `group "${p.group}" not found`);
        if (g.private && !g.invited.has(me)) fail('CHAT_ERR_PERMISSION', `#${p.group} is private`);
        g.members.set(me, 'member');
        return { group: this.groupView(g, me, false) };
      }
      case 'GROUP_INVITE': {
        const g = this.groups.get(p.group) ?? fail('CHAT_ERR_NOT_FOUND', `group "${p.group}" not found`);
        if (g.owner !== me) fail('CHAT_ERR_PERMISSION', `only the owner or an admin of group "${p.group}" can invite`);
        g.invited.add(p.user);
        return {};
      }
      case 'USERS':
        return { users: [...this.users.keys()].map((n) => ({ name: n, displayName: this.users.get(n)!.displayName, online: this.conns.some((x) => x.user === n && !x.socket.destroyed) })) };
      case 'SEND': {
        const key = p.idKey !== undefined ? `${me}\u0000${p.idKey}` : undefined;
        if (key && this.idKeys.has(key)) return { message: this.idKeys.get(key), duplicate: true };
        if (p.kind === MESSAGE_KIND.GROUP) {
          const g = this.groups.get(p.target) ?? fail('CHAT_ERR_NOT_FOUND', `group "${p.target}" not found`);
          if (!g.members.has(me)) fail('CHAT_ERR_PERMISSION', `not a member of #${p.target}`);
        }
        const message = this.deliver(me, p.kind, p.target, p.text);
        if (key) this.idKeys.set(key, message);
        return { message, duplicate: false };
      }
      default:
        return fail('CHAT_ERR_INVALID', `${name} is not in the fake server`);
    }
  }
}
