// The device certificate: the bank's statement that a secure element with this public key
// belongs to its offline scheme on this network, with the caps the element enforces and the
// time it may be used. Signed by the bank's offline key over H_"CBDC/offline/certificate"(body).
//
//   body = version u8 || kind u8 (=1) || network str8 || bank str8 || serial u64
//          || device_pub [33] || balance_cap_fen u64 || payment_cap_fen u64
//          || payments_before_sync u32 || valid_from_ms u64 || valid_until_ms u64
//   certificate = body || bank_sig [64]
import { CbdcError } from '../protocol/errors.js';
import { ByteWriter } from '../protocol/bytes.js';
import { taggedHash } from '../protocol/hash.js';
import { SignatureVerifier, publicKeyOf, signHash } from '../protocol/sig.js';
import {
  DeviceRef,
  OFFLINE_FORMAT_VERSION,
  OFFLINE_TAGS,
  checkAmount,
  checkBankId,
  checkNetwork,
  checkU64,
  defaultVerifier,
  formatError,
  readAmount,
  readBankId,
  readPublicKey,
  readSignature,
  openMessage,
  verifyBankSigned,
  type BankKeys,
} from './codec.js';

const KIND_CERTIFICATE = 1;
/** Payments one certificate may allow between syncs (a card's log is finite). */
export const PAYMENTS_BEFORE_SYNC_MAX = 1000;
/** Encoded size bound, for APDU and storage budgets. */
export const CERTIFICATE_BYTES_MAX = 1 + 1 + 33 + 33 + 8 + 33 + 8 + 8 + 4 + 8 + 8 + 64;

export interface CertificateBody {
  readonly network: string;
  readonly bank: string;
  readonly serial: bigint;
  readonly devicePub: Buffer;
  readonly balanceCapFen: bigint;
  readonly paymentCapFen: bigint;
  readonly paymentsBeforeSync: number;
  readonly validFromMs: bigint;
  readonly validUntilMs: bigint;
}

export interface DeviceCertificate extends CertificateBody {
  readonly bankSig: Buffer;
}


export function deviceOf(c: { bank: string; serial: bigint }): DeviceRef {
  return { bank: c.bank, serial: c.serial };
}

function checkBody(b: CertificateBody): void {
  checkNetwork(b.network);
  checkBankId(b.bank);
  checkU64(b.serial);
  if (b.devicePub.length !== 33) throw new RangeError('device key must be 33 bytes');
  checkAmount(b.balanceCapFen, true);
  checkAmount(b.paymentCapFen, true);
  if (b.paymentCapFen > b.balanceCapFen) throw new RangeError('payment cap above balance cap');
  if (!Number.isInteger(b.paymentsBeforeSync) || b.paymentsBeforeSync < 1 || b.paymentsBeforeSync > PAYMENTS_BEFORE_SYNC_MAX) {
    throw new RangeError('payments before sync out of range');
  }
  checkU64(b.validFromMs);
  checkU64(b.validUntilMs);
  if (b.validUntilMs <= b.validFromMs) throw new RangeError('empty validity period');
}

export function encodeCertificateBody(b: CertificateBody): Buffer {
  checkBody(b);
  return new ByteWriter(CERTIFICATE_BYTES_MAX)
    .u8(OFFLINE_FORMAT_VERSION)
    .u8(KIND_CERTIFICATE)
    .str8(b.network)
    .str8(b.bank)
    .u64(b.serial)
    .bytes(b.devicePub)
    .u64(b.balanceCapFen)
    .u64(b.paymentCapFen)
    .u32(b.paymentsBeforeSync)
    .u64(b.validFromMs)
    .u64(b.validUntilMs)
    .finish();
}

/** What the bank signs, and the certificate's id. */
export function certificateHash(b: CertificateBody): Buffer {
  return taggedHash(OFFLINE_TAGS.certificate, encodeCertificateBody(b));
}

export function encodeCertificate(c: DeviceCertificate): Buffer {
  return Buffer.concat([encodeCertificateBody(c), c.bankSig]);
}

export function signCertificate(body: CertificateBody, bankSecretKey: Uint8Array): DeviceCertificate {
  return { ...body, bankSig: signHash(bankSecretKey, certificateHash(body)) };
}

/** Parses the canonical bytes; refuses anything malformed with CBDC_ERR_OFFLINE_FORMAT. */
export function decodeCertificate(bytes: Uint8Array): DeviceCertificate {
  const { r, network } = openMessage(bytes, 'certificate', KIND_CERTIFICATE);
  const bank = readBankId(r, 'bank');
  const serial = r.u64('serial');
  const devicePub = readPublicKey(r, 'device key');
  const balanceCapFen = readAmount(r, 'balance cap', true);
  const paymentCapFen = readAmount(r, 'payment cap', true);
  const paymentsBeforeSync = r.u32('payments before sync');
  const validFromMs = r.u64('valid from');
  const validUntilMs = r.u64('valid until');
  const bankSig = readSignature(r, 'bank signature');
  r.end();
  if (paymentCapFen > balanceCapFen) throw formatError('certificate payment cap is above its balance cap');
  if (paymentsBeforeSync < 1 || paymentsBeforeSync > PAYMENTS_BEFORE_SYNC_MAX) throw formatError('certificate payments before sync out of range');
  if (validUntilMs <= validFromMs) throw formatError('certificate validity period is empty');
  return { network, bank, serial, devicePub, balanceCapFen, paymentCapFen, paymentsBeforeSync, validFromMs, validUntilMs, bankSig };
}

/**
 * Checks a certificate offline: its network, that its bank is one we trust, the bank's
 * signature, and (when `nowMs` is given) that `nowMs` lies in its validity period.
 * Throws CBDC_ERR_NETWORK_ID, CBDC_ERR_OFFLINE_UNTRUSTED, CBDC_ERR_OFFLINE_SIGNATURE or
 * CBDC_ERR_OFFLINE_CERT_EXPIRED.
 */
export function verifyCertificate(c: DeviceCertificate, trust: BankKeys, nowMs?: bigint, verifier: SignatureVerifier = defaultVerifier()): void {
  verifyBankSigned('certificate', c, () => certificateHash(c), trust, verifier);
  if (nowMs !== undefined && (nowMs < c.validFromMs || nowMs >= c.validUntilMs)) {
    throw new CbdcError('CBDC_ERR_OFFLINE_CERT_EXPIRED', `certificate ${c.bank}/${c.serial} is not valid at ${nowMs}`);
  }
}

/** A bank key set from secret keys, for tests and tools. */
export function bankKeysOf(network: string, secretKeys: Record<string, Uint8Array>): BankKeys {
  return { network, keys: new Map(Object.entries(secretKeys).map(([bank, sk]) => [bank, publicKeyOf(sk)])) };
}
