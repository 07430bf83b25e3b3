/**
 * The data-directory lock (src/journal/lock.ts): exclusive, names its holder, stale
 * locks (dead pid, reused pid, other boot, garbage) are taken over, a live or foreign
 * holder is CHAT_ERR_CONFLICT, and racing starters on a stale lock leave one winner.
 * The child-process cases load the build (dist/), which `npm test` makes first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatError } from '../../../src/common/errors.js';
import { DirLock, LOCK_FILE, parseLockInfo, processStartTime, type LockInfo } from '../../../src/journal/lock.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const LOCK_JS = pathToFileURL(join(ROOT, 'dist/journal/lock.js')).href;
const hasProc = existsSync('/proc/self/stat');

const dirs: string[] = [];
const children: ChildProcess[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'chat-lock-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function lockInfo(dir: string): LockInfo {
  return parseLockInfo(readFileSync(join(dir, LOCK_FILE), 'utf8'))!;
}

function writeLock(dir: string, fields: Partial<LockInfo>): void {
  const info: LockInfo = { holder: 'chat-server start', pid: 1, host: hostname(), since: new Date().toISOString(), nonce: 'n', ...fields };
  writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify(info)}\n`);
}

/** A node process that runs until killed. */
function sleeper(): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

async function conflict(p: Promise<unknown>): Promise<ChatError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ChatError);
  expect((err as ChatError).code).toBe('CHAT_ERR_CONFLICT');
  return err as ChatError;
}

/** Runs `script` (an ES module body with DirLock, dir and out() in scope) in a child. */
function child(dir: string, script: string): { proc: ChildProcess; lines: Promise<Array<Record<string, unknown>>>; first: Promise<Record<string, unknown>> } {
  const src = `const { DirLock } = await import(${JSON.stringify(LOCK_JS)}); const dir = ${JSON.stringify(dir)};
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
${script}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(proc);
  const got: Array<Record<string, unknown>> = [];
  let onFirst!: (o: Record<string, unknown>) => void;
  const first = new Promise<Record<string, unknown>>((r) => { onFirst = r; });
  createInterface({ input: proc.stdout! }).on('line', (l) => { const o = JSON.parse(l) as Record<string, unknown>; got.push(o); if (got.length === 1) onFirst(o); });
  const lines = new Promise<Array<Record<string, unknown>>>((r) => proc.on('exit', () => r(got)));
  return { proc, lines, first };
}

describe('DirLock', () => {
  it('creates DIR/LOCK naming its holder, refuses a second taker in the same process, and releases', async () => {
    const dir = tempDir();
    const { lock, tookOver } = await DirLock.acquire(dir, 'chat-server start');
    expect(tookOver).toBeUndefined();
    const info = lockInfo(dir);
    expect(info).toMatchObject({ holder: 'chat-server start', pid: process.pid, host: hostname() });
    expect(Date.parse(info.since)).toBeGreaterThan(Date.now() - 60_000);
    if (hasProc) expect(info.startTime).toBe(processStartTime(process.pid));

    const err = await conflict(DirLock.acquire(dir, 'chat-server useradd'));
    expect(err.message).toBe(`data directory ${dir} is in use by chat-server start (pid ${process.pid}, since ${info.since}); stop it first`);
    expect(lockInfo(dir).nonce).toBe(info.nonce); // the refused taker left it alone

    expect(lock.release()).toBe(true);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(lock.release()).toBe(true); // idempotent
    const again = await DirLock.acquire(dir, 'chat-server passwd');
    expect(again.tookOver).toBeUndefined();
    again.lock.release();
  });

  it('a lock held by another live process is CONFLICT naming it; nothing is changed', async () => {
    const dir = tempDir();
    const holder = sleeper();
    writeLock(dir, { pid: holder.pid!, holder: 'chat-server start', startTime: hasProc ? processStartTime(holder.pid!) : undefined });
    const before = readFileSync(join(dir, LOCK_FILE));
    const err = await conflict(DirLock.acquire(dir, 'chat-server useradd'));
    expect(err.message).toMatch(new RegExp(`^data directory .* is in use by chat-server start \\(pid ${holder.pid}, since .*\\); stop it first$`));
    expect(readFileSync(join(dir, LOCK_FILE))).toEqual(before);
  });

  it('a lock whose process is gone (SIGKILL, crash) is taken over and reported', async () => {
    const dir = tempDir();
    const pid = await deadPid();
    writeLock(dir, { pid, nonce: 'old' });
    const { lock, tookOver } = await DirLock.acquire(dir, 'chat-server start');
    expect(tookOver).toMatchObject({ pid, nonce: 'old' });
    expect(lockInfo(dir).pid).toBe(process.pid);
    lock.release();
  });

  it('a lock naming our own pid that this process does not hold is stale (pid reuse, e.g. a container restart)', async () => {
    const dir = tempDir();
    writeLock(dir, { pid: process.pid, nonce: 'previous-life' });
    const { lock, tookOver } = await DirLock.acquire(dir, 'chat-server start');
    expect(tookOver).toMatchObject({ nonce: 'previous-life' });
    lock.release();
  });

  it.skipIf(!hasProc)('a live pid that started at another time than the holder is pid reuse: stale', async () => {
    const dir = tempDir();
    const other = sleeper();
    await new Promise((r) => setTimeout(r, 50));
    writeLock(dir, { pid: other.pid!, startTime: '1', nonce: 'reused' });
    const { lock, tookOver } = await DirLock.acquire(dir, 'chat-server start');
    expect(tookOver).toMatchObject({ nonce: 'reused' });
    lock.release();
  });

  it.skipIf(!hasProc)('a lock from another boot is stale even if its pid runs now', async () => {
    const dir = tempDir();
    writeLock(dir, { pid: sleeper().pid!, bootId: 'not-this-boot', nonce: 'before-reboot' });
    const { lock, tookOver } = await DirLock.acquire(dir, 'chat-server start');
    expect(tookOver).toMatchObject({ nonce: 'before-reboot' });
    lock.release();
  });

  it('a lock from another host is never judged stale: CONFLICT saying which file to delete', async () => {
    const dir = tempDir();
    writeLock(dir, { host: 'elsewhere.example', pid: await deadPid() });
    const err = await conflict(DirLock.acquire(dir, 'chat-server start'));
    expect(err.message).toContain('on host elsewhere.example');
    expect(err.message).toContain(`delete ${join(dir, LOCK_FILE)}`);
  });

  it('an unreadable lock file: old is taken over, fresh is waited for (a starter writing it)', async () => {
    const dir = tempDir();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, 'garbage');
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(path, old, old);
    const first = await DirLock.acquire(dir, 'chat-server start');
    expect(first.tookOver).toEqual({ unreadable: 'garbage' });
    first.lock.release();

    writeFileSync(path, ''); // just created by someone; content follows
    const started = Date.now();
    const second = await DirLock.acquire(dir, 'chat-server start');
    expect(Date.now() - started).toBeGreaterThan(1000); // waited for it rather than stealing at once
    expect(second.tookOver).toEqual({ unreadable: '' });
    second.lock.release();
  });

  it('release leaves a lock that is no longer its own alone', async () => {
    const dir = tempDir();
    const { lock } = await DirLock.acquire(dir, 'chat-server start');
    writeLock(dir, { pid: 4242, nonce: 'someone-else' });
    expect(lock.release()).toBe(false);
    expect(lockInfo(dir).nonce).toBe('someone-else');
  });

  it('process.exit releases a held lock; SIGKILL leaves one behind that the next taker takes over', async () => {
    const dir = tempDir();
    const exiting = child(dir, `await DirLock.acquire(dir, 'chat-server start'); out({ held: true }); process.exit(3);`);
    expect(await exiting.lines).toEqual([{ held: true }]);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    const killed = child(dir, `await DirLock.acquire(dir, 'chat-server start'); out({ held: true }); setInterval(() => {}, 1000);`);
    await killed.first;
    await conflict(DirLock.acquire(dir, 'chat-server useradd')); // it runs
    killed.proc.kill('SIGKILL');
    await killed.lines;
    expect(lockInfo(dir).pid).toBe(killed.proc.pid);
    const { lock, tookOver } = await DirLock.acquire(dir, 'chat-server start');
    expect(tookOver).toMatchObject({ pid: killed.proc.pid });
    lock.release();
  });

  it('starters racing on a stale lock: exactly one wins, the others get CONFLICT', async () => {
    const dir = tempDir();
    writeLock(dir, { pid: await deadPid(), nonce: 'stale' });
    const racers = Array.from({ length: 8 }, () => child(dir, `
try {
  await DirLock.acquire(dir, 'racer ' + process.pid);
  out({ won: true });
  process.stdin.resume(); // hold the lock until the test has heard from everyone
  process.stdin.on('end', () => process.exit(0));
} catch (e) { out({ won: false, code: e.code }); process.exit(0); }`));
    const results = await Promise.all(racers.map((r) => r.first));
    for (const r of racers) r.proc.stdin!.end();
    await Promise.all(racers.map((r) => r.lines));
    expect(results.filter((r) => r.won)).toHaveLength(1);
    expect(results.filter((r) => !r.won).map((r) => r.code)).toEqual(Array(7).fill('CHAT_ERR_CONFLICT'));
  });
});
