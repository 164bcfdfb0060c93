// Offline devices at the bank: the registry (one record per certified secure element, with
// what the bank has settled for it), certificate issuance signed with the bank's key, the
// bank's revocation list (its sequence only grows), and the records the rest of the offline
// module keeps. Everything lives in one LMDB sub-database of the bank's store, keyed by
// arrays whose first element names the record kind; amounts are decimal strings.
import type { Database } from 'lmdb';
import { CbdcError, assert } from '../../protocol/errors.js';
import type { BankStore } from '../store.js';
import {
  type DeviceCertificate, certificateHash, encodeCertificate, signCertificate,
} from '../../offline/certificate.js';
import { encodeRevocationList, signRevocationList } from '../../offline/revocation.js';
import type { FindingKind } from './fraud.js';

/** Caps a device gets unless its owner asks for lower ones (fen). */
export const DEVICE_BALANCE_CAP_FEN_DEFAULT = 100_000n; // 1,000 yuan
export const DEVICE_PAYMENT_CAP_FEN_DEFAULT = 50_000n; // 500 yuan
export const DEVICE_PAYMENTS_BEFORE_SYNC_DEFAULT = 100;
/** Upper bounds on what an owner may ask for. */
export const DEVICE_BALANCE_CAP_FEN_MAX = 500_000n; // 5,000 yuan
/** Devices one account may register. */
export const DEVICES_PER_ACCOUNT_MAX = 8;
/** How long a certificate is valid. */
export const CERTIFICATE_VALIDITY_MS = 2 * 365 * 86_400_000;

export interface DeviceCaps {
  balanceCapFen: string;
  paymentCapFen: string;
  paymentsBeforeSync: number;
}

export interface DeviceRec {
  serial: string;
  account: string;
  devicePub: string;
  certHex: string;
  certHash: string;
  caps: DeviceCaps;
  status: 'active' | 'revoked';
  revokedAtMs: number | null;
  /** The revocation-list sequence that first named it. */
  revokedInSeq: string | null;
  revokedReason: string | null;
  loadedFen: string;
  unloadedFen: string;
  paidFen: string;
  receivedFen: string;
  /** Holdings the bank moved into the reserve to cover this device's negative liability. */
  lossCoveredFen: string;
  /** The device's own log as synced: every step 1..syncedCounter held, the last one's hash and balance. */
  syncedCounter: string;
  headHash: string;
  headBalanceFen: string;
  /** The highest counter of any voucher of it the bank holds (from payees too). */
  highestCounter: string;
  /** The revocation list last handed to it, and its counter then (payee-side revocation checks). */
  listSeqDelivered: string;
  listDeliveredAtCounter: string;
  createdAtMs: number;
}

/** A voucher the bank holds (of one of its own devices). */
export interface VoucherRec {
  hash: string;
  serial: string;
  counter: string;
  prevHash: string;
  type: 'pay' | 'receive' | 'load' | 'unload';
  amountFen: string;
  balanceAfterFen: string;
  hex: string;
  /** pay: the payee device (bank/serial), and how it settled. */
  payee: string | null;
  settlement: 'settled' | 'cross_bank_pending' | null;
  atMs: number;
}

export interface AuthRec {
  hash: string;
  serial: string;
  action: 'load' | 'unload';
  counter: string;
  amountFen: string;
  hex: string;
  /** issued -> applied (its voucher seen), or superseded (the device moved past its counter without it). */
  status: 'issued' | 'applied' | 'superseded';
  /** The load's payment, or the unload's idempotency key. */
  ref: string;
}

/** A load: online money paid into the reserve for a device, and its authorisation once issued. */
export interface LoadRec {
  paymentId: string;
  serial: string;
  amountFen: string;
  txid: string;
  authHash: string | null;
}

/** An unload receipt being paid from the reserve back to the owner's wallet. */
export interface PayoutRec {
  id: string;
  kind: 'unload' | 'loss_cover';
  serial: string;
  amountFen: string;
  /** The transaction once built (null while waiting to be built or rebuilt). */
  txid: string | null;
  status: 'queued' | 'submitted' | 'settled';
  atMs: number;
}

export interface EvidenceRec {
  seq: number;
  atMs: number;
  serial: string;
  kind: FindingKind;
  counter: string;
  detail: string;
  /** The device-signed vouchers that prove it, hex, and its certificate. */
  vouchers: string[];
  certHex: string;
}

type Key = (string | number)[];

/** Counters sort as fixed-width decimal strings. */
export function counterKey(c: bigint | string): string {
  return BigInt(c).toString().padStart(20, '0');
}

/** Typed access to the offline sub-database. Call the writers inside a write transaction. */
export class OfflineStore {
  readonly db: Database<unknown, Key>;

  constructor(readonly bankStore: BankStore) {
    this.db = bankStore.root.openDB<unknown, Key>({ name: 'offline' });
  }

  device(serial: string): DeviceRec | undefined {
    return this.db.get(['device', serial]) as DeviceRec | undefined;
  }
  putDevice(d: DeviceRec): void {
    this.db.putSync(['device', d.serial], d);
    this.db.putSync(['by-account', d.account, d.serial], 1);
    this.db.putSync(['by-key', d.devicePub, d.serial], 1);
  }
  /** Devices registered with one device key (at any account). */
  devicesWithKey(devicePubHex: string): DeviceRec[] {
    return this.indexed('by-key', devicePubHex);
  }
  devicesOf(account: string): DeviceRec[] {
    return this.indexed('by-account', account);
  }
  /** The devices an index ([index, value, serial] keys) names for one value. */
  private indexed(index: 'by-account' | 'by-key', value: string): DeviceRec[] {
    const out: DeviceRec[] = [];
    for (const { key } of this.db.getRange({ start: [index, value, ''], end: [index, value, '~'] })) {
      const d = this.device(String(key[2]));
      if (d !== undefined) out.push(d);
    }
    return out;
  }
  *devices(): Generator<DeviceRec> {
    for (const { value } of this.db.getRange({ start: ['device', ''], end: ['device', '~'] })) yield value as DeviceRec;
  }

  voucher(hash: string): VoucherRec | undefined {
    return this.db.get(['voucher', hash]) as VoucherRec | undefined;
  }
  putVoucher(v: VoucherRec): void {
    this.db.putSync(['voucher', v.hash], v);
    this.db.putSync(['log', v.serial, counterKey(v.counter), v.hash], 1);
  }
  /** Vouchers held for one device at one counter. */
  at(serial: string, counter: bigint): VoucherRec[] {
    if (counter < 1n) return [];
    const c = counterKey(counter);
    const out: VoucherRec[] = [];
    for (const { key } of this.db.getRange({ start: ['log', serial, c, ''], end: ['log', serial, c, '~'] })) {
      const v = this.voucher(String(key[3]));
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  auth(hash: string): AuthRec | undefined {
    return this.db.get(['auth', hash]) as AuthRec | undefined;
  }
  putAuth(a: AuthRec): void {
    this.db.putSync(['auth', a.hash], a);
  }

  load(paymentId: string): LoadRec | undefined {
    return this.db.get(['load', paymentId]) as LoadRec | undefined;
  }
  putLoad(l: LoadRec): void {
    this.db.putSync(['load', l.paymentId], l);
  }

  payout(id: string): PayoutRec | undefined {
    return this.db.get(['payout', id]) as PayoutRec | undefined;
  }
  putPayout(p: PayoutRec): void {
    this.db.putSync(['payout', p.id], p);
  }
  *payouts(): Generator<PayoutRec> {
    for (const { value } of this.db.getRange({ start: ['payout', ''], end: ['payout', '~'] })) yield value as PayoutRec;
  }

  addEvidence(e: Omit<EvidenceRec, 'seq'>): EvidenceRec {
    const seq = this.meta<number>('evidence-next') ?? 0;
    const rec = { ...e, seq };
    this.db.putSync(['evidence', seq], rec);
    this.setMeta('evidence-next', seq + 1);
    return rec;
  }
  evidence(fromSeq = 0, limit = 100): EvidenceRec[] {
    return [...this.db.getRange({ start: ['evidence', fromSeq], end: ['evidence', Number.MAX_SAFE_INTEGER], limit })].map((r) => r.value as EvidenceRec);
  }

  meta<T>(name: string): T | undefined {
    return this.db.get(['meta', name]) as T | undefined;
  }
  setMeta(name: string, value: unknown): void {
    this.db.putSync(['meta', name], value);
  }
}

export interface IssueRequest {
  network: string;
  bank: string;
  bankSecretKey: Buffer;
  account: string;
  devicePub: Buffer;
  balanceCapFen?: bigint;
  paymentCapFen?: bigint;
  nowMs: number;
}

/** Inside a write transaction: registers a device and signs its certificate. */
export function registerDevice(s: OfflineStore, r: IssueRequest): { device: DeviceRec; certificate: DeviceCertificate } {
  const balanceCap = r.balanceCapFen ?? DEVICE_BALANCE_CAP_FEN_DEFAULT;
  const paymentCap = r.paymentCapFen ?? (balanceCap < DEVICE_PAYMENT_CAP_FEN_DEFAULT ? balanceCap : DEVICE_PAYMENT_CAP_FEN_DEFAULT);
  if (balanceCap < 1n || balanceCap > DEVICE_BALANCE_CAP_FEN_MAX) throw new CbdcError('CBDC_ERR_OFFLINE_CAP', `a device balance cap is 0.01 to ${DEVICE_BALANCE_CAP_FEN_MAX / 100n} yuan`);
  if (paymentCap < 1n || paymentCap > balanceCap) throw new CbdcError('CBDC_ERR_OFFLINE_CAP', 'the payment cap must be positive and at most the balance cap');
  const pubHex = r.devicePub.toString('hex');
  // A revoked device's key (a clone's, say) is never certified again, for any account.
  const revoked = s.devicesWithKey(pubHex).find((d) => d.status === 'revoked');
  if (revoked !== undefined) throw new CbdcError('CBDC_ERR_OFFLINE_REVOKED', `that device key belongs to device ${revoked.serial}, which is revoked`);
  for (const d of s.devicesOf(r.account)) {
    if (d.devicePub === pubHex && d.status === 'active') throw new CbdcError('CBDC_ERR_ACCOUNT_EXISTS', `that device key is already registered as device ${d.serial}`);
  }
  if (s.devicesOf(r.account).length >= DEVICES_PER_ACCOUNT_MAX) throw new CbdcError('CBDC_ERR_OFFLINE_CAP', `an account may register at most ${DEVICES_PER_ACCOUNT_MAX} devices`);
  const serial = BigInt(s.meta<string>('serial-next') ?? '1');
  s.setMeta('serial-next', (serial + 1n).toString());
  const certificate = signCertificate({
    network: r.network, bank: r.bank, serial, devicePub: r.devicePub, balanceCapFen: balanceCap, paymentCapFen: paymentCap,
    paymentsBeforeSync: DEVICE_PAYMENTS_BEFORE_SYNC_DEFAULT, validFromMs: BigInt(r.nowMs), validUntilMs: BigInt(r.nowMs + CERTIFICATE_VALIDITY_MS),
  }, r.bankSecretKey);
  const device: DeviceRec = {
    serial: serial.toString(), account: r.account, devicePub: pubHex,
    certHex: encodeCertificate(certificate).toString('hex'), certHash: certificateHash(certificate).toString('hex'),
    caps: { balanceCapFen: balanceCap.toString(), paymentCapFen: paymentCap.toString(), paymentsBeforeSync: DEVICE_PAYMENTS_BEFORE_SYNC_DEFAULT },
    status: 'active', revokedAtMs: null, revokedInSeq: null, revokedReason: null,
    loadedFen: '0', unloadedFen: '0', paidFen: '0', receivedFen: '0', lossCoveredFen: '0',
    syncedCounter: '0', headHash: '0'.repeat(64), headBalanceFen: '0', highestCounter: '0',
    listSeqDelivered: '0', listDeliveredAtCounter: '0', createdAtMs: r.nowMs,
  };
  s.putDevice(device);
  return { device, certificate };
}

/** Inside a write transaction: revokes a device (once) and moves the revocation list on. */
export function revokeDevice(s: OfflineStore, serial: string, reason: string, nowMs: number): DeviceRec {
  const d = s.device(serial);
  assert(d !== undefined, 'a revoked device exists');
  if (d.status === 'revoked') return d;
  const seq = BigInt(s.meta<string>('revocation-seq') ?? '0') + 1n;
  s.setMeta('revocation-seq', seq.toString());
  const revoked = [...(s.meta<string[]>('revoked') ?? []), serial];
  s.setMeta('revoked', revoked);
  const next: DeviceRec = { ...d, status: 'revoked', revokedAtMs: nowMs, revokedInSeq: seq.toString(), revokedReason: reason };
  s.putDevice(next);
  return next;
}

/** The bank's current revocation list, signed (sequence 0 and empty before any revocation). */
export function revocationList(s: OfflineStore, network: string, bank: string, bankSecretKey: Buffer, nowMs: number): { sequence: bigint; hex: string; serials: bigint[] } {
  const sequence = BigInt(s.meta<string>('revocation-seq') ?? '0');
  const serials = (s.meta<string[]>('revoked') ?? []).map((x) => BigInt(x));
  const list = signRevocationList({ network, bank, sequence, issuedMs: BigInt(nowMs), serials }, bankSecretKey);
  return { sequence, hex: encodeRevocationList(list).toString('hex'), serials: [...list.serials] };
}
