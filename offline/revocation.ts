// A bank's revocation list: the serials of its device certificates it has revoked (a clone
// caught double spending, a lost card). Devices receive the lists at sync and, as payees,
// refuse vouchers from a revoked payer. A list replaces the bank's older ones: its sequence
// only grows, so an old list cannot be replayed to un-revoke a device.
//
//   body = version u8 || kind u8 (=5) || network str8 || bank str8 || sequence u64
//          || issued_ms u64 || count u32 || serial u64 * count (strictly ascending)
//   list = body || bank_sig [64] over H_"CBDC/offline/revocation"(body)
import { ByteWriter } from '../protocol/bytes.js';
import { taggedHash } from '../protocol/hash.js';
import { SignatureVerifier, signHash } from '../protocol/sig.js';
import {
  OFFLINE_FORMAT_VERSION,
  OFFLINE_TAGS,
  checkBankId,
  checkNetwork,
  checkU64,
  defaultVerifier,
  formatError,
  readBankId,
  readSignature,
  openMessage,
  verifyBankSigned,
  type BankKeys,
} from './codec.js';

const KIND_REVOCATION = 5;
/** Serials one bank's list may hold (it fits one extended APDU). */
export const REVOKED_SERIALS_MAX = 4096;
export const REVOCATION_LIST_BYTES_MAX = 1 + 1 + 33 + 33 + 8 + 8 + 4 + 8 * REVOKED_SERIALS_MAX + 64;

export interface RevocationListBody {
  readonly network: string;
  readonly bank: string;
  readonly sequence: bigint;
  readonly issuedMs: bigint;
  /** Strictly ascending. */
  readonly serials: readonly bigint[];
}

export interface RevocationList extends RevocationListBody {
  readonly bankSig: Buffer;
}

export function encodeRevocationListBody(l: RevocationListBody): Buffer {
  checkNetwork(l.network);
  checkBankId(l.bank);
  checkU64(l.sequence);
  checkU64(l.issuedMs);
  if (l.serials.length > REVOKED_SERIALS_MAX) throw new RangeError('too many revoked serials');
  const w = new ByteWriter(64 + 8 * l.serials.length).u8(OFFLINE_FORMAT_VERSION).u8(KIND_REVOCATION).str8(l.network).str8(l.bank);
  w.u64(l.sequence).u64(l.issuedMs).u32(l.serials.length);
  let last = -1n;
  for (const s of l.serials) {
    checkU64(s);
    if (s <= last) throw new RangeError('revoked serials must be strictly ascending');
    last = s;
    w.u64(s);
  }
  return w.finish();
}

export function revocationListHash(l: RevocationListBody): Buffer {
  return taggedHash(OFFLINE_TAGS.revocation, encodeRevocationListBody(l));
}

export function encodeRevocationList(l: RevocationList): Buffer {
  return Buffer.concat([encodeRevocationListBody(l), l.bankSig]);
}

/** Signs a list; serials may come in any order and with repeats (they are sorted and made unique). */
export function signRevocationList(body: RevocationListBody, bankSecretKey: Uint8Array): RevocationList {
  const serials = [...new Set(body.serials)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sorted = { ...body, serials };
  return { ...sorted, bankSig: signHash(bankSecretKey, revocationListHash(sorted)) };
}

export function decodeRevocationList(bytes: Uint8Array): RevocationList {
  const { r, network } = openMessage(bytes, 'revocation list', KIND_REVOCATION);
  const bank = readBankId(r, 'bank');
  const sequence = r.u64('sequence');
  const issuedMs = r.u64('issued');
  const count = r.u32('count');
  if (count > REVOKED_SERIALS_MAX) throw formatError(`revocation list holds more than ${REVOKED_SERIALS_MAX} serials`);
  const serials: bigint[] = [];
  for (let i = 0; i < count; i++) {
    const s = r.u64('serial');
    if (i > 0 && s <= serials[i - 1]!) throw formatError('revoked serials are not strictly ascending');
    serials.push(s);
  }
  const bankSig = readSignature(r, 'bank signature');
  r.end();
  return { network, bank, sequence, issuedMs, serials, bankSig };
}

export function verifyRevocationList(l: RevocationList, trust: BankKeys, verifier: SignatureVerifier = defaultVerifier()): void {
  verifyBankSigned('revocation list', l, () => revocationListHash(l), trust, verifier);
}

/** Whether a sorted list names a serial (binary search). */
export function isRevoked(l: { serials: readonly bigint[] }, serial: bigint): boolean {
  let lo = 0;
  let hi = l.serials.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = l.serials[mid]!;
    if (s === serial) return true;
    if (s < serial) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
