/**
 * Frames whose last `bytes` field the caller fills in place (messages.ts
 * encodeRequestTail / encodeReplyTail: UPLOAD_CHUNK read straight from the file,
 * FILE_READ's reply read straight from the blob), the reqId set afterwards
 * (setFrameReqId), and decodeFrame's bytes fields as views of the frame.
 */
import { describe, expect, it } from 'vitest';
import { decodePayload } from '../../../src/protocol/codec.js';
import { COMMANDS } from '../../../src/protocol/commands.js';
import { FrameDecoder, setFrameReqId } from '../../../src/protocol/frame.js';
import { decodeFrame, encodeReply, encodeReplyTail, encodeRequest, encodeRequestTail } from '../../../src/protocol/messages.js';

const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));

describe('tail frames', () => {
  it('a filled UPLOAD_CHUNK tail frame is byte for byte the frame encodeRequest makes', () => {
    const { frame, tail } = encodeRequestTail('UPLOAD_CHUNK', 42, { uploadId: 7, offset: 1_000_000 }, data.length);
    expect(tail.length).toBe(data.length);
    expect(tail.buffer).toBe(frame.buffer); // a view of the frame: filling it fills the frame
    data.copy(tail);
    expect(frame.equals(encodeRequest('UPLOAD_CHUNK', 42, { uploadId: 7, offset: 1_000_000, data }))).toBe(true);
  });

  it('a filled FILE_READ reply tail frame is the frame encodeReply makes, also when empty', () => {
    const { frame, tail } = encodeReplyTail('FILE_READ', 9, {}, data.length);
    data.copy(tail);
    expect(frame.equals(encodeReply('FILE_READ', 9, { data }))).toBe(true);
    const empty = encodeReplyTail('FILE_READ', 9, {}, 0);
    expect(empty.tail.length).toBe(0);
    expect(empty.frame.equals(encodeReply('FILE_READ', 9, { data: Buffer.alloc(0) }))).toBe(true);
  });

  it('refuses a command whose schema does not end with bytes', () => {
    expect(() => encodeRequestTail('PING', 1, {}, 4)).toThrow(TypeError);
    expect(() => encodeReplyTail('UPLOAD_CHUNK', 1, {}, 4)).toThrow(TypeError);
  });

  it('setFrameReqId sets the request id of a frame built with 0', () => {
    const { frame, tail } = encodeRequestTail('UPLOAD_CHUNK', 0, { uploadId: 1, offset: 0 }, 3);
    tail.set([1, 2, 3]);
    setFrameReqId(frame, 0xfffffffe);
    expect(frame.equals(encodeRequest('UPLOAD_CHUNK', 0xfffffffe, { uploadId: 1, offset: 0, data: Buffer.from([1, 2, 3]) }))).toBe(true);
  });
});

describe('bytes fields', () => {
  it('decodeFrame gives them as views of the frame payload (no copy), equal to what was sent', () => {
    const wire = encodeReply('FILE_READ', 5, { data });
    const [f] = new FrameDecoder().push(wire);
    const d = decodeFrame(f!);
    expect(d).toMatchObject({ kind: 'reply', name: 'FILE_READ', reqId: 5 });
    const got = d.payload.data as Buffer;
    expect(got.equals(data)).toBe(true);
    expect(got.buffer).toBe(f!.payload.buffer);
  });

  it('decodePayload still copies them unless asked for views', () => {
    const payload = encodeReply('FILE_READ', 1, { data }).subarray(9);
    const copy = decodePayload(COMMANDS.FILE_READ.reply!, payload).data as Buffer;
    const view = decodePayload(COMMANDS.FILE_READ.reply!, payload, { viewBytes: true }).data as Buffer;
    payload[4] ^= 0xff;
    expect(copy[0]).toBe(data[0]);
    expect(view[0]).toBe(data[0]! ^ 0xff);
  });
});
