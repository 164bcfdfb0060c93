// How a payee is paid without asking its bank for each payment: its bank hands out the
// payee's receive terms (wallet key, receive key, and, for a capped tier, an allotment of room
// under the cap reserved for the asking bank a while), and the payer's side derives each
// payment's outputs from them (protocol/receive_key.ts). A payer's bank keeps the terms of
// other banks' payees and asks again only when they lapse or their room is used up.
import { CbdcError } from '../protocol/errors.js';
import { type Lock, type LockJson, lockToJson, multiLock } from '../protocol/lock.js';
import { paymentLock } from '../protocol/receive_key.js';
import { parsePublicKey } from '../protocol/sig.js';

/** How long terms (and the room they allot) hold. */
export const RECEIVE_TERMS_TTL_MS = 60_000;
/** A payer's bank asks for room for this many payments of the size at hand at once. */
export const ROOM_ASKED_PAYMENTS = 16;
/** Other banks' payees whose terms a bank keeps at most (about 300 bytes each). */
export const REMOTE_TERMS_CACHED_MAX = 100_000;

export interface ReceiveTerms {
  bank: string;
  account: string;
  walletKey: Buffer;
  receiveKey: Buffer;
  /** The payee bank's key (its sweep lock names it). */
  bankKey: Buffer;
  /** Wallet money the asker may still send before the payee's cap; null: its tier has no cap. */
  roomFen: bigint | null;
  /** Money over the room goes to the payee's deposit (it has a linked account); else it is refused. */
  sweeps: boolean;
  untilMs: number;
}

export interface ReceiveTermsJson {
  bank: string;
  account: string;
  wallet_key: string;
  receive_key: string;
  bank_key: string;
  room_fen: string | null;
  sweeps: boolean;
  until_ms: number;
}

export function termsToJson(t: ReceiveTerms): ReceiveTermsJson {
  return {
    bank: t.bank, account: t.account, wallet_key: t.walletKey.toString('hex'), receive_key: t.receiveKey.toString('hex'),
    bank_key: t.bankKey.toString('hex'), room_fen: t.roomFen === null ? null : t.roomFen.toString(), sweeps: t.sweeps, until_ms: t.untilMs,
  };
}

/** Terms from another bank's answer (schema-checked as strings); a key that is no point is the peer's fault. */
export function termsFromJson(j: ReceiveTermsJson): ReceiveTerms {
  try {
    return {
      bank: j.bank, account: j.account, walletKey: parsePublicKey(j.wallet_key), receiveKey: parsePublicKey(j.receive_key),
      bankKey: parsePublicKey(j.bank_key), roomFen: j.room_fen === null ? null : BigInt(j.room_fen), sweeps: j.sweeps, untilMs: j.until_ms,
    };
  } catch (e) {
    throw new CbdcError('CBDC_ERR_PAYEE_REFUSED', `${j.bank} sent receive terms that do not parse: ${(e as Error).message}`);
  }
}

/** A payment whose outputs are not the ones the payee's terms give: the answer names those, for the wallet to sign again. */
export class PaymentOutputsRefusal extends CbdcError {
  readonly outputs: { value: string; lock: LockJson }[];
  constructor(expected: readonly { value: bigint; lock: Lock }[], message: string) {
    super('CBDC_ERR_PAYMENT_OUTPUTS', message);
    this.outputs = expected.map((o) => ({ value: o.value.toString(), lock: lockToJson(o.lock) }));
  }
}

/** The sweep lock of a payee: its bank alone may move the money (to the payee's deposit). */
export function sweepLockOf(bankKey: Buffer, walletKey: Buffer): Lock {
  return multiLock(1, [bankKey, walletKey]);
}

/**
 * The outputs that pay `amountFen` to the payee of `t` in a payment whose first input is at
 * `firstInputPos`: the wallet's share (up to the room) to a lock with a fresh bank key, the
 * rest to the payee's sweep lock; refused when there is a rest and nowhere to sweep it.
 */
export function payeeOutputs(t: ReceiveTerms, amountFen: bigint, firstInputPos: bigint): { walletFen: bigint; excessFen: bigint; outputs: { value: bigint; lock: Lock }[] } {
  const walletFen = t.roomFen === null || t.roomFen >= amountFen ? amountFen : t.roomFen > 0n ? t.roomFen : 0n;
  const excessFen = amountFen - walletFen;
  if (excessFen > 0n && !t.sweeps) throw new CbdcError('CBDC_ERR_BALANCE_CAP');
  const outputs: { value: bigint; lock: Lock }[] = [];
  if (walletFen > 0n) outputs.push({ value: walletFen, lock: paymentLock(t.walletKey, t.receiveKey, firstInputPos, 0) });
  if (excessFen > 0n) outputs.push({ value: excessFen, lock: sweepLockOf(t.bankKey, t.walletKey) });
  return { walletFen, excessFen, outputs };
}

/**
 * Other banks' payees' terms, keyed by bank and the name the payer used. Bounded: past the
 * limit the oldest entry goes (asked again when needed).
 */
export class RemoteTerms {
  private readonly byName = new Map<string, ReceiveTerms>();

  constructor(private readonly clock: () => number, private readonly cachedMax = REMOTE_TERMS_CACHED_MAX) {}

  /** Terms that still hold and have room for `amountFen` (or no cap), else undefined. */
  usable(bank: string, name: string, amountFen: bigint): ReceiveTerms | undefined {
    const t = this.held(bank, name);
    if (t === undefined || (t.roomFen !== null && t.roomFen < amountFen)) return undefined;
    return t;
  }

  /** Terms that still hold, whatever room they have left. */
  held(bank: string, name: string): ReceiveTerms | undefined {
    const t = this.byName.get(`${bank}|${name}`);
    return t === undefined || t.untilMs <= this.clock() ? undefined : t;
  }

  /**
   * The room left in held terms, handed back as new terms are asked for (the payee's bank then
   * frees it): from here on those terms pay nothing into the wallet, so nothing is freed twice.
   */
  release(bank: string, name: string): bigint {
    const t = this.held(bank, name);
    if (t === undefined || t.roomFen === null || t.roomFen <= 0n) return 0n;
    const unused = t.roomFen;
    t.roomFen = 0n;
    return unused;
  }

  /** Terms just received; kept only if they allot something or have no cap. */
  put(bank: string, name: string, t: ReceiveTerms): void {
    const key = `${bank}|${name}`;
    this.byName.delete(key);
    if (this.byName.size >= this.cachedMax) this.byName.delete(this.byName.keys().next().value!);
    this.byName.set(key, t);
  }

  /** A payment takes `walletFen` of the room (before it is submitted: no two payments count on the same room). */
  spend(t: ReceiveTerms, walletFen: bigint): void {
    if (t.roomFen !== null) t.roomFen -= walletFen;
  }

  /** A payment that took room was refused before it was submitted: the room is the terms' again. */
  refund(t: ReceiveTerms, walletFen: bigint): void {
    if (t.roomFen !== null) t.roomFen += walletFen;
  }

  size(): number {
    return this.byName.size;
  }
}
