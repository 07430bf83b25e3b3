/**
 * Runs the `chat` CLI in-process (src/client/cli/main.ts run()) with a given
 * environment, capturing stdout and stderr. stdin is not a TTY here, so nothing
 * prompts; tests must not make a subcommand read stdin.
 */
import { vi } from 'vitest';
import { run } from '../../../src/client/cli/main.js';

export interface CliResult { code: number; stdout: string; stderr: string }

const CHAT_VARS = ['CHAT_SERVER', 'CHAT_USER', 'CHAT_PASSWORD', 'CHAT_NEW_PASSWORD', 'CHAT_TLS', 'CHAT_CA', 'CHAT_CONFIG_DIR', 'CHAT_DEBUG'];

export async function runChat(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const saved = { ...process.env };
  for (const k of CHAT_VARS) delete process.env[k];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
  const stdout: string[] = [];
  const stderr: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => { stdout.push(String(chunk)); return true; });
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => { stderr.push(String(chunk)); return true; });
  try {
    const code = await run(args);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    so.mockRestore();
    se.mockRestore();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}
