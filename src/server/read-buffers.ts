/**
 * Reused memory for FILE_READ replies. Each reply is built in a buffer of
 * HEADER_BYTES + maxFrame bytes and sent; the buffer comes back here only once the
 * socket has written it (Outbox.send's onWritten), so no frame still queued or in
 * flight is ever overwritten. A reply that is dropped (dead connection, failed read)
 * keeps its buffer, which the GC collects: the pool only spares allocations.
 *
 * Bounded: at most MAX_FREE buffers are kept (8 MiB at the default maxFrame); busy
 * ones are bounded by the connections' read gates.
 */
import { HEADER_BYTES } from '../protocol/frame.js';

const MAX_FREE = 8;
let free: Buffer[] = [];
let capacity = 0;

/** A buffer of HEADER_BYTES + maxFrame bytes, reused when one is free. */
export function takeReadBuffer(maxFrame: number): Buffer {
  const size = HEADER_BYTES + maxFrame;
  if (size !== capacity) {
    free = [];
    capacity = size;
  }
  return free.pop() ?? Buffer.allocUnsafe(size);
}

/** Gives back a buffer from takeReadBuffer that nothing reads any more. */
export function giveReadBuffer(buf: Buffer): void {
  if (buf.length === capacity && free.length < MAX_FREE) free.push(buf);
}
