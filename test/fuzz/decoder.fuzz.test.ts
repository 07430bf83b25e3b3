/**
 * Fuzzing the receive path (STYLE habit 6; SPEC §8 "bad input never takes the server
 * down"): random and mutated byte streams fed to FrameDecoder + decodeFrame in random
 * pieces. The only failures allowed are ChatErrors with a protocol code; the decoder
 * never holds more than maxFrame + 9 bytes. Plus schema-driven round trips: every
 * value a schema admits survives encode/decode, and every accepted payload re-encodes
 * to the very same bytes (the encoding is canonical).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../src/common/errors.js';
import { decodePayload, encodePayload, type FieldType, type Payload, type Schema } from '../../src/protocol/codec.js';
import { COMMANDS, REPLY_BIT, type CommandSpec } from '../../src/protocol/commands.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, HEADER_BYTES, encodeFrame, type Frame } from '../../src/protocol/frame.js';
import { decodeFrame, type Decoded } from '../../src/protocol/messages.js';

const RUNS = { numRuns: 300 };
const ALLOWED = new Set(['CHAT_ERR_PROTOCOL', 'CHAT_ERR_FRAME_TOO_LARGE', 'CHAT_ERR_UNKNOWN_COMMAND']);
const SPECS = Object.values(COMMANDS) as CommandSpec[];

function expectProtocolError(e: unknown, allowed: Set<string> = ALLOWED): void {
  if (!(e instanceof ChatError)) throw new Error(`non-ChatError escaped the decoder: ${String(e)}`, { cause: e });
  expect(allowed.has(e.code), e.code).toBe(true);
}

// ---- arbitraries generated from a schema ----------------------------------------

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('\uFEFF', 'a', 'é', '€', '🦊', '\u0000', '\uFFFF'), maxLength: 6 }),
);

function arbOf(t: FieldType): fc.Arbitrary<unknown> {
  if (typeof t === 'string') {
    switch (t) {
      case 'u8': return fc.integer({ min: 0, max: 0xff });
      case 'u16': return fc.integer({ min: 0, max: 0xffff });
      case 'u32': return fc.integer({ min: 0, max: 0xffffffff });
      case 'u64': return fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 2 ** 32, Number.MAX_SAFE_INTEGER));
      case 'bool': return fc.boolean();
      case 'str': return text;
      case 'bytes': return fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a));
    }
  }
  if ('opt' in t) return fc.option(arbOf(t.opt), { nil: undefined });
  if ('list' in t) return fc.array(arbOf(t.list), { maxLength: 4 });
  return arbPayload(t.struct);
}

function arbPayload(schema: Schema): fc.Arbitrary<Payload> {
  return fc.record(Object.fromEntries(schema.map(([n, t]) => [n, arbOf(t)])));
}

/** Random schemas; structs have at least one field so list elements take >= 1 byte. */
const { schema: arbSchema } = fc.letrec<{ type: FieldType; schema: Schema }>((tie) => ({
  type: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom<FieldType>('u8', 'u16', 'u32', 'u64', 'bool', 'str', 'bytes'),
    tie('type').map((t) => ({ opt: t })),
    tie('type').map((t) => ({ list: t })),
    tie('schema').map((s) => ({ struct: s })),
  ),
  schema: fc.uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), tie('type')), {
    minLength: 1, maxLength: 4, selector: ([n]) => n,
  }) as fc.Arbitrary<Schema>,
}));

/** A valid frame of a random command: request/push, or reply when there is one. */
const arbFrame: fc.Arbitrary<Buffer> = fc.constantFrom(...SPECS).chain((s) => {
  const forms: fc.Arbitrary<Buffer>[] = [
    fc.tuple(fc.nat(), arbPayload(s.request)).map(([reqId, p]) => encodeFrame(s.code, reqId, encodePayload(s.request, p))),
  ];
  if (s.reply) {
    const reply = s.reply;
    forms.push(fc.tuple(fc.nat(), arbPayload(reply)).map(([reqId, p]) => encodeFrame(s.code | REPLY_BIT, reqId, encodePayload(reply, p))));
  }
  return fc.oneof(...forms);
});

// ---- mutations ------------------------------------------------------------------

type Mutation = (b: Buffer) => Buffer;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([i, x]): Mutation => (b) => {
    const c = Buffer.from(b); if (c.length) c[i % c.length] ^= x; return c;
  }),
  fc.nat().map((n): Mutation => (b) => b.subarray(0, b.length ? n % b.length : 0)),
  fc.uint8Array({ minLength: 1, maxLength: 32 }).map((extra): Mutation => (b) => Buffer.concat([b, extra])),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([i, ins]): Mutation => (b) => {
    const at = b.length ? i % b.length : 0; return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8 })).map(([i, n]): Mutation => (b) => {
    const at = b.length ? i % b.length : 0; return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
  }),
  // a new length field: tiny, near the real one, or anything
  fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: -3, max: 3 }).map((d) => ({ d })), fc.integer({ min: 0, max: 0xffffffff }))
    .map((v): Mutation => (b) => {
      if (b.length < 4) return b;
      const c = Buffer.from(b);
      c.writeUInt32BE(typeof v === 'number' ? v : Math.max(0, c.readUInt32BE(0) + v.d) >>> 0, 0);
      return c;
    }),
  fc.integer({ min: 0, max: 255 }).map((code): Mutation => (b) => { const c = Buffer.from(b); if (c.length > 4) c[4] = code; return c; }),
);

/** Cuts `bytes` into pieces whose sizes cycle through `sizes`. */
function split(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = sizes.length ? sizes[k % sizes.length] : bytes.length;
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}
const arbSizes = fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 });
const arbMaxFrame = fc.constantFrom(0, 16, 64, 300, DEFAULT_MAX_FRAME);

function reencode(d: Decoded, f: Frame): Buffer {
  const s: CommandSpec = COMMANDS[d.name];
  const schema = d.kind === 'reply' ? s.reply! : s.request;
  return encodeFrame(f.code, f.reqId, encodePayload(schema, d.payload));
}

/** Feeds the pieces like a connection would; checks every failure and the bound. */
function receive(pieces: Buffer[], maxFrame: number): number {
  const dec = new FrameDecoder(maxFrame);
  let decoded = 0;
  for (const piece of pieces) {
    let frames: Frame[];
    try {
      frames = dec.push(piece);
    } catch (e) {
      expectProtocolError(e, new Set(['CHAT_ERR_PROTOCOL', 'CHAT_ERR_FRAME_TOO_LARGE']));
      expect(dec.buffered).toBe(0);
      expect(() => dec.push(Buffer.from([0]))).toThrow(e as Error); // poisoned: stream is closed
      return decoded;
    } finally {
      expect(dec.buffered).toBeLessThanOrEqual(maxFrame + HEADER_BYTES);
    }
    for (const f of frames) {
      expect(f.payload.length).toBeLessThanOrEqual(maxFrame);
      try {
        const d = decodeFrame(f);
        // Canonical: anything accepted re-encodes to exactly the bytes received.
        expect(reencode(d, f).equals(encodeFrame(f.code, f.reqId, f.payload))).toBe(true);
        decoded++;
      } catch (e) {
        expectProtocolError(e, new Set(['CHAT_ERR_PROTOCOL', 'CHAT_ERR_UNKNOWN_COMMAND']));
      }
    }
  }
  return decoded;
}

// ---- properties ----------------------------------------------------------------

describe('decoder fuzz', () => {
  it('random bytes in random pieces: only protocol ChatErrors, bounded buffer', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), arbSizes, arbMaxFrame, (bytes, sizes, max) => {
      receive(split(Buffer.from(bytes), sizes), max);
    }), RUNS);
  });

  it('random payloads behind a valid header of every known code: only CHAT_ERR_PROTOCOL', () => {
    const codes = SPECS.flatMap((s) => (s.reply ? [s.code, s.code | REPLY_BIT] : [s.code]));
    fc.assert(fc.property(fc.constantFrom(...codes), fc.uint8Array({ maxLength: 64 }), (code, payload) => {
      try { decodeFrame({ code, reqId: 1, payload: Buffer.from(payload) }); } catch (e) { expectProtocolError(e, new Set(['CHAT_ERR_PROTOCOL'])); }
    }), RUNS);
  });

  it('valid streams decode completely in any split', () => {
    fc.assert(fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 5 }), arbSizes, (frames, sizes) => {
      expect(receive(split(Buffer.concat(frames), sizes), DEFAULT_MAX_FRAME)).toBe(frames.length);
    }), RUNS);
  });

  it('mutated valid streams (flips, cuts, inserts, lengths, codes): only protocol ChatErrors, bounded buffer', () => {
    fc.assert(fc.property(
      fc.array(arbFrame, { minLength: 1, maxLength: 4 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), arbSizes, arbMaxFrame,
      (frames, mutations, sizes, max) => {
        const bytes = mutations.reduce<Buffer>((b, m) => m(b), Buffer.concat(frames));
        receive(split(bytes, sizes), max);
      },
    ), { numRuns: 500 });
  });
});

describe('schema round trips', () => {
  it.each(SPECS.flatMap((s) => [[`${s.name} request`, s.request], ...(s.reply ? [[`${s.name} reply`, s.reply]] : [])] as [string, Schema][]))(
    '%s: decode(encode(x)) = x', (_name, schema) => {
      fc.assert(fc.property(arbPayload(schema), (p) => {
        const bytes = encodePayload(schema, p);
        const back = decodePayload(schema, bytes);
        expect(back).toEqual(p);
        expect(encodePayload(schema, back).equals(bytes)).toBe(true);
      }), { numRuns: 200 });
    });

  it('random schemas: round trip, and every strict prefix is rejected', () => {
    fc.assert(fc.property(arbSchema.chain((s) => fc.tuple(fc.constant(s), arbPayload(s))), ([schema, p]) => {
      const bytes = encodePayload(schema, p);
      expect(decodePayload(schema, bytes)).toEqual(p);
      for (let cut = 0; cut < bytes.length; cut++) {
        try { decodePayload(schema, bytes.subarray(0, cut)); } catch (e) { expectProtocolError(e, new Set(['CHAT_ERR_PROTOCOL'])); continue; }
        throw new Error(`prefix of ${cut}/${bytes.length} bytes was accepted`);
      }
    }), RUNS);
  });
});
