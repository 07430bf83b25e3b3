/**
 * CRC-32C: the standard check values, and the slicing-by-8 loop against the plain
 * bitwise definition for every length and alignment.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/journal/crc32c.js';

/** The definition, one bit at a time. */
function reference(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('equals the bitwise definition for any bytes, range and split', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1));
      const whole = crc32c(bytes, start, end);
      expect(whole).toBe(reference(bytes.subarray(start, end)));
      const mid = start + Math.floor((end - start) / 2);
      expect(crc32c(bytes, mid, end, crc32c(bytes, start, mid))).toBe(whole); // continues
    }));
  });
});
