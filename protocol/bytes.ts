// Byte helpers: strict hex and a small big-endian writer for canonical encodings.
import { CbdcError } from './errors.js';

const HEX_PATTERN = /^(?:[0-9a-f]{2})*$/;

/** Decodes lowercase hex of exactly `bytes` bytes (or any length when bytes is undefined). */
export function hexToBytes(value: unknown, bytes?: number, what = 'hex'): Buffer {
  if (typeof value !== 'string' || !HEX_PATTERN.test(value) || (bytes !== undefined && value.length !== bytes * 2)) {
    const want = bytes === undefined ? 'lowercase hex' : `${bytes} bytes of lowercase hex`;
    throw new CbdcError('CBDC_ERR_HEX_FORMAT', `${what} must be ${want}`);
  }
  return Buffer.from(value, 'hex');
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Byte equality for short strings (keys, digests): a loop here costs less than the call into
 * Buffer.equals, and differing keys usually differ in their first bytes.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  if (n > 64) return Buffer.compare(a, b) === 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

const TWO_POW_32 = 4294967296;
const U64_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Writes v as u64 big-endian at `at`. Values below 2^53 (every amount, position and count the
 * ledger writes) go through one Number conversion instead of writeBigUInt64BE's BigInt
 * arithmetic; others (and out-of-range values, which throw RangeError) take writeBigUInt64BE.
 */
export function writeU64(b: Buffer, v: bigint, at: number): void {
  if (v >= 0n && v <= U64_SAFE_MAX) {
    if (!(at >= 0 && at + 8 <= b.length)) throw new RangeError(`u64 at ${at} does not fit in ${b.length} bytes`);
    const n = Number(v);
    const hi = Math.floor(n / TWO_POW_32);
    const lo = n >>> 0;
    // Byte stores truncate to the low 8 bits: the big-endian bytes of hi, then of lo.
    b[at] = hi >>> 24;
    b[at + 1] = hi >>> 16;
    b[at + 2] = hi >>> 8;
    b[at + 3] = hi;
    b[at + 4] = lo >>> 24;
    b[at + 5] = lo >>> 16;
    b[at + 6] = lo >>> 8;
    b[at + 7] = lo;
  } else {
    b.writeBigUInt64BE(v, at);
  }
}

export function u64be(value: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(value);
  return b;
}

/** Appends big-endian integers and byte strings into one growing buffer. */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;
  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.len++] = v;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v, this.len);
    this.len += 4;
    return this;
  }
  u64(v: bigint): this {
    this.room(8);
    writeU64(this.buf, v, this.len);
    this.len += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  /** A string of at most 255 ASCII bytes, length-prefixed. */
  str8(s: string): this {
    // latin1 encodes one byte per UTF-16 unit, so the length is known without encoding first.
    const n = s.length;
    if (n > 255) throw new RangeError('str8 too long');
    this.room(1 + n);
    this.buf[this.len++] = n;
    this.len += this.buf.write(s, this.len, n, 'latin1');
    return this;
  }
  /** Bytes with a 16-bit length prefix. */
  var16(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError('var16 too long');
    return this.u16(b.length).bytes(b);
  }
  /** Bytes written so far. */
  get size(): number {
    return this.len;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
