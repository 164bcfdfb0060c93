import { describe, expect, it } from 'vitest';
import { isCbdcError } from './errors.js';
import { ByteWriter, bytesEqual, bytesToHex, hexToBytes, u64be, writeU64 } from './bytes.js';

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
    ['a trailing newline', 'abc\n', undefined],
    ['a trailing newline, given length', 'abc\n', 2],
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

describe('writeU64 and bytesEqual', () => {
  it('writeU64 writes what writeBigUInt64BE writes, on both sides of 2^32 and 2^53, and refuses what it refuses', () => {
    const values = [0n, 1n, 255n, (1n << 32n) - 1n, 1n << 32n, (1n << 32n) + 1n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 64n) - 1n, 0x0123456789abcdefn];
    for (let i = 0; i < 200; i++) values.push(BigInt(Math.floor(Math.random() * 2 ** 53)) * BigInt(1 + (i % 3) * 1000));
    for (const v of values.filter((x) => x < 1n << 64n)) {
      const a = Buffer.alloc(12, 0xaa);
      const b = Buffer.alloc(12, 0xaa);
      writeU64(a, v, 3);
      b.writeBigUInt64BE(v, 3);
      expect(a.toString('hex'), v.toString()).toBe(b.toString('hex'));
      expect(new ByteWriter(1).u64(v).finish().readBigUInt64BE(0)).toBe(v);
    }
    expect(() => writeU64(Buffer.alloc(8), -1n, 0)).toThrow(RangeError);
    expect(() => writeU64(Buffer.alloc(8), 1n << 64n, 0)).toThrow(RangeError);
    // Past the end: refused, as writeBigUInt64BE refuses it, never written in part.
    const short = Buffer.alloc(10, 0xaa);
    expect(() => writeU64(short, 5n, 3)).toThrow(RangeError);
    expect(() => writeU64(short, 5n, -1)).toThrow(RangeError);
    expect(short.equals(Buffer.alloc(10, 0xaa))).toBe(true);
  });
  it('str8 writes the length and the latin1 bytes, as Buffer.from(s, "latin1") gives them', () => {
    for (const s of ['', 'cbdc-net', 'caf\u00e9', '\u0101x', 'x'.repeat(255)]) {
      const b = new ByteWriter(1).u8(9).str8(s).u8(7).finish();
      expect(b.toString('hex')).toBe(Buffer.concat([Buffer.of(9, s.length), Buffer.from(s, 'latin1'), Buffer.of(7)]).toString('hex'));
    }
  });
  it('bytesEqual agrees with Buffer.equals, for short and long strings and views', () => {
    const big = Buffer.from(Array.from({ length: 200 }, (_, i) => i % 251));
    const cases: [Uint8Array, Uint8Array][] = [
      [Buffer.alloc(0), Buffer.alloc(0)], [Buffer.of(1), Buffer.of(1)], [Buffer.of(1), Buffer.of(2)], [Buffer.of(1), Buffer.of(1, 0)],
      [big.subarray(0, 33), Buffer.from(big.subarray(0, 33))], [big.subarray(0, 33), big.subarray(1, 34)],
      [big.subarray(0, 100), Buffer.from(big.subarray(0, 100))], [big.subarray(0, 100), Buffer.concat([big.subarray(0, 99), Buffer.of(7)])],
      [new Uint8Array(big.subarray(5, 70)), big.subarray(5, 70)],
    ];
    for (const [a, b] of cases) expect(bytesEqual(a, b)).toBe(Buffer.from(a).equals(b));
    const k = Buffer.from(big.subarray(0, 33));
    for (let i = 0; i < 33; i++) {
      const d = Buffer.from(k);
      d[i] = d[i]! ^ 1;
      expect(bytesEqual(k, d)).toBe(false);
    }
  });
});
