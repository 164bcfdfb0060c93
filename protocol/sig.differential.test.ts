// Differential test: the two verification backends must accept and reject exactly the same
// (sig, hash, key) triples. A seeded PRNG drives 10,000 cases so any disagreement reproduces;
// set CBDC_DIFF_SEED to explore other seeds. Explicit edge cases follow, each with its
// expected answer as well.
import { describe, expect, it } from 'vitest';
import * as secp from '@noble/secp256k1';
import { CURVE_N, isHighS, isValidSecretKey, nativeVerifier, nobleVerifier, publicKeyOf, signHash } from './sig.js';

/** Field prime p of secp256k1 (SEC2 §2.4.1). */
const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
const HALF_N = CURVE_N >> 1n;
const TWO_256 = 1n << 256n;

// ---------------------------------------------------------------------------------------
// Seeded randomness: xorshift128 (Marsaglia), 32-bit lanes. No node:crypto anywhere here.

class XorShift128 {
  private x: number;
  private y: number;
  private z: number;
  private w: number;
  constructor(seed: number) {
    // splitmix32 spreads the seed over the four lanes (never all zero).
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.x = next();
    this.y = next();
    this.z = next();
    this.w = next() | 1;
  }
  u32(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.w;
  }
  /** Uniform-enough integer in [0, max). */
  int(max: number): number {
    return this.u32() % max;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
  /** A uniform 256-bit integer in [lo, 2^256). */
  bigAtLeast(lo: bigint): bigint {
    const span = TWO_256 - lo;
    return lo + (toBig(this.bytes(40)) % span);
  }
}

const toBig = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex')));
const be32 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
const modpow = (b: bigint, e: bigint, m: bigint): bigint => {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
};
const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
/** Whether x (< p) is the x coordinate of a point on y^2 = x^3 + 7 (Euler's criterion). */
const onCurveX = (x: bigint): boolean => {
  const rhs = (x * x * x + 7n) % P;
  return rhs === 0n || modpow(rhs, (P - 1n) / 2n, P) === 1n;
};
const flipBit = (b: Uint8Array, bit: number): Buffer => {
  const c = Buffer.from(b);
  c[bit >> 3] = c[bit >> 3]! ^ (1 << (bit & 7));
  return c;
};
const withR = (sig: Uint8Array, r: bigint): Buffer => Buffer.concat([be32(r), Buffer.from(sig.subarray(32))]);
const withS = (sig: Uint8Array, s: bigint): Buffer => Buffer.concat([Buffer.from(sig.subarray(0, 32)), be32(s)]);
const sOf = (sig: Uint8Array): bigint => toBig(sig.subarray(32, 64));
const highSTwin = (sig: Uint8Array): Buffer => withS(sig, CURVE_N - sOf(sig));
const keyFromX = (prefix: number, x: bigint): Buffer => Buffer.concat([Buffer.of(prefix), be32(x)]);

function secretKeyFrom(rng: XorShift128): Buffer {
  for (;;) {
    const sk = rng.bytes(32);
    if (isValidSecretKey(sk)) return sk;
  }
}

interface Entry {
  readonly sk: Buffer;
  readonly pub: Buffer;
  readonly hash: Buffer;
  readonly sig: Buffer;
}

/**
 * Signature with a chosen s for secret key d and nonce k: r = (kG).x mod n and the hash is
 * solved from s = k^-1 (h + r d), i.e. h = s k - r d (mod n). Lets the test hit exact s values.
 */
function forgeWithS(d: bigint, k: bigint, s: bigint): { pub: Buffer; hash: Buffer; sig: Buffer } {
  const r = toBig(publicKeyOf(be32(k)).subarray(1)) % CURVE_N;
  const h = mod(s * k - r * d, CURVE_N);
  return { pub: publicKeyOf(be32(d)), hash: be32(h), sig: Buffer.concat([be32(r), be32(s)]) };
}

function bothVerify(sig: Uint8Array, hash: Uint8Array, pub: Uint8Array): { noble: boolean; native: boolean } {
  return { noble: nobleVerifier.verify(sig, hash, pub), native: nativeVerifier.verify(sig, hash, pub) };
}

// ---------------------------------------------------------------------------------------
// Random cases

const SEED = Number(process.env.CBDC_DIFF_SEED ?? 0x5eed_cbdc);
const CASES = 10_000;
const KEY_POOL = 16;
const SIG_POOL = 256;

type Case = { sig: Buffer; hash: Buffer; pub: Buffer };
/**
 * Each kind mutates a pooled valid signature. Weights keep full noble verifications (~5 ms
 * each here) to about a sixth of the cases; the rest are rejections noble reaches early
 * (range checks, high S, point decompression), which still exercise both backends.
 * `expect` is the answer every correct verifier gives (with overwhelming probability for
 * the random mutations).
 */
const KINDS: { name: string; weight: number; expect: boolean; make: (e: Entry, rng: XorShift128, pool: Entry[]) => Case }[] = [
  { name: 'valid', weight: 3, expect: true, make: (e) => ({ sig: e.sig, hash: e.hash, pub: e.pub }) },
  { name: 'hash bit flipped', weight: 1, expect: false, make: (e, rng) => ({ sig: e.sig, hash: flipBit(e.hash, rng.int(256)), pub: e.pub }) },
  { name: 'other message of same key', weight: 1, expect: false, make: (e, rng, pool) => {
    const same = pool.filter((x) => x.sk === e.sk);
    const o = same[rng.int(same.length)]!;
    return { sig: e.sig, hash: o.hash.equals(e.hash) ? flipBit(o.hash, 0) : o.hash, pub: e.pub };
  } },
  { name: 'r bit flipped', weight: 1, expect: false, make: (e, rng) => ({ sig: flipBit(e.sig, rng.int(256)), hash: e.hash, pub: e.pub }) },
  { name: 's bit flipped', weight: 2, expect: false, make: (e, rng) => ({ sig: flipBit(e.sig, 256 + rng.int(256)), hash: e.hash, pub: e.pub }) },
  { name: 'wrong key (swapped)', weight: 1, expect: false, make: (e, rng, pool) => {
    let o = pool[rng.int(pool.length)]!;
    while (o.pub.equals(e.pub)) o = pool[rng.int(pool.length)]!;
    return { sig: e.sig, hash: e.hash, pub: o.pub };
  } },
  { name: 'key negated (02<->03)', weight: 1, expect: false, make: (e) => {
    const pub = Buffer.from(e.pub);
    pub[0] = pub[0] === 2 ? 3 : 2;
    return { sig: e.sig, hash: e.hash, pub };
  } },
  { name: 'key x bit flipped', weight: 2, expect: false, make: (e, rng) => ({ sig: e.sig, hash: e.hash, pub: flipBit(e.pub, 8 + rng.int(256)) }) },
  { name: 'random 64-byte garbage sig', weight: 2, expect: false, make: (e, rng) => ({ sig: rng.bytes(64), hash: e.hash, pub: e.pub }) },
  { name: 'random garbage everything', weight: 1, expect: false, make: (_e, rng) => {
    const pub = rng.bytes(33);
    pub[0] = 2 + (rng.u32() & 1);
    return { sig: rng.bytes(64), hash: rng.bytes(32), pub };
  } },
  { name: 'high-S twin', weight: 10, expect: false, make: (e) => ({ sig: highSTwin(e.sig), hash: e.hash, pub: e.pub }) },
  { name: 'high-S twin, hash bit flipped', weight: 3, expect: false, make: (e, rng) => ({ sig: highSTwin(e.sig), hash: flipBit(e.hash, rng.int(256)), pub: e.pub }) },
  { name: 's top bit set', weight: 3, expect: false, make: (e) => {
    const sig = Buffer.from(e.sig);
    sig[32] = sig[32]! | 0x80; // s >= 2^255 > n/2: high S, or s >= n
    return { sig, hash: e.hash, pub: e.pub };
  } },
  { name: 'r >= n', weight: 5, expect: false, make: (e, rng) => ({ sig: withR(e.sig, rng.bigAtLeast(CURVE_N)), hash: e.hash, pub: e.pub }) },
  { name: 's >= n', weight: 5, expect: false, make: (e, rng) => ({ sig: withS(e.sig, rng.bigAtLeast(CURVE_N)), hash: e.hash, pub: e.pub }) },
  { name: 'r = 0', weight: 3, expect: false, make: (e) => ({ sig: withR(e.sig, 0n), hash: e.hash, pub: e.pub }) },
  { name: 's = 0', weight: 3, expect: false, make: (e) => ({ sig: withS(e.sig, 0n), hash: e.hash, pub: e.pub }) },
  { name: 'key x >= p', weight: 4, expect: false, make: (e, rng) => ({ sig: e.sig, hash: e.hash, pub: keyFromX(2 + (rng.u32() & 1), rng.bigAtLeast(P)) }) },
  { name: 'key x not on curve', weight: 5, expect: false, make: (e, rng) => {
    for (;;) {
      const x = toBig(rng.bytes(32)) % P;
      if (!onCurveX(x)) return { sig: e.sig, hash: e.hash, pub: keyFromX(2 + (rng.u32() & 1), x) };
    }
  } },
  { name: 'key bad prefix (33 bytes)', weight: 5, expect: false, make: (e, rng) => {
    const pub = Buffer.from(e.pub);
    const prefixes = [0x00, 0x01, 0x04, 0x05, 0x06, 0x07, 0x12, 0x82, 0xff];
    pub[0] = prefixes[rng.int(prefixes.length)]!;
    return { sig: e.sig, hash: e.hash, pub };
  } },
  { name: 'key all zero', weight: 1, expect: false, make: (e) => ({ sig: e.sig, hash: e.hash, pub: Buffer.alloc(33) }) },
  { name: 'sig bad length', weight: 4, expect: false, make: (e, rng) => {
    const lens = [0, 1, 32, 63, 65, 72, 128];
    const len = lens[rng.int(lens.length)]!;
    const sig = len <= 64 ? e.sig.subarray(0, len) : Buffer.concat([e.sig, rng.bytes(len - 64)]);
    return { sig, hash: e.hash, pub: e.pub };
  } },
  { name: 'hash bad length', weight: 4, expect: false, make: (e, rng) => {
    const lens = [0, 1, 20, 31, 33, 48, 64];
    const len = lens[rng.int(lens.length)]!;
    const hash = len <= 32 ? e.hash.subarray(0, len) : Buffer.concat([e.hash, rng.bytes(len - 32)]);
    return { sig: e.sig, hash, pub: e.pub };
  } },
  { name: 'key bad length', weight: 4, expect: false, make: (e, rng) => {
    const choice = rng.int(4);
    const pub = choice === 0 ? e.pub.subarray(1) // 32: bare x
      : choice === 1 ? Buffer.concat([e.pub, Buffer.of(0)]) // 34
        : choice === 2 ? Buffer.from(secp.getPublicKey(e.sk, false)) // 65: the right key, uncompressed
          : e.pub.subarray(0, 1 + rng.int(32)); // truncated
    return { sig: e.sig, hash: e.hash, pub };
  } },
];

describe('noble and native verifiers agree (seeded random cases)', () => {
  it(`agree on ${CASES} cases from seed ${SEED}`, () => {
    const rng = new XorShift128(SEED);
    const keys = Array.from({ length: KEY_POOL }, () => secretKeyFrom(rng));
    const pool: Entry[] = Array.from({ length: SIG_POOL }, (_, i) => {
      const sk = keys[i % KEY_POOL]!;
      const hash = rng.bytes(32);
      return { sk, pub: publicKeyOf(sk), hash, sig: signHash(sk, hash) };
    });
    const totalWeight = KINDS.reduce((a, k) => a + k.weight, 0);
    const stats = new Map<string, { n: number; accepted: number }>(KINDS.map((k) => [k.name, { n: 0, accepted: 0 }]));
    const mismatches: string[] = [];
    const unexpected: string[] = [];
    for (let i = 0; i < CASES; i++) {
      let pick = rng.int(totalWeight);
      const kind = KINDS.find((k) => (pick -= k.weight) < 0)!;
      const entry = pool[rng.int(pool.length)]!;
      const c = kind.make(entry, rng, pool);
      const { noble, native } = bothVerify(c.sig, c.hash, c.pub);
      const st = stats.get(kind.name)!;
      st.n++;
      if (noble) st.accepted++;
      const where = `seed ${SEED} case ${i} (${kind.name}): sig=${c.sig.toString('hex')} hash=${c.hash.toString('hex')} key=${c.pub.toString('hex')}`;
      if (noble !== native) mismatches.push(`${where} noble=${noble} native=${native}`);
      if (noble !== kind.expect) unexpected.push(`${where} got ${noble}, expected ${kind.expect}`);
    }
    expect(mismatches).toEqual([]);
    expect(unexpected).toEqual([]);
    // Every kind was drawn, and a meaningful share of the cases were accepting ones.
    for (const [name, st] of stats) expect(st.n, name).toBeGreaterThan(0);
    expect(stats.get('valid')!.accepted).toBe(stats.get('valid')!.n);
    expect(stats.get('valid')!.n).toBeGreaterThan(CASES / 40);
  });

  it('the PRNG is deterministic for a seed', () => {
    const a = new XorShift128(42);
    const b = new XorShift128(42);
    const c = new XorShift128(43);
    const sa = a.bytes(64);
    expect(sa).toEqual(b.bytes(64));
    expect(sa).not.toEqual(c.bytes(64));
  });
});

// ---------------------------------------------------------------------------------------
// Edge cases, each with its expected answer

describe('noble and native verifiers agree (edge cases)', () => {
  const rng = new XorShift128(0xed9e);
  const sk = secretKeyFrom(rng);
  const pub = publicKeyOf(sk);
  const otherPub = publicKeyOf(secretKeyFrom(rng));
  const hash = rng.bytes(32);
  const sig = signHash(sk, hash);
  const r = toBig(sig.subarray(0, 32));
  const s = sOf(sig);
  const uncompressed = Buffer.from(secp.getPublicKey(sk, false));

  // Smallest x0 on the curve, and one not on it; x0 + p fits in 32 bytes but is not < p.
  let x0 = 1n;
  while (!onCurveX(x0)) x0++;
  let xOff = 0n;
  while (onCurveX(xOff)) xOff++;
  const validSmallXKey = keyFromX(2, x0);

  const forgedHalf = forgeWithS(toBig(sk), 0x1234567n, HALF_N);
  const forgedOne = forgeWithS(toBig(sk), 0xabcdefn, 1n);
  const skOne = be32(1n);
  const skNMinus1 = be32(CURVE_N - 1n);
  const zeroHash = Buffer.alloc(32);
  const ffHash = Buffer.alloc(32, 0xff);
  const smallHash = be32(5n);
  const smallHashPlusN = be32(5n + CURVE_N);

  const cases: [string, Uint8Array, Uint8Array, Uint8Array, boolean][] = [
    ['valid signature', sig, hash, pub, true],
    ['high-S twin (s -> n - s)', highSTwin(sig), hash, pub, false],
    ['wrong key', sig, hash, otherPub, false],
    ['negated key (other prefix)', sig, hash, Buffer.concat([Buffer.of(pub[0] === 2 ? 3 : 2), pub.subarray(1)]), false],
    ['wrong message', sig, flipBit(hash, 255), pub, false],
    ['sig 63 bytes', sig.subarray(0, 63), hash, pub, false],
    ['sig 65 bytes (trailing zero)', Buffer.concat([sig, Buffer.of(0)]), hash, pub, false],
    ['sig 65 bytes (recovered format)', Buffer.from(secp.sign(hash, sk, { prehash: false, format: 'recovered' })), hash, pub, false],
    ['sig 0 bytes', Buffer.alloc(0), hash, pub, false],
    ['hash 31 bytes', sig, hash.subarray(0, 31), pub, false],
    ['hash 33 bytes', sig, Buffer.concat([hash, Buffer.of(0)]), pub, false],
    ['hash 33 bytes (leading zero)', sig, Buffer.concat([Buffer.of(0), hash]), pub, false],
    ['key 32 bytes (x only)', sig, hash, pub.subarray(1), false],
    ['key 34 bytes', sig, hash, Buffer.concat([pub, Buffer.of(0)]), false],
    ['key 65 bytes (right key, uncompressed)', sig, hash, uncompressed, false],
    ['r = 0', withR(sig, 0n), hash, pub, false],
    ['s = 0', withS(sig, 0n), hash, pub, false],
    ['r = s = 0', Buffer.alloc(64), hash, pub, false],
    ['r = n', withR(sig, CURVE_N), hash, pub, false],
    ['r = n + 1', withR(sig, CURVE_N + 1n), hash, pub, false],
    ['r = 2^256 - 1', withR(sig, TWO_256 - 1n), hash, pub, false],
    ['s = n', withS(sig, CURVE_N), hash, pub, false],
    ['s = n + s (reduces to s mod n)', withS(sig, s + CURVE_N < TWO_256 ? s + CURVE_N : CURVE_N + 1n), hash, pub, false],
    ['s = 2^256 - 1', withS(sig, TWO_256 - 1n), hash, pub, false],
    ['r = n + r when it fits (else n)', withR(sig, r + CURVE_N < TWO_256 ? r + CURVE_N : CURVE_N), hash, pub, false],
    ['key x not on curve', sig, hash, keyFromX(2, xOff), false],
    ['key x = p', sig, hash, keyFromX(2, P), false],
    ['key x = p + x0 (x0 on curve)', sig, hash, keyFromX(2, P + x0), false],
    ['key x = 2^256 - 1', sig, hash, keyFromX(3, TWO_256 - 1n), false],
    ['key x on curve but not the signer', sig, hash, validSmallXKey, false],
    ['key prefix 0x04, 33 bytes', sig, hash, Buffer.concat([Buffer.of(4), pub.subarray(1)]), false],
    ['key prefix 0x05, 33 bytes', sig, hash, Buffer.concat([Buffer.of(5), pub.subarray(1)]), false],
    ['key prefix 0x00, 33 bytes', sig, hash, Buffer.concat([Buffer.of(0), pub.subarray(1)]), false],
    ['key all zero (33 bytes)', sig, hash, Buffer.alloc(33), false],
    ['key 0x02 || zeros', sig, hash, Buffer.concat([Buffer.of(2), Buffer.alloc(32)]), false],
    ['s exactly n/2 (highest low S)', forgedHalf.sig, forgedHalf.hash, forgedHalf.pub, true],
    ['s = n/2 + 1 (its twin, lowest high S)', highSTwin(forgedHalf.sig), forgedHalf.hash, forgedHalf.pub, false],
    ['s = 1', forgedOne.sig, forgedOne.hash, forgedOne.pub, true],
    ['s = n - 1 (twin of s = 1)', highSTwin(forgedOne.sig), forgedOne.hash, forgedOne.pub, false],
    ['secret key 1 (public key G)', signHash(skOne, hash), hash, publicKeyOf(skOne), true],
    ['secret key n - 1 (public key -G)', signHash(skNMinus1, hash), hash, publicKeyOf(skNMinus1), true],
    ['hash all zero', signHash(sk, zeroHash), zeroHash, pub, true],
    ['hash all 0xff (>= n, reduced)', signHash(sk, ffHash), ffHash, pub, true],
    ['hash h + n verifies like h (both reduce mod n)', signHash(sk, smallHash), smallHashPlusN, pub, true],
  ];

  it('the constructed inputs are what their names say', () => {
    expect(isHighS(highSTwin(sig))).toBe(true);
    // The twin is a genuine ECDSA signature, refused only by the low-S rule.
    expect(secp.verify(highSTwin(sig), hash, pub, { prehash: false, lowS: false })).toBe(true);
    expect(sOf(forgedHalf.sig)).toBe(HALF_N);
    expect(isHighS(forgedHalf.sig)).toBe(false);
    expect(isHighS(highSTwin(forgedHalf.sig))).toBe(true);
    expect(onCurveX(x0)).toBe(true);
    expect(onCurveX(xOff)).toBe(false);
    expect(P + x0).toBeLessThan(TWO_256);
    expect(uncompressed.length).toBe(65);
    expect(uncompressed.subarray(1, 33)).toEqual(pub.subarray(1));
  });

  it.each(cases)('%s', (_name, sigX, hashX, pubX, expected) => {
    const { noble, native } = bothVerify(sigX, hashX, pubX);
    expect(noble).toBe(native);
    expect(noble).toBe(expected);
  });
});
