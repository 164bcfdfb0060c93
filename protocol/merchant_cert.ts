// Merchant certificates: an intermediary's signed statement that a lock belongs to a merchant of
// one merchant category (ISO 18245 code). Purpose-bound money (a purpose rule in its lock) may
// pay only locks certified for one of its categories (docs/LOCKS.md, "Purpose rule").
//
//   message = H_"CBDC/merchant"(str8 network || str8 intermediary || var16 lock || u16 mcc || u64 expires_ms)
//   sig     = the intermediary's registered key signs message (ECDSA secp256k1, compact, low-S)
//
// The certified lock is not carried in the certificate: it is the lock of the output the
// certificate is attached to, so a certificate cannot be moved to another lock. A certificate
// is valid while the ledger's batch time is before expires_ms.
import { CbdcError } from './errors.js';
import { ByteWriter } from './bytes.js';
import { TAGS, taggedHash } from './hash.js';
import { MCC_MAX, formatMcc, LOCK_TIME_MS_MAX } from './lock.js';
import { type SignatureVerifier, nobleVerifier, parseSignature, signHash } from './sig.js';

/** A certificate as an intermediary issues it, for one lock. */
export interface MerchantCertificate {
  /** The certifying intermediary's id at central (its key is in central's directory). */
  readonly intermediary: string;
  /** Merchant category code, 0 to 9999. */
  readonly mcc: number;
  /** Valid while the ledger's batch time is before this (ms since the Unix epoch). */
  readonly expiresMs: number;
  readonly sig: Buffer;
}

/** A certificate attached to a transaction's witness, naming the output whose lock it certifies. */
export interface WitnessCertificate extends MerchantCertificate {
  readonly output: number;
}

export interface WitnessCertificateJson {
  output: number;
  intermediary: string;
  mcc: string;
  expires_ms: number;
  sig: string;
}

/** The 32-byte hash the intermediary signs. */
export function merchantCertMessage(network: string, intermediary: string, lockBytes: Uint8Array, mcc: number, expiresMs: number): Buffer {
  const w = new ByteWriter(96 + lockBytes.length).str8(network).str8(intermediary).var16(lockBytes).u16(mcc).u64(BigInt(expiresMs));
  return taggedHash(TAGS.merchant, w.finish());
}

/** Issues a certificate for a lock (the intermediary's side). */
export function signMerchantCert(
  intermediarySecretKey: Uint8Array,
  c: { network: string; intermediary: string; lockBytes: Uint8Array; mcc: number; expiresMs: number },
): MerchantCertificate {
  if (!Number.isInteger(c.mcc) || c.mcc < 0 || c.mcc > MCC_MAX) throw new RangeError('mcc must be 0 to 9999');
  if (!Number.isSafeInteger(c.expiresMs) || c.expiresMs < 0) throw new RangeError('expiresMs out of range');
  const sig = signHash(intermediarySecretKey, merchantCertMessage(c.network, c.intermediary, c.lockBytes, c.mcc, c.expiresMs));
  return { intermediary: c.intermediary, mcc: c.mcc, expiresMs: c.expiresMs, sig };
}

/** Whether a certificate's signature verifies for a lock under the intermediary's key (not its expiry). */
export function verifyMerchantCert(
  cert: MerchantCertificate, network: string, lockBytes: Uint8Array, intermediaryKey: Uint8Array, verifier: SignatureVerifier = nobleVerifier,
): boolean {
  return verifier.verify(cert.sig, merchantCertMessage(network, cert.intermediary, lockBytes, cert.mcc, cert.expiresMs), intermediaryKey);
}

const INTERMEDIARY_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

function witnessError(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_WITNESS', message);
}

/** Parses one witness certificate's JSON form (the output index is range-checked by parseTx). */
export function parseWitnessCert(value: unknown, i: number): WitnessCertificate {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw witnessError(`certificate ${i} must be an object`);
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (!['output', 'intermediary', 'mcc', 'expires_ms', 'sig'].includes(k)) throw witnessError(`certificate ${i} has an unknown field "${k.slice(0, 32)}"`);
  }
  const { output, intermediary, mcc, expires_ms: expiresMs } = v;
  if (typeof output !== 'number' || !Number.isInteger(output) || output < 0) throw witnessError(`certificate ${i} output must be an output index`);
  if (typeof intermediary !== 'string' || !INTERMEDIARY_ID.test(intermediary)) throw witnessError(`certificate ${i} intermediary is not an intermediary id`);
  if (typeof mcc !== 'string' || !/^[0-9]{4}$/.test(mcc)) throw witnessError(`certificate ${i} mcc must be four decimal digits`);
  if (typeof expiresMs !== 'number' || !Number.isSafeInteger(expiresMs) || expiresMs < 0 || expiresMs > LOCK_TIME_MS_MAX) {
    throw witnessError(`certificate ${i} expires_ms must be a time in ms since the Unix epoch`);
  }
  const sig = parseSignature(v.sig, `certificate ${i} signature`);
  return { output, intermediary, mcc: Number(mcc), expiresMs, sig };
}

export function witnessCertToJson(c: WitnessCertificate): WitnessCertificateJson {
  return { output: c.output, intermediary: c.intermediary, mcc: formatMcc(c.mcc), expires_ms: c.expiresMs, sig: c.sig.toString('hex') };
}
