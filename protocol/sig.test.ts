import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { isCbdcError } from './errors.js';
import {
  CURVE_N, generateSecretKey, isHighS, isValidPublicKey, isValidSecretKey, nativeVerifier, nobleVerifier,
  parsePublicKey, parseSignature, publicKeyOf, publicKeyOfNative, publicKeyOfNoble, signHash, signHashNative, signHashNoble, ValidKeyCache, verifierByName,
} from './sig.js';

const HALF_N = CURVE_N >> 1n;
const be32 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
const sOf = (sig: Uint8Array): bigint => BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
const withS = (sig: Uint8Array, s: bigint): Buffer => Buffer.concat([Buffer.from(sig.subarray(0, 32)), be32(s)]);
const hashOf = (i: number): Buffer => Buffer.from(i.toString(16).padStart(8, '0').repeat(8), 'hex');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isCbdcError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a CbdcError, nothing was thrown');
}

const sk = be32(0x1234_5678_9abc_def0_1234_5678_9abc_def0n);
const pub = publicKeyOf(sk);

describe('keys', () => {
  it('publicKeyOf gives a 33-byte compressed key, equal to the native derivation', () => {
    expect(pub.length).toBe(33);
    expect([2, 3]).toContain(pub[0]);
    expect(publicKeyOfNative(sk)).toEqual(pub);
    expect(publicKeyOfNoble(sk)).toEqual(pub);
    // Both backends on random keys, and both refuse the same invalid ones (0, n).
    for (let i = 0; i < 200; i++) {
      const k = generateSecretKey();
      expect(publicKeyOf(k)).toEqual(publicKeyOfNoble(k));
    }
    for (const bad of [be32(0n), be32(CURVE_N)]) {
      expect(() => publicKeyOf(bad)).toThrow();
      expect(() => publicKeyOfNoble(bad)).toThrow();
    }
    // Secret key 1 gives the generator G.
    expect(publicKeyOf(be32(1n)).toString('hex')).toBe('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');
  });

  it('isValidSecretKey accepts 1..n-1 and nothing else', () => {
    expect(isValidSecretKey(be32(1n))).toBe(true);
    expect(isValidSecretKey(be32(CURVE_N - 1n))).toBe(true);
    expect(isValidSecretKey(be32(0n))).toBe(false);
    expect(isValidSecretKey(be32(CURVE_N))).toBe(false);
    expect(isValidSecretKey(Buffer.alloc(32, 0xff))).toBe(false);
    expect(isValidSecretKey(Buffer.alloc(31, 1))).toBe(false);
    expect(isValidSecretKey(Buffer.alloc(33, 1))).toBe(false);
  });

  it('generateSecretKey gives distinct valid keys', () => {
    const a = generateSecretKey();
    const b = generateSecretKey();
    expect(isValidSecretKey(a)).toBe(true);
    expect(a.equals(b)).toBe(false);
  });

  it('isValidPublicKey accepts compressed points only', () => {
    expect(isValidPublicKey(pub)).toBe(true);
    expect(isValidPublicKey(Buffer.concat([Buffer.of(4), pub.subarray(1)]))).toBe(false);
    expect(isValidPublicKey(Buffer.alloc(33))).toBe(false);
    expect(isValidPublicKey(pub.subarray(0, 32))).toBe(false);
    // x = 0: 0^3 + 7 is not a square mod p, so there is no such point.
    expect(isValidPublicKey(Buffer.concat([Buffer.of(2), Buffer.alloc(32)]))).toBe(false);
  });

  it('answers the same from its cache of valid keys: bad keys stay bad, evicted keys stay good', () => {
    const cache = new ValidKeyCache(100);
    const offCurve = Buffer.concat([Buffer.of(2), Buffer.alloc(32)]);
    const keys = Array.from({ length: 250 }, (_, i) => publicKeyOfNative(Buffer.from((i + 1).toString(16).padStart(64, '0'), 'hex')));
    for (let round = 0; round < 2; round++) {
      // More keys than the cache holds: the first ones are evicted, then asked again.
      for (const k of keys) expect(cache.isValid(k)).toBe(true);
      expect(cache.size).toBe(100);
      expect(cache.isValid(offCurve)).toBe(false);
      expect(cache.isValid(Buffer.concat([Buffer.of(4), keys[249]!.subarray(1)]))).toBe(false);
      expect(cache.isValid(keys[249]!.subarray(0, 32))).toBe(false);
      // The same bytes seen through a view into a larger buffer.
      expect(cache.isValid(Buffer.concat([Buffer.alloc(7), keys[249]!]).subarray(7))).toBe(true);
      expect(cache.isValid(Buffer.concat([Buffer.alloc(7), offCurve]).subarray(7))).toBe(false);
    }
  });
});

describe('signHash and verify', () => {
  it('round trips on both backends, for many hashes', () => {
    for (let i = 0; i < 20; i++) {
      const h = hashOf(i);
      const sig = signHash(sk, h);
      expect(sig.length).toBe(64);
      expect(isHighS(sig)).toBe(false);
      expect(nobleVerifier.verify(sig, h, pub)).toBe(true);
      expect(nativeVerifier.verify(sig, h, pub)).toBe(true);
      expect(nativeVerifier.verify(sig, hashOf(i + 1), pub)).toBe(false);
    }
  });

  it('is deterministic (RFC 6979) and identical to libsecp256k1 signing', () => {
    for (let i = 0; i < 20; i++) {
      const h = hashOf(1000 + i);
      expect(signHash(sk, h)).toEqual(signHash(sk, h));
      expect(signHashNative(sk, h)).toEqual(signHash(sk, h));
      expect(signHashNoble(sk, h)).toEqual(signHash(sk, h));
    }
  });

  it('the two signing backends give the same bytes for 2,000 random keys and hashes', () => {
    // signHash signs with libsecp256k1 where it loads and with noble otherwise: one output.
    for (let i = 0; i < 2_000; i++) {
      const k = generateSecretKey();
      const h = randomBytes(32);
      const a = signHashNoble(k, h);
      expect(signHashNative(k, h).equals(a), `case ${i}`).toBe(true);
      expect(isHighS(a)).toBe(false);
    }
  });

  it('refuses a hash that is not 32 bytes', () => {
    expect(() => signHash(sk, Buffer.alloc(31))).toThrow(RangeError);
    expect(() => signHash(sk, Buffer.alloc(33))).toThrow(RangeError);
  });

  it('verifierByName finds both backends and refuses others', () => {
    expect(verifierByName('noble')).toBe(nobleVerifier);
    expect(verifierByName('native')).toBe(nativeVerifier);
    expect(nobleVerifier.name).toBe('noble');
    expect(nativeVerifier.name).toBe('native');
    expect(() => verifierByName('wasm')).toThrow(/unknown verifier/);
  });
});

describe('isHighS', () => {
  const sig = signHash(sk, hashOf(7));
  it('draws the line at n/2', () => {
    expect(isHighS(withS(sig, 0n))).toBe(false);
    expect(isHighS(withS(sig, 1n))).toBe(false);
    expect(isHighS(withS(sig, HALF_N))).toBe(false);
    expect(isHighS(withS(sig, HALF_N + 1n))).toBe(true);
    expect(isHighS(withS(sig, CURVE_N - 1n))).toBe(true);
    expect(isHighS(withS(sig, (1n << 256n) - 1n))).toBe(true);
  });
  it('agrees with s > n/2 computed on integers, for random s and s next to n/2 in every byte', () => {
    const values: bigint[] = [];
    for (let i = 0; i < 500; i++) values.push(BigInt('0x' + randomBytes(32).toString('hex')));
    for (let byte = 0; byte < 32; byte++) {
      const step = 1n << BigInt(8 * (31 - byte));
      values.push(HALF_N - step, HALF_N + step, HALF_N - 1n, HALF_N + 1n);
    }
    for (const v of values.filter((x) => x >= 0n && x < 1n << 256n)) expect(isHighS(withS(sig, v)), v.toString(16)).toBe(v > HALF_N);
  });
  it('is true of the twin n - s of every low-S signature', () => {
    for (let i = 0; i < 10; i++) {
      const s2 = signHash(sk, hashOf(50 + i));
      expect(isHighS(s2)).toBe(false);
      expect(isHighS(withS(s2, CURVE_N - sOf(s2)))).toBe(true);
    }
  });
});

describe('parseSignature', () => {
  const sig = signHash(sk, hashOf(9));
  it('accepts a low-S signature in lowercase hex', () => {
    expect(parseSignature(sig.toString('hex'))).toEqual(sig);
  });
  it('refuses high S with CBDC_ERR_HIGH_S', () => {
    expect(codeOf(() => parseSignature(withS(sig, CURVE_N - sOf(sig)).toString('hex')))).toBe('CBDC_ERR_HIGH_S');
    expect(codeOf(() => parseSignature(withS(sig, HALF_N + 1n).toString('hex')))).toBe('CBDC_ERR_HIGH_S');
    expect(parseSignature(withS(sig, HALF_N).toString('hex'))).toEqual(withS(sig, HALF_N));
  });
  it('refuses bad hex with CBDC_ERR_HEX_FORMAT', () => {
    expect(codeOf(() => parseSignature(sig.toString('hex').toUpperCase()))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parseSignature(sig.toString('hex').slice(2)))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parseSignature(sig.toString('hex') + '00'))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parseSignature(42))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parseSignature(null))).toBe('CBDC_ERR_HEX_FORMAT');
  });
});

describe('parsePublicKey', () => {
  it('accepts a compressed key', () => {
    expect(parsePublicKey(pub.toString('hex'))).toEqual(pub);
  });
  it.each([
    ['x not on curve (x = 0)', '02' + '00'.repeat(32)],
    ['x = p', '02fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f'],
    ['x = 2^256 - 1', '03' + 'ff'.repeat(32)],
    ['prefix 0x04 with 33 bytes', '04' + pub.subarray(1).toString('hex')],
    ['prefix 0x05', '05' + pub.subarray(1).toString('hex')],
    ['all zero', '00'.repeat(33)],
  ])('refuses an invalid point (%s) with CBDC_ERR_BAD_PUBLIC_KEY', (_name, hex) => {
    expect(codeOf(() => parsePublicKey(hex))).toBe('CBDC_ERR_BAD_PUBLIC_KEY');
  });
  it('refuses wrong lengths and non-hex with CBDC_ERR_HEX_FORMAT', () => {
    expect(codeOf(() => parsePublicKey(pub.subarray(1).toString('hex')))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parsePublicKey(pub.toString('hex') + '00'))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parsePublicKey(publicKeyOfNative(sk).toString('hex').toUpperCase()))).toBe('CBDC_ERR_HEX_FORMAT');
    expect(codeOf(() => parsePublicKey(undefined))).toBe('CBDC_ERR_HEX_FORMAT');
  });
});
