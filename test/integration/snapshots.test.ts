/**
 * Snapshots and journal retention through the real binaries (issue 3): a server with
 * small thresholds (`--snapshot-records 20 --segment-bytes 4096 --journal-retention
 * covered`) takes `chat send` traffic, is SIGKILLed in the middle of it, and starts
 * again from its newest snapshot plus the journal after it: `chat history` returns
 * every acknowledged message, the covered segments are gone, and a `.tmp-*` left in
 * DIR/snapshots is removed at start.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listSegments } from '../../src/journal/journal.js';
import { chat, startServer, tempDir, type ChatOptions, type ServerProcess } from './harness.js';

/** Polls `cond` every 10 ms; gives up after `polls` tries. */
async function until(cond: () => boolean, what: string, polls = 1000): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > polls) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const FLAGS = ['--snapshot-records', '20', '--segment-bytes', '4096', '--journal-retention', 'covered'];
let server: ServerProcess | undefined;
afterAll(async () => { await server?.stop('SIGKILL'); });

describe('snapshots and retention through the binary', () => {
  it('SIGKILL during traffic, restart from a snapshot: every acknowledged message is in the history', async () => {
    const dataDir = tempDir('chat-snapshots-');
    server = await startServer({ dataDir, args: FLAGS });
    const as = (user: string): ChatOptions => ({ server: server!.address, configDir: join(dataDir, `cfg-${user}`), user, password: `pw-${user}` });
    for (const u of ['alice', 'bob']) expect((await chat(as(u), ['register'])).code).toBe(0);
    expect((await chat(as('alice'), ['group', 'create', 'ops'])).code).toBe(0);
    expect((await chat(as('bob'), ['join', 'ops'])).code).toBe(0);

    /** seq → text of every send whose acknowledgement (exit 0, the seq on stdout) arrived. */
    const acked = new Map<number, string>();
    let killing = false;
    const worker = async (who: string, tag: string, n: number): Promise<void> => {
      for (let i = 0; i < n && !killing; i++) {
        const text = `${tag}-${i} ${'pad '.repeat(8)}`;
        const r = await chat(as(who), ['send', '-g', 'ops', text]);
        if (r.code === 0) acked.set(Number(r.stdout.trim()), text);
        else if (!killing) throw new Error(`send failed while the server ran: ${r.stderr}`);
      }
    };
    // Four writers; the server is killed once 110 sends are acknowledged, while the
    // others are in flight (those get no acknowledgement: nothing is promised for them).
    const killed = (async () => {
      await until(() => acked.size >= 110, '110 acknowledged sends', 9000);
      killing = true;
      await server!.stop('SIGKILL');
    })();
    await Promise.all([worker('alice', 'a', 60), worker('bob', 'b', 60), worker('alice', 'c', 60), worker('bob', 'd', 60), killed]);
    killing = false;
    expect(acked.size).toBeGreaterThanOrEqual(110);
    const snapDir = join(dataDir, 'snapshots');
    expect(readdirSync(snapDir).some((n) => n.endsWith('.snap'))).toBe(true);
    writeFileSync(join(snapDir, '.tmp-77-999999'), 'a snapshot write cut short');

    server = await startServer({ dataDir, listen: server.address, args: FLAGS });
    expect(existsSync(join(snapDir, '.tmp-77-999999'))).toBe(false);
    // Start-up warnings follow the "listening" line.
    await until(() => server!.logs.some((l) => l.level === 40 && String(l.msg).startsWith('removed unfinished snapshot temp files')), 'the temp-file warning');
    await Promise.all([worker('alice', 'e', 45), worker('bob', 'f', 45)]);

    const h = await chat(as('bob'), ['history', '-g', 'ops', '--last', '100000', '--json']);
    expect(h.code, h.stderr).toBe(0);
    const got = h.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { seq: number; text: string });
    const seqs = got.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const bySeq = new Map(got.map((m) => [m.seq, m.text]));
    for (const [seq, text] of acked) expect(bySeq.get(seq), `acknowledged seq ${seq}`).toBe(text);
    expect(acked.size).toBeGreaterThanOrEqual(190);

    // Retention ran: the oldest segments are gone, and the journal that is left still
    // chains from a kept snapshot (the restart above and this one prove it).
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(listSegments(dataDir)[0]!.firstSeq).toBeGreaterThan(1);
    server = await startServer({ dataDir, args: FLAGS });
    const again = await chat({ ...as('bob'), server: server.address }, ['history', '-g', 'ops', '--last', '100000', '--json']);
    expect(again.stdout).toBe(h.stdout);
  }, 120_000);
});
