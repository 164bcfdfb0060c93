// The applet's persistent state (what a secure element keeps in EEPROM), its invariants and
// its stored form: JSON with the canonical bytes of every signed message, bigints as
// decimal strings, and a sha256 over it so a damaged file is refused, never half-read.
import { createHash } from 'node:crypto';
import { CbdcError, assert } from '../protocol/errors.js';
import { bytesToHex } from '../protocol/bytes.js';
import { DeviceCertificate, decodeCertificate, encodeCertificate } from './certificate.js';
import { GENESIS_HASH, Voucher, decodeVoucher, encodeVoucher, voucherHash } from './voucher.js';

/** Vouchers the card keeps until a sync acknowledges them. */
export const LOG_VOUCHERS_MAX = 512;
/** Payment challenges a payee card keeps open at once (the oldest gives way). */
export const PENDING_CHALLENGES_MAX = 8;
/** Banks whose revocation lists the card keeps. */
export const REVOCATION_BANKS_MAX = 32;

export interface PendingChallenge {
  readonly nonce: Buffer;
  readonly amountFen: bigint;
  readonly timeMs: bigint;
}

/** A payer's voucher this card accepted, kept with its certificate until a sync. */
export interface ReceivedPayment {
  /** The counter of this card's own `receive` voucher for it. */
  readonly receiveCounter: bigint;
  readonly cert: DeviceCertificate;
  readonly voucher: Voucher;
}

export interface StoredRevocations {
  readonly sequence: bigint;
  /** Strictly ascending. */
  readonly serials: readonly bigint[];
}

export interface AppletState {
  /** null until INITIALISE. */
  readonly network: string | null;
  /** Trusted bank offline keys, by bank id. */
  readonly trust: ReadonlyMap<string, Buffer>;
  readonly deviceSk: Buffer | null;
  readonly devicePub: Buffer | null;
  readonly cert: DeviceCertificate | null;
  readonly balanceFen: bigint;
  /** The last counter value used (0 before the first voucher). */
  readonly counter: bigint;
  /** Hash of the last voucher (GENESIS_HASH before the first). */
  readonly lastHash: Buffer;
  /** The last counter a bank sync acknowledged; the log holds the vouchers after it. */
  readonly syncedCounter: bigint;
  readonly paymentsSinceSync: number;
  readonly log: readonly Voucher[];
  /** The payers' vouchers behind the `receive` vouchers in the log (the bank settles them). */
  readonly received: readonly ReceivedPayment[];
  readonly pending: readonly PendingChallenge[];
  readonly revocations: ReadonlyMap<string, StoredRevocations>;
}

export const BLANK_STATE: AppletState = {
  network: null,
  trust: new Map(),
  deviceSk: null,
  devicePub: null,
  cert: null,
  balanceFen: 0n,
  counter: 0n,
  lastHash: GENESIS_HASH,
  syncedCounter: 0n,
  paymentsSinceSync: 0,
  log: [],
  received: [],
  pending: [],
  revocations: new Map(),
};

/** The invariants every committed state keeps; a breach is a programmer error. */
export function assertStateInvariants(s: AppletState): void {
  assert(s.balanceFen >= 0n, 'balance is not negative');
  assert(s.cert === null || s.balanceFen <= s.cert.balanceCapFen, 'balance within the balance cap');
  assert(s.log.length <= LOG_VOUCHERS_MAX, 'log within its bound');
  assert(s.pending.length <= PENDING_CHALLENGES_MAX, 'pending challenges within their bound');
  assert(s.revocations.size <= REVOCATION_BANKS_MAX, 'revocation lists within their bound');
  assert(s.syncedCounter <= s.counter, 'synced counter not ahead of the counter');
  assert(BigInt(s.log.length) === s.counter - s.syncedCounter, 'log holds exactly the unsynced vouchers');
  const last = s.log[s.log.length - 1];
  if (last !== undefined) {
    assert(last.counter === s.counter, 'last voucher carries the counter');
    assert(last.balanceAfterFen === s.balanceFen, 'last voucher carries the balance');
    assert(voucherHash(last).equals(s.lastHash), 'last hash is the last voucher');
  }
  const pays = s.log.filter((v) => v.type === 'pay').length;
  assert(pays === s.paymentsSinceSync, 'payments since sync counted from the log');
  const receives = s.log.filter((v) => v.type === 'receive');
  assert(receives.length === s.received.length, "one kept payer's voucher per receive voucher");
  receives.forEach((r, i) => {
    const p = s.received[i]!;
    assert(r.type === 'receive' && p.receiveCounter === r.counter && r.payerVoucherHash.equals(voucherHash(p.voucher)), "kept payer's voucher matches its receive voucher");
  });
}

interface StoredJson {
  network: string | null;
  trust: [string, string][];
  deviceSk: string | null;
  devicePub: string | null;
  cert: string | null;
  balanceFen: string;
  counter: string;
  lastHash: string;
  syncedCounter: string;
  paymentsSinceSync: number;
  log: string[];
  received: { receiveCounter: string; cert: string; voucher: string }[];
  pending: { nonce: string; amountFen: string; timeMs: string }[];
  revocations: [string, { sequence: string; serials: string[] }][];
}

const hexOrNull = (b: Buffer | null): string | null => (b === null ? null : bytesToHex(b));

export function encodeState(s: AppletState): Buffer {
  const j: StoredJson = {
    network: s.network,
    trust: [...s.trust].map(([bank, pub]) => [bank, bytesToHex(pub)]),
    deviceSk: hexOrNull(s.deviceSk),
    devicePub: hexOrNull(s.devicePub),
    cert: s.cert === null ? null : bytesToHex(encodeCertificate(s.cert)),
    balanceFen: s.balanceFen.toString(),
    counter: s.counter.toString(),
    lastHash: bytesToHex(s.lastHash),
    syncedCounter: s.syncedCounter.toString(),
    paymentsSinceSync: s.paymentsSinceSync,
    log: s.log.map((v) => bytesToHex(encodeVoucher(v))),
    received: s.received.map((r) => ({ receiveCounter: r.receiveCounter.toString(), cert: bytesToHex(encodeCertificate(r.cert)), voucher: bytesToHex(encodeVoucher(r.voucher)) })),
    pending: s.pending.map((p) => ({ nonce: bytesToHex(p.nonce), amountFen: p.amountFen.toString(), timeMs: p.timeMs.toString() })),
    revocations: [...s.revocations].map(([bank, r]) => [bank, { sequence: r.sequence.toString(), serials: r.serials.map(String) }]),
  };
  const body = JSON.stringify(j);
  const sum = createHash('sha256').update(body).digest('hex');
  return Buffer.from(JSON.stringify({ v: 1, sha256: sum, state: body }), 'utf8');
}

function storeError(message: string): CbdcError {
  return new CbdcError('CBDC_ERR_OFFLINE_STORE', `applet state: ${message}`);
}

export function decodeState(bytes: Buffer): AppletState {
  let outer: { v?: unknown; sha256?: unknown; state?: unknown };
  try {
    outer = JSON.parse(bytes.toString('utf8')) as typeof outer;
  } catch {
    throw storeError('not JSON');
  }
  if (outer.v !== 1 || typeof outer.state !== 'string' || typeof outer.sha256 !== 'string') throw storeError('unknown layout');
  if (createHash('sha256').update(outer.state).digest('hex') !== outer.sha256) throw storeError('checksum does not match');
  try {
    const j = JSON.parse(outer.state) as StoredJson;
    const buf = (h: string): Buffer => Buffer.from(h, 'hex');
    const s: AppletState = {
      network: j.network,
      trust: new Map(j.trust.map(([bank, pub]) => [bank, buf(pub)])),
      deviceSk: j.deviceSk === null ? null : buf(j.deviceSk),
      devicePub: j.devicePub === null ? null : buf(j.devicePub),
      cert: j.cert === null ? null : decodeCertificate(buf(j.cert)),
      balanceFen: BigInt(j.balanceFen),
      counter: BigInt(j.counter),
      lastHash: buf(j.lastHash),
      syncedCounter: BigInt(j.syncedCounter),
      paymentsSinceSync: j.paymentsSinceSync,
      log: j.log.map((h) => decodeVoucher(buf(h))),
      received: j.received.map((r) => ({ receiveCounter: BigInt(r.receiveCounter), cert: decodeCertificate(buf(r.cert)), voucher: decodeVoucher(buf(r.voucher)) })),
      pending: j.pending.map((p) => ({ nonce: buf(p.nonce), amountFen: BigInt(p.amountFen), timeMs: BigInt(p.timeMs) })),
      revocations: new Map(j.revocations.map(([bank, r]) => [bank, { sequence: BigInt(r.sequence), serials: r.serials.map((x) => BigInt(x)) }])),
    };
    assertStateInvariants(s);
    return s;
  } catch (e) {
    throw storeError(`unreadable (${(e as Error).message})`);
  }
}

/** A digest of the whole state, for tests that check a refusal changed nothing. */
export function stateDigest(s: AppletState): string {
  return createHash('sha256').update(encodeState(s)).digest('hex');
}
