/**
 * Frame layer (src/protocol/frame.ts): layout, incremental decoding, and the stream
 * errors that poison a decoder (SPEC §8: bad input never takes the server down).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatError, type ErrorCode } from '../../../src/common/errors.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, HEADER_BYTES, MIN_LENGTH, encodeFrame, type Frame } from '../../../src/protocol/frame.js';

const hdr = (length: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(length); return b; };
const frame = (code: number, reqId: number, payload: number[] | Buffer = []) => encodeFrame(code, reqId, Buffer.from(payload));
const plain = (f: Frame) => ({ code: f.code, reqId: f.reqId, payload: f.payload.toString('hex') });

function caught(fn: () => unknown): ChatError {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(ChatError); return e as ChatError; }
  throw new Error('expected a ChatError');
}
function expectChatError(fn: () => unknown, code: ErrorCode): ChatError {
  const err = caught(fn);
  expect(err.code).toBe(code);
  return err;
}

afterEach(() => { vi.restoreAllMocks(); });

describe('encodeFrame', () => {
  it('writes length (5 + payload), code, reqId, payload, big-endian', () => {
    expect(frame(0x08, 1).toString('hex')).toBe('000000050800000001');
    expect(frame(0x81, 0x01020304, [0xaa, 0xbb]).toString('hex')).toBe('0000000781' + '01020304' + 'aabb');
    expect(frame(0x60, 0xffffffff).toString('hex')).toBe('0000000560ffffffff');
    expect(MIN_LENGTH).toBe(5);
    expect(HEADER_BYTES).toBe(9);
  });
});

describe('FrameDecoder', () => {
  it('decodes a frame pushed whole, and holds nothing after it', () => {
    const dec = new FrameDecoder();
    expect(dec.push(frame(0x01, 7, [1, 2, 3])).map(plain)).toEqual([{ code: 1, reqId: 7, payload: '010203' }]);
    expect(dec.buffered).toBe(0);
    expect(dec.maxFrame).toBe(DEFAULT_MAX_FRAME);
  });

  it('returns no frames for an empty chunk', () => {
    expect(new FrameDecoder().push(Buffer.alloc(0))).toEqual([]);
  });

  it('decodes many frames from one chunk, in order', () => {
    const frames = Array.from({ length: 100 }, (_, i) => frame(0x30, i + 1, Buffer.alloc(i % 7, i)));
    const got = new FrameDecoder().push(Buffer.concat(frames));
    expect(got.map((f) => f.reqId)).toEqual(frames.map((_, i) => i + 1));
    got.forEach((f, i) => expect(f.payload.equals(Buffer.alloc(i % 7, i))).toBe(true));
  });

  it('decodes a frame split across many chunks, and a chunk holding the end of one frame and the start of the next', () => {
    const a = frame(0x10, 1, Buffer.alloc(1000, 0xab));
    const b = frame(0x11, 2, [9]);
    const all = Buffer.concat([a, b]);
    const dec = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < all.length; i += 37) out.push(...dec.push(all.subarray(i, i + 37)));
    expect(out.map(plain)).toEqual([plain({ code: 0x10, reqId: 1, payload: Buffer.alloc(1000, 0xab) }), { code: 0x11, reqId: 2, payload: '09' }]);
    expect(dec.buffered).toBe(0);
  });

  it('reports the bytes held for an unfinished frame', () => {
    const dec = new FrameDecoder();
    const f = frame(0x01, 1, [1, 2, 3, 4]);
    dec.push(f.subarray(0, 2));
    expect(dec.buffered).toBe(2);
    dec.push(f.subarray(2, 11));
    expect(dec.buffered).toBe(11);
    expect(dec.push(f.subarray(11))).toHaveLength(1);
    expect(dec.buffered).toBe(0);
  });

  it('accepts Uint8Array views that are not Buffers', () => {
    const backing = new Uint8Array(32);
    backing.set(frame(0x05, 3, [7]), 10);
    const view = new Uint8Array(backing.buffer, 10, 10);
    expect(new FrameDecoder().push(view).map(plain)).toEqual([{ code: 5, reqId: 3, payload: '07' }]);
  });

  it('copies at most twice per frame when fed one byte at a time (no quadratic re-buffering)', () => {
    const f = frame(0x30, 1, Buffer.alloc(64 * 1024, 1));
    const concat = vi.spyOn(Buffer, 'concat');
    const dec = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < f.length; i++) out.push(...dec.push(f.subarray(i, i + 1)));
    expect(out).toHaveLength(1);
    expect(out[0].payload.equals(Buffer.alloc(64 * 1024, 1))).toBe(true);
    expect(concat.mock.calls.length).toBeLessThanOrEqual(2);
  });
});

describe('FrameDecoder stream errors', () => {
  it.each([0, 1, 4])('length %i (< 5) is CHAT_ERR_PROTOCOL as soon as the 4 length bytes arrive', (length) => {
    const dec = new FrameDecoder();
    const h = hdr(length);
    expect(dec.push(h.subarray(0, 3))).toEqual([]);
    expectChatError(() => dec.push(h.subarray(3)), 'CHAT_ERR_PROTOCOL');
    expect(dec.buffered).toBe(0);
  });

  it('is poisoned after a stream error: every later push throws the same error', () => {
    const dec = new FrameDecoder();
    const first = expectChatError(() => dec.push(hdr(2)), 'CHAT_ERR_PROTOCOL');
    expect(caught(() => dec.push(frame(0x08, 1)))).toBe(first);
    expect(caught(() => dec.push(Buffer.alloc(0)))).toBe(first);
    expect(dec.buffered).toBe(0);
  });

  it('detects a frame over maxFrame from the 4 length bytes alone, before the body', () => {
    const dec = new FrameDecoder(100);
    const h = hdr(MIN_LENGTH + 101);
    for (let i = 0; i < 3; i++) expect(dec.push(h.subarray(i, i + 1))).toEqual([]);
    const err = expectChatError(() => dec.push(h.subarray(3)), 'CHAT_ERR_FRAME_TOO_LARGE');
    expect(err.message).toMatch(/101 bytes over the limit of 100/);
    expect(dec.buffered).toBe(0);
    expectChatError(() => dec.push(frame(0x08, 1)), 'CHAT_ERR_FRAME_TOO_LARGE');
  });

  it('accepts a payload of exactly maxFrame bytes', () => {
    const dec = new FrameDecoder(100);
    expect(dec.push(frame(0x30, 1, Buffer.alloc(100)))).toHaveLength(1);
    expectChatError(() => new FrameDecoder(100).push(frame(0x30, 1, Buffer.alloc(101))), 'CHAT_ERR_FRAME_TOO_LARGE');
  });

  it('rejects the largest possible length with the default limit at once', () => {
    expectChatError(() => new FrameDecoder().push(hdr(0xffffffff)), 'CHAT_ERR_FRAME_TOO_LARGE');
  });

  it('checks the length of a frame that follows good frames in the same chunk', () => {
    const dec = new FrameDecoder(50);
    expectChatError(() => dec.push(Buffer.concat([frame(0x08, 1), frame(0x08, 2), hdr(3)])), 'CHAT_ERR_PROTOCOL');
  });
});

describe('FrameDecoder memory bound', () => {
  it('never holds more than maxFrame + 9 bytes between pushes', () => {
    const max = 256;
    const dec = new FrameDecoder(max);
    const big = frame(0x30, 1, Buffer.alloc(max, 7));
    const stream = Buffer.concat([big, frame(0x08, 2), big, big]);
    let frames = 0;
    for (let i = 0; i < stream.length; i += 100) {
      frames += dec.push(stream.subarray(i, i + 100)).length;
      expect(dec.buffered).toBeLessThanOrEqual(max + HEADER_BYTES);
    }
    expect(frames).toBe(4);
    dec.push(big.subarray(0, max + HEADER_BYTES - 1));
    expect(dec.buffered).toBe(max + HEADER_BYTES - 1);
  });

  it('keeps only the unfinished tail of a large chunk of complete frames', () => {
    const dec = new FrameDecoder(64);
    const many = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(0x30, i + 1, Buffer.alloc(64))));
    const tail = frame(0x30, 0, Buffer.alloc(10)).subarray(0, 12);
    expect(dec.push(Buffer.concat([many, tail]))).toHaveLength(1000);
    expect(dec.buffered).toBe(12);
  });
});
