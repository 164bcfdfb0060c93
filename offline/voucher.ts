// The voucher: one device-signed, hash-chained record per step of a device's counter. A
// `pay` voucher is what the payer's card hands the payee; `receive` records a payment the
// device accepted; `load` and `unload` record the bank's authorisations being applied (an
// `unload` voucher is the device's UNLOAD receipt). Every step names the counter it took
// (strictly increasing by one, starting at 1), the hash of the device's previous voucher
// (zeros before the first), and the balance after it, so the bank can replay the device's
// whole history and spot a counter used twice, a fork, or more spent than came in.
//
//   body = version u8 || kind u8 (=3) || network str8 || device bank str8 || serial u64
//          || device_pub [33] || counter u64 || prev_hash [32] || type u8
//          || amount_fen u64 || balance_after_fen u64 || detail
//   detail: pay     = payee bank str8 || payee serial u64 || nonce [16] || challenge time_ms u64
//           receive = payer bank str8 || payer serial u64 || payer voucher hash [32]
//           load, unload = authorisation hash [32]
//   voucher = body || device_sig [64] over H_"CBDC/offline/voucher"(body)
import { CbdcError } from '../protocol/errors.js';
import { ByteWriter } from '../protocol/bytes.js';
import { taggedHash } from '../protocol/hash.js';
import { HASH_BYTES, SignatureVerifier, signHash } from '../protocol/sig.js';
import {
  DeviceRef,
  NONCE_BYTES,
  OFFLINE_FORMAT_VERSION,
  OFFLINE_TAGS,
  checkAmount,
  checkBankId,
  checkNetwork,
  checkU64,
  defaultVerifier,
  formatError,
  readAmount,
  readDevice,
  readHash,
  readPublicKey,
  readSignature,
  sameDevice,
  writeDevice,
  openMessage,
} from './codec.js';
import { DeviceCertificate } from './certificate.js';

const KIND_VOUCHER = 3;
export const VOUCHER_TYPES = ['pay', 'receive', 'load', 'unload'] as const;
export type VoucherType = (typeof VOUCHER_TYPES)[number];
const TYPE_BYTE: Record<VoucherType, number> = { pay: 1, receive: 2, load: 3, unload: 4 };
export const VOUCHER_BYTES_MAX = 1 + 1 + 33 + 33 + 8 + 33 + 8 + 32 + 1 + 8 + 8 + (33 + 8 + 32) + 64;
/** prev_hash of a device's first voucher. */
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);

interface VoucherCommon {
  readonly network: string;
  readonly device: DeviceRef;
  readonly devicePub: Buffer;
  readonly counter: bigint;
  readonly prevHash: Buffer;
  readonly amountFen: bigint;
  readonly balanceAfterFen: bigint;
}

export interface PayDetail {
  readonly type: 'pay';
  readonly payee: DeviceRef;
  readonly nonce: Buffer;
  readonly challengeTimeMs: bigint;
}
export interface ReceiveDetail {
  readonly type: 'receive';
  readonly payer: DeviceRef;
  readonly payerVoucherHash: Buffer;
}
export interface AuthorisedDetail {
  readonly type: 'load' | 'unload';
  readonly authorisationHash: Buffer;
}

export type VoucherDetail = PayDetail | ReceiveDetail | AuthorisedDetail;
export type VoucherBody = VoucherCommon & VoucherDetail;
/** What one step of the counter changes: the fields a device fills in besides its own. */
export type VoucherStep = { readonly amountFen: bigint; readonly balanceAfterFen: bigint } & VoucherDetail;
export type Voucher = VoucherBody & { readonly deviceSig: Buffer };
export type PayVoucher = VoucherCommon & PayDetail & { readonly deviceSig: Buffer };

export function encodeVoucherBody(v: VoucherBody): Buffer {
  checkNetwork(v.network);
  checkBankId(v.device.bank);
  checkU64(v.device.serial);
  if (v.devicePub.length !== 33 || v.prevHash.length !== HASH_BYTES) throw new RangeError('bad key or hash length');
  if (v.counter < 1n) throw new RangeError('counter starts at 1');
  checkU64(v.counter);
  checkAmount(v.amountFen, true);
  checkAmount(v.balanceAfterFen, false);
  const w = new ByteWriter(VOUCHER_BYTES_MAX).u8(OFFLINE_FORMAT_VERSION).u8(KIND_VOUCHER).str8(v.network);
  writeDevice(w, v.device);
  w.bytes(v.devicePub).u64(v.counter).bytes(v.prevHash).u8(TYPE_BYTE[v.type]).u64(v.amountFen).u64(v.balanceAfterFen);
  switch (v.type) {
    case 'pay':
      checkBankId(v.payee.bank);
      checkU64(v.challengeTimeMs);
      if (v.nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 16 bytes');
      writeDevice(w, v.payee);
      w.bytes(v.nonce).u64(v.challengeTimeMs);
      break;
    case 'receive':
      checkBankId(v.payer.bank);
      if (v.payerVoucherHash.length !== HASH_BYTES) throw new RangeError('bad hash length');
      writeDevice(w, v.payer);
      w.bytes(v.payerVoucherHash);
      break;
    case 'load':
    case 'unload':
      if (v.authorisationHash.length !== HASH_BYTES) throw new RangeError('bad hash length');
      w.bytes(v.authorisationHash);
      break;
  }
  return w.finish();
}

/** What the device signs; the next voucher's prev_hash; the voucher's id everywhere. */
export function voucherHash(v: VoucherBody): Buffer {
  return taggedHash(OFFLINE_TAGS.voucher, encodeVoucherBody(v));
}

export function encodeVoucher(v: Voucher): Buffer {
  return Buffer.concat([encodeVoucherBody(v), v.deviceSig]);
}

export function signVoucher<B extends VoucherBody>(body: B, deviceSecretKey: Uint8Array): B & { readonly deviceSig: Buffer } {
  return { ...body, deviceSig: signHash(deviceSecretKey, voucherHash(body)) };
}

export function decodeVoucher(bytes: Uint8Array): Voucher {
  const { r, network } = openMessage(bytes, 'voucher', KIND_VOUCHER);
  const device = readDevice(r, 'device');
  const devicePub = readPublicKey(r, 'device key');
  const counter = r.u64('counter');
  if (counter < 1n) throw formatError('voucher counter must be at least 1');
  const prevHash = readHash(r, 'previous hash');
  const typeByte = r.u8('type');
  const amountFen = readAmount(r, 'amount', true);
  const balanceAfterFen = readAmount(r, 'balance after', false);
  const common = { network, device, devicePub, counter, prevHash, amountFen, balanceAfterFen };
  let v: Voucher;
  if (typeByte === TYPE_BYTE.pay) {
    const payee = readDevice(r, 'payee');
    const nonce = r.bytes(NONCE_BYTES, 'nonce');
    const challengeTimeMs = r.u64('challenge time');
    v = { ...common, type: 'pay', payee, nonce, challengeTimeMs, deviceSig: readSignature(r, 'device signature') };
  } else if (typeByte === TYPE_BYTE.receive) {
    const payer = readDevice(r, 'payer');
    const payerVoucherHash = readHash(r, 'payer voucher hash');
    v = { ...common, type: 'receive', payer, payerVoucherHash, deviceSig: readSignature(r, 'device signature') };
  } else if (typeByte === TYPE_BYTE.load || typeByte === TYPE_BYTE.unload) {
    const authorisationHash = readHash(r, 'authorisation hash');
    v = { ...common, type: typeByte === TYPE_BYTE.load ? 'load' : 'unload', authorisationHash, deviceSig: readSignature(r, 'device signature') };
  } else {
    throw formatError(`unknown voucher type ${typeByte}`);
  }
  r.end();
  return v;
}

/**
 * Checks a voucher against the certificate of the device that signed it (which the caller
 * has verified with verifyCertificate): same network, same device and key, the device's
 * signature, and for a payment the certificate's per-payment cap. Throws
 * CBDC_ERR_OFFLINE_CERT_MISMATCH, CBDC_ERR_OFFLINE_SIGNATURE or CBDC_ERR_OFFLINE_CAP.
 */
export function verifyVoucher(v: Voucher, cert: DeviceCertificate, verifier: SignatureVerifier = defaultVerifier()): void {
  if (v.network !== cert.network || !sameDevice(v.device, cert) || !v.devicePub.equals(cert.devicePub)) {
    throw new CbdcError('CBDC_ERR_OFFLINE_CERT_MISMATCH', 'voucher does not name the device of the certificate');
  }
  if (!verifier.verify(v.deviceSig, voucherHash(v), cert.devicePub)) throw new CbdcError('CBDC_ERR_OFFLINE_SIGNATURE', 'voucher signature does not verify');
  if (v.type === 'pay' && v.amountFen > cert.paymentCapFen) throw new CbdcError('CBDC_ERR_OFFLINE_CAP', 'voucher amount is above the payer certificate payment cap');
  if (v.balanceAfterFen > cert.balanceCapFen) throw new CbdcError('CBDC_ERR_OFFLINE_CAP', 'voucher balance is above the certificate balance cap');
}

/**
 * Checks that `next` follows `prev` on one device's chain: same device, counter + 1, and
 * prev_hash = voucherHash(prev). Use GENESIS_HASH and counter 0 for the start. Returns a
 * reason when it does not (that is evidence, not an error), null when it does.
 */
export function chainBreak(prev: { hash: Buffer; counter: bigint; device: DeviceRef; balanceAfterFen: bigint } | null, next: VoucherBody): string | null {
  const prevHash = prev === null ? GENESIS_HASH : prev.hash;
  const prevCounter = prev === null ? 0n : prev.counter;
  if (prev !== null && !sameDevice(prev.device, next.device)) return 'different device';
  if (next.counter !== prevCounter + 1n) return `counter ${next.counter} does not follow ${prevCounter}`;
  if (!next.prevHash.equals(prevHash)) return `voucher ${next.counter} does not chain to the previous voucher`;
  if (prev !== null) {
    const expected = next.type === 'receive' || next.type === 'load' ? prev.balanceAfterFen + next.amountFen : prev.balanceAfterFen - next.amountFen;
    if (expected !== next.balanceAfterFen) return `voucher ${next.counter} balance ${next.balanceAfterFen} does not follow ${prev.balanceAfterFen}`;
  }
  return null;
}
