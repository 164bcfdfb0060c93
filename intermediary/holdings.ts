// The bank's holdings: its own CBDC, the second tier of distribution. A customer's deposit is
// exchanged to the wallet from them (paid to the wallet's lock, the deposit debited in the same
// LMDB write transaction that reserves the coins); they are topped up from central's issuance
// below the low mark and redeemed down to the target above the high mark, within the bank's
// quota at central.
import { type ErrorCode, fail } from '../protocol/errors.js';
import type { Lock } from '../protocol/lock.js';
import { type Tx, txId, txToJson } from '../protocol/tx.js';
import { makeTx } from '../protocol/tx_builder.js';
import { checkActive } from './accounts.js';
import { holdingsFen, type SettledOutput } from './crediting.js';
import type { IncomingHolds } from './incoming.js';
import { committedPending } from './in_flight.js';
import { isUncertain } from './pending_tx.js';
import type { Tier, TierLimits } from './tiers.js';
import { checkVisitorReceives } from './visitors/rules.js';
import { type AccountRec, type BankStore, type CoinRec, BANK_OWNER, fen, posKey } from './store.js';
import type { CentralLink, CentralResult } from './central_link.js';

/**
 * An exchange to the wallet paid for other than from the deposit (a visitor's card top-up):
 * `transit`, the money arrives in the deposit and leaves it in the same transaction, so the
 * deposit is neither checked nor debited (a refusal after submission credits it there, where
 * the visitor's money then is); `within` runs in the exchange's LMDB transaction after its
 * checks (it only writes, never throws).
 */
export interface ExchangeExtra {
  transit?: true;
  within?: (txid: string) => void;
}

/** Where the bank keeps its holdings: below low it asks for issuance up to target; above high it redeems down to target. */
export interface HoldingsMarks {
  lowFen: bigint;
  targetFen: bigint;
  highFen: bigint;
}

/** What the holdings need of the bank. */
export interface HoldingsContext {
  readonly store: BankStore;
  readonly bankId: string;
  readonly network: string;
  readonly limits: Record<Tier, TierLimits>;
  readonly holdingsLock: Lock;
  readonly holdingsLockHex: string;
  readonly incoming: IncomingHolds;
  readonly marks: HoldingsMarks;
  readonly link: CentralLink;
  clock(): number;
  account(id: string): AccountRec;
  customerLock(walletKey: Buffer): Lock;
  signByBank(tx: Tx): Tx;
  selectCoins(owner: string, amountFen: bigint): { coins: CoinRec[]; sumFen: bigint };
  atomic<T>(fn: () => T): Promise<T>;
  durable(): Promise<void>;
  submitPending(txid: string, tx: Tx): Promise<CentralResult>;
  resubmitPending(): Promise<void>;
  waitForApplied(txid: string, maxMs: number): Promise<boolean>;
  applySettled(tx: Tx, r: { txid: string; outputs: { pos: string; id: string }[] }, o: { exchangeFor?: string }): Promise<void>;
  /** Inside a transaction: applies a settled transaction once (intermediary/crediting.ts). */
  applyTx(txid: string, spent: string[], outputs: SettledOutput[], atMs: number, exchangeFor: string | null): void;
}

/** An exchange's record under its idempotency key (meta "exchange-key/<account>/<key>"). */
interface ExchangeRec {
  amountFen: string;
  txid: string;
  code?: ErrorCode;
  message?: string;
}

export class Holdings {
  private busy = false;

  constructor(private readonly c: HoldingsContext) {}

  /** The bank's own CBDC, fen. */
  fen(): bigint {
    return holdingsFen(this.c.store);
  }

  /**
   * Deposit -> wallet: the bank pays CBDC from its holdings to the customer's lock and debits
   * the deposit, atomically with reserving the holdings it spends.
   */
  async exchangeToWallet(id: string, amountFen: bigint, idempotencyKey: string, x: ExchangeExtra = {}): Promise<Record<string, unknown>> {
    const { store } = this.c;
    const keyName = `exchange-key/${id}/${idempotencyKey}`;
    const earlier = store.meta.get(keyName) as ExchangeRec | undefined;
    if (earlier !== undefined) return this.sameExchange(id, amountFen, earlier);
    const prepared = await this.c.atomic(() => {
      const again = store.meta.get(keyName) as ExchangeRec | undefined;
      if (again !== undefined) fail('CBDC_ERR_IDEMPOTENCY_CONFLICT', 'an exchange with this idempotency key is already under way');
      const a = this.c.account(id);
      checkActive(a);
      checkVisitorReceives(a, this.c.clock());
      if (x.transit !== true && fen(a.depositFen) < amountFen) fail('CBDC_ERR_INSUFFICIENT_FUNDS', 'the deposit does not cover that');
      const cap = this.c.limits[a.tier].balanceCapFen;
      if (cap !== null && fen(a.balanceFen) + this.c.incoming.sumFen(a.id) + amountFen > cap) fail('CBDC_ERR_BALANCE_CAP');
      const { coins, sumFen } = this.c.selectCoins(BANK_OWNER, amountFen);
      const outputs = [{ value: amountFen, lock: this.c.customerLock(Buffer.from(a.walletKey, 'hex')) }];
      if (sumFen > amountFen) outputs.push({ value: sumFen - amountFen, lock: this.c.holdingsLock });
      const tx = this.c.signByBank(makeTx({ network: this.c.network, inputs: coins.map((co) => ({ pos: BigInt(co.pos), id: Buffer.from(co.id, 'hex') })), outputs }));
      const txid = txId(tx).toString('hex');
      for (const co of coins) store.reserved.reserve(posKey(co.pos), `exchange:${txid}`);
      // Whichever applies it first (the answer below or central's event stream) files it as an exchange.
      store.meta.putSync(`exchange-tx/${txid}`, id);
      store.meta.putSync(keyName, { amountFen: amountFen.toString(), txid } satisfies ExchangeRec);
      store.pending.add(txid, { kind: 'exchange', account: id, amountFen: amountFen.toString(), tx: txToJson(tx), coins: coins.map((co) => co.pos) });
      // In transit the money was never in the deposit: nothing to debit (a refusal later credits it there).
      if (x.transit !== true) store.accounts.putSync(id, { ...a, depositFen: (fen(a.depositFen) - amountFen).toString() });
      x.within?.(txid);
      return { tx, txid };
    });
    const r = await this.c.submitPending(prepared.txid, prepared.tx);
    if (r.status === 'settled') {
      await this.c.applySettled(prepared.tx, r, { exchangeFor: id });
      await this.c.durable();
      return this.settledAnswer(id, r.txid, amountFen);
    }
    if (isUncertain(r) || r.code === 'CBDC_ERR_DOUBLE_SPEND' || r.code === 'CBDC_ERR_UNKNOWN_INPUT') {
      // Uncertain (central unreachable, or a transport retry whose first attempt settled): give
      // the event stream and resubmitPending a moment to make it certain before answering.
      void this.c.resubmitPending();
      if (await this.c.waitForApplied(prepared.txid, 10_000)) return this.settledAnswer(id, prepared.txid, amountFen);
      fail('CBDC_ERR_CENTRAL_UNAVAILABLE', `${r.message}; the exchange is pending and settles (or is given back) once central's answer is certain`);
    }
    await this.c.atomic(() => {
      this.releaseExchange(prepared.txid);
      store.meta.putSync(keyName, { amountFen: amountFen.toString(), txid: prepared.txid, code: r.code, message: r.message } satisfies ExchangeRec);
    });
    fail(r.code, r.message);
  }

  /** A settled exchange's answer, with the account's balances as they are now. */
  private settledAnswer(id: string, txid: string, amountFen: bigint): Record<string, unknown> {
    const a = this.c.account(id);
    return { status: 'settled', txid, amount_fen: amountFen.toString(), balance_fen: a.balanceFen, deposit_fen: a.depositFen };
  }

  /** The answer to an exchange retried with the same idempotency key: never a second exchange. */
  private sameExchange(id: string, amountFen: bigint, e: ExchangeRec): Record<string, unknown> {
    if (fen(e.amountFen) !== amountFen) fail('CBDC_ERR_IDEMPOTENCY_CONFLICT');
    if (this.c.store.applied.get(e.txid) !== undefined) return this.settledAnswer(id, e.txid, amountFen);
    if (committedPending(this.c.store, e.txid) !== undefined) {
      fail('CBDC_ERR_CENTRAL_UNAVAILABLE', 'the exchange is pending and settles (or is given back) once central answers');
    }
    fail(e.code ?? 'CBDC_ERR_CENTRAL_UNAVAILABLE', e.message ?? 'the exchange was not settled; the deposit was given back');
  }

  /** Inside a transaction: a refused exchange gives the deposit back and releases the holdings. */
  releaseExchange(txid: string): void {
    const { store } = this.c;
    const p = store.pending.get(txid);
    if (p === undefined || p.kind !== 'exchange' || store.applied.get(txid) !== undefined) return;
    const a = this.c.account(p.account);
    store.accounts.putSync(a.id, { ...a, depositFen: (fen(a.depositFen) + fen(p.amountFen)).toString() });
    for (const pos of p.coins) store.reserved.release(posKey(pos), `exchange:${txid}`);
    store.meta.removeSync(`exchange-tx/${txid}`);
    store.pending.drop(txid);
  }

  /** Keeps the holdings between the low and high marks, within the bank's quota at central. */
  async manage(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const h = this.fen();
      const { lowFen, targetFen, highFen } = this.c.marks;
      if (h < lowFen) {
        await this.requestIssuance(targetFen - h);
      } else if (h > highFen) {
        await this.redeem(h - targetFen);
      }
    } catch {
      // Central unreachable or over quota: try again on the next tick.
    } finally {
      this.busy = false;
    }
  }

  /**
   * Issuance to the holdings. Applied as soon as central answers (the event stream's copy is
   * then a no-op), so the next holdings check already sees it and never asks twice.
   */
  async requestIssuance(amountFen: bigint): Promise<unknown> {
    const r = await this.c.link.call<{ txid: string; outputs: { pos: string; id: string }[] }>('POST', '/v1/issuance', { amount_fen: amountFen.toString() });
    const out = r.outputs[0]!;
    await this.c.atomic(() => this.c.applyTx(r.txid, [], [{ pos: out.pos, id: out.id, value: amountFen.toString(), lockHex: this.c.holdingsLockHex }], this.c.clock(), null));
    return r;
  }

  /** Redemption of holdings at central, the change back to the holdings lock. */
  async redeem(amountFen: bigint): Promise<unknown> {
    const prepared = await this.c.atomic(() => {
      const { coins, sumFen } = this.c.selectCoins(BANK_OWNER, amountFen);
      const outputs = sumFen > amountFen ? [{ value: sumFen - amountFen, lock: this.c.holdingsLock }] : [];
      const tx = this.c.signByBank(makeTx({ kind: 'redeem', network: this.c.network, intermediary: this.c.bankId, inputs: coins.map((co) => ({ pos: BigInt(co.pos), id: Buffer.from(co.id, 'hex') })), outputs }));
      const holder = `redeem:${txId(tx).toString('hex')}`;
      for (const co of coins) this.c.store.reserved.reserve(posKey(co.pos), holder);
      return { tx, coins, holder };
    });
    try {
      const r = await this.c.link.call<{ status: 'settled'; txid: string; outputs: { pos: string; id: string }[] }>('POST', '/v1/redemptions', txToJson(prepared.tx));
      await this.c.applySettled(prepared.tx, r, {});
      return r;
    } catch (e) {
      await this.c.atomic(() => { for (const co of prepared.coins) this.c.store.reserved.release(posKey(co.pos), prepared.holder); });
      throw e;
    }
  }
}
