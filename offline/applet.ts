// The secure-element applet (an emulation of what runs on a Java Card or eSE): one command
// APDU in, one response APDU out. Its behaviour is a pure function of its committed state
// and the command (plus fresh randomness for keys and nonces): each command computes the
// next state, commits it through the store, and only then answers. A refusal answers a
// status word and commits nothing.
//
// Life cycle: blank -> INITIALISE (network, trusted bank keys; the key pair is generated
// inside and only the public key leaves) -> INSTALL CERTIFICATE (bank-signed, for this key)
// -> LOAD / PAY / CHALLENGE / ACCEPT / UNLOAD / SYNC / REVOCATION LIST / EXPORT LOG.
import { randomBytes } from 'node:crypto';
import { assert, isCbdcError } from '../protocol/errors.js';
import { ByteWriter } from '../protocol/bytes.js';
import { PUBLIC_KEY_BYTES, generateSecretKey, publicKeyOf } from '../protocol/sig.js';
import {
  ByteReader,
  DeviceRef,
  NONCE_BYTES,
  formatError,
  readBankId,
  readNetwork,
  readPublicKey,
  sameDevice,
} from './codec.js';
import { DeviceCertificate, decodeCertificate, deviceOf, encodeCertificate, verifyCertificate } from './certificate.js';
import { decodeChallenge, encodeChallenge, PaymentChallenge } from './challenge.js';
import { Voucher, VoucherBody, VoucherStep, decodeVoucher, encodeVoucher, signVoucher, verifyVoucher, voucherHash } from './voucher.js';
import { BankAuthorisation, authorisationHash, decodeAuthorisation, verifyAuthorisation } from './authorisation.js';
import type { BankKeys } from './codec.js';
import { decodeRevocationList, isRevoked, verifyRevocationList } from './revocation.js';
import {
  CLA_ISO,
  CLA_PROPRIETARY,
  CommandApdu,
  INS,
  OFFLINE_AID,
  SW,
  StatusWord,
  isParsed,
  parseCommandApdu,
  responseApdu,
} from './apdu.js';
import {
  AppletState,
  BLANK_STATE,
  LOG_VOUCHERS_MAX,
  PENDING_CHALLENGES_MAX,
  REVOCATION_BANKS_MAX,
  assertStateInvariants,
  decodeState,
  encodeState,
} from './applet_state.js';
import { AppletStore } from './applet_store.js';

/** Trusted bank keys one card may hold. */
export const TRUSTED_BANKS_MAX = 32;
/** Bytes of voucher data one EXPORT LOG response carries at most. */
export const EXPORT_RESPONSE_BYTES_MAX = 4096;

/** A refusal inside a command handler: answered as its status word, nothing committed. */
class Refusal {
  constructor(
    readonly sw: StatusWord,
    readonly why: string,
  ) {}
}

function refuse(sw: StatusWord, why: string): never {
  throw new Refusal(sw, why);
}

/** The status word for a coded error raised while checking a message. */
function swOfError(e: unknown): StatusWord {
  if (!isCbdcError(e)) throw e;
  switch (e.code) {
    case 'CBDC_ERR_OFFLINE_FORMAT':
    case 'CBDC_ERR_NETWORK_ID':
    case 'CBDC_ERR_OFFLINE_CERT_MISMATCH':
      return SW.WRONG_DATA;
    case 'CBDC_ERR_OFFLINE_SIGNATURE':
    case 'CBDC_ERR_OFFLINE_UNTRUSTED':
      return SW.SECURITY_STATUS;
    case 'CBDC_ERR_OFFLINE_CERT_EXPIRED':
      return SW.CERT_EXPIRED;
    case 'CBDC_ERR_OFFLINE_CAP':
      return SW.OVER_PAYMENT_CAP;
    default:
      return SW.WRONG_DATA;
  }
}

/** Runs a check that throws coded errors, turning them into refusals. */
function check<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Refusal) throw e;
    throw new Refusal(swOfError(e), isCbdcError(e) ? e.message : 'error');
  }
}

/** What GET STATUS answers. */
export interface AppletStatus {
  readonly initialised: boolean;
  readonly certified: boolean;
  /** This device's own certificate is on its bank's revocation list. */
  readonly selfRevoked: boolean;
  readonly network: string;
  readonly device: DeviceRef | null;
  readonly devicePub: Buffer | null;
  readonly balanceFen: bigint;
  readonly counter: bigint;
  readonly lastHash: Buffer;
  readonly syncedCounter: bigint;
  readonly paymentsSinceSync: number;
  readonly logCount: number;
  readonly pendingChallenges: number;
}

export function encodeStatus(s: AppletStatus): Buffer {
  const flags = (s.initialised ? 1 : 0) | (s.certified ? 2 : 0) | (s.selfRevoked ? 4 : 0);
  const w = new ByteWriter(200).u8(1).u8(flags).str8(s.network);
  w.str8(s.device?.bank ?? '').u64(s.device?.serial ?? 0n);
  w.bytes(s.devicePub ?? Buffer.alloc(PUBLIC_KEY_BYTES));
  w.u64(s.balanceFen).u64(s.counter).bytes(s.lastHash).u64(s.syncedCounter).u32(s.paymentsSinceSync).u16(s.logCount).u8(s.pendingChallenges);
  return w.finish();
}

export function decodeStatus(bytes: Uint8Array): AppletStatus {
  const r = new ByteReader(bytes, 'status');
  if (r.u8('version') !== 1) throw formatError('status: unknown version');
  const flags = r.u8('flags');
  const network = r.str8('network');
  const bank = r.str8('bank');
  const serial = r.u64('serial');
  const pub = r.bytes(PUBLIC_KEY_BYTES, 'device key');
  const status: AppletStatus = {
    initialised: (flags & 1) !== 0,
    certified: (flags & 2) !== 0,
    selfRevoked: (flags & 4) !== 0,
    network,
    device: (flags & 2) !== 0 ? { bank, serial } : null,
    devicePub: (flags & 1) !== 0 ? pub : null,
    balanceFen: r.u64('balance'),
    counter: r.u64('counter'),
    lastHash: r.bytes(32, 'last hash'),
    syncedCounter: r.u64('synced counter'),
    paymentsSinceSync: r.u32('payments since sync'),
    logCount: r.u16('log count'),
    pendingChallenges: r.u8('pending challenges'),
  };
  r.end();
  return status;
}

/** The card. `selected` is RAM (lost on power-off); everything else is committed state. */
export class Applet {
  private state: AppletState;
  private selected = false;

  private constructor(
    private readonly store: AppletStore,
    state: AppletState,
  ) {
    this.state = state;
  }

  /** Opens the card on its store (a blank card when the store is empty). */
  static open(store: AppletStore): Applet {
    const bytes = store.load();
    return new Applet(store, bytes === null ? BLANK_STATE : decodeState(bytes));
  }

  /** The committed state (read-only), for tests and the owner's tools. */
  get committed(): AppletState {
    return this.state;
  }

  /** Power-off or reset: the selection is lost; committed state is not. */
  reset(): void {
    this.selected = false;
  }

  /** Processes one command APDU and returns the response APDU. */
  process(command: Uint8Array): Buffer {
    const parsed = parseCommandApdu(command);
    if (!isParsed(parsed)) return responseApdu(Buffer.alloc(0), parsed.sw);
    let result: { data: Buffer; next: AppletState | null };
    try {
      result = this.dispatch(parsed);
    } catch (e) {
      if (e instanceof Refusal) return responseApdu(Buffer.alloc(0), e.sw);
      throw e;
    }
    if (result.next !== null) {
      assertStateInvariants(result.next);
      try {
        this.store.commit(encodeState(result.next));
      } catch {
        // Nothing is answered but this: the committed state (on the store) is the old one
        // or, if the failure came after the rename, the new one; reopening the card reads
        // which. This instance keeps the old state in RAM until then.
        return responseApdu(Buffer.alloc(0), SW.NO_PRECISE_DIAGNOSIS);
      }
      this.state = result.next;
    }
    return responseApdu(result.data, SW.OK);
  }

  private dispatch(c: CommandApdu): { data: Buffer; next: AppletState | null } {
    if (c.cla === CLA_ISO) {
      if (c.ins !== INS.SELECT) refuse(SW.INS_NOT_SUPPORTED, 'only SELECT in the interindustry class');
      return this.select(c);
    }
    if (c.cla !== CLA_PROPRIETARY) refuse(SW.CLA_NOT_SUPPORTED, 'class');
    const known = (Object.values(INS) as number[]).includes(c.ins) && c.ins !== INS.SELECT;
    if (!known) refuse(SW.INS_NOT_SUPPORTED, 'instruction');
    if (!this.selected) refuse(SW.CONDITIONS_NOT_SATISFIED, 'no application selected');
    if (c.ins !== INS.EXPORT_LOG && c.ins !== INS.EXPORT_RECEIVED && (c.p1 !== 0 || c.p2 !== 0)) refuse(SW.WRONG_P1P2, 'P1-P2 must be 00 00');
    const s = this.state;
    switch (c.ins) {
      case INS.GET_STATUS:
        return this.none(c, () => ({ data: encodeStatus(this.status()), next: null }));
      case INS.GET_CERTIFICATE:
        return this.none(c, () => {
          if (s.cert === null) refuse(SW.CONDITIONS_NOT_SATISFIED, 'no certificate');
          return { data: encodeCertificate(s.cert), next: null };
        });
      case INS.INITIALISE:
        return initialise(s, c.data);
      case INS.INSTALL_CERTIFICATE:
        return installCertificate(s, c.data);
      case INS.CHALLENGE:
        return makeChallenge(s, c.data);
      case INS.PAY:
        return pay(s, c.data);
      case INS.CHECK_PAYER:
        return checkPayer(s, c.data);
      case INS.ACCEPT:
        return accept(s, c.data);
      case INS.EXPORT_LOG:
        return exportLog(s, c);
      case INS.EXPORT_RECEIVED:
        return exportReceived(s, c);
      case INS.LOAD:
      case INS.UNLOAD:
      case INS.SYNC:
        return applyAuthorisation(s, c.ins, c.data);
      case INS.REVOCATION_LIST:
        return installRevocationList(s, c.data);
    }
    return refuse(SW.INS_NOT_SUPPORTED, 'instruction');
  }

  private none(c: CommandApdu, f: () => { data: Buffer; next: AppletState | null }): { data: Buffer; next: AppletState | null } {
    if (c.data.length !== 0) refuse(SW.WRONG_LENGTH, 'this command takes no data');
    return f();
  }

  private select(c: CommandApdu): { data: Buffer; next: null } {
    // ISO 7816-4 §11.1.1: P1 04 = select by DF name; P2 00 = first occurrence, FCI optional.
    if (c.p1 !== 0x04 || (c.p2 !== 0x00 && c.p2 !== 0x0c)) refuse(SW.WRONG_P1P2, 'SELECT supports P1 04, P2 00 or 0C');
    if (!c.data.equals(OFFLINE_AID)) {
      this.selected = false;
      refuse(SW.APP_NOT_FOUND, 'no application with that AID');
    }
    this.selected = true;
    return { data: Buffer.alloc(0), next: null };
  }

  status(): AppletStatus {
    const s = this.state;
    return {
      initialised: s.network !== null,
      certified: s.cert !== null,
      selfRevoked: selfRevoked(s),
      network: s.network ?? '',
      device: s.cert === null ? null : deviceOf(s.cert),
      devicePub: s.devicePub,
      balanceFen: s.balanceFen,
      counter: s.counter,
      lastHash: s.lastHash,
      syncedCounter: s.syncedCounter,
      paymentsSinceSync: s.paymentsSinceSync,
      logCount: s.log.length,
      pendingChallenges: s.pending.length,
    };
  }
}


type Outcome = { data: Buffer; next: AppletState | null };

function trustOf(s: AppletState): BankKeys {
  assert(s.network !== null, 'trust only after INITIALISE');
  return { network: s.network, keys: s.trust };
}

function certified(s: AppletState): DeviceCertificate {
  if (s.cert === null) refuse(SW.CONDITIONS_NOT_SATISFIED, 'not personalised');
  return s.cert;
}

function selfRevoked(s: AppletState): boolean {
  if (s.cert === null) return false;
  const list = s.revocations.get(s.cert.bank);
  return list !== undefined && isRevoked(list, s.cert.serial);
}

/** Appends a voucher the card signs now: counter + 1, chained to the last one. */
function appendVoucher(s: AppletState, body: VoucherStep): { voucher: Voucher; next: AppletState } {
  const cert = certified(s);
  assert(s.deviceSk !== null && s.devicePub !== null, 'a certified card has its key');
  if (s.log.length >= LOG_VOUCHERS_MAX) refuse(SW.FILE_FULL, 'voucher log is full: sync first');
  const full = { ...body, network: cert.network, device: deviceOf(cert), devicePub: s.devicePub, counter: s.counter + 1n, prevHash: s.lastHash } as VoucherBody;
  const voucher = signVoucher(full, s.deviceSk);
  const next: AppletState = {
    ...s,
    counter: voucher.counter,
    lastHash: voucherHash(voucher),
    balanceFen: voucher.balanceAfterFen,
    log: [...s.log, voucher],
    paymentsSinceSync: s.paymentsSinceSync + (voucher.type === 'pay' ? 1 : 0),
  };
  return { voucher, next };
}

// INITIALISE: network str8 || count u8 || (bank str8 || bank key [33]) * count.
function initialise(s: AppletState, data: Buffer): Outcome {
  if (s.network !== null) refuse(SW.CONDITIONS_NOT_SATISFIED, 'already initialised');
  const { network, trust } = check(() => {
    const r = new ByteReader(data, 'initialise');
    const network = readNetwork(r);
    const count = r.u8('count');
    if (count === 0 || count > TRUSTED_BANKS_MAX) throw formatError('trusted bank count out of range');
    const trust = new Map<string, Buffer>();
    for (let i = 0; i < count; i++) {
      const bank = readBankId(r, 'bank');
      const pub = readPublicKey(r, 'bank key');
      if (trust.has(bank)) throw formatError('bank named twice');
      trust.set(bank, pub);
    }
    r.end();
    return { network, trust };
  });
  const deviceSk = generateSecretKey();
  const devicePub = publicKeyOf(deviceSk);
  return { data: devicePub, next: { ...s, network, trust, deviceSk, devicePub } };
}

export function encodeInitialise(network: string, trust: ReadonlyMap<string, Buffer>): Buffer {
  const w = new ByteWriter(64 + trust.size * 70).str8(network).u8(trust.size);
  for (const [bank, pub] of trust) w.str8(bank).bytes(pub);
  return w.finish();
}

function installCertificate(s: AppletState, data: Buffer): Outcome {
  if (s.network === null || s.devicePub === null) refuse(SW.CONDITIONS_NOT_SATISFIED, 'not initialised');
  const cert = check(() => decodeCertificate(data));
  check(() => verifyCertificate(cert, trustOf(s)));
  if (!cert.devicePub.equals(s.devicePub)) refuse(SW.WRONG_DATA, 'certificate is for another device key');
  if (s.cert !== null && !sameDevice(deviceOf(s.cert), deviceOf(cert))) refuse(SW.CONDITIONS_NOT_SATISFIED, 'a renewal keeps bank and serial');
  if (s.balanceFen > cert.balanceCapFen) refuse(SW.OVER_BALANCE_CAP, 'balance is above the new balance cap');
  if (s.paymentsSinceSync > cert.paymentsBeforeSync) refuse(SW.SYNC_REQUIRED, 'more payments since sync than the new certificate allows');
  return { data: Buffer.alloc(0), next: { ...s, cert } };
}

// CHALLENGE (payee): amount_fen u64 || time_ms u64 -> challenge bytes.
function makeChallenge(s: AppletState, data: Buffer): Outcome {
  const cert = certified(s);
  if (data.length !== 16) refuse(SW.WRONG_LENGTH, 'CHALLENGE takes amount and time');
  const amountFen = data.readBigUInt64BE(0);
  const timeMs = data.readBigUInt64BE(8);
  if (amountFen === 0n || amountFen > cert.balanceCapFen) refuse(SW.WRONG_DATA, 'amount out of range');
  if (s.balanceFen + amountFen > cert.balanceCapFen) refuse(SW.OVER_BALANCE_CAP, 'the payment would take this card over its balance cap');
  if (selfRevoked(s)) refuse(SW.REVOKED, 'this card is revoked');
  const challenge: PaymentChallenge = { network: cert.network, payee: deviceOf(cert), amountFen, nonce: randomBytes(NONCE_BYTES), timeMs };
  const pending = [...s.pending, { nonce: challenge.nonce, amountFen, timeMs }].slice(-PENDING_CHALLENGES_MAX);
  return { data: encodeChallenge(challenge), next: { ...s, pending } };
}

// PAY (payer): challenge bytes -> pay voucher bytes.
function pay(s: AppletState, data: Buffer): Outcome {
  const cert = certified(s);
  const ch = check(() => decodeChallenge(data));
  if (ch.network !== cert.network) refuse(SW.WRONG_DATA, 'challenge is for another network');
  if (sameDevice(ch.payee, deviceOf(cert))) refuse(SW.WRONG_DATA, 'a card does not pay itself');
  // A challenge this card already answered (the answer was lost to a power-off or a lifted
  // card, even if it paid others since): the same voucher again, nothing new debited. Only
  // the log since the last sync is searched; the bank holds the older vouchers.
  const answered = s.log.find((v) => v.type === 'pay' && v.nonce.equals(ch.nonce) && sameDevice(v.payee, ch.payee));
  if (answered !== undefined) {
    if (answered.type !== 'pay' || answered.amountFen !== ch.amountFen || answered.challengeTimeMs !== ch.timeMs) refuse(SW.WRONG_DATA, 'a nonce already answered for another amount or time');
    return { data: encodeVoucher(answered), next: null };
  }
  if (selfRevoked(s)) refuse(SW.REVOKED, 'this card is revoked');
  if (ch.timeMs < cert.validFromMs || ch.timeMs >= cert.validUntilMs) refuse(SW.CERT_EXPIRED, 'certificate not valid at the challenge time');
  if (ch.amountFen > cert.paymentCapFen) refuse(SW.OVER_PAYMENT_CAP, 'amount over the per-payment cap');
  if (ch.amountFen > s.balanceFen) refuse(SW.INSUFFICIENT_BALANCE, 'balance does not cover the amount');
  if (s.paymentsSinceSync >= cert.paymentsBeforeSync) refuse(SW.SYNC_REQUIRED, 'payments before sync used up');
  const { voucher, next } = appendVoucher(s, {
    type: 'pay',
    amountFen: ch.amountFen,
    balanceAfterFen: s.balanceFen - ch.amountFen,
    payee: ch.payee,
    nonce: ch.nonce,
    challengeTimeMs: ch.timeMs,
  });
  assert(next.balanceFen + ch.amountFen === s.balanceFen, 'a payment debits exactly its amount');
  return { data: encodeVoucher(voucher), next };
}

/** The checks a payee makes of a payer's certificate: trust, signature, validity, revocation. */
function checkPayerCertificate(s: AppletState, cert: DeviceCertificate, timeMs: bigint): void {
  check(() => verifyCertificate(cert, trustOf(s), timeMs));
  const list = s.revocations.get(cert.bank);
  if (list !== undefined && isRevoked(list, cert.serial)) refuse(SW.REVOKED, 'payer certificate is revoked');
}

// CHECK PAYER (payee): time_ms u64 || certificate bytes -> nothing (9000 when acceptable).
function checkPayer(s: AppletState, data: Buffer): Outcome {
  const own = certified(s);
  if (data.length < 8) refuse(SW.WRONG_LENGTH, 'CHECK PAYER takes time and certificate');
  const cert = check(() => decodeCertificate(data.subarray(8)));
  if (sameDevice(deviceOf(cert), deviceOf(own))) refuse(SW.WRONG_DATA, 'a card does not pay itself');
  checkPayerCertificate(s, cert, data.readBigUInt64BE(0));
  return { data: Buffer.alloc(0), next: null };
}

export function encodeAcceptData(certBytes: Buffer, voucherBytes: Buffer): Buffer {
  return new ByteWriter(certBytes.length + voucherBytes.length + 4).var16(certBytes).var16(voucherBytes).finish();
}

// ACCEPT (payee): var16 payer certificate || var16 pay voucher -> receive voucher bytes.
function accept(s: AppletState, data: Buffer): Outcome {
  const own = certified(s);
  const { cert, voucher } = check(() => {
    const r = new ByteReader(data, 'accept');
    const certBytes = r.bytes(r.u16('certificate length'), 'certificate');
    const voucherBytes = r.bytes(r.u16('voucher length'), 'voucher');
    r.end();
    return { cert: decodeCertificate(certBytes), voucher: decodeVoucher(voucherBytes) };
  });
  if (voucher.type !== 'pay') refuse(SW.WRONG_DATA, 'not a pay voucher');
  const payHash = voucherHash(voucher);
  // The same voucher again (the answer was lost): the same receive voucher, nothing credited twice.
  const done = s.log.find((v) => v.type === 'receive' && v.payerVoucherHash.equals(payHash));
  if (done !== undefined) return { data: encodeVoucher(done), next: null };
  if (voucher.network !== own.network) refuse(SW.WRONG_DATA, 'voucher is for another network');
  if (!sameDevice(voucher.payee, deviceOf(own))) refuse(SW.WRONG_DATA, 'voucher pays another device');
  if (sameDevice(voucher.device, deviceOf(own))) refuse(SW.WRONG_DATA, 'a card does not pay itself');
  const at = s.pending.findIndex((p) => p.nonce.equals(voucher.nonce));
  if (at < 0) refuse(SW.REFERENCED_DATA_NOT_FOUND, 'no open challenge with that nonce (replayed or unknown)');
  const challenge = s.pending[at]!;
  if (challenge.amountFen !== voucher.amountFen || challenge.timeMs !== voucher.challengeTimeMs) refuse(SW.WRONG_DATA, 'voucher does not answer the challenge');
  checkPayerCertificate(s, cert, challenge.timeMs);
  check(() => verifyVoucher(voucher, cert));
  if (selfRevoked(s)) refuse(SW.REVOKED, 'this card is revoked');
  if (s.balanceFen + voucher.amountFen > own.balanceCapFen) refuse(SW.OVER_BALANCE_CAP, 'the payment would take this card over its balance cap');
  const { voucher: receipt, next } = appendVoucher(s, {
    type: 'receive',
    amountFen: voucher.amountFen,
    balanceAfterFen: s.balanceFen + voucher.amountFen,
    payer: voucher.device,
    payerVoucherHash: payHash,
  });
  const pending = s.pending.filter((_, i) => i !== at);
  const received = [...s.received, { receiveCounter: receipt.counter, cert, voucher }];
  return { data: encodeVoucher(receipt), next: { ...next, pending, received } };
}

// EXPORT LOG: P1P2 = index of the first voucher wanted ->
//   total u16 || n u8 || (u16 length || voucher) * n   (as many as fit EXPORT_RESPONSE_BYTES_MAX)
function exportLog(s: AppletState, c: CommandApdu): Outcome {
  if (c.data.length !== 0) refuse(SW.WRONG_LENGTH, 'EXPORT LOG takes no data');
  const from = (c.p1 << 8) | c.p2;
  if (from > s.log.length) refuse(SW.WRONG_P1P2, 'index past the end of the log');
  const w = new ByteWriter(EXPORT_RESPONSE_BYTES_MAX + 8).u16(s.log.length);
  const chunks: Buffer[] = [];
  let bytes = 3;
  for (let i = from; i < s.log.length && chunks.length < 255; i++) {
    const v = encodeVoucher(s.log[i]!);
    if (bytes + 2 + v.length > EXPORT_RESPONSE_BYTES_MAX) break;
    chunks.push(v);
    bytes += 2 + v.length;
  }
  w.u8(chunks.length);
  for (const v of chunks) w.var16(v);
  return { data: w.finish(), next: null };
}

// EXPORT RECEIVED: P1P2 = index of the first entry wanted ->
//   total u16 || n u8 || (var16 payer certificate || var16 payer voucher) * n
function exportReceived(s: AppletState, c: CommandApdu): Outcome {
  if (c.data.length !== 0) refuse(SW.WRONG_LENGTH, 'EXPORT RECEIVED takes no data');
  const from = (c.p1 << 8) | c.p2;
  if (from > s.received.length) refuse(SW.WRONG_P1P2, 'index past the end');
  const w = new ByteWriter(EXPORT_RESPONSE_BYTES_MAX + 8).u16(s.received.length);
  const chunks: [Buffer, Buffer][] = [];
  let bytes = 3;
  for (let i = from; i < s.received.length && chunks.length < 255; i++) {
    const cert = encodeCertificate(s.received[i]!.cert);
    const v = encodeVoucher(s.received[i]!.voucher);
    if (bytes + 4 + cert.length + v.length > EXPORT_RESPONSE_BYTES_MAX) break;
    chunks.push([cert, v]);
    bytes += 4 + cert.length + v.length;
  }
  w.u8(chunks.length);
  for (const [cert, v] of chunks) w.var16(cert).var16(v);
  return { data: w.finish(), next: null };
}

// LOAD / UNLOAD / SYNC: a bank authorisation for this device.
function applyAuthorisation(s: AppletState, ins: number, data: Buffer): Outcome {
  const cert = certified(s);
  const auth: BankAuthorisation = check(() => decodeAuthorisation(data));
  const want = ins === INS.LOAD ? 'load' : ins === INS.UNLOAD ? 'unload' : 'sync';
  if (auth.action !== want) refuse(SW.WRONG_DATA, `not a ${want} authorisation`);
  if (auth.network !== cert.network || !sameDevice(auth.device, deviceOf(cert)) || !auth.devicePub.equals(cert.devicePub)) {
    refuse(SW.WRONG_DATA, 'authorisation is for another device');
  }
  check(() => verifyAuthorisation(auth, trustOf(s)));
  if (auth.action === 'sync') {
    // Acknowledges vouchers up to auth.counter: it may lag the card (which then keeps the
    // later ones), never lead it, and never go back.
    if (auth.counter > s.counter || auth.counter < s.syncedCounter) refuse(SW.COUNTER_MISMATCH, 'sync names a counter this card is not at');
    const log = s.log.filter((v) => v.counter > auth.counter);
    const received = s.received.filter((r) => r.receiveCounter > auth.counter);
    const paymentsSinceSync = log.filter((v) => v.type === 'pay').length;
    return { data: Buffer.alloc(0), next: { ...s, log, received, syncedCounter: auth.counter, paymentsSinceSync } };
  }
  if (auth.counter !== s.counter) refuse(SW.COUNTER_MISMATCH, 'authorisation names another counter (used, or rolled back)');
  const authHash = authorisationHash(auth);
  if (auth.action === 'load') {
    if (s.balanceFen + auth.amountFen > cert.balanceCapFen) refuse(SW.OVER_BALANCE_CAP, 'load would pass the balance cap');
    const { voucher, next } = appendVoucher(s, { type: 'load', amountFen: auth.amountFen, balanceAfterFen: s.balanceFen + auth.amountFen, authorisationHash: authHash });
    return { data: encodeVoucher(voucher), next };
  }
  if (auth.amountFen > s.balanceFen) refuse(SW.INSUFFICIENT_BALANCE, 'unload is more than the balance');
  const { voucher, next } = appendVoucher(s, { type: 'unload', amountFen: auth.amountFen, balanceAfterFen: s.balanceFen - auth.amountFen, authorisationHash: authHash });
  return { data: encodeVoucher(voucher), next };
}

function installRevocationList(s: AppletState, data: Buffer): Outcome {
  certified(s);
  const list = check(() => decodeRevocationList(data));
  check(() => verifyRevocationList(list, trustOf(s)));
  const held = s.revocations.get(list.bank);
  if (held !== undefined && list.sequence < held.sequence) refuse(SW.COUNTER_MISMATCH, 'an older revocation list than the one held');
  if (held !== undefined && list.sequence === held.sequence) return { data: Buffer.alloc(0), next: null };
  if (held === undefined && s.revocations.size >= REVOCATION_BANKS_MAX) refuse(SW.FILE_FULL, 'revocation table full');
  const revocations = new Map(s.revocations);
  revocations.set(list.bank, { sequence: list.sequence, serials: list.serials });
  return { data: Buffer.alloc(0), next: { ...s, revocations } };
}
