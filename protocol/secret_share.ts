// Additive secret sharing of integer vectors modulo the Mersenne prime P = 2^61 - 1, as the
// "Prio" paper uses it (Corrigan-Gibbs & Boneh, "Prio: Private, Robust, and Scalable
// Computation of Aggregate Statistics", NSDI 2017, section 2): x is split into n shares whose
// sum mod P is x; any n - 1 of them are independent uniform values, whatever x is. Signed
// figures (noise can make a small one negative) are encoded as x mod P and decoded from the
// symmetric range (-P/2, P/2).
import { createCipheriv, createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { CbdcError } from './errors.js';

export const SHARE_PRIME = (1n << 61n) - 1n;
/** Parties of one sharing at most (every bank and central). */
export const SHARE_PARTIES_MAX = 16;
/** Figures in one shared vector at most. */
export const SHARE_VECTOR_MAX = 64;

/** A uniform value in [0, P) by rejection from 61 random bits (no modulo bias). */
export function uniformModP(random: (n: number) => Buffer = randomBytes): bigint {
  for (;;) {
    const v = random(8).readBigUInt64BE(0) & SHARE_PRIME;
    if (v < SHARE_PRIME) return v;
  }
}

export function encodeSigned(v: bigint): bigint {
  const r = v % SHARE_PRIME;
  return r < 0n ? r + SHARE_PRIME : r;
}

export function decodeSigned(v: bigint): bigint {
  return v > SHARE_PRIME / 2n ? v - SHARE_PRIME : v;
}

/** Splits x into `parties` share vectors; shares[i] goes to party i. */
export function split(x: readonly bigint[], parties: number, random: (n: number) => Buffer = randomBytes): bigint[][] {
  if (!Number.isInteger(parties) || parties < 2 || parties > SHARE_PARTIES_MAX) throw new Error(`invariant violated: ${parties} parties`);
  if (x.length === 0 || x.length > SHARE_VECTOR_MAX) throw new Error(`invariant violated: vector of ${x.length}`);
  const shares: bigint[][] = [];
  for (let i = 0; i < parties - 1; i++) shares.push(x.map(() => uniformModP(random)));
  // The last share makes the sum come out: x - sum(others) mod P.
  shares.push(x.map((v, k) => encodeSigned(encodeSigned(v) - shares.reduce((s, sh) => s + sh[k]!, 0n))));
  return shares;
}

/** The element-wise sum mod P of share vectors of the same length. */
export function addShares(vectors: readonly (readonly bigint[])[]): bigint[] {
  const len = vectors[0]?.length ?? 0;
  const out = new Array<bigint>(len).fill(0n);
  for (const v of vectors) {
    if (v.length !== len) throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', 'share vectors differ in length');
    for (let k = 0; k < len; k++) out[k] = (out[k]! + v[k]!) % SHARE_PRIME;
  }
  return out;
}

/** Parses a share vector from its wire form: decimal strings, each below P. */
export function parseShareVector(v: unknown, length: number): bigint[] {
  if (!Array.isArray(v) || v.length !== length) throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', `a share vector has ${length} elements`);
  return v.map((e) => {
    if (typeof e !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(e)) throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', 'a share element is a decimal string');
    const n = BigInt(e);
    if (n >= SHARE_PRIME) throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', 'a share element is below 2^61 - 1');
    return n;
  });
}

// ---------------------------------------------------------------------------------------
// Sealing a share to its recipient bank: ECDH on secp256k1 between the sender's and the
// recipient's registered keys (SEC 1 v2, section 3.3.1), HKDF-SHA256 (RFC 5869) over the
// shared x-coordinate with the query id as salt, AES-256-GCM (NIST SP 800-38D) whose associated
// data binds the network, the query id, sender, recipient and the party list: a sealed share
// opens only for that query, between those two banks, in that party set. Static keys on both
// sides also authenticate the sender: no one but the two banks can make a box that opens.

export interface ShareContext {
  network: string;
  queryId: string;
  from: string;
  to: string;
  parties: readonly string[];
}

export interface SealedShare {
  from: string;
  to: string;
  iv: string;
  ct: string;
  tag: string;
}

const HKDF_INFO = Buffer.from('cbdc/analytics-share/v1', 'utf8');

function associatedData(c: ShareContext): Buffer {
  return Buffer.from(JSON.stringify(['cbdc/analytics-share/v1', c.network, c.queryId, c.from, c.to, c.parties]), 'utf8');
}

function shareKey(ownSecretKey: Uint8Array, otherPublicKey: Uint8Array, queryId: string): Buffer {
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(Buffer.from(ownSecretKey));
  const shared = ecdh.computeSecret(Buffer.from(otherPublicKey));
  return Buffer.from(hkdfSync('sha256', shared, Buffer.from(queryId, 'utf8'), HKDF_INFO, 32));
}

export function sealShare(c: ShareContext, senderSecretKey: Uint8Array, recipientPublicKey: Uint8Array, share: readonly bigint[]): SealedShare {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', shareKey(senderSecretKey, recipientPublicKey, c.queryId), iv);
  cipher.setAAD(associatedData(c));
  const ct = Buffer.concat([cipher.update(Buffer.from(JSON.stringify(share.map(String)), 'utf8')), cipher.final()]);
  return { from: c.from, to: c.to, iv: iv.toString('hex'), ct: ct.toString('hex'), tag: cipher.getAuthTag().toString('hex') };
}

/** Opens a sealed share; anything altered (bytes, query, parties, sender, recipient) is CBDC_ERR_ANALYTICS_SHARE. */
export function openShare(c: ShareContext, recipientSecretKey: Uint8Array, senderPublicKey: Uint8Array, box: SealedShare, length: number): bigint[] {
  if (box.from !== c.from || box.to !== c.to) throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', 'the share names other parties');
  if (!/^[0-9a-f]{24}$/.test(box.iv) || !/^[0-9a-f]{32}$/.test(box.tag) || !/^([0-9a-f]{2}){1,4096}$/.test(box.ct)) throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', 'malformed sealed share');
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', shareKey(recipientSecretKey, senderPublicKey, c.queryId), Buffer.from(box.iv, 'hex'));
    d.setAAD(associatedData(c));
    d.setAuthTag(Buffer.from(box.tag, 'hex'));
    plain = Buffer.concat([d.update(Buffer.from(box.ct, 'hex')), d.final()]);
  } catch {
    throw new CbdcError('CBDC_ERR_ANALYTICS_SHARE', `the share from ${c.from} does not authenticate`);
  }
  return parseShareVector(JSON.parse(plain.toString('utf8')), length);
}
