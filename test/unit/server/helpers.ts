/**
 * A tiny raw-socket protocol client built from src/protocol only (not src/client),
 * and a server started in-process on 127.0.0.1:0 with a temp data dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterEach, vi } from 'vitest';
import type { ErrorCode } from '../../../src/common/errors.js';
import type { Payload } from '../../../src/protocol/codec.js';
import { PROTOCOL_VERSION, type CommandName } from '../../../src/protocol/commands.js';
import { FrameDecoder } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeRequest, type Decoded } from '../../../src/protocol/messages.js';
import { startServer, type ServerHandle, type StartOptions } from '../../../src/server/index.js';

/** A failed request: the ERROR frame's fields. */
export class Refused extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}

export class TestClient {
  readonly pushes: Decoded[] = [];
  /** Every frame received, in order (replies, pushes, errors). */
  readonly frames: Decoded[] = [];
  readonly closed: Promise<void>;
  private nextId = 1;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private readonly waiting = new Map<number, { resolve: (p: Payload) => void; reject: (e: Error) => void }>();
  private watchers: Array<() => void> = [];
  isClosed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) this.onFrame(decodeFrame(f));
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => {
      this.isClosed = true;
      for (const w of this.waiting.values()) w.reject(new Error('connection closed'));
      this.waiting.clear();
      this.notify();
      resolve();
    }));
  }

  static connect(port: number): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new TestClient(s)));
      s.once('error', reject);
    });
  }

  private onFrame(d: Decoded): void {
    this.frames.push(d);
    const w = d.reqId === 0 ? undefined : this.waiting.get(d.reqId);
    if (w) {
      this.waiting.delete(d.reqId);
      if (d.kind === 'error') w.reject(new Refused(d.payload.name, d.payload.message));
      else w.resolve(d.payload);
    } else {
      this.pushes.push(d);
    }
    this.notify();
  }

  private notify(): void {
    for (const w of this.watchers.splice(0)) w();
  }

  /** Sends a request; resolves with the reply payload, rejects with Refused. */
  request(name: CommandName, payload: Payload = {}): Promise<Payload> {
    const reqId = this.nextId++;
    const p = new Promise<Payload>((resolve, reject) => this.waiting.set(reqId, { resolve, reject }));
    this.socket.write(encodeRequest(name, reqId, payload));
    return p;
  }

  /** The error code a request fails with (throws if it succeeds). */
  async refusal(name: CommandName, payload: Payload = {}): Promise<Refused> {
    try {
      const r = await this.request(name, payload);
      throw new Error(`${name} succeeded unexpectedly: ${JSON.stringify(r)}`);
    } catch (err) {
      if (err instanceof Refused) return err;
      throw err;
    }
  }

  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves with the first frame (push or connection error) matching, already here or future. */
  waitFor(pred: (d: Decoded) => boolean, timeoutMs = 5000): Promise<Decoded> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.pushes.map((p) => [p.name, p.payload]))}`)), timeoutMs);
      const check = (): void => {
        const hit = this.pushes.find(pred);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else if (this.isClosed) {
          clearTimeout(timer);
          reject(new Error('closed before a matching frame arrived'));
        } else {
          this.watchers.push(check);
        }
      };
      check();
    });
  }

  messages(): Payload[] {
    return this.pushes.filter((p) => p.name === 'MESSAGE').map((p) => p.payload.message);
  }

  hello(): Promise<Payload> {
    return this.request('HELLO', { version: PROTOCOL_VERSION, client: 'test/0' });
  }

  async register(name: string, password = `pw-${name}`, extra: Payload = {}): Promise<Payload> {
    await this.hello();
    return this.request('REGISTER', { name, password, ...extra });
  }

  async login(name: string, password = `pw-${name}`): Promise<Payload> {
    await this.hello();
    return this.request('LOGIN', { name, password });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface TestServer {
  srv: ServerHandle;
  port: number;
  dataDir: string;
  logs: Array<Record<string, unknown>>;
  clients: TestClient[];
  client(): Promise<TestClient>;
  /** A connected client that has registered `name` (and, by default, turned LISTEN on). */
  user(name: string, listen?: boolean): Promise<TestClient>;
  stop(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'chat-srv-test-'));
}

/** A pino logger that records lines in `logs` (info and up unless told). */
export function captureLogger(logs: Array<Record<string, unknown>>, level = 'info'): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  return pino({ level }, sink);
}

export async function startTestServer(opts: Partial<StartOptions> = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const logs: Array<Record<string, unknown>> = [];
  const srv = await startServer({
    listen: '127.0.0.1:0',
    logger: captureLogger(logs),
    scrypt: { N: 1024, r: 8, p: 1 }, // fast hashes for tests; the format is the same
    ...opts,
    dataDir,
  });
  const clients: TestClient[] = [];
  const ts: TestServer = {
    srv, port: srv.address.port, dataDir, logs, clients,
    async client() {
      const c = await TestClient.connect(srv.address.port);
      clients.push(c);
      return c;
    },
    async user(name, listen = true) {
      const c = await ts.client();
      await c.register(name);
      if (listen) await c.request('LISTEN', { on: true });
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await srv.close();
    },
  };
  return ts;
}

/**
 * Per-test servers for the file (or describe block) that calls it: returns a starter
 * like startTestServer, and registers an afterEach that stops every server the test
 * started (newest first) and removes its data dir, whether the test passed or not.
 * Stopping twice is harmless (ServerHandle.close is idempotent), so a test may stop a
 * server itself, e.g. to restart on the same data dir.
 */
export function useTestServer(): (opts?: Partial<StartOptions>) => Promise<TestServer> {
  const started: TestServer[] = [];
  afterEach(async () => {
    let failure: unknown;
    for (const ts of started.splice(0).reverse()) {
      try {
        await ts.stop();
      } catch (err) {
        failure ??= err; // stop the others all the same
      } finally {
        removeDir(ts.dataDir);
      }
    }
    if (failure !== undefined) throw failure;
  });
  return async (opts = {}) => {
    const ts = await startTestServer(opts);
    started.push(ts);
    return ts;
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * For tests that open data dirs without a server: returns a maker of temp dirs that
 * are removed (and vi mocks restored) after each test.
 */
export function useScratchDirs(): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const d of dirs.splice(0)) removeDir(d);
  });
  return () => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Holds every journal fsync of this process (FileHandle datasync and sync: startServer
 * runs in-process, and the journal syncs through a FileHandle) until release(), so a
 * test can look at what the server does while a write is not yet durable.
 * restore() puts the real methods back; call it in a finally.
 */
export async function holdSyncs(): Promise<{ waiting(): number; release(): void; restore(): void }> {
  const probe = await open(join(tmpdir(), `chat-sync-probe-${process.pid}`), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void>; sync(): Promise<void> };
  await probe.close();
  rmSync(join(tmpdir(), `chat-sync-probe-${process.pid}`), { force: true });
  const real = { datasync: proto.datasync, sync: proto.sync };
  let holding = true;
  let waiting = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const held = (method: 'datasync' | 'sync') => function (this: unknown): Promise<void> {
    if (!holding) return real[method].call(this);
    waiting++;
    return gate.then(() => {
      waiting--;
      return real[method].call(this);
    });
  };
  proto.datasync = held('datasync');
  proto.sync = held('sync');
  return {
    waiting: () => waiting,
    release: () => {
      holding = false;
      release();
    },
    restore: () => {
      holding = false;
      release();
      proto.datasync = real.datasync;
      proto.sync = real.sync;
    },
  };
}
