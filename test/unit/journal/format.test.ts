/**
 * Record and header encoding: round trips for every op type, the stable op code table,
 * and decode errors that say what is wrong.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/journal/crc32c.js';
import {
  decodeHeader, decodeOp, digestStep, encodeHeader, encodeRecord, frameAt, OP_CODES, segmentName, ZERO_DIGEST,
} from '../../../src/journal/format.js';
import type { Op, OpData } from '../../../src/state/types.js';

const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const name = fc.string({ minLength: 1, maxLength: 20 });
const text = fc.string({ maxLength: 200, unit: 'binary' });
const opData: fc.Arbitrary<OpData> = fc.oneof(
  fc.record({ type: fc.constant('user.create' as const), name, passwordHash: name, displayName: text, admin: fc.boolean(), age: fc.option(fc.nat(150), { nil: undefined }) })
    .map(({ age, ...r }) => (age === undefined ? r : { ...r, age })),
  fc.record({ type: fc.constant('session.create' as const), name, tokenHash: name, device: text }),
  fc.record({ type: fc.constant('group.role' as const), group: name, user: name, role: fc.constantFrom('admin' as const, 'member' as const) }),
  fc.record({ type: fc.constant('message.send' as const), kind: fc.constantFrom(0 as const, 2 as const), from: name, group: name, text }),
  fc.record({ type: fc.constant('message.send' as const), kind: fc.constant(1 as const), from: name, to: name, text, idKey: name }),
  fc.record({
    type: fc.constant('file.put' as const), group: name, name: text, size: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    sha256: fc.stringMatching(/^[0-9a-f]{64}$/), uploader: name,
  }),
  fc.record({ type: fc.constant('file.rm' as const), group: name, name: text, version: fc.option(fc.integer({ min: 1, max: 2 ** 32 - 1 }), { nil: undefined }), by: name })
    .map(({ version, ...r }) => (version === undefined ? r : { ...r, version })),
);
const anOp: fc.Arbitrary<Op> = fc.tuple(opData, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 2 ** 48 }))
  .map(([d, seq, ts]) => ({ ...d, seq, ts }) as Op);

describe('journal format', () => {
  it('the op type codes are a stable table (never renumber a shipped code)', () => {
    expect(OP_CODES).toEqual({
      'user.create': 1, 'user.passwd': 2, 'user.rename': 3, 'session.create': 4, 'session.revoke': 5,
      'group.create': 6, 'group.join': 7, 'group.leave': 8, 'group.invite': 9, 'group.kick': 10,
      'group.delete': 11, 'group.role': 12, 'message.send': 13, 'file.put': 14, 'file.rm': 15,
    });
  });

  it('a record round-trips for any op, and frameAt finds its end', () => {
    fc.assert(fc.property(anOp, (o) => {
      const rec = encodeRecord(o, id);
      const fr = frameAt(rec, 0);
      expect(fr).toEqual({ ok: true, seq: o.seq, end: rec.length });
      expect(decodeOp(rec, 0, rec.length)).toEqual(o);
    }));
  });

  it('a header round-trips; a damaged one says why', () => {
    const h = encodeHeader(id, 123456789);
    expect(h.length).toBe(48);
    expect(decodeHeader(h)).toEqual({ ok: true, journalId: id, firstSeq: 123456789 });
    expect(decodeHeader(h.subarray(0, 20))).toMatchObject({ ok: false, reason: 'segment header is cut short (20 of 48 bytes)' });
    const flipped = Buffer.from(h);
    flipped[30] ^= 1;
    expect(decodeHeader(flipped)).toMatchObject({ ok: false, reason: 'segment header checksum mismatch' });
    const v2 = Buffer.from(h);
    v2.writeUInt16BE(2, 8);
    v2.writeUInt32BE(crc32c(v2, 0, 44), 44);
    expect(decodeHeader(v2)).toMatchObject({ ok: false, reason: 'segment format version 2 is not supported (this program reads 1)' });
    expect(segmentName(57)).toBe('00000000000000000057.seg');
  });

  it('frameAt rejects impossible lengths, records cut short and checksum mismatches', () => {
    const rec = encodeRecord({ type: 'group.join', group: 'g', user: 'u', seq: 1, ts: 2 }, id);
    expect(frameAt(rec.subarray(0, 5), 0)).toMatchObject({ reason: 'record header is cut short' });
    expect(frameAt(rec.subarray(0, rec.length - 1), 0)).toMatchObject({ reason: /runs past the end/ });
    const bad = Buffer.from(rec);
    bad[bad.length - 2] ^= 4;
    expect(frameAt(bad, 0)).toMatchObject({ reason: 'checksum mismatch' });
    const tiny = Buffer.from(rec);
    tiny.writeUInt32BE(3, 0);
    expect(frameAt(tiny, 0)).toMatchObject({ reason: 'record length 3 is impossible' });
  });

  it('digestStep hashes the previous digest and the body without the journal id', () => {
    const o: Op = { type: 'group.join', group: 'g', user: 'u', seq: 1, ts: 2 };
    const a = encodeRecord(o, id);
    const b = encodeRecord(o, Buffer.alloc(16, 9));
    expect(digestStep(ZERO_DIGEST, a, 0, a.length)).toBe(digestStep(ZERO_DIGEST, b, 0, b.length));
    expect(digestStep(ZERO_DIGEST, a, 0, a.length)).not.toBe(digestStep('1'.repeat(64), a, 0, a.length));
    // The definition in docs/STORAGE.md, spelled out.
    const body = a.subarray(8);
    const expected = createHash('sha256').update(Buffer.concat([Buffer.from(ZERO_DIGEST, 'ascii'), body.subarray(0, 8), body.subarray(24)])).digest('hex');
    expect(digestStep(ZERO_DIGEST, a, 0, a.length)).toBe(expected);
    // A record inside a larger buffer (a read chunk) hashes the same.
    const inChunk = Buffer.concat([Buffer.alloc(5), a, Buffer.alloc(7)]);
    expect(digestStep(ZERO_DIGEST, inChunk, 5, 5 + a.length)).toBe(expected);
  });
});
