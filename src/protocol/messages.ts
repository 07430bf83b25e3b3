/**
 * Typed frames: a frame's code and payload decoded against the command table. PURE.
 */
import { ChatError, errorCodeFromWire, ERROR_CODES, type ErrorCode } from '../common/errors.js';
import { decodePayload, payloadSize, writePayload, type Payload, type Schema } from './codec.js';
import { COMMAND_BY_CODE, COMMANDS, ERROR_CODE, REPLY_BIT, type CommandName, type CommandSpec } from './commands.js';
import { HEADER_BYTES, writeFrameHeader, type Frame } from './frame.js';

export type DecodedKind = 'request' | 'reply' | 'push' | 'error';

export interface Decoded {
  kind: DecodedKind;
  /** Command name; for a reply, the name of the request it answers. */
  name: CommandName;
  reqId: number;
  payload: Payload;
}

const VIEW_BYTES = { viewBytes: true } as const;

function spec(name: CommandName): CommandSpec {
  return COMMANDS[name];
}

/** One frame in one Buffer: the payload is encoded in place after the header. */
function frameOf(code: number, reqId: number, schema: Schema, payload: Payload): Buffer {
  const size = payloadSize(schema, payload);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + size);
  writeFrameHeader(buf, code, reqId, size);
  writePayload(schema, payload, buf, HEADER_BYTES);
  return buf;
}

export function encodeRequest(name: CommandName, reqId: number, payload: Payload = {}): Buffer {
  const s = spec(name);
  return frameOf(s.code, reqId, s.request, payload);
}

export function encodeReply(name: CommandName, reqId: number, payload: Payload = {}): Buffer {
  const s = spec(name);
  if (!s.reply) throw new TypeError(`${name} has no reply`);
  return frameOf(s.code | REPLY_BIT, reqId, s.reply, payload);
}

/** Pushes carry reqId 0. */
export function encodePush(name: CommandName, payload: Payload = {}): Buffer {
  const s = spec(name);
  return frameOf(s.code, 0, s.request, payload);
}

export function encodeError(reqId: number, code: ErrorCode, message: string): Buffer {
  return frameOf(ERROR_CODE, reqId, COMMANDS.ERROR.request, { code: ERROR_CODES[code].wire, name: code, message });
}

/** A frame whose last field's bytes are left for the caller: `tail` is where they go. */
export interface TailFrame {
  frame: Buffer;
  tail: Buffer;
}

/**
 * Encodes a frame whose schema ends with a `bytes` field (UPLOAD_CHUNK, FILE_READ's
 * reply) with room for `tailLength` bytes there, unwritten: the caller reads its data
 * straight into `tail` (a view of `frame`) and sends `frame`, so a chunk read from a
 * file reaches the socket without being copied. `payload` holds the other fields.
 */
function tailFrameOf(code: number, reqId: number, schema: Schema, payload: Payload, tailLength: number, into?: Buffer): TailFrame {
  const last = schema[schema.length - 1];
  if (!last || last[1] !== 'bytes') throw new TypeError('the schema does not end with a bytes field');
  const head = schema.slice(0, -1);
  const headSize = payloadSize(head, payload);
  const size = headSize + 4 + tailLength;
  const frame = into && into.length >= HEADER_BYTES + size ? into.subarray(0, HEADER_BYTES + size) : Buffer.allocUnsafe(HEADER_BYTES + size);
  writeFrameHeader(frame, code, reqId, size);
  const off = writePayload(head, payload, frame, HEADER_BYTES);
  frame.writeUInt32BE(tailLength, off);
  return { frame, tail: frame.subarray(off + 4) };
}

/** encodeRequest with the last (bytes) field left to fill (see tailFrameOf). */
export function encodeRequestTail(name: CommandName, reqId: number, payload: Payload, tailLength: number): TailFrame {
  const s = spec(name);
  return tailFrameOf(s.code, reqId, s.request, payload, tailLength);
}

/**
 * encodeReply with the last (bytes) field left to fill (see tailFrameOf). `into`, when
 * big enough, is the memory the frame is built in (a reused buffer; frame is a view of it).
 */
export function encodeReplyTail(name: CommandName, reqId: number, payload: Payload, tailLength: number, into?: Buffer): TailFrame {
  const s = spec(name);
  if (!s.reply) throw new TypeError(`${name} has no reply`);
  return tailFrameOf(s.code | REPLY_BIT, reqId, s.reply, payload, tailLength, into);
}

/**
 * Decodes a frame's code and payload. Throws ChatError CHAT_ERR_UNKNOWN_COMMAND for a
 * code outside the table (the stream itself is still in step) and CHAT_ERR_PROTOCOL
 * for a payload that does not match its schema. `bytes` fields are views of
 * frame.payload (no copy), valid as long as it is: FrameDecoder never reuses the
 * memory it hands out, and nothing may write into a frame's payload.
 */
export function decodeFrame(frame: Frame): Decoded {
  const { code, reqId } = frame;
  if (code === ERROR_CODE) {
    return { kind: 'error', name: 'ERROR', reqId, payload: decodePayload(COMMANDS.ERROR.request, frame.payload, VIEW_BYTES) };
  }
  const isReply = (code & REPLY_BIT) !== 0;
  const s = COMMAND_BY_CODE.get(code & ~REPLY_BIT);
  if (!s || (isReply && !s.reply)) {
    throw new ChatError('CHAT_ERR_UNKNOWN_COMMAND', `unknown command code 0x${code.toString(16).padStart(2, '0')}`);
  }
  const pushCode = s.code >= 0x60;
  const kind: DecodedKind = isReply ? 'reply' : pushCode ? 'push' : 'request';
  const payload = decodePayload(isReply ? s.reply! : s.request, frame.payload, VIEW_BYTES);
  return { kind, name: s.name as CommandName, reqId, payload };
}

/** Turns a decoded ERROR payload back into a ChatError (client side). */
export function errorFromPayload(payload: Payload): ChatError {
  return new ChatError(errorCodeFromWire(payload.code as number), String(payload.message));
}
