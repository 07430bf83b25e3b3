/**
 * Helpers for chat-get's integration tests: the real bin/chat-get.js as a child
 * process, a drive set up through the real bin/chat.js, and a throttling TCP proxy.
 *
 * The proxy is how the kill tests slow a download down without touching product code:
 * it forwards client→server bytes as they come and server→client bytes at a fixed
 * rate, and counts the bytes it forwarded to each client connection (what the server
 * "sent" to chat-get, as far as chat-get could have received it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { chat, ROOT, tempDir, type ChatOptions } from './harness.js';
export { prng } from './prng.js';

const GET_BIN = join(ROOT, 'bin/chat-get.js');

export interface GetOptions extends ChatOptions {
  /** CHAT_STATE_DIR: where the resume log lives. */
  stateDir: string;
  cwd?: string;
}

function getEnv(o: GetOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CHAT_SERVER: o.server, CHAT_CONFIG_DIR: o.configDir, CHAT_STATE_DIR: o.stateDir, NO_COLOR: '1', ...o.env };
  delete env.CHAT_USER;
  delete env.CHAT_PASSWORD;
  delete env.CHAT_GET_RETRY_SECONDS;
  if (o.user !== undefined) env.CHAT_USER = o.user;
  if (o.password !== undefined) env.CHAT_PASSWORD = o.password;
  Object.assign(env, o.env);
  return env;
}

export interface GetRun {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Exit code, or the signal name. */
  exit: Promise<number | string>;
}

/** Starts `chat-get ARGS…` and collects its output. */
export function spawnGet(o: GetOptions, args: string[]): GetRun {
  const proc = spawn(process.execPath, [GET_BIN, ...args], { env: getEnv(o), cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | string>((res) => proc.on('close', (code, sig) => res(code ?? sig ?? -1)));
  return { proc, stdout: () => out, stderr: () => err, exit };
}

/** Runs `chat-get ARGS…` to completion. */
export async function chatGet(o: GetOptions, args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const r = spawnGet(o, args);
  const code = await r.exit;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/**
 * Runs `chat-get ARGS…` with stdout and stderr on a pseudo-terminal (util-linux
 * `script`), for the progress bars; resolves with everything the terminal showed.
 */
export function chatGetInTerminal(o: GetOptions, args: string[]): Promise<{ code: number; screen: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, GET_BIN, ...args].map(quote).join(' ');
  const proc = spawn('script', ['-qec', cmd, '/dev/null'], { env: getEnv(o), cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let screen = '';
  proc.stdout!.on('data', (d: Buffer) => { screen += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { screen += d.toString(); });
  return new Promise((res) => proc.on('close', (code) => res({ code: code ?? -1, screen })));
}

/** The --json lines of a run. */
export function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function fileSha(path: string): string {
  return sha256(fs.readFileSync(path));
}

/** Deterministic pseudo-random bytes (xorshift32) of length n. */
export function seededBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  for (let i = n - (n % 4); i < n; i++) b[i] = i & 0xff;
  return b;
}


export interface Drive {
  /** Options for user ann (owner of #ops) against `server`. */
  ann: ChatOptions;
  dir: string;
}

/** Registers ann, creates #ops (public), returns her options. */
export async function setUpDrive(server: string): Promise<Drive> {
  const dir = tempDir('chat-get-');
  const ann: ChatOptions = { server, configDir: join(dir, 'ann-cfg'), user: 'ann', password: 'ann-secret' };
  for (const args of [['register'], ['group', 'create', 'ops']]) {
    const r = await chat(ann, args);
    if (r.code !== 0) throw new Error(`chat ${args.join(' ')}: ${r.code} ${r.stderr}`);
  }
  return { ann, dir };
}

/** Uploads `data` as `name` in #ops through `chat upload`; returns the JSON file object. */
export async function upload(o: ChatOptions, dir: string, name: string, data: Buffer, group = 'ops'): Promise<Record<string, unknown>> {
  const src = join(dir, `upload-${process.hrtime.bigint()}`);
  fs.writeFileSync(src, data);
  try {
    const r = await chat(o, ['upload', '-g', group, src, `--as=${name}`, '--json']);
    if (r.code !== 0) throw new Error(`chat upload ${name}: ${r.code} ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  } finally {
    fs.rmSync(src, { force: true });
  }
}

export interface Proxy {
  port: number;
  address: string;
  /** Bytes forwarded server→client since the last reset(). */
  down: number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1:0 to 127.0.0.1:upstreamPort that passes server→client
 * bytes at `bytesPerSecond` (per connection). A refused upstream closes the client.
 */
export async function startProxy(upstreamPort: number, bytesPerSecond: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const proxy: Proxy = {
    port: 0, address: '', down: 0,
    reset() { proxy.down = 0; },
    close: () => new Promise<void>((res) => {
      for (const s of sockets) s.destroy();
      server.close(() => res());
    }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
    sockets.add(client);
    sockets.add(upstream);
    const start = Date.now();
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const end = () => {
      clearTimeout(timer);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      if (client.destroyed) return;
      client.write(d);
      sent += d.length;
      proxy.down += d.length;
      const due = start + (sent * 1000) / bytesPerSecond;
      const wait = due - Date.now();
      if (wait > 0) {
        upstream.pause();
        timer = setTimeout(() => upstream.resume(), wait);
      }
    });
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  proxy.port = (server.address() as net.AddressInfo).port;
  proxy.address = `127.0.0.1:${proxy.port}`;
  return proxy;
}

/** Polls until `pred()` is true (every 10 ms, at most timeoutMs). */
export async function until(pred: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Size of a file, or -1 when it does not exist. */
export function sizeOf(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch {
    return -1;
  }
}

/** The resume-log entries in the state dir of `o` (one directory per interrupted download). */
export function resumeEntries(o: GetOptions): string[] {
  try {
    return fs.readdirSync(join(o.stateDir, 'downloads'));
  } catch {
    return [];
  }
}
