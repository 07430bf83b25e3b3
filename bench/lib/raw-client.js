/**
 * A minimal protocol client for benchmarks, over node:net, using the built codec in
 * dist/protocol. It is deliberately not src/client: the benchmark must be able to
 * drive hundreds of connections from one process without the client becoming the
 * bottleneck, so the hot path (MESSAGE pushes and SEND replies) is scanned in place
 * instead of decoded into objects:
 *   - frames are cut out of the stream by reading the length field directly;
 *   - a MESSAGE push (0x60) is counted and handed to `onMessage(buf, start, end)`
 *     without allocation; `messageStamp()` pulls the send time out of its text;
 *   - a SEND reply (0xB0) just decrements the pipeline counter.
 * Everything else (setup requests, errors, pings) goes through decodeFrame(). A frame
 * length below the minimum or above MAX_FRAME closes the connection as the real
 * decoder would. `validate` makes every MESSAGE also go through decodeFrame() and
 * checks that the fast path agrees (used for a sample of receivers).
 */
import net from 'node:net';
import { decodeFrame, encodeRequest } from '../../dist/protocol/messages.js';
import { COMMANDS, ERROR_CODE, PROTOCOL_VERSION, REPLY_BIT } from '../../dist/protocol/commands.js';
import { HEADER_BYTES, LENGTH_BYTES, MIN_LENGTH } from '../../dist/protocol/frame.js';

const MAX_FRAME = 1024 * 1024;
const MESSAGE_CODE = COMMANDS.MESSAGE.code;
const SEND_REPLY = COMMANDS.SEND.code | REPLY_BIT;
const PING_PUSH = COMMANDS.PING_PUSH.code;
/** Digits of the microsecond send stamp at the start of every benchmark text. */
export const STAMP_DIGITS = 13;

/**
 * Text of `size` bytes whose first STAMP_DIGITS characters are the send time in
 * microseconds of `performance.now()` (same process clock as the receivers).
 */
export function stampedText(size, tag) {
  const stamp = String(Math.round(performance.now() * 1000)).padStart(STAMP_DIGITS, '0');
  const head = `${stamp}:${tag}:`;
  return head.length >= size ? head.slice(0, size) : head + 'x'.repeat(size - head.length);
}

/**
 * Offset of the text field's bytes inside a MESSAGE frame at buf[start..end), by the
 * MESSAGE schema: seq u64, kind u8, from str, group opt<str>, to opt<str>, text str, ts u64.
 * Returns [textStart, textLength].
 */
export function messageTextAt(buf, start) {
  let p = start + HEADER_BYTES + 9; // seq + kind
  p += 4 + buf.readUInt32BE(p); // from
  p = buf[p] === 1 ? p + 5 + buf.readUInt32BE(p + 1) : p + 1; // group
  p = buf[p] === 1 ? p + 5 + buf.readUInt32BE(p + 1) : p + 1; // to
  return [p + 4, buf.readUInt32BE(p)];
}

/** The send stamp (microseconds) embedded by stampedText(), or -1 when absent. */
export function messageStamp(buf, start) {
  const [t, len] = messageTextAt(buf, start);
  if (len < STAMP_DIGITS) return -1;
  let v = 0;
  for (let i = 0; i < STAMP_DIGITS; i++) {
    const d = buf[t + i] - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

export class RawClient {
  /** @param {net.Socket} socket */
  constructor(socket, { validate = false } = {}) {
    this.socket = socket;
    this.validate = validate;
    this.nextReqId = 1;
    this.waiting = new Map(); // reqId -> {resolve, reject, name}
    this.outstanding = 0; // pipelined SENDs without a reply yet
    this.idleWaiters = [];
    this.sendErrors = 0;
    this.firstSendError = undefined;
    this.messages = 0; // MESSAGE pushes received
    this.lastMessageAt = 0;
    this.onMessage = undefined; // (buf, start, end) => void
    this.onSendReply = undefined; // () => void, after each pipelined SEND's reply (or error)
    this.closed = false;
    this.closeReason = undefined;
    this.pending = undefined; // bytes of an unfinished frame
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error(`connection closed${this.closeReason ? `: ${this.closeReason}` : ''}`)));
  }

  /** Connects (bounded by timeoutMs) and says HELLO. */
  static async connect({ host, port, timeoutMs = 10_000, validate = false }) {
    const socket = await new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(s); });
      s.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const c = new RawClient(socket, { validate });
    await c.request('HELLO', { version: PROTOCOL_VERSION, client: 'chat-suite-bench' });
    return c;
  }

  /** connect + HELLO + REGISTER (fresh user) + LISTEN on. */
  static async registered({ host, port, name, password = 'bench-password-1', validate = false }) {
    const c = await RawClient.connect({ host, port, validate });
    await c.request('REGISTER', { name, password, device: 'bench' });
    await c.request('LISTEN', { on: true });
    c.name = name;
    return c;
  }

  /** One request, its decoded reply payload; ERROR rejects with the server's message. */
  request(name, payload = {}, timeoutMs = 30_000) {
    if (this.closed) return Promise.reject(new Error(`${name}: connection is closed`));
    const reqId = this.nextReqId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(reqId);
        reject(new Error(`${name} got no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(reqId, {
        name,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.socket.write(encodeRequest(name, reqId, payload));
    });
  }

  /**
   * request(), timed: resolves {payload, ms, decodedMs, bytes}: ms from just before the
   * write until the whole reply frame had arrived (before decoding it), decodedMs until
   * it was decoded, bytes = the reply's payload size. ERROR rejects as request() does.
   */
  async timedRequest(name, payload = {}, timeoutMs = 30_000) {
    const reqId = this.nextReqId;
    const t0 = performance.now();
    const pending = this.request(name, payload, timeoutMs);
    const entry = this.waiting.get(reqId); // set synchronously by request()
    const reply = await pending;
    return { payload: reply, ms: (entry?.arrivedAt ?? performance.now()) - t0, decodedMs: performance.now() - t0, bytes: entry?.bytes ?? NaN };
  }

  /**
   * Encodes a pipelined SEND without waiting; the reply only decrements `outstanding`.
   * Returns the frame so the caller can batch writes.
   */
  sendFrame(group, text) {
    this.outstanding++;
    return encodeRequest('SEND', this.nextReqId++, { kind: 0, target: group, text });
  }

  /** Writes bytes; resolves at once, or after 'drain' when the socket buffer is full. */
  write(buf) {
    if (this.socket.write(buf)) return undefined;
    return new Promise((resolve) => {
      const done = () => { this.socket.off('drain', done); this.socket.off('close', done); resolve(); };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Resolves when every pipelined SEND has its reply (rejects after timeoutMs). */
  whenIdle(timeoutMs) {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.outstanding} SEND replies missing after ${timeoutMs} ms`)), timeoutMs);
      this.idleWaiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  onData(chunk) {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let off = 0;
    const n = buf.length;
    while (n - off >= HEADER_BYTES) {
      const length = buf.readUInt32BE(off);
      if (length < MIN_LENGTH || length - MIN_LENGTH > MAX_FRAME) {
        this.closeReason = `bad frame length ${length}`;
        this.socket.destroy();
        return;
      }
      const end = off + LENGTH_BYTES + length;
      if (end > n) break;
      const code = buf[off + 4];
      if (code === MESSAGE_CODE) {
        this.messages++;
        if (this.onMessage) this.onMessage(buf, off, end);
        if (this.validate) this.check(buf, off, end);
      } else if (code === SEND_REPLY && !this.waiting.has(buf.readUInt32BE(off + 5))) {
        this.replied();
      } else {
        this.slowFrame(code, buf.readUInt32BE(off + 5), buf.subarray(off + HEADER_BYTES, end));
      }
      off = end;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off)); // copy: do not pin the big chunk
  }

  replied() {
    const left = --this.outstanding;
    if (this.onSendReply) this.onSendReply();
    if (left === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  slowFrame(code, reqId, payload) {
    if (code === PING_PUSH) {
      this.socket.write(encodeRequest('PING', this.nextReqId++, {}));
      return;
    }
    const w = reqId !== 0 ? this.waiting.get(reqId) : undefined;
    if (w) { // for timedRequest(): when the frame was complete, before decoding it
      w.arrivedAt = performance.now();
      w.bytes = payload.length;
    }
    let d;
    try {
      d = decodeFrame({ code, reqId, payload });
    } catch (err) {
      this.closeReason = `undecodable frame 0x${code.toString(16)}: ${err.message}`;
      this.socket.destroy();
      return;
    }
    if (w) {
      this.waiting.delete(reqId);
      if (d.kind === 'error') w.reject(new Error(`${w.name}: ${d.payload.name}: ${d.payload.message}`));
      else w.resolve(d.payload);
      return;
    }
    if (code === ERROR_CODE && reqId !== 0) { // error reply to a pipelined SEND
      this.sendErrors++;
      this.firstSendError ??= `${d.payload.name}: ${d.payload.message}`;
      this.replied();
      return;
    }
    if (d.name === 'GOODBYE' || (code === ERROR_CODE && reqId === 0)) {
      this.closeReason = `${d.name}: ${d.payload.reason ?? d.payload.message}`;
    }
    // Other pushes (PRESENCE, GROUP_EVENT, PING replies) are ignored.
  }

  check(buf, start, end) {
    const d = decodeFrame({ code: buf[start + 4], reqId: buf.readUInt32BE(start + 5), payload: buf.subarray(start + HEADER_BYTES, end) });
    const [t, len] = messageTextAt(buf, start);
    if (d.name !== 'MESSAGE' || d.payload.message.text !== buf.toString('utf8', t, t + len)) {
      throw new Error(`fast MESSAGE scan disagrees with decodeFrame: ${JSON.stringify(d)}`);
    }
  }

  fail(err) {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w(); // callers see `closed` and `outstanding`
  }

  close() {
    this.closed = true;
    this.socket.destroy();
  }
}
