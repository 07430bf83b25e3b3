#!/usr/bin/env node
/**
 * Drive throughput (issue 4, SPEC §9 `chat-get` of 1 GiB): `chat upload` and `chat-get`
 * of one file through the real binaries and the real server over loopback, beside a
 * plain node:net pipe of the same bytes from a file to a file measured in the same run
 * (bench/lib/raw-file-pipe.js), and that pipe into nothing.
 *
 *   node bench/drive.js [--quick] [--size MiB] [--runs N] [--out FILE]
 *
 * One source file of --size MiB (default 1024; --quick 256) of random bytes. Each run,
 * in turn: the raw pipe file→file, the raw pipe file→nothing, `chat upload` (a new
 * version each time, of new content: the run's number is stamped into the file first,
 * so each upload pays for a new blob's fsync, rename and directory fsync, not the
 * cheaper "already stored" path), `chat-get` of that version to a fresh target. Upload and download times are the whole
 * process's wall time (start-up and a token login included, about 0.1 s), and for
 * chat-get also its own `seconds` from --json. Both clients' peak RSS (VmHWM) shows
 * that memory stays flat whatever the size. The checkpoints chat-get makes (fsync of
 * the part file and its resume log) are inside its figure; the raw pipe fsyncs once
 * at the end. When vsftpd and curl are installed, SPEC §9's own baseline is measured
 * too: curl fetching the file from vsftpd on loopback into a file (curl's whole
 * process; no fsync), bench/lib/ftp-baseline.js.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSystemOf } from './lib/disk.js';
import { ftpUnavailable, startVsftpd } from './lib/ftp-baseline.js';
import { startServerBin, procMemory } from './lib/server-bin.js';
import { machine, median, parseFlags } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const flags = parseFlags(process.argv.slice(2));
const QUICK = Boolean(flags.quick);
const SIZE_MIB = Number(flags.size ?? (QUICK ? 256 : 1024));
const RUNS = Number(flags.runs ?? (QUICK ? 2 : 3));
const MiB = 1024 * 1024;
const log = (...a) => console.error('[drive]', ...a);

/** Writes `mib` MiB of random bytes (8 MiB random blocks, each stamped with its index). */
async function makeSource(path, mib) {
  const block = randomBytes(8 * MiB);
  const out = createWriteStream(path);
  for (let i = 0; i < mib / 8; i++) {
    block.writeUInt32BE(i, 0);
    if (!out.write(Buffer.from(block))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, j) => out.end((err) => (err ? j(err) : r())));
}

/**
 * Runs `node args…` to completion, sampling its VmHWM every 20 ms (the last sample
 * before exit is within 20 ms of the peak). Resolves {ms, status, stdout, stderr, peakRss}.
 */
function runTimed(args, env, timeoutMs = 600_000) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr = (stderr + c).slice(-4000); });
    let peakRss = NaN;
    const sampler = setInterval(() => {
      const m = procMemory(child.pid);
      if (Number.isFinite(m.peak)) peakRss = m.peak;
    }, 20);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (status, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, status: status ?? signal, stdout, stderr, peakRss });
    });
  });
}

/** Makes `path` new content: `run` in bytes 4..7 (block 0 carries its index in 0..3). */
function stamp(path, run) {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(run + 1, 0);
    writeSync(fd, b, 0, 4, 4);
  } finally {
    closeSync(fd);
  }
}

async function rawPipe(src, dst) {
  const sender = spawn(process.execPath, [join(HERE, 'lib/raw-file-pipe.js'), 'send', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    sender.stdout.on('data', (c) => {
      buf += c;
      if (buf.includes('\n')) resolve(JSON.parse(buf).port);
    });
    sender.once('exit', (code) => reject(new Error(`raw sender exited ${code}`)));
  });
  const r = await runTimed([join(HERE, 'lib/raw-file-pipe.js'), 'recv', String(port), dst], process.env);
  if (r.status !== 0) throw new Error(`raw receiver exited ${r.status}: ${r.stderr}`);
  const { bytes, seconds } = JSON.parse(r.stdout);
  return { bytes, seconds, wallSeconds: r.ms / 1000 };
}

function gbps(bytes, seconds) {
  return bytes / seconds / 1e9;
}

async function main() {
  const result = { bench: 'drive', date: new Date().toISOString(), machine: machine(), quick: QUICK, sizeBytes: SIZE_MIB * MiB, runs: RUNS,
    command: `node bench/drive.js${QUICK ? ' --quick' : ''}`, notes: [] };
  const out = flags.out ? String(flags.out) : null;
  const tmp = join(ROOT, '.bench-tmp', `drive-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let server;
  let ftp;
  try {
    result.fileSystem = fileSystemOf(tmp);
    const src = join(tmp, 'big.bin');
    log(`writing a ${SIZE_MIB} MiB source file`);
    await makeSource(src, SIZE_MIB);
    const dataDir = join(tmp, 'data');
    const pwFile = join(tmp, 'pw');
    writeFileSync(pwFile, 'bench-password\n');
    const add = spawnSync(process.execPath, [join(ROOT, 'bin/chat-server.js'), 'useradd', 'bench', '--password-file', pwFile, '--data', dataDir], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`useradd failed: ${add.stderr}`);
    server = await startServerBin({ dataDir, args: ['--max-file-size', String(4 * 1024 * MiB)] });
    const env = { ...process.env, CHAT_SERVER: `${server.host}:${server.port}`, CHAT_USER: 'bench', CHAT_CONFIG_DIR: join(tmp, 'config'),
      CHAT_STATE_DIR: join(tmp, 'state'), NO_COLOR: '1' };
    const chat = (args, extraEnv = {}) => runTimed([join(ROOT, 'bin/chat.js'), ...args], { ...env, ...extraEnv });
    for (const args of [['login'], ['group', 'create', 'drive']]) {
      const r = await chat(args, { CHAT_PASSWORD: 'bench-password' });
      if (r.status !== 0) throw new Error(`chat ${args.join(' ')} failed: ${r.stderr}`);
    }
    const noFtp = ftpUnavailable();
    if (noFtp) result.notes.push(`no curl-from-vsftpd baseline (SPEC §9): ${noFtp}`);
    const ftpConf = join(tmp, 'ftp');
    mkdirSync(ftpConf, { recursive: true });
    ftp = noFtp ? undefined : await startVsftpd(tmp, ftpConf);
    const curl = [];
    const raw = [];
    const rawNull = [];
    const up = [];
    const down = [];
    for (let run = 0; run < RUNS; run++) {
      stamp(src, run);
      const rawDst = join(tmp, 'raw.bin');
      raw.push(await rawPipe(src, rawDst));
      rmSync(rawDst, { force: true });
      rawNull.push(await rawPipe(src, '-'));
      if (ftp) {
        const ftpDst = join(tmp, 'ftp.bin');
        curl.push(await ftp.fetch('big.bin', ftpDst));
        if (statSync(ftpDst).size !== SIZE_MIB * MiB) throw new Error('curl fetched a wrong size');
        rmSync(ftpDst, { force: true });
      }
      const u = await chat(['upload', '-g', 'drive', src, '--json']);
      if (u.status !== 0) throw new Error(`chat upload exited ${u.status}: ${u.stderr}`);
      const file = JSON.parse(u.stdout.trim().split('\n').pop());
      up.push({ wallSeconds: u.ms / 1000, peakRss: u.peakRss, version: file.version });
      const target = join(tmp, `got-${run}.bin`);
      const d = await runTimed([join(ROOT, 'bin/chat-get.js'), '-g', 'drive', `big.bin@${file.version}`, '-o', target, '--json', '--no-progress'], env);
      if (d.status !== 0) throw new Error(`chat-get exited ${d.status}: ${d.stderr}`);
      const got = JSON.parse(d.stdout.trim().split('\n').pop());
      if (statSync(target).size !== SIZE_MIB * MiB || got.sha256 !== file.sha256) throw new Error('chat-get delivered a wrong file');
      down.push({ wallSeconds: d.ms / 1000, seconds: got.seconds, peakRss: d.peakRss });
      rmSync(target, { force: true });
      log(`run ${run + 1}/${RUNS}: raw ${gbps(SIZE_MIB * MiB, raw.at(-1).seconds).toFixed(2)} GB/s, upload ${gbps(SIZE_MIB * MiB, up.at(-1).wallSeconds).toFixed(2)} GB/s, ` +
        `download ${gbps(SIZE_MIB * MiB, down.at(-1).wallSeconds).toFixed(2)} GB/s`);
    }
    const bytes = SIZE_MIB * MiB;
    const med = (xs, k) => median(xs.map((x) => x[k]));
    result.raw = { seconds: med(raw, 'seconds'), gbps: gbps(bytes, med(raw, 'seconds')), perRun: raw };
    result.rawNull = { seconds: med(rawNull, 'seconds'), gbps: gbps(bytes, med(rawNull, 'seconds')), perRun: rawNull };
    result.upload = { wallSeconds: med(up, 'wallSeconds'), gbps: gbps(bytes, med(up, 'wallSeconds')), peakRss: Math.max(...up.map((x) => x.peakRss)), perRun: up };
    result.download = { wallSeconds: med(down, 'wallSeconds'), seconds: med(down, 'seconds'), gbps: gbps(bytes, med(down, 'wallSeconds')),
      gbpsTransfer: gbps(bytes, med(down, 'seconds')), peakRss: Math.max(...down.map((x) => x.peakRss)), perRun: down };
    if (curl.length) {
      result.curlFtp = { seconds: med(curl, 'seconds'), gbps: gbps(bytes, med(curl, 'seconds')), perRun: curl };
      result.downloadVsCurl = result.download.gbps / result.curlFtp.gbps;
    }
    result.uploadVsRaw = result.upload.gbps / result.raw.gbps;
    result.downloadVsRaw = result.download.gbps / result.raw.gbps;
    result.serverRss = server.memory().rss;
  } catch (err) {
    result.error = err.message;
    log(err.stack);
  } finally {
    if (server) await server.stop();
    if (ftp) await ftp.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const text = `${JSON.stringify(result, null, 2)}\n`;
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
  process.exitCode = result.error ? 1 : 0;
}

await main();
