/**
 * Schema-driven payload codec. PURE: no I/O, no node:net.
 *
 * A payload is a sequence of typed fields described by a Schema (see commands.ts).
 * Layout of each type, all integers big-endian:
 *   u8     1 byte            u16  2 bytes           u32  4 bytes
 *   u64    8 bytes unsigned; decoded values above Number.MAX_SAFE_INTEGER are rejected
 *   bool   1 byte, 0 or 1 (anything else is an error)
 *   str    u32 byte length + UTF-8 bytes (invalid UTF-8 is an error)
 *   bytes  u32 byte length + raw bytes
 *   opt    1 byte flag (0 absent, 1 present) + the value when present
 *   list   u32 count + the elements
 *   struct the fields in order
 * decode() is total: any malformed input throws ChatError('CHAT_ERR_PROTOCOL'), never
 * another exception, and never allocates more than the input's size justifies.
 * Trailing bytes after the last field are an error.
 *
 * A decoded `bytes` field is a copy of the input, or with { viewBytes: true } a view of
 * it (no copy: the drive's data moves through these fields at disk speed), valid as
 * long as nobody writes to the input. decodeFrame (messages.ts) asks for views: a
 * Frame's payload is already a view of what was pushed into the FrameDecoder.
 */
import { ChatError } from '../common/errors.js';

export type Scalar = 'u8' | 'u16' | 'u32' | 'u64' | 'bool' | 'str' | 'bytes';
export type FieldType = Scalar | { opt: FieldType } | { list: FieldType } | { struct: Schema };
export type Schema = ReadonlyArray<readonly [name: string, type: FieldType]>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Payload = Record<string, any>;

// ignoreBOM: a leading U+FEFF is string content, not a byte-order mark; without it the
// decoder silently strips it and '\uFEFFx' does not survive a round trip.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(what: string): never {
  throw new ChatError('CHAT_ERR_PROTOCOL', `malformed payload: ${what}`);
}

/** Exact encoded size of `value` under `type`; validates ranges on the way. */
function sizeOf(type: FieldType, value: unknown, path: string): number {
  if (typeof type === 'string') {
    switch (type) {
      case 'u8': return 1;
      case 'u16': return 2;
      case 'u32': return 4;
      case 'u64': return 8;
      case 'bool': return 1;
      case 'str':
        if (typeof value !== 'string') throw new TypeError(`${path}: expected string`);
        return 4 + Buffer.byteLength(value, 'utf8');
      case 'bytes':
        if (!(value instanceof Uint8Array)) throw new TypeError(`${path}: expected bytes`);
        return 4 + value.length;
    }
  }
  if ('opt' in type) return value === undefined || value === null ? 1 : 1 + sizeOf(type.opt, value, path);
  if ('list' in type) {
    if (!Array.isArray(value)) throw new TypeError(`${path}: expected array`);
    let n = 4;
    for (let i = 0; i < value.length; i++) n += sizeOf(type.list, value[i], `${path}[${i}]`);
    return n;
  }
  return schemaSize(type.struct, value as Payload, path);
}

function schemaSize(schema: Schema, obj: Payload, path: string): number {
  if (obj === null || typeof obj !== 'object') throw new TypeError(`${path}: expected object`);
  let n = 0;
  for (const [name, type] of schema) n += sizeOf(type, obj[name], `${path}.${name}`);
  return n;
}

function checkInt(value: unknown, max: number, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new TypeError(`${path}: expected integer 0..${max}, got ${String(value)}`);
  }
  return value;
}

function write(type: FieldType, value: unknown, buf: Buffer, off: number, path: string): number {
  if (typeof type === 'string') {
    switch (type) {
      case 'u8': buf[off] = checkInt(value, 0xff, path); return off + 1;
      case 'u16': buf.writeUInt16BE(checkInt(value, 0xffff, path), off); return off + 2;
      case 'u32': buf.writeUInt32BE(checkInt(value, 0xffffffff, path), off); return off + 4;
      case 'u64': buf.writeBigUInt64BE(BigInt(checkInt(value, Number.MAX_SAFE_INTEGER, path)), off); return off + 8;
      case 'bool': buf[off] = value ? 1 : 0; return off + 1;
      case 'str': {
        const len = buf.write(value as string, off + 4, 'utf8');
        buf.writeUInt32BE(len, off);
        return off + 4 + len;
      }
      case 'bytes': {
        const b = value as Uint8Array;
        buf.writeUInt32BE(b.length, off);
        buf.set(b, off + 4);
        return off + 4 + b.length;
      }
    }
  }
  if ('opt' in type) {
    if (value === undefined || value === null) { buf[off] = 0; return off + 1; }
    buf[off] = 1;
    return write(type.opt, value, buf, off + 1, path);
  }
  if ('list' in type) {
    const arr = value as unknown[];
    buf.writeUInt32BE(arr.length, off);
    off += 4;
    for (let i = 0; i < arr.length; i++) off = write(type.list, arr[i], buf, off, `${path}[${i}]`);
    return off;
  }
  return writeSchema(type.struct, value as Payload, buf, off, path);
}

function writeSchema(schema: Schema, obj: Payload, buf: Buffer, off: number, path: string): number {
  for (const [name, type] of schema) off = write(type, obj[name], buf, off, `${path}.${name}`);
  return off;
}

/**
 * Encodes `obj` under `schema`. Throws TypeError (a programming error, not a wire
 * error) when `obj` does not fit the schema.
 */
export function encodePayload(schema: Schema, obj: Payload): Buffer {
  const buf = Buffer.allocUnsafe(payloadSize(schema, obj));
  writeSchema(schema, obj, buf, 0, '$');
  return buf;
}

/** Exact encoded size of `obj` under `schema` (TypeError when it does not fit). */
export function payloadSize(schema: Schema, obj: Payload): number {
  return schemaSize(schema, obj, '$');
}

/**
 * Encodes `obj` under `schema` into `buf` at `off` (payloadSize(schema, obj) bytes
 * must fit there); returns the offset after it. Lets a frame be built in one Buffer.
 */
export function writePayload(schema: Schema, obj: Payload, buf: Buffer, off: number): number {
  return writeSchema(schema, obj, buf, off, '$');
}

/** Cursor over a payload being decoded; every read checks bounds first. */
class Reader {
  off = 0;
  constructor(readonly buf: Uint8Array, readonly view: DataView, readonly viewBytes: boolean) {}
  need(n: number, what: string): void {
    if (this.off + n > this.buf.length) fail(`truncated ${what} at byte ${this.off}`);
  }
}

function read(type: FieldType, r: Reader, path: string): unknown {
  if (typeof type === 'string') {
    switch (type) {
      case 'u8': r.need(1, path); return r.buf[r.off++];
      case 'u16': { r.need(2, path); const v = r.view.getUint16(r.off); r.off += 2; return v; }
      case 'u32': { r.need(4, path); const v = r.view.getUint32(r.off); r.off += 4; return v; }
      case 'u64': {
        r.need(8, path);
        const v = r.view.getBigUint64(r.off);
        r.off += 8;
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${path} out of range`);
        return Number(v);
      }
      case 'bool': {
        r.need(1, path);
        const v = r.buf[r.off++];
        if (v > 1) fail(`${path} is not a boolean`);
        return v === 1;
      }
      case 'str':
      case 'bytes': {
        r.need(4, path);
        const len = r.view.getUint32(r.off);
        r.off += 4;
        r.need(len, path);
        const slice = r.buf.subarray(r.off, r.off + len);
        r.off += len;
        if (type === 'bytes') return r.viewBytes ? Buffer.from(slice.buffer, slice.byteOffset, slice.length) : Buffer.from(slice);
        try {
          return utf8.decode(slice);
        } catch {
          return fail(`${path} is not valid UTF-8`);
        }
      }
    }
  }
  if ('opt' in type) {
    r.need(1, path);
    const flag = r.buf[r.off++];
    if (flag === 0) return undefined;
    if (flag !== 1) fail(`${path} has a bad presence flag`);
    return read(type.opt, r, path);
  }
  if ('list' in type) {
    r.need(4, path);
    const count = r.view.getUint32(r.off);
    r.off += 4;
    // Every element takes at least one byte, so a count above the bytes left is a lie;
    // checking first keeps a hostile count from allocating a huge array.
    if (count > r.buf.length - r.off) fail(`${path} count ${count} exceeds payload`);
    const out = new Array<unknown>(count);
    for (let i = 0; i < count; i++) out[i] = read(type.list, r, `${path}[${i}]`);
    return out;
  }
  return readSchema(type.struct, r, path);
}

function readSchema(schema: Schema, r: Reader, path: string): Payload {
  const obj: Payload = {};
  for (const [name, type] of schema) {
    const v = read(type, r, `${path}.${name}`);
    if (v !== undefined) obj[name] = v;
  }
  return obj;
}

export interface DecodeOptions {
  /** `bytes` fields as views of `bytes` instead of copies (see the file comment). */
  viewBytes?: boolean;
}

/** Decodes a whole payload; absent optional fields are left out of the result. */
export function decodePayload(schema: Schema, bytes: Uint8Array, opts: DecodeOptions = {}): Payload {
  const r = new Reader(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), opts.viewBytes === true);
  const obj = readSchema(schema, r, '$');
  if (r.off !== bytes.length) fail(`${bytes.length - r.off} trailing bytes`);
  return obj;
}

/** Human-readable type name, used by docs/PROTOCOL.md generation and its sync test. */
export function describeType(type: FieldType): string {
  if (typeof type === 'string') return type;
  if ('opt' in type) return `opt<${describeType(type.opt)}>`;
  if ('list' in type) return `list<${describeType(type.list)}>`;
  return `{${type.struct.map(([n, t]) => `${n}: ${describeType(t)}`).join(', ')}}`;
}
