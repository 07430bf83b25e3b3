/**
 * A server whose log reader has gone still stops on SIGTERM (SPEC §3: stop, make the
 * journal durable, exit 0). stderr is a pipe; once the reader closes its end, every
 * log write fails with EPIPE, and sonic-boom's flushSync() used to retry that for ever
 * in the last flush before exit (src/common/logger.ts drainSync).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './harness.js';

describe('chat-server with a closed log pipe', () => {
  it('exits 0 on SIGTERM after the reader of its stderr has gone', async () => {
    const data = tempDir();
    const p = spawn(process.execPath, [join(ROOT, 'bin/chat-server.js'), 'start', '--data', data, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    // Read until the "listening" line, then close our end of the pipe like `| head -1` does.
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      p.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('"listening"')) resolve();
      });
      p.once('exit', () => reject(new Error(`server exited early: ${seen}`)));
    });
    p.stderr!.destroy();
    const exited = once(p, 'exit');
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    const [code, signal] = await exited;
    clearTimeout(timer);
    expect(signal).toBeNull(); // not our SIGKILL: it stopped by itself
    expect(code).toBe(0);
  });
});
