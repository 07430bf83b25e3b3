/**
 * A drive for the FakeServer (FILE_INFO, FILE_READ, FILES), enough for chat-get's
 * unit tests: versions held in memory, membership from the fake's groups, and knobs to
 * cut connections after some bytes or to watch each read as it is served.
 */
import { createHash } from 'node:crypto';
import { ChatError } from '../../../src/common/errors.js';
import type { Payload } from '../../../src/protocol/codec.js';
import { ChatConnection } from '../../../src/client/connection.js';
import { FakeServer, type FakeConn } from './fake-server.js';

export interface FakeVersion { version: number; data: Buffer; sha256: string }

export class FakeDrive {
  readonly files = new Map<string, FakeVersion[]>();
  private nextVersion = new Map<string, number>();
  /** Data bytes served per connection. */
  served = new Map<FakeConn, number>();
  /** Destroy a connection once it has been served this many data bytes (then clears itself). */
  cutAfter: number | undefined;
  /** Called with each FILE_READ before it is answered. */
  onRead: ((p: Payload) => void) | undefined;
  reads: Payload[] = [];

  constructor(readonly server: FakeServer) {
    server.handlers.FILE_INFO = (c, p) => ({ file: this.info(p.group, this.version(c, p.group, p.name, p.version)) });
    server.handlers.FILE_READ = (c, p) => this.read(c, p);
    server.handlers.FILES = (c, p) => {
      this.member(c, p.group);
      return { files: [...this.files.entries()].filter(([k, v]) => k.startsWith(`${p.group}\u0000`) && v.length > 0)
        .map(([k, v]) => this.info(p.group, { ...v[v.length - 1], name: k.split('\u0000')[1] } as FakeVersion & { name: string }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)), more: false };
    };
  }

  /** Stores `data` as the next version of `name` in `group`; returns its version. */
  put(group: string, name: string, data: Buffer): FakeVersion {
    const key = `${group}\u0000${name}`;
    const version = (this.nextVersion.get(key) ?? 0) + 1;
    this.nextVersion.set(key, version);
    const v = { version, data, sha256: createHash('sha256').update(data).digest('hex') };
    this.files.set(key, [...(this.files.get(key) ?? []), v]);
    return v;
  }

  remove(group: string, name: string, version: number): void {
    const key = `${group}\u0000${name}`;
    this.files.set(key, (this.files.get(key) ?? []).filter((v) => v.version !== version));
  }

  private member(c: FakeConn, group: string): void {
    const g = this.server.groups.get(group);
    if (!g) throw new ChatError('CHAT_ERR_NOT_FOUND', `group "${group}" not found`);
    if (!g.members.has(c.user!)) throw new ChatError('CHAT_ERR_PERMISSION', `you are not a member of #${group}`);
  }

  private version(c: FakeConn, group: string, name: string, version: number): FakeVersion & { name: string } {
    this.member(c, group);
    const vs = this.files.get(`${group}\u0000${name}`) ?? [];
    if (vs.length === 0) throw new ChatError('CHAT_ERR_NOT_FOUND', `no file "${name}" in #${group}`);
    const v = version === 0 ? vs[vs.length - 1] : vs.find((x) => x.version === version);
    if (!v) throw new ChatError('CHAT_ERR_NOT_FOUND', `"${name}" has no version ${version}`);
    return { ...v, name };
  }

  private info(_group: string, v: FakeVersion & { name: string }): Payload {
    return { name: v.name, version: v.version, size: v.data.length, sha256: v.sha256, uploader: 'ann', ts: 1 };
  }

  private read(c: FakeConn, p: Payload): Payload {
    if (p.version < 1) throw new ChatError('CHAT_ERR_INVALID', 'version must be >= 1');
    const v = this.version(c, p.group, p.name, p.version);
    if (p.offset > v.data.length) throw new ChatError('CHAT_ERR_INVALID', 'offset past the end');
    this.reads.push(p);
    this.onRead?.(p);
    const data = v.data.subarray(p.offset, Math.min(v.data.length, p.offset + p.length));
    const total = (this.served.get(c) ?? 0) + data.length;
    this.served.set(c, total);
    if (this.cutAfter !== undefined && total > this.cutAfter) {
      this.cutAfter = undefined;
      c.socket.destroy();
    }
    return { data: Buffer.from(data) };
  }
}

/** A fake server with users ann (member of ops) and bob (not), and a drive. */
export async function fakeDrive(): Promise<{ server: FakeServer; drive: FakeDrive }> {
  const server = await new FakeServer().start();
  server.addUser('ann', 'pw-ann');
  server.addUser('bob', 'pw-bob');
  server.addGroup('ops', 'ann');
  return { server, drive: new FakeDrive(server) };
}

/** A connection logged in as `user`. */
export async function login(server: FakeServer, user = 'ann'): Promise<ChatConnection> {
  const conn = await ChatConnection.connect({ host: '127.0.0.1', port: server.port, retryDelaysMs: [] });
  await conn.request('LOGIN', { name: user, password: `pw-${user}`, ephemeral: true });
  return conn;
}

/** Deterministic bytes (a simple LCG), so failures are reproducible. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
