/**
 * One process owns a data directory (SPEC §3), through the real binaries: useradd or a
 * second server on a live server's dir exits 6 with one line and writes nothing; a
 * SIGKILLed server's stale lock does not stop a restart; a journal write failure
 * (ENOSPC, injected with a preload module) stops the server with exit 1.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { chat, removeDir, ROOT, startServer, tempDir, type ServerProcess } from './harness.js';

const SERVER_BIN = join(ROOT, 'bin/chat-server.js');
/** The journal's only segment in a fresh data dir (docs/STORAGE.md). */
const segment = (dataDir: string): string => join(dataDir, 'journal', '00000000000000000001.seg');
const running: ServerProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop('SIGKILL');
  for (const d of dirs.splice(0)) removeDir(d);
});

async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<ServerProcess> {
  const s = await startServer(opts);
  running.push(s);
  if (opts.dataDir === undefined) dirs.push(s.dataDir);
  return s;
}

/** Runs `chat-server ARGS` to completion. */
function chatServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [SERVER_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((res) => p.on('close', (code) => res({ code: code ?? -1, stdout, stderr })));
}

describe('data directory lock', () => {
  it('useradd and a second start on a live server\'s dir exit 6 with one line; the journal is untouched', async () => {
    const s = await server();
    const cfg = tempDir();
    dirs.push(cfg);
    expect((await chat({ server: s.address, configDir: cfg, user: 'alice', password: 'pw-alice' }, ['register'])).code).toBe(0);
    const journal = segment(s.dataDir);
    const before = readFileSync(journal);
    const pid = s.proc.pid!;

    const add = await chatServer(['useradd', 'root', '--admin', '--data', s.dataDir], { CHAT_PASSWORD: 'root-pw' });
    expect(add.code).toBe(6);
    expect(add.stdout).toBe('');
    expect(add.stderr).toMatch(new RegExp(`^chat-server: data directory .* is in use by chat-server start \\(pid ${pid}, since [^)]*\\); stop it first\\n$`));

    const passwd = await chatServer(['passwd', 'alice', '--data', s.dataDir], { CHAT_PASSWORD: 'new-pw' });
    expect(passwd.code).toBe(6);
    expect(passwd.stderr.trim().split('\n')).toHaveLength(1);

    const second = await chatServer(['start', '--data', s.dataDir, '--listen', '127.0.0.1:0']);
    expect(second.code).toBe(6);
    expect(second.stderr).toMatch(new RegExp(`^chat-server: data directory .* is in use by chat-server start \\(pid ${pid},.*\\n$`));

    expect(readFileSync(journal)).toEqual(before);
    expect((await chat({ server: s.address, configDir: cfg, user: 'alice' }, ['whoami'])).code).toBe(0);

    // Stopped: the lock is gone and the offline tool works.
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(existsSync(join(s.dataDir, 'LOCK'))).toBe(false);
    expect((await chatServer(['useradd', 'root', '--data', s.dataDir], { CHAT_PASSWORD: 'root-pw' })).code).toBe(0);
  });

  it('after SIGKILL the stale lock is taken over: the restart listens first, then warns', async () => {
    const s = await server();
    const cfg = tempDir();
    dirs.push(cfg);
    expect((await chat({ server: s.address, configDir: cfg, user: 'alice', password: 'pw-alice' }, ['register'])).code).toBe(0);
    expect(await s.stop('SIGKILL')).toBe('SIGKILL');
    expect(JSON.parse(readFileSync(join(s.dataDir, 'LOCK'), 'utf8'))).toMatchObject({ pid: s.proc.pid, holder: 'chat-server start' });

    const again = await server({ dataDir: s.dataDir });
    for (let t = 0; t < 100 && again.logs.length < 2; t++) await new Promise((r) => setTimeout(r, 20));
    expect(again.logs[0]).toMatchObject({ msg: 'listening' });
    expect(again.logs[1]).toMatchObject({ level: 40, msg: 'data directory lock was left by a process that is gone; took it over', stale: { pid: s.proc.pid } });
    expect(JSON.parse(readFileSync(join(s.dataDir, 'LOCK'), 'utf8'))).toMatchObject({ pid: again.proc.pid });
    expect((await chat({ server: again.address, configDir: cfg, user: 'alice', password: 'pw-alice' }, ['whoami'])).code).toBe(0);
  });

  it('ENOSPC on a journal write stops the server (exit 1, fatal line), nothing acknowledged, lock released', async () => {
    const dataDir = tempDir('chat-data-');
    dirs.push(dataDir);
    const marker = join(dataDir, 'disk-full');
    // Once the marker file exists, every FileHandle.write fails like a full disk.
    const preload = join(dataDir, 'enospc.mjs');
    writeFileSync(preload, `import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
const fh = await open(${JSON.stringify(preload)}, 'r');
const proto = Object.getPrototypeOf(fh);
await fh.close();
const write = proto.write;
proto.write = function (...args) {
  if (existsSync(${JSON.stringify(marker)})) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
  return write.apply(this, args);
};
`);
    const s = await server({ dataDir, env: { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` } });
    const cfg = tempDir();
    dirs.push(cfg);
    const alice = { server: s.address, configDir: cfg, user: 'alice' };
    expect((await chat({ ...alice, password: 'pw-alice' }, ['register'])).code).toBe(0);
    expect((await chat(alice, ['group', 'create', 'dev'])).code).toBe(0);
    const size = readFileSync(segment(dataDir)).length;

    writeFileSync(marker, '');
    const sent = await chat(alice, ['send', '-g', 'dev', 'lost']);
    expect(sent.code).not.toBe(0);
    const code = await new Promise<number | null>((r) => {
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) r(s.proc.exitCode);
      else s.proc.once('exit', (c) => r(c));
    });
    expect(code).toBe(1); // it stopped on its own
    for (let t = 0; t < 100 && !s.logs.some((l) => l.level === 60); t++) await new Promise((r) => setTimeout(r, 20));
    expect(s.logs.find((l) => l.level === 60)).toMatchObject({ msg: 'journal write failed; stopping' });
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false); // released on the way out

    expect(readFileSync(segment(dataDir)).length).toBe(size); // the unacknowledged send is not there
    const again = await server({ dataDir });
    expect((await chat({ ...alice, server: again.address, password: 'pw-alice' }, ['whoami'])).code).toBe(0); // a warning would have come by now
    expect(again.logs.filter((l) => (l.level as number) >= 40)).toEqual([]); // no stale lock, no torn tail
  });
});
