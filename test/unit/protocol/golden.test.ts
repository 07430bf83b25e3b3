/**
 * Golden round trips for every command (STYLE habit 6): encode(object) = committed
 * bytes, decode(committed bytes) = object, also when the bytes arrive one at a time
 * or in random pieces. The fixtures are test/fixtures/frames/<id>.hex; a change of
 * layout breaks this test. For an intended, versioned change regenerate them with
 *   UPDATE_GOLDEN=1 npx vitest run test/unit/protocol/golden.test.ts
 * and review the diff.
 */
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src/common/errors.js';
import { COMMANDS, type CommandName, type CommandSpec } from '../../../src/protocol/commands.js';
import { FrameDecoder, HEADER_BYTES, type Frame } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeError, encodePush, encodeReply, encodeRequest, type Decoded } from '../../../src/protocol/messages.js';
import { CASES, type GoldenCase } from '../../fixtures/frames/samples.js';

const DIR = fileURLToPath(new URL('../../fixtures/frames/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function encodeCase(c: GoldenCase): Buffer {
  switch (c.kind) {
    case 'request': return encodeRequest(c.name, c.reqId, c.payload);
    case 'reply': return encodeReply(c.name, c.reqId, c.payload);
    case 'push': return encodePush(c.name, c.payload);
    case 'error': return encodeError(c.reqId, c.code, c.message);
  }
}

function expected(c: GoldenCase): Decoded {
  if (c.kind === 'error') {
    return { kind: 'error', name: 'ERROR', reqId: c.reqId, payload: { code: ERROR_CODES[c.code].wire, name: c.code, message: c.message } };
  }
  return { kind: c.kind, name: c.name, reqId: c.kind === 'push' ? 0 : c.reqId, payload: c.payload };
}

/** Fixture text: a comment, the 9 header bytes, then the payload 16 bytes a line. */
function formatHex(c: GoldenCase, bytes: Buffer): string {
  const group = (b: Buffer) => b.toString('hex').replace(/(.{8})(?!$)/g, '$1 ');
  const lines = [`# ${c.id}: length code reqId, then payload`, `${bytes.subarray(0, 4).toString('hex')} ${bytes.subarray(4, 5).toString('hex')} ${bytes.subarray(5, 9).toString('hex')}`];
  for (let i = HEADER_BYTES; i < bytes.length; i += 16) lines.push(group(bytes.subarray(i, Math.min(i + 16, bytes.length))));
  return lines.join('\n') + '\n';
}

function parseHex(text: string): Buffer {
  const hex = text.split('\n').filter((l) => !l.startsWith('#')).join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error('fixture is not hex');
  return Buffer.from(hex, 'hex');
}

function fixture(c: GoldenCase): Buffer {
  const path = `${DIR}${c.id}.hex`;
  if (UPDATE) writeFileSync(path, formatHex(c, encodeCase(c)));
  return parseHex(readFileSync(path, 'utf8'));
}

/** Decodes every frame of `chunks`, checking the decoder's bound after each push. */
function decodeAll(chunks: Buffer[]): Decoded[] {
  const dec = new FrameDecoder();
  const frames: Frame[] = [];
  for (const ch of chunks) {
    frames.push(...dec.push(ch));
    expect(dec.buffered).toBeLessThanOrEqual(dec.maxFrame + HEADER_BYTES);
  }
  expect(dec.buffered).toBe(0);
  return frames.map(decodeFrame);
}

/** Deterministic PRNG (mulberry32) so a failing split can be reproduced. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSplit(buf: Buffer, seed: number, maxPiece: number): Buffer[] {
  const next = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length;) {
    const n = 1 + Math.floor(next() * maxPiece);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('golden frames', () => {
  it('cover every command: a request or push, and a reply when it has one', () => {
    const missing: string[] = [];
    for (const s of Object.values(COMMANDS) as CommandSpec[]) {
      const name = s.name as CommandName;
      const mine = CASES.filter((c) => (c.kind === 'error' ? name === 'ERROR' : c.name === name));
      if (!mine.some((c) => c.kind === 'request' || c.kind === 'push' || c.kind === 'error')) missing.push(`${name} request/push`);
      if (s.reply && !mine.some((c) => c.kind === 'reply')) missing.push(`${name} reply`);
      if (s.code >= 0x60 && mine.some((c) => c.kind === 'request' || c.kind === 'reply')) missing.push(`${name} is a push: use kind 'push'`);
    }
    expect(missing, 'add cases to test/fixtures/frames/samples.ts').toEqual([]);
  });

  it('have unique ids and no stale fixture files', () => {
    const ids = CASES.map((c) => `${c.id}.hex`);
    expect(new Set(ids).size).toBe(ids.length);
    const stale = readdirSync(DIR).filter((f) => f.endsWith('.hex') && !ids.includes(f));
    if (UPDATE) for (const f of stale) unlinkSync(`${DIR}${f}`);
    else expect(stale).toEqual([]);
  });

  describe.each(CASES.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    it('encodes to the committed bytes', () => {
      expect(encodeCase(c).toString('hex')).toBe(fixture(c).toString('hex'));
    });

    it('decodes from the committed bytes, whole and one byte at a time', () => {
      const bytes = fixture(c);
      expect(decodeAll([bytes])).toEqual([expected(c)]);
      const bytewise = [...bytes].map((b) => Buffer.from([b]));
      expect(decodeAll(bytewise)).toEqual([expected(c)]);
    });

    it('re-encodes the decoded object to the same bytes', () => {
      const bytes = fixture(c);
      const [d] = decodeAll([bytes]);
      const again = d.kind === 'error' ? encodeError(d.reqId, d.payload.name, d.payload.message)
        : d.kind === 'reply' ? encodeReply(d.name, d.reqId, d.payload)
          : d.kind === 'push' ? encodePush(d.name, d.payload)
            : encodeRequest(d.name, d.reqId, d.payload);
      expect(again.equals(bytes)).toBe(true);
    });
  });

  describe('all fixtures as one stream', () => {
    const stream = () => Buffer.concat(CASES.map(fixture));
    const all = () => CASES.map(expected);

    it('decodes from one chunk', () => {
      expect(decodeAll([stream()])).toEqual(all());
    });

    it('decodes one byte at a time', () => {
      const s = stream();
      expect(decodeAll([...s].map((b) => Buffer.from([b])))).toEqual(all());
    });

    it.each([1, 2, 3, 4, 5, 6, 7, 8])('decodes from random splits (seed %i)', (seed) => {
      expect(decodeAll(randomSplit(stream(), seed, seed * 13))).toEqual(all());
    });
  });
});
