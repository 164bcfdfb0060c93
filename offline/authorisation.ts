// Bank authorisations a device applies while online with its bank. Each names the device
// (bank, serial, key) and the device counter it applies at, so it works once: applying it
// moves the counter on, and the same bytes presented again find the counter moved.
//
//   load   amount: add amount to the offline balance (money the bank moved into its offline
//          reserve); the device records a `load` voucher at counter + 1.
//   unload amount: take amount off the offline balance; the device's `unload` voucher at
//          counter + 1 is its receipt, which the bank settles back to the owner's account.
//   sync:  the bank holds every voucher up to and including `counter` (amount 0); the
//          device may drop them from its log and its payments-before-sync count restarts.
//          A sync names a counter the device has reached, not necessarily its current one.
//
//   body = version u8 || kind u8 (=4) || network str8 || bank str8 || serial u64
//          || device_pub [33] || action u8 || counter u64 || amount_fen u64
//   authorisation = body || bank_sig [64] over H_"CBDC/offline/authorisation"(body)
import { ByteWriter } from '../protocol/bytes.js';
import { taggedHash } from '../protocol/hash.js';
import { SignatureVerifier, signHash } from '../protocol/sig.js';
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
  readDevice,
  readPublicKey,
  readSignature,
  writeDevice,
  openMessage,
  verifyBankSigned,
  type BankKeys,
} from './codec.js';

const KIND_AUTHORISATION = 4;
export const AUTHORISATION_ACTIONS = ['load', 'unload', 'sync'] as const;
export type AuthorisationAction = (typeof AUTHORISATION_ACTIONS)[number];
const ACTION_BYTE: Record<AuthorisationAction, number> = { load: 1, unload: 2, sync: 3 };
export const AUTHORISATION_BYTES_MAX = 1 + 1 + 33 + 33 + 8 + 33 + 1 + 8 + 8 + 64;

export interface AuthorisationBody {
  readonly network: string;
  readonly device: DeviceRef;
  readonly devicePub: Buffer;
  readonly action: AuthorisationAction;
  /** load/unload: the device's counter before applying it; sync: the last counter the bank holds. */
  readonly counter: bigint;
  /** Positive for load and unload; 0 for sync. */
  readonly amountFen: bigint;
}

export interface BankAuthorisation extends AuthorisationBody {
  readonly bankSig: Buffer;
}

export function encodeAuthorisationBody(a: AuthorisationBody): Buffer {
  checkNetwork(a.network);
  checkBankId(a.device.bank);
  checkU64(a.device.serial);
  checkU64(a.counter);
  if (a.devicePub.length !== 33) throw new RangeError('device key must be 33 bytes');
  if (a.action === 'sync') {
    if (a.amountFen !== 0n) throw new RangeError('a sync carries no amount');
  } else checkAmount(a.amountFen, true);
  const w = new ByteWriter(AUTHORISATION_BYTES_MAX).u8(OFFLINE_FORMAT_VERSION).u8(KIND_AUTHORISATION).str8(a.network);
  writeDevice(w, a.device);
  return w.bytes(a.devicePub).u8(ACTION_BYTE[a.action]).u64(a.counter).u64(a.amountFen).finish();
}

/** What the bank signs, and what the device's load/unload voucher names. */
export function authorisationHash(a: AuthorisationBody): Buffer {
  return taggedHash(OFFLINE_TAGS.authorisation, encodeAuthorisationBody(a));
}

export function encodeAuthorisation(a: BankAuthorisation): Buffer {
  return Buffer.concat([encodeAuthorisationBody(a), a.bankSig]);
}

export function signAuthorisation(body: AuthorisationBody, bankSecretKey: Uint8Array): BankAuthorisation {
  return { ...body, bankSig: signHash(bankSecretKey, authorisationHash(body)) };
}

export function decodeAuthorisation(bytes: Uint8Array): BankAuthorisation {
  const { r, network } = openMessage(bytes, 'authorisation', KIND_AUTHORISATION);
  const device = readDevice(r, 'device');
  const devicePub = readPublicKey(r, 'device key');
  const actionByte = r.u8('action');
  const action = AUTHORISATION_ACTIONS.find((a) => ACTION_BYTE[a] === actionByte);
  if (action === undefined) throw formatError(`unknown authorisation action ${actionByte}`);
  const counter = r.u64('counter');
  const amountFen = readAmount(r, 'amount', action !== 'sync');
  if (action === 'sync' && amountFen !== 0n) throw formatError('a sync carries no amount');
  const bankSig = readSignature(r, 'bank signature');
  r.end();
  return { network, device, devicePub, action, counter, amountFen, bankSig };
}

/** Checks network, trusted bank (the device's own) and signature. */
export function verifyAuthorisation(a: BankAuthorisation, trust: BankKeys, verifier: SignatureVerifier = defaultVerifier()): void {
  verifyBankSigned('authorisation', { network: a.network, bank: a.device.bank, bankSig: a.bankSig }, () => authorisationHash(a), trust, verifier);
}
