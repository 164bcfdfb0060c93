// Project Wycheproof's secp256k1 ECDSA vectors (verbatim under test/vectors/wycheproof/, see
// its README) run through both verification backends, mapped onto our rules: 32-byte hash
// = sha256(msg), compressed 33-byte keys, compact 64-byte signatures, low-S only.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as secp from '@noble/secp256k1';
import { CURVE_N, isHighS, nativeVerifier, nobleVerifier } from './sig.js';

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface WycheproofFile {
  algorithm: string;
  schema: string;
  numberOfTests: number;
  testGroups: { type: string; sha: string; publicKey: { curve: string; uncompressed: string }; tests: WycheproofTest[] }[];
}

const VECTORS = fileURLToPath(new URL('../test/vectors/wycheproof/', import.meta.url));
const P1363_FILE = 'ecdsa_secp256k1_sha256_p1363_test.json';
const BITCOIN_FILE = 'ecdsa_secp256k1_sha256_bitcoin_test.json';
// Pinned so that an edit to the "verbatim" copies is noticed (hashes also in the README).
const PINNED_SHA256: Record<string, string> = {
  [P1363_FILE]: '7a339efc7134fb2495cd32afdbd692e0f86427d3c24e9073f6a7d858bb8788d2',
  [BITCOIN_FILE]: '543dcb717016959f287dfc65af749e4501b9d2ec42824c59d80796aa605695da',
};

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const rawFile = (name: string): Buffer => readFileSync(VECTORS + name);
const loadFile = (name: string): WycheproofFile => JSON.parse(rawFile(name).toString('utf8')) as WycheproofFile;

/** 04 || x || y  ->  (02 | 03 by parity of y) || x. */
function compress(uncompressedHex: string): Buffer {
  const u = Buffer.from(uncompressedHex, 'hex');
  if (u.length !== 65 || u[0] !== 4) throw new Error(`not an uncompressed key: ${uncompressedHex}`);
  return Buffer.concat([Buffer.of(2 + (u[64]! & 1)), u.subarray(1, 33)]);
}

/** Strict DER (BIP66 shape) ECDSA signature to compact r || s; null for anything else. */
function strictDerToCompact(der: Buffer): Buffer | null {
  if (der.length < 8 || der.length > 72 || der[0] !== 0x30 || der[1] !== der.length - 2) return null;
  let at = 2;
  const parts: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[at] !== 0x02) return null;
    const len = der[at + 1];
    if (len === undefined || len === 0 || len >= 0x80) return null;
    const v = der.subarray(at + 2, at + 2 + len);
    if (v.length !== len) return null;
    if (v[0]! & 0x80) return null; // negative
    if (len > 1 && v[0] === 0 && !(v[1]! & 0x80)) return null; // not minimal
    const magnitude = v[0] === 0 && len > 1 ? v.subarray(1) : v;
    if (magnitude.length > 32) return null;
    parts.push(Buffer.concat([Buffer.alloc(32 - magnitude.length), magnitude]));
    at += 2 + len;
  }
  return at === der.length ? Buffer.concat(parts) : null;
}

interface Flat {
  name: string;
  t: WycheproofTest;
  key: Buffer;
  hash: Buffer;
}

function flatten(file: WycheproofFile): Flat[] {
  return file.testGroups.flatMap((g) => {
    const key = compress(g.publicKey.uncompressed);
    return g.tests.map((t) => ({ name: `tcId ${t.tcId} ${t.result}: ${t.comment}`, t, key, hash: sha256(Buffer.from(t.msg, 'hex')) }));
  });
}

function both(sig: Uint8Array, hash: Uint8Array, key: Uint8Array): boolean {
  const noble = nobleVerifier.verify(sig, hash, key);
  const native = nativeVerifier.verify(sig, hash, key);
  expect(noble, 'noble and native disagree').toBe(native);
  return noble;
}

const withS = (sig: Uint8Array, s: bigint): Buffer =>
  Buffer.concat([Buffer.from(sig.subarray(0, 32)), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')]);

describe('the vector files are the pinned verbatim copies', () => {
  it.each(Object.entries(PINNED_SHA256))('%s', (name, digest) => {
    expect(sha256(rawFile(name)).toString('hex')).toBe(digest);
    const file = loadFile(name);
    expect(file.algorithm).toBe('ECDSA');
    expect(file.testGroups.every((g) => g.publicKey.curve === 'secp256k1' && g.sha === 'SHA-256')).toBe(true);
    expect(file.testGroups.reduce((a, g) => a + g.tests.length, 0)).toBe(file.numberOfTests);
  });

  it('compress() agrees with noble on the vector keys', () => {
    for (const g of loadFile(P1363_FILE).testGroups) {
      const fromNoble = Buffer.from(secp.Point.fromBytes(Buffer.from(g.publicKey.uncompressed, 'hex')).toBytes(true));
      expect(compress(g.publicKey.uncompressed)).toEqual(fromNoble);
    }
  });
});

describe(`Wycheproof ${P1363_FILE} (plain ECDSA; we add the low-S rule)`, () => {
  const file = loadFile(P1363_FILE);
  const flat = flatten(file);

  it('has the mix of cases this mapping expects', () => {
    const sigOf = (f: Flat): Buffer => Buffer.from(f.t.sig, 'hex');
    const valid = flat.filter((f) => f.t.result === 'valid');
    expect(flat.length).toBe(252);
    expect(flat.some((f) => f.t.result === 'acceptable')).toBe(false);
    expect(valid.every((f) => sigOf(f).length === 64)).toBe(true);
    expect(valid.filter((f) => !isHighS(sigOf(f))).length).toBe(95);
    expect(valid.filter((f) => isHighS(sigOf(f))).length).toBe(72);
    expect(flat.filter((f) => f.t.result === 'invalid').length).toBe(85);
  });

  it.each(flat.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const sig = Buffer.from(f.t.sig, 'hex');
    if (f.t.result === 'valid' && !isHighS(sig)) {
      expect(both(sig, f.hash, f.key)).toBe(true);
    } else if (f.t.result === 'valid') {
      // Valid plain ECDSA with a high S: refused by our low-S rule; its low-S twin is accepted.
      expect(both(sig, f.hash, f.key)).toBe(false);
      const s = BigInt('0x' + sig.subarray(32).toString('hex'));
      expect(both(withS(sig, CURVE_N - s), f.hash, f.key)).toBe(true);
    } else {
      expect(f.t.result).toBe('invalid');
      expect(both(sig, f.hash, f.key)).toBe(false);
    }
  });
});

describe(`Wycheproof ${BITCOIN_FILE} (Bitcoin ECDSA: already low-S only)`, () => {
  const file = loadFile(BITCOIN_FILE);
  const flat = flatten(file);

  it('has valid and invalid cases, and the valid ones are all strict DER', () => {
    expect(flat.length).toBe(463);
    expect(flat.filter((f) => f.t.result === 'valid').length).toBe(162);
    expect(flat.some((f) => f.t.result === 'acceptable')).toBe(false);
    const parsed = flat.filter((f) => strictDerToCompact(Buffer.from(f.t.sig, 'hex')) !== null);
    expect(parsed.filter((f) => f.t.result === 'valid').length).toBe(162);
    // Invalid signatures that are well-formed DER reach the verifiers (range, malleability, arithmetic cases).
    expect(parsed.filter((f) => f.t.result === 'invalid').length).toBe(69);
  });

  it('strictDerToCompact parses a strict signature and refuses BER and sloppy forms', () => {
    const r = Buffer.alloc(32, 0x11);
    const s = Buffer.alloc(32, 0x22);
    const der = Buffer.concat([Buffer.of(0x30, 0x44, 0x02, 0x20), r, Buffer.of(0x02, 0x20), s]);
    expect(strictDerToCompact(der)).toEqual(Buffer.concat([r, s]));
    expect(strictDerToCompact(Buffer.concat([Buffer.of(0x30, 0x81, 0x44), der.subarray(2)]))).toBeNull(); // long-form length
    expect(strictDerToCompact(Buffer.concat([der, Buffer.of(0)]))).toBeNull(); // trailing byte
    const padded = Buffer.concat([Buffer.of(0x30, 0x45, 0x02, 0x21, 0x00), r, Buffer.of(0x02, 0x20), s]);
    expect(strictDerToCompact(padded)).toBeNull(); // needless leading zero
  });

  it.each(flat.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const compact = strictDerToCompact(Buffer.from(f.t.sig, 'hex'));
    if (compact === null) {
      // Our wire format cannot even carry this signature; it must be one Wycheproof refuses.
      expect(f.t.result).toBe('invalid');
      return;
    }
    expect(both(compact, f.hash, f.key)).toBe(f.t.result === 'valid');
  });
});
