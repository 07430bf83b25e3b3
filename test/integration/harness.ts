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
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const SERVER_BIN = join(ROOT, 'bin/chat-server.js');
const CHAT_BIN = join(ROOT, 'bin/chat.js');

export function tempDir(prefix = 'chat-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface ServerProcess {
  proc: ChildProcess;
  address: string;
  dataDir: string;
  logs: Array<Record<string, unknown>>;
  /** Sends the signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startServer(opts: { dataDir?: string; args?: string[] } = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? tempDir('chat-data-');
  const proc = spawn(process.execPath,
    [SERVER_BIN, 'start', '--data', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'info', ...(opts.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  const address = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start: ${JSON.stringify(logs)}`)), 15_000);
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
  stderr: () => string;
  /** Resolves with the first stdout line matching `pred` (already seen or future). */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exit: Promise<number | string>;
}

/** Starts a long-running `chat` (tail, wait) and collects its stdout lines. */
export function spawnChat(o: ChatOptions, args: string[]): LiveChat {
  const proc = spawn(process.execPath, [CHAT_BIN, ...args], { env: chatEnv(o), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const watchers: Array<() => void> = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  createInterface({ input: proc.stdout! }).on('line', (l) => { lines.push(l); watchers.forEach((w) => w()); });
  const exit = new Promise<number | string>((res) => proc.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  return {
    proc, lines, exit, stderr: () => err,
    waitForLine(pred, timeoutMs = 10_000) {
      return new Promise((res, rej) => {
        const check = () => {
          const hit = lines.find(pred);
          if (hit !== undefined) { clearTimeout(timer); res(hit); return true; }
          return false;
        };
        const timer = setTimeout(() => rej(new Error(`no matching line in ${timeoutMs} ms; got ${JSON.stringify(lines)}; stderr ${err}`)), timeoutMs);
        if (!check()) watchers.push(() => { check(); });
      });
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
