import { describe, expect, it } from 'vitest';
import { isCbdcError } from './errors.js';
import { ByteWriter, bytesToHex, hexToBytes, u64be } from './bytes.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CbdcError, nothing was thrown');
}

describe('hexToBytes', () => {
  it('decodes lowercase hex, of a given length or any', () => {
    expect(hexToBytes('00ff10', 3)).toEqual(Buffer.of(0, 255, 16));
    expect(hexToBytes('abcd')).toEqual(Buffer.of(0xab, 0xcd));
    expect(hexToBytes('')).toEqual(Buffer.alloc(0));
  });
  it.each<[string, unknown, number | undefined]>([
    ['uppercase', 'ABCD', 2],
    ['mixed case', 'aBcd', undefined],
    ['odd length', 'abc', undefined],
    ['wrong length', 'abcd', 3],
    ['non-hex', 'zz', 1],
    ['0x prefix', '0xab', undefined],
    ['whitespace', 'ab ', undefined],
    ['a number', 12, undefined],
    ['a buffer', Buffer.of(1), 1],
    ['null', null, undefined],
  ])('refuses %s with CBDC_ERR_HEX_FORMAT', (_name, v, n) => {
    expect(codeOf(() => hexToBytes(v, n))).toBe('CBDC_ERR_HEX_FORMAT');
  });
  it('round trips with bytesToHex, also for views into larger buffers', () => {
    const big = Buffer.from('00112233445566', 'hex');
    expect(bytesToHex(big.subarray(2, 5))).toBe('223344');
    expect(bytesToHex(new Uint8Array([1, 2, 255]))).toBe('0102ff');
    expect(hexToBytes(bytesToHex(big))).toEqual(big);
  });
});

describe('ByteWriter', () => {
  it('writes big-endian integers and length-prefixed strings, growing as needed', () => {
    const w = new ByteWriter(1);
    w.u8(0xab).u16(0x0102).u32(0x03040506).u64(0x0708090a0b0c0d0en).bytes(Buffer.of(9, 9)).str8('hi').var16(Buffer.of(7));
    expect(w.finish().toString('hex')).toBe('ab' + '0102' + '03040506' + '0708090a0b0c0d0e' + '0909' + '026869' + '000107');
  });
  it('grows across many writes without losing bytes', () => {
    const w = new ByteWriter(2);
    for (let i = 0; i < 1000; i++) w.u16(i);
    const b = w.finish();
    expect(b.length).toBe(2000);
    for (let i = 0; i < 1000; i++) expect(b.readUInt16BE(i * 2)).toBe(i);
  });
  it('refuses oversized strings and byte strings', () => {
    expect(() => new ByteWriter().str8('x'.repeat(256))).toThrow(RangeError);
    expect(new ByteWriter().str8('x'.repeat(255)).finish().length).toBe(256);
    expect(() => new ByteWriter().var16(Buffer.alloc(0x10000))).toThrow(RangeError);
  });
  it('u64be encodes 8 bytes big-endian and refuses values outside u64', () => {
    expect(u64be(1n).toString('hex')).toBe('0000000000000001');
    expect(u64be((1n << 64n) - 1n).toString('hex')).toBe('ffffffffffffffff');
    expect(() => u64be(1n << 64n)).toThrow(RangeError);
    expect(() => u64be(-1n)).toThrow(RangeError);
  });
});
