/**
 * Frame reader for sockets opened with net's `onread` option: the socket reads
 * straight into buffers this class hands out, so a large frame (a 1 MiB FILE_READ
 * reply) lands in its own Buffer with no reassembly from 64 KiB chunks and no
 * per-read garbage. PURE: no I/O; the caller wires it to the socket:
 *
 *   net.connect({ ..., onread: { buffer: () => r.nextBuffer(), callback: (n) => handle(r.filled(n)) } })
 *
 * Contract (the same as FrameDecoder's, whose errors it reuses):
 *  - nextBuffer() returns where the next read goes; filled(n) says n bytes were
 *    read into it and returns the frames they complete, in order.
 *  - A frame's payload is a view of a Buffer that is never written again (never the
 *    reused scratch buffer): callers may keep it, and write it out asynchronously.
 *  - Memory is bounded: the 64 KiB scratch buffer plus one frame of at most maxFrame.
 *  - A length below MIN_LENGTH or above maxFrame throws a ChatError and poisons the
 *    reader; later calls to filled() throw the same error.
 *
 * How: reads go into the scratch buffer until a frame's length is known; a frame
 * bigger than half the scratch buffer gets a Buffer of its exact size, its first
 * bytes are copied in, and the following reads go straight into its remainder
 * (capped at the frame's end, so its Buffer holds nothing else). Complete small
 * frames are copied out of the scratch buffer together, one allocation per read.
 */
import { ChatError } from '../common/errors.js';
import { DEFAULT_MAX_FRAME, HEADER_BYTES, LENGTH_BYTES, MIN_LENGTH, type Frame } from './frame.js';

const SCRATCH_BYTES = 64 * 1024;
/** Frames of more than this many bytes are read into a Buffer of their own. */
const DIRECT_ABOVE = SCRATCH_BYTES / 2;

export class FrameReader {
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** Unparsed bytes in the scratch buffer: [start, end). */
  private start = 0;
  private end = 0;
  /** The large frame being read in place, and how many of its bytes are in. */
  private big: Buffer | undefined;
  private bigFill = 0;
  private poisoned: ChatError | undefined;

  constructor(readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** Where the next read must go. */
  nextBuffer(): Buffer {
    if (this.big) return this.big.subarray(this.bigFill);
    return this.scratch.subarray(this.end);
  }

  /** `n` bytes were read into the last nextBuffer(); returns the frames they complete. */
  filled(n: number): Frame[] {
    if (this.poisoned) throw this.poisoned;
    if (this.big) {
      this.bigFill += n;
      if (this.bigFill < this.big.length) return [];
      const buf = this.big;
      this.big = undefined;
      return [{ code: buf[4], reqId: buf.readUInt32BE(5), payload: buf.subarray(HEADER_BYTES) }];
    }
    this.end += n;
    return this.parseScratch();
  }

  private parseScratch(): Frame[] {
    const s = this.scratch;
    // First pass: find the complete frames; copy them out together.
    let pos = this.start;
    const sizes: number[] = [];
    let size = 0; // of the frame at pos, once its length field is in
    while (this.end - pos >= LENGTH_BYTES) {
      size = LENGTH_BYTES + this.checkLength(s.readUInt32BE(pos));
      if (this.end - pos < size) break;
      sizes.push(size);
      pos += size;
      size = 0;
    }
    const frames: Frame[] = [];
    if (sizes.length > 0) {
      const copy = Buffer.allocUnsafe(pos - this.start);
      s.copy(copy, 0, this.start, pos);
      let at = 0;
      for (const sz of sizes) {
        frames.push({ code: copy[at + 4], reqId: copy.readUInt32BE(at + 5), payload: copy.subarray(at + HEADER_BYTES, at + sz) });
        at += sz;
      }
    }
    this.start = pos;
    const rest = this.end - pos;
    if (rest === 0) {
      this.start = this.end = 0;
    } else if (rest >= LENGTH_BYTES && size > DIRECT_ABOVE) {
      // A large frame has begun: give it a Buffer of its own.
      this.big = Buffer.allocUnsafe(size);
      s.copy(this.big, 0, pos, this.end);
      this.bigFill = rest;
      this.start = this.end = 0;
    } else if (SCRATCH_BYTES - this.start < DIRECT_ABOVE + LENGTH_BYTES) {
      // Not enough room left for the rest of a small frame: move it to the front.
      s.copyWithin(0, this.start, this.end);
      this.start = 0;
      this.end = rest;
    }
    return frames;
  }

  /** Checks a length field; returns it (poisons the reader when it is illegal). */
  private checkLength(length: number): number {
    if (length < MIN_LENGTH) {
      this.poison(new ChatError('CHAT_ERR_PROTOCOL', `frame length ${length} below minimum ${MIN_LENGTH}`));
    }
    if (length + LENGTH_BYTES - HEADER_BYTES > this.maxFrame) {
      this.poison(new ChatError('CHAT_ERR_FRAME_TOO_LARGE', `frame payload of ${length - MIN_LENGTH} bytes over the limit of ${this.maxFrame}`));
    }
    return length;
  }

  private poison(err: ChatError): never {
    this.poisoned = err;
    this.big = undefined;
    this.start = this.end = 0;
    throw err;
  }
}
