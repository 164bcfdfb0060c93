// What the bank is in the middle of spending, held in memory: the coins reserved for a
// transaction not yet settled, and the transactions sent to central whose outcome it has not
// yet learned. A payment writes neither: its record already says both (awaiting_signature:
// its inputs are reserved; submitted: reserved and pending), so they are rebuilt from the
// payment records when the store opens, and a payment's write transactions touch two tables
// fewer (six writes: each input's reservation put and removed, the pending entry put and
// removed under its random txid). The rarer holders (an exchange, a redemption, a contract's
// spend, an offline payout) have no record of their own that says it, so theirs are written
// through to the `reserved` table and meta "pending-tx/", as before.
//
// Every change is made inside the caller's LMDB write transaction, as its writes are: lmdb-js
// commits a callback's writes whether or not it throws afterwards, and the bank's callbacks
// check before they write, so inside a transaction memory is exactly what the transaction
// sees. Outside one, memory runs ahead of the last commit while a write transaction is open:
// what acts on a pending transaction from outside (resubmission, waiting for an outcome) reads
// the committed view, committedPending.
import type { Database } from 'lmdb';
import { assert } from '../protocol/errors.js';
import type { PendingTx } from './pending_tx.js';
import type { BankStore, PaymentRec } from './store.js';

/** meta key prefix of a pending transaction written through (intermediary/pending_tx.ts). */
export const PENDING_PREFIX = 'pending-tx/';

/** The form of a payment id (intermediary/payments.ts): earlier versions wrote payments' reservations under it. */
const PAYMENT_HOLDER = /^pay-[0-9a-f]{16}$/;

/** Coin key (store.posKey) -> what is spending it: a payment id, or 'exchange:', 'redeem:', 'contract:', 'offline:' and a txid. */
export class ReservedCoins {
  private readonly byPos = new Map<string, { holder: string; written: boolean }>();

  constructor(private readonly table: Database<string, string>) {}

  holder(pk: string): string | undefined {
    return this.byPos.get(pk)?.holder;
  }

  get size(): number {
    return this.byPos.size;
  }

  /** Inside a transaction: a payment's input (its record holds the reservation). */
  reserveForPayment(pk: string, paymentId: string): void {
    assert(PAYMENT_HOLDER.test(paymentId), 'a payment reserves under its id');
    this.set(pk, paymentId, false);
  }

  /** Inside a transaction: an input of a transaction with no payment record, written through. */
  reserve(pk: string, holder: string): void {
    assert(!PAYMENT_HOLDER.test(holder), 'a payment reserves with reserveForPayment');
    this.set(pk, holder, true);
    this.table.putSync(pk, holder);
  }

  /** Inside a transaction: the coin is no longer being spent (by `holder` only, when given). */
  release(pk: string, holder?: string): void {
    const r = this.byPos.get(pk);
    if (r === undefined || (holder !== undefined && r.holder !== holder)) return;
    this.byPos.delete(pk);
    if (r.written) this.table.removeSync(pk);
  }

  /** At open: a written reservation (one of a payment, from an earlier version, is left to the payment's record). */
  loadWritten(pk: string, holder: string): boolean {
    if (PAYMENT_HOLDER.test(holder)) return false;
    this.set(pk, holder, true);
    return true;
  }

  private set(pk: string, holder: string, written: boolean): void {
    const cur = this.byPos.get(pk);
    // The callers check a coin is free before they take it: two holders at once is a double spend.
    assert(cur === undefined || cur.holder === holder, 'a coin is reserved by one transaction at a time');
    this.byPos.set(pk, { holder, written });
  }
}

/** txid -> a transaction sent to central (or about to be) whose outcome the bank has not yet learned. */
export class PendingTxs {
  private readonly byTxid = new Map<string, { p: PendingTx; written: boolean }>();

  constructor(private readonly meta: Database<unknown, string>) {}

  get(txid: string): PendingTx | undefined {
    return this.byTxid.get(txid)?.p;
  }

  get size(): number {
    return this.byTxid.size;
  }

  /** Every pending transaction, in no particular order. */
  entries(): [string, PendingTx][] {
    return [...this.byTxid].map(([txid, { p }]) => [txid, p]);
  }

  /** Inside a transaction. A payment's entry lives in its record (status 'submitted'); the others are written through. */
  add(txid: string, p: PendingTx): void {
    const written = p.kind !== 'payment';
    this.byTxid.set(txid, { p, written });
    if (written) this.meta.putSync(PENDING_PREFIX + txid, p);
  }

  /** Inside a transaction: central's answer is known (applied or refused). */
  drop(txid: string): void {
    const e = this.byTxid.get(txid);
    if (e === undefined) return;
    this.byTxid.delete(txid);
    if (e.written) this.meta.removeSync(PENDING_PREFIX + txid);
  }

  /** At open: a written entry (one of a payment, from an earlier version, is left to the payment's record). */
  loadWritten(txid: string, p: PendingTx): boolean {
    if (p.kind === 'payment') return false;
    this.byTxid.set(txid, { p, written: true });
    return true;
  }

  /** At open: what a payment's record says it holds. */
  loadPayment(p: PaymentRec): void {
    if (p.status === 'submitted') this.byTxid.set(p.txid, { p: paymentPending(p), written: false });
  }
}

/** The pending entry of a payment just marked submitted. */
export function paymentPending(p: PaymentRec): PendingTx {
  return { kind: 'payment', account: p.account, amountFen: p.amountFen, coins: p.inputs, paymentId: p.id };
}

/**
 * Outside a transaction: txid's pending entry as last committed (a written row, or a payment
 * whose committed record is still 'submitted'), never one a write transaction still open has
 * added or dropped.
 */
export function committedPending(store: BankStore, txid: string): PendingTx | undefined {
  const row = store.meta.get(PENDING_PREFIX + txid) as PendingTx | undefined;
  if (row !== undefined) return row;
  const paymentId = store.byTxid.get(txid);
  const p = paymentId === undefined ? undefined : store.payments.get(paymentId);
  return p?.status === 'submitted' && p.txid === txid ? paymentPending(p) : undefined;
}
