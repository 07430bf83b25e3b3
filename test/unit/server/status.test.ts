/**
 * STATUS against a real in-process server (SPEC §3 `chat-server status --server`):
 * allowed before login, counts and authenticated connections, both digests at the
 * reported head, never a head that is not durable; and the offline reader
 * (statusFromDataDir) agrees with the server on the same data dir.
 */
import { describe, expect, it } from 'vitest';
import type { Payload } from '../../../src/protocol/codec.js';
import { stateDigest } from '../../../src/state/digest.js';
import { formatStatus, statusFromDataDir, statusFromServer } from '../../../src/server/tools/status.js';
import { holdSyncs, sleep, useTestServer } from './helpers.js';

const testServer = useTestServer();

describe('STATUS', () => {
  it('answers after HELLO without a login (not before HELLO), with zeros on a fresh server', async () => {
    const ts = await testServer();
    const c = await ts.client();
    expect((await c.refusal('STATUS')).code).toBe('CHAT_ERR_PROTOCOL');
    await c.hello();
    const { status } = await c.request('STATUS');
    expect(status).toMatchObject({ role: 'primary', journalId: ts.srv.engine.journalId, headSeq: 0, users: 0, groups: 0, messages: 0, connections: 0 });
    expect(status.journalId).toMatch(/^[0-9a-f]{32}$/);
    expect(status.journalDigest).toBe('0'.repeat(64));
    expect(status.stateDigest).toBe(stateDigest(ts.srv.engine.state));
    expect(status.uptimeMs).toBeGreaterThan(0);
  });

  it('counts users, groups, every stored message and authenticated connections only; digests move with the head', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann', false);
    const ben = await ts.user('ben', false);
    const anon = await ts.client();
    await anon.hello(); // connected, not logged in: not counted
    const before = (await anon.request('STATUS')).status as Payload;
    expect(before).toMatchObject({ users: 2, groups: 0, messages: 0, connections: 2 });
    await ann.request('GROUP_CREATE', { group: 'dev', private: false });
    await ben.request('GROUP_JOIN', { group: 'dev' });
    await ann.request('SEND', { kind: 0, target: 'dev', text: 'one' });
    await ann.request('SEND', { kind: 1, target: 'ben', text: 'two' });
    await ann.request('GROUP_DELETE', { group: 'dev' }); // its message still counts as ever stored
    ben.close();
    for (let i = 0; i < 100 && (await anon.request('STATUS')).status.connections !== 1; i++) await sleep(10);
    const after = (await anon.request('STATUS')).status as Payload;
    const engine = ts.srv.engine;
    expect(after).toMatchObject({ users: 2, groups: 0, messages: 2, connections: 1, headSeq: engine.seq });
    expect(after.headSeq).toBeGreaterThan(before.headSeq);
    expect(after.journalDigest).toBe(engine.journalDigest);
    expect(after.stateDigest).toBe(stateDigest(engine.state));
    expect(after.journalDigest).not.toBe(before.journalDigest);
    expect(after.stateDigest).not.toBe(before.stateDigest);
  });

  it('never reports a head that is not durable: the reply waits for the fsync, then shows that head', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann', false);
    const mon = await ts.client();
    await mon.hello();
    const durable = ts.srv.engine.seq;
    const syncs = await holdSyncs();
    let status: Payload | undefined;
    try {
      const sent = ann.request('SEND', { kind: 1, target: 'ann', text: 'not on disk yet' });
      for (let i = 0; i < 200 && ts.srv.engine.seq === durable; i++) await sleep(10);
      expect(ts.srv.engine.seq).toBe(durable + 1); // applied in memory, its fsync held
      const asked = mon.request('STATUS').then((r) => { status = r.status; });
      await sleep(100);
      expect(status).toBeUndefined();
      syncs.release();
      await Promise.all([sent, asked]);
    } finally {
      syncs.release();
      syncs.restore();
    }
    expect(status).toMatchObject({ headSeq: durable + 1, journalDigest: ts.srv.engine.journalDigest, stateDigest: stateDigest(ts.srv.engine.state) });
  });

  it('a digest of a seq is computed once and reused while the head stays (cache keyed by state and seq)', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann', false);
    const a = (await ann.request('STATUS')).status as Payload;
    const b = (await ann.request('STATUS')).status as Payload;
    expect(b.stateDigest).toBe(a.stateDigest);
    await ann.request('GROUP_CREATE', { group: 'dev', private: false });
    const c = (await ann.request('STATUS')).status as Payload;
    expect(c.stateDigest).not.toBe(a.stateDigest);
    expect(c.stateDigest).toBe(stateDigest(ts.srv.engine.state));
  });
});

describe('status tools against the same server', () => {
  it('statusFromServer and statusFromDataDir (beside the running server, without its lock) report the same head and digests', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann', false);
    await ts.user('ben', false);
    await ann.request('GROUP_CREATE', { group: 'ops', private: true });
    for (let i = 0; i < 5; i++) await ann.request('SEND', { kind: 0, target: 'ops', text: `m${i}` });
    const live = await statusFromServer({ host: '127.0.0.1', port: ts.port });
    const { report: offline, notes } = await statusFromDataDir(ts.dataDir);
    expect(notes).toEqual([]);
    for (const k of ['journalId', 'headSeq', 'users', 'groups', 'messages', 'journalDigest', 'stateDigest'] as const) {
      expect(offline[k], k).toEqual(live[k]);
    }
    expect(live).toMatchObject({ users: 2, groups: 1, messages: 5, replicas: [] });
    expect(offline.connections).toBeNull();
    expect(offline.lock).toMatchObject({ holder: 'chat-server start', pid: process.pid, live: true });
    expect(formatStatus(offline, ts.dataDir)).toMatch(/^connections: unknown \(read offline\)$/m);
    expect(formatStatus(live)).toMatch(/^connections: 2$/m); // ann and ben; the status connection never logs in
    await ts.stop();
    const stopped = await statusFromDataDir(ts.dataDir);
    expect(stopped.report).toEqual({ ...offline, lock: null });
  });

});
