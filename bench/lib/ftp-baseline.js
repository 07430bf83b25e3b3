/**
 * SPEC §9's baseline for `chat-get`: curl fetching the same file from vsftpd over
 * loopback into a file, whole-process wall time (curl does not fsync; chat-get does).
 * Used by bench/drive.js when /usr/sbin/vsftpd and curl are installed (Debian:
 * `apt-get install vsftpd curl`); the project never installs them itself.
 *
 *   const ftp = await startVsftpd(dir);   // serves `dir` anonymously, read-only
 *   const { seconds } = await ftp.fetch('big.bin', '/tmp/out.bin');
 *   await ftp.stop();
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

const VSFTPD = '/usr/sbin/vsftpd';

/** Why the baseline cannot run here, or undefined when it can. */
export function ftpUnavailable() {
  if (!existsSync(VSFTPD)) return 'vsftpd is not installed (apt-get install vsftpd)';
  if (spawnSync('curl', ['--version']).status !== 0) return 'curl is not installed (apt-get install curl)';
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** Starts vsftpd in the foreground, serving `root` (its files must be world-readable). */
export async function startVsftpd(root, confDir) {
  const port = await freePort();
  const pasv = 30000 + (port % 20000);
  const conf = join(confDir, 'vsftpd.conf');
  writeFileSync(conf, [
    'listen=YES', 'listen_ipv6=NO', 'listen_address=127.0.0.1', `listen_port=${port}`, 'background=NO',
    'anonymous_enable=YES', 'no_anon_password=YES', 'local_enable=NO', 'write_enable=NO', `anon_root=${root}`,
    `secure_chroot_dir=${confDir}`, 'pasv_enable=YES', 'pasv_address=127.0.0.1', `pasv_min_port=${pasv}`, `pasv_max_port=${pasv + 50}`,
    'seccomp_sandbox=NO', 'run_as_launching_user=YES', 'ftp_username=nobody', '',
  ].join('\n'));
  const child = spawn(VSFTPD, [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  // Ready when the control port accepts a connection.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); }).on('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`vsftpd exited ${child.exitCode}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    /** curl ftp://…/name -o dst: wall seconds of the curl process. */
    fetch(name, dst) {
      return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const c = spawn('curl', ['-sS', '-o', dst, `ftp://127.0.0.1:${port}/${name}`], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d) => { err += d; });
        c.on('exit', (code) => (code === 0 ? resolve({ seconds: (performance.now() - t0) / 1000 }) : reject(new Error(`curl exited ${code}: ${err}`))));
      });
    },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}
