/**
 * Payload codec (src/protocol/codec.ts): the layout of every type, and that decode()
 * is total — malformed input is always ChatError CHAT_ERR_PROTOCOL.
 */
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../../src/common/errors.js';
import { decodePayload, describeType, encodePayload, type FieldType, type Payload, type Schema } from '../../../src/protocol/codec.js';
import { COMMANDS, type CommandSpec } from '../../../src/protocol/commands.js';
import { CASES } from '../../fixtures/frames/samples.js';

const one = (type: FieldType): Schema => [['v', type]];
const enc = (type: FieldType, v: unknown) => encodePayload(one(type), { v }).toString('hex');
const dec = (type: FieldType, hex: string) => decodePayload(one(type), Buffer.from(hex.replace(/ /g, ''), 'hex'));

function rejects(schema: Schema, bytes: Uint8Array, message?: RegExp): void {
  let err: unknown;
  try { decodePayload(schema, bytes); } catch (e) { err = e; }
  expect(err, `decoding ${Buffer.from(bytes).toString('hex')}`).toBeInstanceOf(ChatError);
  expect((err as ChatError).code).toBe('CHAT_ERR_PROTOCOL');
  if (message) expect((err as ChatError).message).toMatch(message);
}
const rejectsHex = (type: FieldType, hex: string, message?: RegExp) => rejects(one(type), Buffer.from(hex.replace(/ /g, ''), 'hex'), message);

describe('scalar layout (big-endian)', () => {
  it.each<[FieldType, unknown, string]>([
    ['u8', 0, '00'], ['u8', 255, 'ff'],
    ['u16', 0xbeef, 'beef'], ['u32', 0xdeadbeef, 'deadbeef'],
    ['u64', 0, '0000000000000000'], ['u64', 1_700_000_000_123, '0000018bcfe5687b'],
    ['u64', Number.MAX_SAFE_INTEGER, '001fffffffffffff'],
    ['bool', false, '00'], ['bool', true, '01'],
    ['str', '', '00000000'], ['str', 'hi', '000000026869'],
    ['bytes', Buffer.from([0, 1, 0xff]), '000000030001ff'],
  ])('%s %o <-> %s', (type, value, hex) => {
    expect(enc(type, value)).toBe(hex);
    expect(dec(type, hex)).toEqual({ v: value });
  });

  it('decodes bytes to a copy, not a view of the input', () => {
    const input = Buffer.from('0000000161', 'hex');
    const out = decodePayload(one('bytes'), input).v as Buffer;
    input[4] = 0x62;
    expect(out.toString()).toBe('a');
  });

  it.each<[FieldType, unknown]>([
    ['u8', 256], ['u8', -1], ['u16', 0x10000], ['u32', 2 ** 32], ['u32', 1.5], ['u32', '7'],
    ['u64', Number.MAX_SAFE_INTEGER + 1], ['u64', -1], ['str', 7], ['bytes', 'x'], [{ list: 'u8' }, 'x'],
    [{ struct: [['a', 'u8']] }, null],
  ])('encoding %o with %o is a TypeError (a programming error)', (type, value) => {
    expect(() => encodePayload(one(type), { v: value })).toThrow(TypeError);
  });
});

describe('strings are UTF-8 with a byte length', () => {
  it.each([
    ['é', 'c3a9'], ['€', 'e282ac'], ['🦊', 'f09fa68a'], ['a\u0000b', '610062'], ['\uFEFFx', 'efbbbf78'],
  ])('%j', (s, utf8) => {
    const hex = (utf8.length / 2).toString(16).padStart(8, '0') + utf8;
    expect(enc('str', s)).toBe(hex);
    expect(dec('str', hex)).toEqual({ v: s }); // a leading U+FEFF is content, not a BOM
  });

  it.each([
    ['lone continuation', '80'], ['overlong NUL', 'c080'], ['truncated sequence', 'e282'],
    ['encoded surrogate', 'eda080'], ['above U+10FFFF', 'f4908080'], ['invalid byte', 'ff'],
  ])('rejects invalid UTF-8: %s', (_what, bad) => {
    rejectsHex('str', (bad.length / 2).toString(16).padStart(8, '0') + bad, /UTF-8/);
  });

  it('encodes a lone surrogate as U+FFFD (senders must send well-formed text)', () => {
    expect(enc('str', '\uD800')).toBe('00000003efbfbd');
  });
});

describe('optional fields', () => {
  it('absent is one 0 byte and is left out of the decoded object', () => {
    expect(enc({ opt: 'u32' }, undefined)).toBe('00');
    expect(enc({ opt: 'u32' }, null)).toBe('00');
    const got = dec({ opt: 'u32' }, '00');
    expect(got).toEqual({});
    expect('v' in got).toBe(false);
  });

  it.each<[FieldType, unknown, string]>([
    [{ opt: 'u32' }, 0, '0100000000'], [{ opt: 'str' }, '', '0100000000'], [{ opt: 'bool' }, false, '0100'],
  ])('present falsy value %o %o stays present', (type, value, hex) => {
    expect(enc(type, value)).toBe(hex);
    expect(dec(type, hex)).toEqual({ v: value });
  });

  it('rejects a presence flag other than 0 or 1', () => {
    rejectsHex({ opt: 'u8' }, '0200', /presence flag/);
  });
});

describe('lists and structs', () => {
  const nested: Schema = [
    ['id', 'u16'],
    ['items', { list: { struct: [['k', 'str'], ['tags', { list: 'str' }], ['n', { opt: 'u64' }]] } }],
    ['grid', { list: { list: 'u8' } }],
    ['inner', { struct: [['deep', { struct: [['ok', 'bool']] }]] }],
  ];
  const value: Payload = {
    id: 513,
    items: [{ k: 'a', tags: [], n: 5 }, { k: 'ü', tags: ['x', 'yz'] }],
    grid: [[], [1, 2]],
    inner: { deep: { ok: true } },
  };
  const hex = '0201' + '00000002'
    + '0000000161' + '00000000' + '01' + '0000000000000005'
    + '00000002c3bc' + '00000002' + '0000000178' + '00000002797a' + '00'
    + '00000002' + '00000000' + '00000002' + '0102'
    + '01';

  it('encodes fields in schema order with u32 counts, structs inline', () => {
    expect(encodePayload(nested, value).toString('hex')).toBe(hex);
    expect(decodePayload(nested, Buffer.from(hex, 'hex'))).toEqual(value);
  });

  it('ignores keys the schema does not name', () => {
    expect(encodePayload([['a', 'u8']], { a: 1, extra: 'x' }).toString('hex')).toBe('01');
  });

  it('rejects trailing bytes', () => {
    rejects(nested, Buffer.from(hex + '00', 'hex'), /1 trailing bytes/);
    rejects([], Buffer.from('00', 'hex'), /trailing/);
  });

  it('rejects the input truncated at every cut point', () => {
    const bytes = Buffer.from(hex, 'hex');
    for (let cut = 0; cut < bytes.length; cut++) rejects(nested, bytes.subarray(0, cut), /truncated|exceeds/);
  });

  it('rejects a list count larger than the bytes left, before allocating', () => {
    // The count check fires before any element is read (message "exceeds", not
    // "truncated"), so a hostile count never sizes an array.
    rejectsHex({ list: 'u8' }, 'ffffffff', /count 4294967295 exceeds payload/);
    rejectsHex({ list: { struct: [['a', 'str']] } }, 'fffffff0 0000', /exceeds payload/);
    rejectsHex({ list: 'u8' }, '00000003 0102', /exceeds payload/);
  });
});

describe('malformed scalars', () => {
  it('rejects a bool above 1', () => {
    rejectsHex('bool', '02', /not a boolean/);
    rejectsHex('bool', 'ff', /not a boolean/);
  });

  it('rejects a u64 above Number.MAX_SAFE_INTEGER', () => {
    rejectsHex('u64', '0020000000000000', /out of range/);
    rejectsHex('u64', 'ffffffffffffffff', /out of range/);
  });

  it('rejects a string length past the end', () => {
    rejectsHex('str', 'ffffffff 61', /truncated/);
  });
});

describe('every command schema', () => {
  const specs = Object.values(COMMANDS) as CommandSpec[];

  /** Fewest bytes a value of `t` can take. */
  function minSize(t: FieldType): number {
    if (typeof t === 'string') return { u8: 1, u16: 2, u32: 4, u64: 8, bool: 1, str: 4, bytes: 4 }[t];
    if ('opt' in t) return 1;
    if ('list' in t) return 4;
    return t.struct.reduce((n, [, f]) => n + minSize(f), 0);
  }
  function listElements(t: FieldType, out: FieldType[]): FieldType[] {
    if (typeof t === 'string') return out;
    if ('opt' in t) return listElements(t.opt, out);
    if ('list' in t) { out.push(t.list); return listElements(t.list, out); }
    for (const [, f] of t.struct) listElements(f, out);
    return out;
  }

  it('has list elements of at least one byte (the count check relies on it)', () => {
    for (const s of specs) {
      for (const schema of [s.request, s.reply ?? []]) {
        for (const el of listElements({ struct: schema }, [])) expect(minSize(el), `${s.name}: ${describeType(el)}`).toBeGreaterThan(0);
      }
    }
  });

  it('rejects every golden payload truncated at every cut point', () => {
    for (const c of CASES) {
      if (c.kind === 'error') continue;
      const s: CommandSpec = COMMANDS[c.name];
      const schema = c.kind === 'reply' ? s.reply! : s.request;
      const bytes = encodePayload(schema, c.payload);
      for (let cut = 0; cut < bytes.length; cut++) rejects(schema, bytes.subarray(0, cut));
    }
  });
});

describe('describeType', () => {
  it('names nested types', () => {
    expect(describeType({ opt: { list: { struct: [['a', 'u8'], ['b', { opt: 'str' }]] } } })).toBe('opt<list<{a: u8, b: opt<str>}>>');
  });
});
