/**
 * Errors wait for durability like replies (handlers/index.ts): an answer that reveals
 * a write — here NOT_FOUND for a group whose deletion is applied in memory but not yet
 * on disk — is held until that write is durable, so a crash cannot take back what a
 * client was told (SPEC §8).
 */
import { describe, expect, it } from 'vitest';
import { holdSyncs, sleep, useTestServer } from './helpers.js';

const testServer = useTestServer();

describe('errors wait for durability', () => {
  it('NOT_FOUND for a group deleted in memory comes only once the deletion is on disk', async () => {
    const ts = await testServer();
    const ann = await ts.user('ann', false);
    const ben = await ts.user('ben', false);
    await ann.request('GROUP_CREATE', { group: 'dev', private: false });
    await ben.request('GROUP_JOIN', { group: 'dev' });
    const syncs = await holdSyncs();
    try {
      const seq = ts.srv.engine.seq;
      const deleted = ann.request('GROUP_DELETE', { group: 'dev' });
      for (let i = 0; i < 200 && ts.srv.engine.seq === seq; i++) await sleep(10);
      expect(ts.srv.engine.seq).toBe(seq + 1); // applied in memory, fsync held
      let answered = false;
      const asked = ben.request('SEND', { kind: 0, target: 'dev', text: 'anyone?' }).then(
        () => { answered = true; return undefined; },
        (err: unknown) => { answered = true; return err; },
      );
      await sleep(150);
      expect(answered).toBe(false); // the deletion is not durable: no answer may reveal it
      syncs.release();
      await deleted;
      const err = await asked;
      expect(err).toMatchObject({ code: 'CHAT_ERR_NOT_FOUND' });
    } finally {
      syncs.restore();
    }
  });
});
