/**
 * chat-server CLI: exit codes and one-line errors (SPEC §2, §3), run in-process.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeRecord, listSegments } from '../../../src/journal/journal.js';
import { writeJournalFiles } from '../../../src/journal/segments.js';
import { main } from '../../../src/server/cli.js';
import { DEFAULT_LIMITS, parseLimitFlags, resolveLimits } from '../../../src/server/limits.js';
import { Engine } from '../../../src/server/engine.js';
import { silentLogger } from '../../../src/common/logger.js';
import { removeDir, tempDir } from './helpers.js';

let stderr: string[];
let stdout: string[];
let dir: string;
beforeEach(() => {
  stderr = [];
  stdout = [];
  dir = tempDir();
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { stderr.push(String(s)); return true; });
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => { stdout.push(String(s)); return true; });
  delete process.env.CHAT_PASSWORD;
});
afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.CHAT_PASSWORD;
  removeDir(dir);
});

describe('chat-server useradd / passwd', () => {
  it('creates an account (0), refuses a taken name (6), sets a password (0), unknown user (4)', async () => {
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, 'secret\n');
    const data = join(dir, 'data');
    expect(await main(['useradd', 'root', '--admin', '--password-file', pwFile, '--data', data, '--log-level', 'silent'])).toBe(0);
    expect(stdout.join('')).toContain('created user "root" (admin)');
    expect(await main(['useradd', 'root', '--password-file', pwFile, '--data', data, '--log-level', 'silent'])).toBe(6);
    expect(stderr.join('')).toMatch(/^chat-server: user "root" already exists/m);
    process.env.CHAT_PASSWORD = 'other';
    expect(await main(['passwd', 'root', '--data', data, '--log-level', 'silent'])).toBe(0);
    expect(await main(['passwd', 'nobody', '--data', data, '--log-level', 'silent'])).toBe(4);

    const engine = await Engine.open({ dataDir: data, log: silentLogger() });
    const root = engine.state.users.get('root')!;
    await engine.close();
    expect(root.admin).toBe(true);
    expect(root.passwordHash).toMatch(/^scrypt\$/);
  });

  it('usage errors exit 2 with one line', async () => {
    expect(await main(['useradd', 'x', '--data', dir])).toBe(2); // no password source, stdin is no TTY
    expect(stderr.at(-1)).toMatch(/^chat-server: no password given/);
    expect(await main(['useradd', '-bad', '--data', dir])).toBe(2);
    expect(await main(['start', '--registration', 'maybe'])).toBe(2);
    expect(await main(['start', '--max-frame', '-1', '--data', dir])).toBe(2);
    expect(await main(['start', '--tls-cert', 'c.pem', '--data', dir])).toBe(2);
    expect(await main(['start', '--listen', 'nowhere', '--data', dir])).toBe(2);
    expect(await main(['frobnicate'])).toBe(2);
    for (const line of stderr) expect(line.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a flag given twice is a usage error naming it, not an internal error', async () => {
    expect(await main(['start', '--log-level', 'info', '--log-level', 'debug', '--data', dir])).toBe(2);
    expect(stderr.at(-1)).toMatch(/^chat-server: --log-level given 2 times; give it once/);
    expect(await main(['status', '--data', dir, '--data', dir])).toBe(2);
    expect(stderr.at(-1)).toMatch(/^chat-server: --data given 2 times/);
    expect(await main(['start', '--max-file-size', '10', '--max-file-size', '20', '--data', dir])).toBe(2);
    expect(stderr.at(-1)).toMatch(/^chat-server: --max-file-size given 2 times/);
  });
});

describe('chat-server start limit flags', () => {
  it('refuses a limit that is not a whole number in range: one line naming the flag, exit 2, nothing started', async () => {
    const cases: Array<[string, string]> = [
      ['--max-frame', '5000000000'], // over a u32: was "internal error (a bug)", exit 1
      ['--max-frame', '100'],
      ['--max-frame', '-1'],
      ['--max-conns-per-ip', '1.5'],
      ['--max-conns-per-ip', '0'],
      ['--login-attempts', '-3'],
      ['--auth-timeout', '0.5'],
      ['--auth-timeout', '99999'],
      ['--ping-interval', 'soon'],
      ['--max-text', '2.5'],
      ['--max-text', '2000000'], // over the default --max-frame
    ];
    for (const [flag, value] of cases) {
      stderr.length = 0;
      expect(await main(['start', '--data', dir, '--listen', '127.0.0.1:0', '--log-level', 'silent', flag, value]), `${flag} ${value}`).toBe(2);
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toMatch(new RegExp(`^chat-server: ${flag} must be .*\n$`));
      expect(stderr[0].trimEnd().split('\n')).toHaveLength(1);
    }
    stderr.length = 0;
    expect(await main(['start', '--data', dir, '--log-level', 'silent', '--max-frame'])).toBe(2); // no value
    expect(stderr[0]).toMatch(/^chat-server: .*max-frame/);
  });

  it('parses whole numbers into limits: seconds to ms, defaults kept, --max-text follows a small --max-frame', () => {
    expect(parseLimitFlags({ maxFrame: '8192', authTimeout: '3', pingInterval: 15, maxConnsPerIp: '1e2', loginAttempts: '5' })).toEqual({
      limits: { maxFrame: 8192, maxText: 8192, authTimeoutMs: 3000, pingIntervalMs: 15_000, maxConnsPerIp: 100, loginAttempts: 5 },
    });
    expect(parseLimitFlags({})).toEqual({ limits: {} });
    expect(parseLimitFlags({ maxText: String(DEFAULT_LIMITS.maxFrame) })).toEqual({ limits: { maxText: DEFAULT_LIMITS.maxFrame } });
    expect(parseLimitFlags({ maxFrame: '4096', maxText: '5000' })).toEqual({ error: '--max-text must be at most --max-frame (4096 bytes), got "5000"' });
  });

  it('startServer() limits (the API) must be positive integers, maxFrame within a u32', () => {
    expect(() => resolveLimits({ maxConnsPerIp: 1.5 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxInflight: -1 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxFrame: 5_000_000_000 })).toThrow(/maxFrame must be at most/);
    expect(resolveLimits({ maxFrame: 16, authTimeoutMs: 300 })).toMatchObject({ maxFrame: 16, authTimeoutMs: 300 });
  });
});

/** A directory this machine refuses to create (sysfs is never writable), or undefined. */
function refusedDir(): string | undefined {
  try {
    mkdirSync('/sys/chat-suite-test-data');
    return undefined;
  } catch (err) {
    return ['EPERM', 'EACCES', 'EROFS'].includes((err as NodeJS.ErrnoException).code ?? '') ? '/sys/chat-suite-test-data' : undefined;
  }
}
const REFUSED = refusedDir();

describe('chat-server start failures', () => {
  it.skipIf(REFUSED === undefined)('a data directory the system refuses exits 1 naming it and what to check, not "a bug"', async () => {
    expect(await main(['start', '--data', REFUSED!, '--listen', '127.0.0.1:0', '--log-level', 'silent'])).toBe(1);
    const line = stderr.join('');
    expect(line).toMatch(/^chat-server: mkdir \/sys\/chat-suite-test-data failed: (EPERM|EACCES|EROFS) \((check the permissions|the file system is read-only)[^\n]*\)\n$/);
    expect(line).not.toMatch(/a bug/);
  });

  it('an address in use exits 1 saying so', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      expect(await main(['start', '--data', dir, '--listen', `127.0.0.1:${port}`, '--log-level', 'silent'])).toBe(1);
      expect(stderr.at(-1)).toBe(`chat-server: cannot listen on 127.0.0.1:${port}: address in use\n`);
    } finally {
      busy.close();
    }
  });

  it('a journal damaged in the middle exits 8 naming the segment and offset', async () => {
    const ops = [1, 2, 3].map((seq) => ({ seq, ts: seq, type: 'message.send' as const, kind: 2 as const, from: 'a', text: 'x' }));
    const id = Buffer.alloc(16, 1);
    mkdirSync(join(dir, 'journal'));
    writeJournalFiles(join(dir, 'journal'), id, ops, 1 << 20);
    const file = listSegments(dir)[0].path;
    const buf = readFileSync(file);
    const second = 48 + encodeRecord(ops[0], id).length;
    buf[second + 12] ^= 0xff;
    writeFileSync(file, buf);
    expect(await main(['start', '--data', dir, '--listen', '127.0.0.1:0', '--log-level', 'silent'])).toBe(8);
    expect(stderr.at(-1)).toBe(`chat-server: journal damaged: journal/00000000000000000001.seg at byte ${second} (after seq 1): checksum mismatch; run: chat-server verify --data ${dir}\n`);
  });
});
