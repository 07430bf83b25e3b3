/**
 * FILES is paged (commands.ts): a group whose listing is larger than a frame is listed
 * whole, in order, by `chat files`, chat-get's patterns and the raw request's pages,
 * instead of a reply over the frame limit closing the connection.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Payload } from '../../src/protocol/codec.js';
import { useTestServer, type TestClient } from '../unit/server/helpers.js';
import { chatGet } from './chat-get-harness.js';
import { chat, removeDir, tempDir } from './harness.js';

const start = useTestServer();
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) removeDir(d); });

async function upload(c: TestClient, name: string, data: Buffer): Promise<void> {
  const { uploadId } = await c.request('UPLOAD_BEGIN', { group: 'ops', name, size: data.length });
  if (data.length > 0) await c.request('UPLOAD_CHUNK', { uploadId, offset: 0, data });
  await c.request('UPLOAD_END', { uploadId, sha256: createHash('sha256').update(data).digest('hex') });
}

describe('FILES paging', () => {
  it('pages hold what fits in a frame; following `more` lists every version once, in order', async () => {
    const ts = await start({ limits: { maxFrame: 4096 } });
    const alice = await ts.user('alice', false);
    await alice.request('GROUP_CREATE', { group: 'ops', private: false });
    const names = Array.from({ length: 40 }, (_, i) => `report-${String(i).padStart(2, '0')}-${'x'.repeat(60)}.log`);
    for (const n of names) for (let v = 0; v < 2; v++) await upload(alice, n, Buffer.from(`${n}@${v}`));
    const seen: string[] = [];
    let pages = 0;
    let after = { afterName: '', afterVersion: 0 };
    for (;;) {
      const r = await alice.request('FILES', { group: 'ops', versions: true, ...after });
      pages++;
      for (const f of r.files as Payload[]) seen.push(`${f.name}@${f.version}`);
      if (!r.more) break;
      const last = (r.files as Payload[]).at(-1)!;
      after = { afterName: last.name, afterVersion: last.version };
    }
    expect(pages).toBeGreaterThan(2);
    expect(seen).toEqual(names.flatMap((n) => [`${n}@1`, `${n}@2`]));
    // Latest versions only: each name once, also across pages.
    const latest: string[] = [];
    after = { afterName: '', afterVersion: 0 };
    for (;;) {
      const r = await alice.request('FILES', { group: 'ops', versions: false, ...after });
      for (const f of r.files as Payload[]) latest.push(`${f.name}@${f.version}`);
      if (!r.more) break;
      const last = (r.files as Payload[]).at(-1)!;
      after = { afterName: last.name, afterVersion: last.version };
    }
    expect(latest).toEqual(names.map((n) => `${n}@2`));

    // The real binaries read every page.
    const dir = tempDir();
    dirs.push(dir);
    const o = { server: `127.0.0.1:${ts.port}`, configDir: join(dir, 'cfg'), user: 'alice', password: 'pw-alice' };
    const files = await chat(o, ['files', '-g', 'ops', '--versions', '--json']);
    expect(files.stderr).toBe('');
    expect(files.code).toBe(0);
    expect(files.stdout.trim().split('\n').map((l) => { const f = JSON.parse(l); return `${f.name}@${f.version}`; })).toEqual(seen);
    const out = join(dir, 'out');
    mkdirSync(out, { recursive: true });
    const got = await chatGet({ ...o, stateDir: join(dir, 'state') }, ['-g', 'ops', 'report-3*', '-o', `${out}/`, '--no-progress']);
    expect(got.stderr).toBe('');
    expect(got.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(names.filter((n) => n.startsWith('report-3')));
  });
});
