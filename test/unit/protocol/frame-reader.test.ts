/**
 * FrameReader (src/protocol/frame-reader.ts): the onread-side twin of FrameDecoder.
 * Random streams of small and large frames, read in random amounts (a read fills at
 * most what nextBuffer() offers, like a socket), decode to the same frames as
 * FrameDecoder; payloads stay intact after later reads reuse the scratch buffer; a
 * large frame gets a Buffer of its own; bad lengths poison the reader.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../../src/common/errors.js';
import { FrameDecoder, encodeFrame, type Frame } from '../../../src/protocol/frame.js';
import { FrameReader } from '../../../src/protocol/frame-reader.js';

const plain = (f: Frame) => ({ code: f.code, reqId: f.reqId, payload: f.payload.toString('hex') });

/** Feeds `stream` to the reader in reads of the sizes given (cycled), as a socket would. */
function readAll(reader: FrameReader, stream: Buffer, sizes: number[]): Frame[] {
  const frames: Frame[] = [];
  let pos = 0;
  let i = 0;
  while (pos < stream.length) {
    const into = reader.nextBuffer();
    expect(into.length).toBeGreaterThan(0);
    const n = Math.min(into.length, sizes[i++ % sizes.length], stream.length - pos);
    stream.copy(into, 0, pos, pos + n);
    // What is left of `into` is garbage a socket might have scribbled on.
    into.fill(0xee, n);
    pos += n;
    frames.push(...reader.filled(n));
  }
  return frames;
}

const frameArb = fc.record({
  code: fc.integer({ min: 0, max: 255 }),
  reqId: fc.integer({ min: 0, max: 0xffffffff }),
  size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 30_000, max: 40_000 }), fc.integer({ min: 60_000, max: 200_000 })),
  fill: fc.integer({ min: 0, max: 255 }),
});

describe('FrameReader', () => {
  it('decodes what FrameDecoder decodes, whatever the read sizes, and payloads survive later reads', () => {
    fc.assert(fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 12 }),
      fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 300_000 })), { minLength: 1, maxLength: 8 }),
      (specs, sizes) => {
        const encoded = specs.map((s) => {
          const p = Buffer.alloc(s.size, s.fill);
          if (s.size > 0) p[s.size - 1] = s.fill ^ 0x5a;
          return encodeFrame(s.code, s.reqId, p);
        });
        const stream = Buffer.concat(encoded);
        const expected = new FrameDecoder(1 << 20).push(Buffer.from(stream)).map(plain);
        const got = readAll(new FrameReader(1 << 20), stream, [...sizes, 70_000]); // bounded run time
        // Compared after all the reads: no payload is a view of reused memory.
        expect(got.map(plain)).toEqual(expected);
      },
    ), { numRuns: 200 });
  });

  it('reads a large frame into a Buffer holding that frame alone', () => {
    const reader = new FrameReader(1 << 20);
    const big = encodeFrame(0x81, 5, Buffer.alloc(1 << 20, 7));
    const stream = Buffer.concat([big, encodeFrame(0x82, 6, Buffer.from([1]))]);
    const frames = readAll(reader, stream, [65_536, 1 << 20]);
    expect(frames.map((f) => [f.code, f.reqId, f.payload.length])).toEqual([[0x81, 5, 1 << 20], [0x82, 6, 1]]);
    expect(frames[0].payload.buffer.byteLength).toBe(big.length);
    expect(frames[0].payload.equals(big.subarray(9))).toBe(true);
  });

  it('poisons itself on a length below the minimum or above maxFrame', () => {
    for (const [length, code] of [[4, 'CHAT_ERR_PROTOCOL'], [5 + 101, 'CHAT_ERR_FRAME_TOO_LARGE']] as const) {
      const reader = new FrameReader(100);
      const head = Buffer.alloc(9);
      head.writeUInt32BE(length);
      head.copy(reader.nextBuffer());
      let err: unknown;
      try { reader.filled(9); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ChatError);
      expect((err as ChatError).code).toBe(code);
      expect(() => reader.filled(0)).toThrow(err as Error);
    }
  });
});
