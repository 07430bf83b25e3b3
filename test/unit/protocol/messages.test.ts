/**
 * Typed frames (src/protocol/messages.ts): how a frame's code is classified, and which
 * ChatError a receiver gets for a frame it cannot understand (docs/PROTOCOL.md §5).
 */
import { describe, expect, it } from 'vitest';
import { ChatError, type ErrorCode } from '../../../src/common/errors.js';
import { COMMAND_BY_CODE } from '../../../src/protocol/commands.js';
import { encodeFrame } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeError, encodePush, encodeReply, encodeRequest, errorFromPayload } from '../../../src/protocol/messages.js';

const raw = (code: number, reqId: number, payload: number[] = []) => ({ code, reqId, payload: Buffer.from(payload) });
function code(fn: () => unknown): ErrorCode {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(ChatError); return (e as ChatError).code; }
  throw new Error('expected a ChatError');
}

describe('decodeFrame classification', () => {
  it('tells requests, replies, pushes and errors apart', () => {
    expect(decodeFrame(raw(0x08, 5))).toEqual({ kind: 'request', name: 'PING', reqId: 5, payload: {} });
    expect(decodeFrame(raw(0x88, 5))).toEqual({ kind: 'reply', name: 'PING', reqId: 5, payload: {} });
    expect(decodeFrame(raw(0x61, 0))).toEqual({ kind: 'push', name: 'PING_PUSH', reqId: 0, payload: {} });
    const err = decodeFrame(raw(0x7f, 9, [...encodeError(9, 'CHAT_ERR_NOT_FOUND', 'x').subarray(9)]));
    expect(err).toEqual({ kind: 'error', name: 'ERROR', reqId: 9, payload: { code: 20, name: 'CHAT_ERR_NOT_FOUND', message: 'x' } });
  });

  it('pushes carry reqId 0', () => {
    expect(encodePush('PING_PUSH').readUInt32BE(5)).toBe(0);
  });

  it('every code outside the table is CHAT_ERR_UNKNOWN_COMMAND, whatever the payload', () => {
    for (let c = 0; c < 256; c++) {
      const base = COMMAND_BY_CODE.get(c & 0x7f);
      const known = c === 0x7f || (c < 0x80 ? base !== undefined : base?.reply !== undefined && c !== 0xff);
      if (!known) expect(code(() => decodeFrame(raw(c, 1, [1, 2, 3]))), `0x${c.toString(16)}`).toBe('CHAT_ERR_UNKNOWN_COMMAND');
    }
  });

  it('a push or ERROR code with the reply bit is unknown', () => {
    expect(code(() => decodeFrame(raw(0xe0, 1)))).toBe('CHAT_ERR_UNKNOWN_COMMAND');
    expect(code(() => decodeFrame(raw(0xff, 1)))).toBe('CHAT_ERR_UNKNOWN_COMMAND');
  });

  it('a known code with a payload that does not fit its schema is CHAT_ERR_PROTOCOL', () => {
    expect(code(() => decodeFrame(raw(0x08, 1, [0])))).toBe('CHAT_ERR_PROTOCOL'); // PING takes no payload
    expect(code(() => decodeFrame(raw(0x0a, 1, [2])))).toBe('CHAT_ERR_PROTOCOL'); // LISTEN bool 2
    expect(code(() => decodeFrame(raw(0x7f, 0, [0, 1])))).toBe('CHAT_ERR_PROTOCOL'); // truncated ERROR
  });
});

describe('encoders', () => {
  it('a reply uses code | 0x80 and the same reqId', () => {
    const f = encodeReply('WHOAMI', 77, { profile: { name: 'a', displayName: 'A', admin: false, createdTs: 1 } });
    expect(f[4]).toBe(0x85);
    expect(f.readUInt32BE(5)).toBe(77);
    expect(encodeRequest('PING', 3).equals(encodeFrame(0x08, 3, Buffer.alloc(0)))).toBe(true);
  });

  it('refuses to encode a reply for a command without one (programming error)', () => {
    expect(() => encodeReply('MESSAGE', 1, {})).toThrow(TypeError);
  });

  it('maps an ERROR payload back to a ChatError; unknown wire numbers are CHAT_ERR_INTERNAL', () => {
    const e = errorFromPayload({ code: 22, name: 'CHAT_ERR_CONFLICT', message: 'name taken' });
    expect(e).toBeInstanceOf(ChatError);
    expect(e.code).toBe('CHAT_ERR_CONFLICT');
    expect(e.exitCode).toBe(6);
    expect(e.message).toBe('name taken');
    expect(errorFromPayload({ code: 9999, name: 'CHAT_ERR_FUTURE', message: 'm' }).code).toBe('CHAT_ERR_INTERNAL');
  });
});
