#!/usr/bin/env node
/**
 * One-shot `chat send` wall time (SPEC §9: ≤ 2× `node -e 0`).
 *
 *   node bench/send-startup.js [--quick] [--runs N] [--out FILE]
 *
 * Starts the real server (bench/lib/server-proc.js) on 127.0.0.1:0 with a temp data
 * dir, registers a user and creates a group over the raw protocol, runs `chat login`
 * once (password from CHAT_PASSWORD, token stored under CHAT_CONFIG_DIR), then times
 * `node bin/chat.js send --server H:P --user U -g G hello` — without CHAT_PASSWORD,
 * so it must use the stored token — against `node -e 0`, alternating the two, after
 * one warm-up of each. The send's time includes the server's durable write (fsync)
 * before it answers, as SPEC §4 requires. Each command is bounded by a timeout.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawClient } from './lib/raw-client.js';
import { startChild } from './lib/proc.js';
import { machine, median, parseFlags } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const RUNS = Number(flags.runs ?? (QUICK ? 5 : 11));
const log = (...a) => console.error('[send-startup]', ...a);

function timed(args, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

async function main() {
  const result = { bench: 'send-startup', date: new Date().toISOString(), machine: machine(), quick: QUICK, runs: RUNS,
    command: `node bench/send-startup.js${QUICK ? ' --quick' : ''}`, notes: [] };
  const out = flags.out ? String(flags.out) : null;
  const finish = () => {
    if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  };
  const missing = ['dist/server/index.js', 'bin/chat.js'].filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) {
    result.notes.push(`not measured: ${missing.join(', ')} missing`);
    log(result.notes[0]);
    finish();
    return;
  }

  const tmp = join(ROOT, '.bench-tmp', `send-${process.pid}`);
  const configDir = join(tmp, 'config');
  mkdirSync(configDir, { recursive: true });
  const srv = await startChild(join(HERE, 'lib/server-proc.js'), { dataDir: join(tmp, 'data') });
  try {
    const server = `${srv.host}:${srv.port}`;
    const user = 'bench-sender';
    const password = 'bench-password-1';
    const group = 'bench-startup';
    const c = await RawClient.connect({ host: srv.host, port: srv.port });
    await c.request('REGISTER', { name: user, password, device: 'bench' });
    await c.request('GROUP_CREATE', { group, private: false });
    c.close();

    // No CHAT_PASSWORD or CHAT_SERVER from the caller's environment: the timed send
    // must find its token under CHAT_CONFIG_DIR. HOME points into the temp dir too.
    const base = { ...process.env, CHAT_CONFIG_DIR: configDir, HOME: tmp };
    for (const k of ['CHAT_PASSWORD', 'CHAT_SERVER', 'CHAT_USER']) delete base[k];
    const login = timed(['bin/chat.js', 'login', '--server', server, '--user', user], { ...base, CHAT_PASSWORD: password });
    if (login.status !== 0) throw new Error(`chat login exited ${login.status ?? login.signal}: ${login.stderr.trim()}`);

    const sendArgs = ['bin/chat.js', 'send', '--server', server, '--user', user, '-g', group, 'hello'];
    const nodeArgs = ['-e', '0'];
    const send = [];
    const bare = [];
    for (let i = -1; i < RUNS; i++) { // i = -1: warm-up (disk cache), not counted
      const b = timed(nodeArgs, base);
      const s = timed(sendArgs, base);
      if (s.status !== 0) throw new Error(`chat send exited ${s.status ?? s.signal}: ${s.stderr.trim()}`);
      if (i === -1) { result.sampleOutput = s.stdout.trim(); continue; }
      bare.push(b.ms);
      send.push(s.ms);
    }
    result.send = { median: median(send), perRun: send };
    result.nodeE0 = { median: median(bare), perRun: bare };
    result.ratio = result.send.median / result.nodeE0.median;
    result.commandTimed = `node ${sendArgs.join(' ')}`;
    log(`chat send ${result.send.median.toFixed(1)} ms, node -e 0 ${result.nodeE0.median.toFixed(1)} ms, ratio ${result.ratio.toFixed(2)}×`);
  } finally {
    await srv.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  finish();
}

main().catch((err) => {
  console.error('[send-startup] failed:', err.stack ?? err);
  process.exit(1);
});
