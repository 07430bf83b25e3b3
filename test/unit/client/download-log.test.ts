import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  encodeCheckpoint, encodeHeader, encodeRecord, entryDir, listEntries, parseLog, ResumeEntry, type DownloadMeta,
} from '../../../src/client/download/resume-log.js';

const meta = (over: Partial<DownloadMeta> = {}): DownloadMeta => ({
  server: '127.0.0.1:7700', group: 'ops', name: 'report.pdf', version: 3, latest: true, size: 10_000,
  sha256: 'a'.repeat(64), target: '/tmp/x/report.pdf', started: 1, ...over,
});

describe('resume log records', () => {
  it('reads the header and the last checkpoint', () => {
    const buf = Buffer.concat([encodeHeader(meta()), encodeCheckpoint(100), encodeCheckpoint(4096)]);
    const s = parseLog(buf);
    expect(s.meta).toEqual(meta());
    expect(s.checkpoint).toBe(4096);
    expect(s.validBytes).toBe(buf.length);
    expect(s.tornTail).toBe(false);
  });

  it('a header alone means checkpoint 0', () => {
    const s = parseLog(encodeHeader(meta()));
    expect(s.checkpoint).toBe(0);
    expect(s.problem).toBeUndefined();
  });

  it('ignores a torn last record at every cut point', () => {
    const good = Buffer.concat([encodeHeader(meta()), encodeCheckpoint(100)]);
    const next = encodeCheckpoint(2000);
    for (let cut = 0; cut < next.length; cut++) {
      const s = parseLog(Buffer.concat([good, next.subarray(0, cut)]));
      expect(s.checkpoint).toBe(100);
      expect(s.validBytes).toBe(good.length);
      expect(s.tornTail).toBe(cut > 0);
    }
  });

  it('stops at a record whose CRC fails (a flipped digit is not believed)', () => {
    const rec = encodeCheckpoint(2000);
    rec[2] = '9'.charCodeAt(0); // "@2000" -> "@2900", CRC unchanged
    const s = parseLog(Buffer.concat([encodeHeader(meta()), encodeCheckpoint(100), rec, encodeCheckpoint(3000)]));
    expect(s.checkpoint).toBe(100);
    expect(s.tornTail).toBe(true);
  });

  it('stops at a checkpoint that goes backwards or past the size', () => {
    expect(parseLog(Buffer.concat([encodeHeader(meta()), encodeCheckpoint(500), encodeCheckpoint(400)])).checkpoint).toBe(500);
    expect(parseLog(Buffer.concat([encodeHeader(meta()), encodeCheckpoint(500), encodeCheckpoint(10_001)])).checkpoint).toBe(500);
  });

  it('a missing, torn or foreign header is a problem (start over)', () => {
    expect(parseLog(Buffer.alloc(0)).problem).toMatch(/missing or torn/);
    const h = encodeHeader(meta());
    expect(parseLog(h.subarray(0, h.length - 3)).problem).toMatch(/missing or torn/);
    expect(parseLog(encodeRecord('something else {}')).problem).toMatch(/header/);
    expect(parseLog(encodeRecord(`chat-get-resume/1 ${JSON.stringify({ ...meta(), sha256: 'xyz' })}`)).problem).toMatch(/header/);
    expect(parseLog(encodeRecord(`chat-get-resume/1 ${JSON.stringify({ ...meta(), target: 'relative' })}`)).problem).toMatch(/header/);
  });

  it('a record is PAYLOAD, space, 8 hex digits of CRC-32C, newline', () => {
    expect(encodeCheckpoint(0).toString()).toMatch(/^@0 [0-9a-f]{8}\n$/);
    expect(encodeHeader(meta()).toString()).toMatch(/^chat-get-resume\/1 \{.*\} [0-9a-f]{8}\n$/);
  });
});

describe('ResumeEntry on disk', () => {
  let root: string;
  beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-get-log-')); });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('create, append, read back; remove and release leave nothing', async () => {
    const target = path.join(root, 'out', 'report.pdf');
    const e = await ResumeEntry.open(root, target);
    expect(e.read()).toBeUndefined();
    await e.create(meta({ target }));
    await e.append(1024);
    await e.append(2048);
    expect(e.read()).toMatchObject({ checkpoint: 2048, meta: { target } });
    expect(path.dirname(e.logPath)).toBe(entryDir(root, target));
    expect(listEntries(root).map((m) => m.target)).toEqual([target]);
    await e.remove();
    await e.release();
    expect(fs.existsSync(entryDir(root, target))).toBe(false);
    expect(listEntries(root)).toEqual([]);
  });

  it('appending after a torn tail cuts it first, so the new record is read', async () => {
    const target = path.join(root, 'a.bin');
    const e = await ResumeEntry.open(root, target);
    await e.create(meta({ target }));
    await e.append(1000);
    await e.release();
    fs.appendFileSync(e.logPath, encodeCheckpoint(5000).subarray(0, 4)); // a torn append
    const again = await ResumeEntry.open(root, target);
    const state = again.read()!;
    expect(state).toMatchObject({ checkpoint: 1000, tornTail: true });
    await again.startAppending(state);
    await again.append(3000);
    expect(again.read()).toMatchObject({ checkpoint: 3000, tornTail: false });
    await again.release();
  });

  it('create() replaces the whole log (a start over forgets old checkpoints)', async () => {
    const target = path.join(root, 'b.bin');
    const e = await ResumeEntry.open(root, target);
    await e.create(meta({ target }));
    await e.append(9000);
    await e.create(meta({ target, version: 4 }));
    expect(e.read()).toMatchObject({ checkpoint: 0, meta: { version: 4 } });
    await e.release();
  });

  it('a second holder of the same target gets a conflict naming it; after release it may open', async () => {
    const target = path.join(root, 'c.bin');
    const e = await ResumeEntry.open(root, target);
    await expect(ResumeEntry.open(root, target)).rejects.toMatchObject({
      code: 'CHAT_ERR_CONFLICT', message: expect.stringContaining(`${target} is being downloaded by chat-get`),
    });
    await e.release();
    const again = await ResumeEntry.open(root, target);
    await again.release();
  });

  it('a log whose header names another target is not used', async () => {
    const target = path.join(root, 'd.bin');
    const e = await ResumeEntry.open(root, target);
    await e.create(meta({ target: path.join(root, 'other.bin') }));
    expect(e.read()?.problem).toMatch(/another target/);
    expect(listEntries(root)).toEqual([]);
    await e.release();
  });
});
