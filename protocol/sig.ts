// ECDSA over secp256k1 (SEC1 v2 §4.1), compact 64-byte r||s signatures, low-S only (BIP62
// rule), over a 32-byte tagged hash. Signing uses @noble/secp256k1; verification sits behind
// one interface with two backends that must agree on every accept and reject.
import * as secp from '@noble/secp256k1';
import { createRequire } from 'node:module';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { CbdcError } from './errors.js';
import { hexToBytes } from './bytes.js';

// noble's synchronous sign needs these two hashes wired in (RFC 6979 deterministic nonces).
secp.hashes.sha256 = (msg) => new Uint8Array(createHash('sha256').update(msg).digest());
secp.hashes.hmacSha256 = (key, msg) => new Uint8Array(createHmac('sha256', key).update(msg).digest());

export const PUBLIC_KEY_BYTES = 33;
export const SECRET_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const HASH_BYTES = 32;

/** Group order n of secp256k1 (SEC2 §2.4.1). */
export const CURVE_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = CURVE_N >> 1n;
const HALF_N_BYTES = Buffer.from(HALF_N.toString(16).padStart(64, '0'), 'hex');

export function generateSecretKey(): Buffer {
  for (;;) {
    const sk = randomBytes(SECRET_KEY_BYTES);
    if (isValidSecretKey(sk)) return sk;
  }
}

export function isValidSecretKey(sk: Uint8Array): boolean {
  if (sk.length !== SECRET_KEY_BYTES) return false;
  const d = BigInt('0x' + Buffer.from(sk).toString('hex'));
  return d > 0n && d < CURVE_N;
}

/**
 * The SEC1 compressed public key (33 bytes) of a secret key: libsecp256k1 where it loads (a
 * wallet derives its key for every transaction it signs, and noble's point multiplication
 * costs several signatures), else noble. The point is unique, so both give the same bytes.
 */
export function publicKeyOf(sk: Uint8Array): Buffer {
  const native = tryLoadNative();
  if (native !== null && isValidSecretKey(sk)) return Buffer.from(native.publicKeyCreate(sk, true));
  return publicKeyOfNoble(sk);
}

/** The reference derivation (@noble/secp256k1); throws on a secret key outside 1..n-1. */
export function publicKeyOfNoble(sk: Uint8Array): Buffer {
  return Buffer.from(secp.getPublicKey(sk, true));
}

/**
 * Signs a 32-byte hash: RFC 6979 nonce, low-S, compact r||s. Both backends produce the same
 * bytes (deterministic nonces; sig.test.ts compares them on random keys and hashes), so the
 * fast one signs wherever it loads: libsecp256k1 signs in ~1/10 of noble's time, and every
 * signed request between the tiers pays for one signature.
 */
export function signHash(sk: Uint8Array, hash32: Uint8Array): Buffer {
  if (hash32.length !== HASH_BYTES) throw new RangeError('signHash wants a 32-byte hash');
  const native = tryLoadNative();
  if (native !== null) return Buffer.from(native.ecdsaSign(hash32, sk).signature);
  return signHashNoble(sk, hash32);
}

/** The reference signer (@noble/secp256k1). */
export function signHashNoble(sk: Uint8Array, hash32: Uint8Array): Buffer {
  if (hash32.length !== HASH_BYTES) throw new RangeError('signHash wants a 32-byte hash');
  return Buffer.from(secp.sign(hash32, sk, { prehash: false, lowS: true, format: 'compact' }));
}

/** True when s is in the upper half of the group order (the malleable twin of a low-S signature). */
export function isHighS(sig64: Uint8Array): boolean {
  // s (bytes 32..63, big-endian) against n/2, byte by byte: the first differing byte decides.
  for (let i = 0; i < 32; i++) {
    const a = sig64[32 + i]!;
    const b = HALF_N_BYTES[i]!;
    if (a !== b) return a > b;
  }
  return false;
}

/** Parses a compressed public key from hex and checks it is on the curve. */
export function parsePublicKey(value: unknown, what = 'public key'): Buffer {
  return checkPublicKey(hexToBytes(value, PUBLIC_KEY_BYTES, what), what);
}

/** `pub` (33 bytes) when it is a compressed public key on the curve; CBDC_ERR_BAD_PUBLIC_KEY otherwise. */
export function checkPublicKey(pub: Buffer, what = 'public key'): Buffer {
  if (!isValidPublicKey(pub)) throw new CbdcError('CBDC_ERR_BAD_PUBLIC_KEY', `${what} is not a valid compressed secp256k1 point`);
  return pub;
}

/**
 * Whether 33 bytes are a SEC1 compressed point on the curve (SEC1 v2 §2.3.4: x < p and
 * x^3 + 7 a square). libsecp256k1 answers in microseconds; noble is the fallback.
 */
export function isValidPublicKey(pub: Uint8Array): boolean {
  return validKeys.isValid(pub);
}

/**
 * A public-key check that remembers keys it found on the curve, at most `max` (oldest out
 * first). The same key is checked again and again (a lock key when its output is created,
 * then as the witness key when it is spent; a wallet's key in every payment), and the check
 * is a square root mod p: this memoises a pure function, and only valid keys enter, so a
 * flood of bad keys cannot make a bad key pass.
 */
export class ValidKeyCache {
  private readonly keys = new Set<string>();
  constructor(readonly max: number) {}

  isValid(pub: Uint8Array): boolean {
    if (pub.length !== PUBLIC_KEY_BYTES || (pub[0] !== 2 && pub[0] !== 3)) return false;
    const k = Buffer.from(pub.buffer, pub.byteOffset, pub.length).toString('latin1');
    if (this.keys.has(k)) return true;
    if (!isOnCurve(pub)) return false;
    // A Set iterates in insertion order: the first is the oldest.
    if (this.keys.size >= this.max) this.keys.delete(this.keys.values().next().value!);
    this.keys.add(k);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }
}

const validKeys = new ValidKeyCache(65_536);

function isOnCurve(pub: Uint8Array): boolean {
  const native = tryLoadNative();
  if (native) return native.publicKeyVerify(pub);
  try {
    secp.Point.fromBytes(pub).assertValidity();
    return true;
  } catch {
    return false;
  }
}

/** Parses a compact signature from hex; refuses high-S up front with its own code. */
export function parseSignature(value: unknown, what = 'signature'): Buffer {
  return checkSignature(hexToBytes(value, SIGNATURE_BYTES, what), what);
}

/** `sig` (64 bytes) unless its S is high (CBDC_ERR_HIGH_S). */
export function checkSignature(sig: Buffer, what = 'signature'): Buffer {
  if (isHighS(sig)) throw new CbdcError('CBDC_ERR_HIGH_S', `${what} has a high S value`);
  return sig;
}

/** One verification backend. Returns false for anything that is not a valid signature. */
export interface SignatureVerifier {
  readonly name: 'noble' | 'native';
  verify(sig64: Uint8Array, hash32: Uint8Array, pub33: Uint8Array): boolean;
}

/** Length checks shared by both backends, so each backend judges only what is inside. */
function wellSized(sig64: Uint8Array, hash32: Uint8Array, pub33: Uint8Array): boolean {
  return sig64.length === SIGNATURE_BYTES && hash32.length === HASH_BYTES && pub33.length === PUBLIC_KEY_BYTES &&
    (pub33[0] === 2 || pub33[0] === 3);
}

/** The reference backend: pure JavaScript, runs anywhere. */
export const nobleVerifier: SignatureVerifier = {
  name: 'noble',
  verify(sig64, hash32, pub33) {
    if (!wellSized(sig64, hash32, pub33)) return false;
    try {
      return secp.verify(sig64, hash32, pub33, { prehash: false, lowS: true, format: 'compact' });
    } catch {
      return false;
    }
  },
};

interface NativeSecp256k1 {
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pub: Uint8Array): boolean;
  ecdsaSign(msg32: Uint8Array, sk: Uint8Array): { signature: Uint8Array; recid: number };
  publicKeyCreate(sk: Uint8Array, compressed?: boolean): Uint8Array;
  publicKeyVerify(pub: Uint8Array): boolean;
  publicKeyTweakAdd(pub: Uint8Array, tweak32: Uint8Array, compressed?: boolean): Uint8Array;
}

let nativeModule: NativeSecp256k1 | undefined;
let nativeMissing = false;

/** libsecp256k1 through the `secp256k1` package's native binding (never its JS fallback). */
function tryLoadNative(): NativeSecp256k1 | null {
  if (nativeMissing) return null;
  try {
    return loadNative();
  } catch {
    nativeMissing = true;
    return null;
  }
}

export function loadNative(): NativeSecp256k1 {
  if (nativeModule === undefined) {
    const require = createRequire(import.meta.url);
    nativeModule = require('secp256k1/bindings.js') as NativeSecp256k1;
  }
  return nativeModule;
}

/** The fast backend: libsecp256k1, whose verify refuses non-normalized (high-S) signatures. */
export const nativeVerifier: SignatureVerifier = {
  name: 'native',
  verify(sig64, hash32, pub33) {
    if (!wellSized(sig64, hash32, pub33)) return false;
    try {
      return loadNative().ecdsaVerify(sig64, hash32, pub33);
    } catch {
      // The binding throws on unparsable signatures (r or s >= n) and public keys.
      return false;
    }
  },
};

export function verifierByName(name: string): SignatureVerifier {
  if (name === 'noble') return nobleVerifier;
  if (name === 'native') return nativeVerifier;
  throw new Error(`unknown verifier backend: ${name}`);
}

/** libsecp256k1 signing (RFC 6979, low-S); throws where the binding does not load. */
export function signHashNative(sk: Uint8Array, hash32: Uint8Array): Buffer {
  return Buffer.from(loadNative().ecdsaSign(hash32, sk).signature);
}

export function publicKeyOfNative(sk: Uint8Array): Buffer {
  return Buffer.from(loadNative().publicKeyCreate(sk, true));
}

/**
 * P + t*G for a compressed point P and a 32-byte scalar t (SEC1 2.2.1 point addition): the
 * public half of a key derived by adding t to its secret (BIP32's non-hardened step). Throws on
 * a point that does not parse or a scalar >= n (the caller's hash makes both impossible).
 */
export function publicKeyTweakAdd(pub33: Uint8Array, tweak32: Uint8Array): Buffer {
  const native = tryLoadNative();
  if (native !== null) return Buffer.from(native.publicKeyTweakAdd(pub33, tweak32, true));
  const t = BigInt('0x' + Buffer.from(tweak32).toString('hex'));
  if (t === 0n || t >= CURVE_N) throw new RangeError('tweak out of range');
  return Buffer.from(secp.Point.fromBytes(pub33).add(secp.Point.BASE.multiply(t)).toBytes(true));
}

/** (sk + t) mod n: the secret half of publicKeyTweakAdd. */
export function secretKeyTweakAdd(sk32: Uint8Array, tweak32: Uint8Array): Buffer {
  const k = (BigInt('0x' + Buffer.from(sk32).toString('hex')) + BigInt('0x' + Buffer.from(tweak32).toString('hex'))) % CURVE_N;
  if (k === 0n) throw new RangeError('tweaked key is zero');
  return Buffer.from(k.toString(16).padStart(64, '0'), 'hex');
}
