/**
 * Frame layer. PURE: chunks in, frames out; frames in, Buffers out.
 *
 * Layout (all big-endian):
 *   0  u32  length   bytes after this field = 5 + payload length (so >= 5)
 *   4  u8   code     command code (commands.ts)
 *   5  u32  reqId    request id chosen by the client; replies echo it; 0 = server push
 *   9  ...  payload  encoded by the command's schema (codec.ts)
 */
import { ChatError } from '../common/errors.js';

export const LENGTH_BYTES = 4;
export const HEADER_BYTES = 9;
/** Smallest legal value of the length field: code + reqId. */
export const MIN_LENGTH = 5;
export const DEFAULT_MAX_FRAME = 1024 * 1024;

export interface Frame {
  code: number;
  reqId: number;
  payload: Buffer;
}

/** Encodes one frame. `payload` is copied into the result. */
export function encodeFrame(code: number, reqId: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  writeFrameHeader(buf, code, reqId, payload.length);
  buf.set(payload, HEADER_BYTES);
  return buf;
}

/**
 * Writes the header of a frame whose `payloadLength` bytes follow at HEADER_BYTES in
 * the same Buffer (for encoders that write the payload in place, with no copy).
 */
export function writeFrameHeader(buf: Buffer, code: number, reqId: number, payloadLength: number): void {
  buf.writeUInt32BE(MIN_LENGTH + payloadLength, 0);
  buf[4] = code;
  buf.writeUInt32BE(reqId >>> 0, 5);
}

/** Sets the reqId of an encoded frame (a frame built before its request id was chosen). */
export function setFrameReqId(buf: Buffer, reqId: number): void {
  buf.writeUInt32BE(reqId >>> 0, 5);
}

/**
 * Incremental decoder. Feed it chunks in order with push(); it returns the complete
 * frames they finish. Memory is bounded: it never buffers more than one frame of at
 * most `maxFrame` bytes plus the header. A length below MIN_LENGTH or above maxFrame
 * throws a ChatError and poisons the decoder (the stream can no longer be trusted:
 * the caller must close it); later pushes throw the same error. A frame's payload is
 * a view of a pushed chunk or of a Buffer the decoder made and never reuses: push()
 * takes the chunk, and nobody may write to it afterwards.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private total = 0;
  private poisoned: ChatError | undefined;

  constructor(readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.total;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.poisoned) throw this.poisoned;
    const frames: Frame[] = [];
    if (chunk.length === 0) return frames;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.chunks.push(b);
    this.total += b.length;

    while (this.total >= LENGTH_BYTES) {
      if (this.chunks[0].length < LENGTH_BYTES) this.flatten();
      const head = this.chunks[0];
      const length = head.readUInt32BE(0);
      if (length < MIN_LENGTH) {
        this.poison(new ChatError('CHAT_ERR_PROTOCOL', `frame length ${length} below minimum ${MIN_LENGTH}`));
      }
      if (length + LENGTH_BYTES - HEADER_BYTES > this.maxFrame) {
        this.poison(new ChatError('CHAT_ERR_FRAME_TOO_LARGE', `frame payload of ${length - MIN_LENGTH} bytes over the limit of ${this.maxFrame}`));
      }
      const size = LENGTH_BYTES + length;
      if (this.total < size) break;
      if (head.length < size) this.flatten();
      const buf = this.chunks[0];
      frames.push({ code: buf[4], reqId: buf.readUInt32BE(5), payload: buf.subarray(HEADER_BYTES, size) });
      if (buf.length === size) this.chunks.shift();
      else this.chunks[0] = buf.subarray(size);
      this.total -= size;
    }
    return frames;
  }

  private flatten(): void {
    this.chunks = [Buffer.concat(this.chunks, this.total)];
  }

  private poison(err: ChatError): never {
    this.poisoned = err;
    this.chunks = [];
    this.total = 0;
    throw err;
  }
}
