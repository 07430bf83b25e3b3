/**
 * Typed frames: a frame's code and payload decoded against the command table. PURE.
 */
import { ChatError, errorCodeFromWire, ERROR_CODES, type ErrorCode } from '../common/errors.js';
import { decodePayload, encodePayload, type Payload } from './codec.js';
import { COMMAND_BY_CODE, COMMANDS, ERROR_CODE, REPLY_BIT, type CommandName, type CommandSpec } from './commands.js';
import { encodeFrame, type Frame } from './frame.js';

export type DecodedKind = 'request' | 'reply' | 'push' | 'error';

export interface Decoded {
  kind: DecodedKind;
  /** Command name; for a reply, the name of the request it answers. */
  name: CommandName;
  reqId: number;
  payload: Payload;
}

function spec(name: CommandName): CommandSpec {
  return COMMANDS[name];
}

export function encodeRequest(name: CommandName, reqId: number, payload: Payload = {}): Buffer {
  const s = spec(name);
  return encodeFrame(s.code, reqId, encodePayload(s.request, payload));
}

export function encodeReply(name: CommandName, reqId: number, payload: Payload = {}): Buffer {
  const s = spec(name);
  if (!s.reply) throw new TypeError(`${name} has no reply`);
  return encodeFrame(s.code | REPLY_BIT, reqId, encodePayload(s.reply, payload));
}

/** Pushes carry reqId 0. */
export function encodePush(name: CommandName, payload: Payload = {}): Buffer {
  const s = spec(name);
  return encodeFrame(s.code, 0, encodePayload(s.request, payload));
}

export function encodeError(reqId: number, code: ErrorCode, message: string): Buffer {
  return encodeFrame(ERROR_CODE, reqId, encodePayload(COMMANDS.ERROR.request, {
    code: ERROR_CODES[code].wire, name: code, message,
  }));
}

/**
 * Decodes a frame's code and payload. Throws ChatError CHAT_ERR_UNKNOWN_COMMAND for a
 * code outside the table (the stream itself is still in step) and CHAT_ERR_PROTOCOL
 * for a payload that does not match its schema.
 */
export function decodeFrame(frame: Frame): Decoded {
  const { code, reqId } = frame;
  if (code === ERROR_CODE) {
    return { kind: 'error', name: 'ERROR', reqId, payload: decodePayload(COMMANDS.ERROR.request, frame.payload) };
  }
  const isReply = (code & REPLY_BIT) !== 0;
  const s = COMMAND_BY_CODE.get(code & ~REPLY_BIT);
  if (!s || (isReply && !s.reply)) {
    throw new ChatError('CHAT_ERR_UNKNOWN_COMMAND', `unknown command code 0x${code.toString(16).padStart(2, '0')}`);
  }
  const pushCode = s.code >= 0x60;
  const kind: DecodedKind = isReply ? 'reply' : pushCode ? 'push' : 'request';
  const payload = decodePayload(isReply ? s.reply! : s.request, frame.payload);
  return { kind, name: s.name as CommandName, reqId, payload };
}

/** Turns a decoded ERROR payload back into a ChatError (client side). */
export function errorFromPayload(payload: Payload): ChatError {
  return new ChatError(errorCodeFromWire(payload.code as number), String(payload.message));
}
