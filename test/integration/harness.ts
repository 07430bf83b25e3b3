/**
 * Test harness: the real binaries, run as child processes.
 *
 * startServer() runs `bin/chat-server.js start` on 127.0.0.1:0 with a temp data dir
 * and waits for its "listening" log line (the server's documented contract) to learn
 * the port. chat() runs `bin/chat.js` once; spawnChat() keeps it running (tail, wait).
 * Each test user gets its own CHAT_CONFIG_DIR so stored sessions never mix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const SERVER_BIN = join(ROOT, 'bin/chat-server.js');
const CHAT_BIN = join(ROOT, 'bin/chat.js');

const made: string[] = [];
// Registered on import, so in vitest's default 'stack' order it runs after the test
// file's own afterAll hooks (which stop the servers using these dirs).
afterAll(() => { for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true }); });

/** A fresh temp dir, removed after the test file. */
export function tempDir(prefix = 'chat-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface ServerProcess {
  proc: ChildProcess;
  address: string;
  dataDir: string;
  logs: Array<Record<string, unknown>>;
  /** Sends the signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startServer(opts: { dataDir?: string; listen?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? tempDir('chat-data-');
  const proc = spawn(process.execPath,
    [SERVER_BIN, 'start', '--data', dataDir, '--listen', opts.listen ?? '127.0.0.1:0', '--log-level', 'info', ...(opts.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...opts.env } });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  const address = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // never leave an orphan server behind a failed start
      rej(new Error(`server did not start: ${JSON.stringify(logs)}`));
    }, 15_000);
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        logs.push(rec);
        if (rec.msg === 'listening') { clearTimeout(timer); res(String(rec.address)); }
      } catch {
        logs.push({ raw: line });
      }
    });
    void exited.then((code) => { clearTimeout(timer); rej(new Error(`server exited ${code}: ${JSON.stringify(logs)}`)); });
  });
  return {
    proc, address, dataDir, logs,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface ChatResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ChatOptions {
  server: string;
  /** Client state dir (session tokens): one per simulated user/device. */
  configDir: string;
  user?: string;
  password?: string;
  input?: string;
  env?: Record<string, string>;
}

function chatEnv(o: ChatOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CHAT_SERVER: o.server, CHAT_CONFIG_DIR: o.configDir, NO_COLOR: '1', ...o.env };
  delete env.CHAT_USER;
  delete env.CHAT_PASSWORD;
  if (o.user !== undefined) env.CHAT_USER = o.user;
  if (o.password !== undefined) env.CHAT_PASSWORD = o.password;
  return env;
}

/** Runs `chat ARGS…` to completion. */
export function chat(o: ChatOptions, args: string[]): Promise<ChatResult> {
  const proc = spawn(process.execPath, [CHAT_BIN, ...args], { env: chatEnv(o), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  proc.stdin.end(o.input ?? '');
  return new Promise((res) => proc.on('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

export interface LiveChat {
  proc: ChildProcess;
  lines: string[];
  errLines: string[];
  /** Resolves with the first stdout line matching `pred` (already seen or future). */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** The same for stderr lines. */
  waitForErr(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exit: Promise<number | string>;
}

function lineWaiter(name: string, lines: string[], watchers: Array<() => void>, other: string[]) {
  return (pred: (line: string) => boolean, timeoutMs = 10_000): Promise<string> => new Promise((res, rej) => {
    const check = (): boolean => {
      const hit = lines.find(pred);
      if (hit === undefined) return false;
      clearTimeout(timer);
      res(hit);
      return true;
    };
    const timer = setTimeout(() => rej(new Error(
      `no matching ${name} line in ${timeoutMs} ms; got ${JSON.stringify(lines)}; other stream ${JSON.stringify(other)}`)), timeoutMs);
    if (!check()) watchers.push(() => { check(); });
  });
}

/** Starts a long-running `chat` (tail, wait) and collects its stdout and stderr lines. */
export function spawnChat(o: ChatOptions, args: string[]): LiveChat {
  const proc = spawn(process.execPath, [CHAT_BIN, ...args], { env: chatEnv(o), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const errLines: string[] = [];
  const outWatchers: Array<() => void> = [];
  const errWatchers: Array<() => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => { lines.push(l); outWatchers.forEach((w) => w()); });
  createInterface({ input: proc.stderr! }).on('line', (l) => { errLines.push(l); errWatchers.forEach((w) => w()); });
  const exit = new Promise<number | string>((res) => proc.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  return {
    proc, lines, errLines, exit,
    waitForLine: lineWaiter('stdout', lines, outWatchers, errLines),
    waitForErr: lineWaiter('stderr', errLines, errWatchers, lines),
  };
}

/** Starts `chat tail ARGS` and resolves once it is subscribed. */
export async function startTail(o: ChatOptions, args: string[] = []): Promise<LiveChat> {
  const t = spawnChat(o, ['tail', ...args]);
  await t.waitForErr((l) => l.includes('listening for messages'));
  return t;
}

/** A loopback port nobody listens on (bound, then released). */
export function unusedPort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
