/**
 * The committed damaged-journal fixtures (test/fixtures/journals, made by
 * scripts/make-journal-fixtures.mjs): start-up (Journal.open) and verifyDataDir name
 * the same first bad place, in the same words; a torn tail is cut by one and only a
 * warning for the other.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digestStep, ZERO_DIGEST } from '../../../src/journal/format.js';
import { Journal, JournalCorruptError, readJournalDir } from '../../../src/journal/journal.js';
import { verifyDataDir } from '../../../src/journal/verify.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/journals');
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** A private copy of a fixture: tests may change what they open. */
function copy(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `chat-fixture-${name}-`));
  dirs.push(d);
  cpSync(join(FIXTURES, name), d, { recursive: true });
  return d;
}

async function startupError(dir: string): Promise<JournalCorruptError> {
  const err = await Journal.open(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(JournalCorruptError);
  return err as JournalCorruptError;
}

describe('journal fixtures', () => {
  it('good: 38 records in 4 segments; verify and the offline reader agree with start-up on head and digest', async () => {
    const dir = copy('good');
    const v = await verifyDataDir(dir);
    expect(v).toMatchObject({ ok: true, segments: 4, records: 38, headSeq: 38, journalId: '0123456789abcdef0123456789abcdef', warnings: [] });
    const { journal, ops } = await Journal.open(dir);
    expect(ops.map((o) => o.seq)).toEqual(Array.from({ length: 38 }, (_, i) => i + 1));
    expect(v.ok && v.journalDigest).toBe(journal.digest);
    expect(readJournalDir(dir).journalDigest).toBe(journal.digest);
    await journal.close();
  });

  it('torn-tail: verify warns; start-up cuts the half record and keeps the 37 before it', async () => {
    const dir = copy('torn-tail');
    const v = await verifyDataDir(dir);
    expect(v).toMatchObject({ ok: true, headSeq: 37 });
    expect(v.warnings).toEqual(['journal/00000000000000000030.seg ends with a torn record at byte 827 (46 bytes); the server cuts it at start']);
    const r = await Journal.open(dir);
    expect(r.truncated).toEqual({ file: 'journal/00000000000000000030.seg', offset: 827, bytes: 46 });
    expect(r.ops).toHaveLength(37);
    await r.journal.close();
    expect(await verifyDataDir(dir)).toMatchObject({ ok: true, headSeq: 37, warnings: [] });
  });

  it('flipped-byte: start-up and verify name the same segment, offset and reason', async () => {
    const dir = copy('flipped-byte');
    const err = await startupError(dir);
    expect(err.problem).toEqual({ file: 'journal/00000000000000000009.seg', offset: 145, seq: 9, reason: 'checksum mismatch' });
    const v = await verifyDataDir(dir);
    expect(v).toMatchObject({ ok: false, problem: err.problem });
    expect(v.ok || v.message).toBe('journal damaged: journal/00000000000000000009.seg at byte 145 (after seq 9): checksum mismatch');
    expect(err.message).toBe(`${v.ok || v.message}; run: chat-server verify --data ${dir}`);
  });

  it('missing-segment: start-up and verify name the missing seqs and the segments around them', async () => {
    const dir = copy('missing-segment');
    const err = await startupError(dir);
    expect(err.problem).toEqual({
      file: 'journal/00000000000000000020.seg', offset: 0, seq: 8,
      reason: 'records 9..19 are missing: journal/00000000000000000001.seg ends at seq 8 and journal/00000000000000000020.seg starts at seq 20 (a segment file is missing)',
    });
    expect(await verifyDataDir(dir)).toMatchObject({ ok: false, problem: err.problem });
  });

  it('verify checks a snapshot position against the journal: the digest at its seq must match', async () => {
    const dir = copy('good');
    const { journal } = await Journal.open(dir);
    let at10 = ZERO_DIGEST;
    for await (const r of journal.read(0)) if (r.seq <= 10) at10 = digestStep(at10, r.bytes, 0, r.bytes.length);
    await journal.close();
    const journalId = '0123456789abcdef0123456789abcdef';
    expect(await verifyDataDir(dir, { after: { seq: 10, journalId, journalDigest: at10 } })).toMatchObject({ ok: true, headSeq: 38 });
    const bad = await verifyDataDir(dir, { after: { seq: 10, journalId, journalDigest: 'f'.repeat(64) } });
    expect(bad).toMatchObject({ ok: false, problem: { file: 'journal/00000000000000000009.seg', seq: 9, reason: "the snapshot's journalDigest at seq 10 does not match the journal's" } });
  });

  it('verify runs the extra checks (snapshots, blobs) after the journal, and fails on the first problem', async () => {
    const dir = copy('good');
    const seen: number[] = [];
    const v = await verifyDataDir(dir, { checks: [
      (ctx) => { seen.push(ctx.headSeq); return undefined; },
      async () => ({ file: 'snapshots/x.snap', offset: 7, reason: 'bad', message: 'snapshot damaged: snapshots/x.snap at byte 7: bad' }),
      () => { throw new Error('not reached'); },
    ] });
    expect(seen).toEqual([38]);
    expect(v).toMatchObject({ ok: false, message: 'snapshot damaged: snapshots/x.snap at byte 7: bad' });
  });
});
