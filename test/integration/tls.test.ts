/**
 * TLS end to end (SPEC §2 `--tls`, `--ca FILE` / `CHAT_TLS=1`, `CHAT_CA`; §3
 * `--tls-cert F --tls-key F`): the real chat-server serving a self-signed certificate
 * made by openssl for the test, and the real `chat` binary. One user gives the
 * options as flags, the other through the environment. A certificate the client does
 * not trust, and a client and server that disagree about TLS, fail at once with exit
 * 7 (network) and one line saying what to pass. Skipped where openssl is missing.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chat, removeDir, spawnChat, startServer, startTail, tempDir,
  type ChatOptions, type ChatResult, type LiveChat, type ServerProcess,
} from './harness.js';

interface CertFiles {
  cert: string;
  key: string;
}

/** A self-signed certificate for 127.0.0.1 in `dir` (PEM file paths), or undefined without openssl. */
function selfSigned(dir: string, name: string): CertFiles | undefined {
  const files = { cert: join(dir, `${name}.cert.pem`), key: join(dir, `${name}.key.pem`) };
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`,
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', files.key, '-out', files.cert], { stdio: 'ignore' });
    return files;
  } catch {
    return undefined;
  }
}

const certDir = tempDir('chat-tls-');
const served = selfSigned(certDir, 'server');
/** Another self-signed certificate: trusting it must not make the server's trusted. */
const stranger = served && selfSigned(certDir, 'stranger');
afterAll(() => removeDir(certDir));

/** How long a failing client may take before it counts as hanging. */
const FAIL_FAST_MS = 10_000;

/** Runs `chat ARGS` to its end: exit code and stderr lines; fails (killing it) after `limitMs`. */
async function exitsWithin(o: ChatOptions, args: string[], limitMs = FAIL_FAST_MS): Promise<{ code: number | null; err: string[] }> {
  const run: LiveChat = spawnChat(o, args);
  // 'close' comes after the exit and after stdout/stderr are drained, so every line is in.
  const closed = new Promise<number | null>((res) => run.proc.once('close', (code) => res(code)));
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((res) => { timer = setTimeout(() => res('hung'), limitMs); });
  const code = await Promise.race([closed, hung]);
  clearTimeout(timer);
  if (code === 'hung') {
    run.proc.kill('SIGKILL');
    throw new Error(`chat ${args.join(' ')} still running after ${limitMs} ms; stderr ${JSON.stringify(run.errLines)}`);
  }
  return { code, err: run.errLines };
}

function oneLine(r: ChatResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0];
}

describe.skipIf(!served || !stranger)('TLS end to end', () => {
  let server: ServerProcess;
  const live: LiveChat[] = [];
  const ca = served?.cert ?? '';
  /** ann gives --tls --ca as flags; TLS settings in the environment are cleared so only the flags count. */
  const ann = (extra: Partial<ChatOptions> = {}): ChatOptions =>
    ({ server: server.address, configDir: join(server.dataDir, 'cfg-ann'), user: 'ann', env: { CHAT_TLS: '', CHAT_CA: '' }, ...extra });
  const flags = ['--tls', '--ca', ca];
  /** ben uses CHAT_TLS=1 and CHAT_CA and no flags. */
  const ben = (extra: Partial<ChatOptions> = {}): ChatOptions =>
    ({ server: server.address, configDir: join(server.dataDir, 'cfg-ben'), user: 'ben', env: { CHAT_TLS: '1', CHAT_CA: ca }, ...extra });
  const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

  async function ok(o: ChatOptions, args: string[]): Promise<string> {
    const r = await chat(o, args);
    expect(r.stderr, `chat ${args.join(' ')}`).toBe('');
    expect(r.code).toBe(0);
    return r.stdout;
  }

  beforeAll(async () => {
    server = await startServer({ args: ['--tls-cert', served!.cert, '--tls-key', served!.key] });
  });
  afterAll(async () => {
    for (const t of live) t.proc.kill('SIGKILL');
    await server?.stop();
    if (server) removeDir(server.dataDir);
  });

  it('registers, sends and tails over TLS, with --tls --ca flags and with CHAT_TLS/CHAT_CA', async () => {
    expect(server.logs.find((l) => l.msg === 'listening')).toMatchObject({ tls: true });
    await ok(ann({ password: 'pw-ann' }), ['register', ...flags]);
    await ok(ben({ password: 'pw-ben' }), ['register']);
    await ok(ann(), ['group', 'create', 'sec', ...flags]);
    await ok(ben(), ['join', 'sec']);

    const benTail = await startTail(ben(), ['-g', 'sec', '--json']);
    const annTail = await startTail(ann(), ['--json', ...flags]);
    live.push(benTail, annTail);

    // `send` takes the fast path (no yargs): its --tls/--ca must work there too.
    const seq = Number((await ok(ann(), ['send', ...flags, '-g', 'sec', 'over', 'tls'])).trim());
    expect(seq).toBeGreaterThan(0);
    expect(json(await benTail.waitForLine((l) => l.includes('over tls'))))
      .toMatchObject({ seq, kind: 'group', from: 'ann', group: 'sec', text: 'over tls' });

    await ok(ben(), ['send', '--to', 'ann', 'reply from env']);
    expect(json(await annTail.waitForLine((l) => l.includes('reply from env'))))
      .toMatchObject({ kind: 'direct', from: 'ben', to: 'ann', text: 'reply from env' });
    await annTail.waitForLine((l) => l.includes('over tls')); // ann's own group message, unfiltered tail
  });

  it('refuses a certificate it does not trust: exit 7, one line pointing at --ca', async () => {
    const fresh = { configDir: join(server.dataDir, 'cfg-no-session'), password: 'pw-ann' };
    const noCa = await chat(ann(fresh), ['whoami', '--tls']);
    expect(noCa.code).toBe(7);
    expect(oneLine(noCa)).toMatch(/^chat: TLS to 127\.0\.0\.1:\d+ failed: .*self-signed.*--ca FILE \/ CHAT_CA/);

    const envNoCa = await chat(ben({ ...fresh, user: 'ben', password: 'pw-ben', env: { CHAT_TLS: '1', CHAT_CA: '' } }), ['whoami']);
    expect(envNoCa.code).toBe(7);
    expect(oneLine(envNoCa)).toMatch(/^chat: TLS to .* failed: .*CHAT_CA/);

    // Trusting some other self-signed certificate does not turn verification off.
    const wrongCa = await chat(ann(fresh), ['whoami', '--tls', '--ca', stranger!.cert]);
    expect(wrongCa.code).toBe(7);
    expect(oneLine(wrongCa)).toMatch(/^chat: TLS to .* failed: /);

    // None of that hurt the server.
    expect(JSON.parse(await ok(ann(), ['whoami', '--json', ...flags]))).toMatchObject({ name: 'ann' });
  });

  it('a plain client against the TLS server fails at once with 7, a one-shot and a tail alike', async () => {
    const plain = ann({ configDir: join(server.dataDir, 'cfg-plain'), password: 'pw-ann' });
    for (const args of [['whoami'], ['tail']]) {
      const r = await exitsWithin(plain, args);
      expect(r.code, args[0]).toBe(7);
      expect(r.err, args[0]).toHaveLength(1);
      expect(r.err[0]).toMatch(/^chat: server at 127\.0\.0\.1:\d+ closed the connection before answering HELLO .*--tls/);
    }
  });

  it('a TLS client against a plain server fails at once with 7, saying the server does not speak TLS', async () => {
    const plainServer = await startServer();
    try {
      const r = await exitsWithin({ server: plainServer.address, configDir: join(plainServer.dataDir, 'cfg'), user: 'ann', password: 'pw-ann' },
        ['whoami', ...flags]);
      expect(r.code).toBe(7);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^chat: TLS to 127\.0\.0\.1:\d+ failed: the server does not speak TLS/);
    } finally {
      await plainServer.stop();
      removeDir(plainServer.dataDir);
    }
  });
});
