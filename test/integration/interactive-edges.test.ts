/**
 * Interactive `chat` at its edges (issue 5 review): what it prints when a command
 * fails or overlaps with others, without a terminal (--interactive on pipes), and on
 * a dumb one. The real binary against a real server on port 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestServer, type TestServer } from '../unit/server/helpers.js';
import { chat, type ChatOptions } from './harness.js';

const startServer = useTestServer();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A server with alice (owner of #ops) and bob (member); options to run alice's chat. */
async function world(): Promise<{ ts: TestServer; alice: ChatOptions }> {
  const ts = await startServer();
  const setup = await ts.client();
  await setup.register('alice');
  await setup.request('GROUP_CREATE', { group: 'ops', private: false });
  await setup.request('BYE');
  const bob = await ts.user('bob');
  await bob.request('GROUP_JOIN', { group: 'ops' });
  const dir = mkdtempSync(join(tmpdir(), 'chat-interactive-edges-'));
  dirs.push(dir);
  return { ts, alice: { server: `127.0.0.1:${ts.port}`, configDir: join(dir, 'cfg'), user: 'alice', password: 'pw-alice' } };
}

describe('interactive chat on pipes (--interactive)', () => {
  it('lines run in order: /quit is echoed after what the lines before it printed', async () => {
    const { alice } = await world();
    const r = await chat({ ...alice, input: '/help\n/groups\n/quit\n' }, ['--interactive', '-g', 'ops']);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    const at = (re: RegExp) => out.findIndex((l) => re.test(l));
    expect(at(/^alice@ops> \/help$/)).toBeGreaterThan(0);
    expect(at(/^alice@ops> \/help$/)).toBeLessThan(at(/\/history \[N\]/));
    expect(at(/\/history \[N\]/)).toBeLessThan(at(/^alice@ops> \/groups$/));
    expect(at(/^alice@ops> \/groups$/)).toBeLessThan(at(/^ops\s+public/));
    expect(at(/^ops\s+public/)).toBeLessThan(at(/^alice@ops> \/quit$/));
  });
});
