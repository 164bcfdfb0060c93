// The payment pipeline: a payment's intake (one request carrying the wallet's transaction and
// signature, or the two-step flow's prepare and sign), every check of the payer's limits and
// the payee's terms, the reservation of its inputs and usage in one LMDB write transaction,
// the bank's co-signature, the submission to central and the answer once the outcome is on
// disk; repeats by idempotency key or transaction; expiry of unsigned payments.
import { createHash } from 'node:crypto';
import { assert, fail } from '../protocol/errors.js';
import { type Lock, encodeLock } from '../protocol/lock.js';
import { nativeVerifier } from '../protocol/sig.js';
import { type Tx, parseTx, txId, txToJson } from '../protocol/tx.js';
import { makeTx } from '../protocol/tx_builder.js';
import { PaymentOutputsRefusal, payeeOutputs } from './payee_terms.js';
import type { PayeeLookup } from './payee_lookup.js';
import type { IncomingHolds } from './incoming.js';
import { type Tier, type TierLimits, checkPayerLimits } from './tiers.js';
import { type Usage, addUsage, usageAt, writeUsage } from './usage.js';
import { dayKey, yearKey } from '../platform/clock.js';
import { faultPoint } from '../platform/fault_point.js';
import { isUncertain } from './pending_tx.js';
import { committedPending, paymentPending } from './in_flight.js';
import { fileReceiveLock } from './crediting.js';
import { type AccountRec, type BankStore, type CoinRec, type PaymentRec, fen, posKey } from './store.js';
import type { CentralResult } from './central_link.js';
import type { ContractPayee, OfflineLoadPayee, PayeeRef, PaymentOutcome, PaymentSource, Quote, ReceiptHooks } from './bank.js';
import { checkActive } from './accounts.js';

/** What the pipeline needs of the bank. */
export interface PaymentContext {
  readonly store: BankStore;
  readonly bankId: string;
  readonly network: string;
  readonly limits: Record<Tier, TierLimits>;
  readonly paymentTtlMs: number;
  readonly holdingsLock: Lock;
  readonly lookup: PayeeLookup;
  readonly incoming: IncomingHolds;
  clock(): number;
  account(id: string): AccountRec;
  usageOf(accountId: string): Usage;
  selectCoins(owner: string, amountFen: bigint): { coins: CoinRec[]; sumFen: bigint };
  customerLock(walletKey: Buffer): Lock;
  signByBank(tx: Tx): Tx;
  atomic<T>(fn: () => T): Promise<T>;
  durable(): Promise<void>;
  emit(event: 'payment', outcome: PaymentOutcome): void;
  receipts(): ReceiptHooks | null;
  submitPending(txid: string, tx: Tx): Promise<CentralResult>;
  resubmitPending(): Promise<void>;
  inFlight(txid: string): boolean;
  applySettled(tx: Tx, r: { txid: string; outputs: { pos: string; id: string }[] }, o: { exchangeFor?: string }): Promise<void>;
  /** Inside a transaction: a payment it settled or released (its waiters wake once it commits). */
  paymentEnded(paymentId: string): void;
}

/**
 * Payment ids in the order they are made: 'pay-' and 16 hex digits, the first 12 the
 * milliseconds since 1970 and the last 4 a count within them. LMDB keeps keys sorted, so the
 * payments one write transaction records land side by side in the table's last pages
 * instead of one random page each: a commit, and its flush, writes fewer pages. The id names
 * nothing secret (a payment is read only by its account).
 */
export class PaymentIds {
  private last = 0n;

  constructor(private readonly clock: () => number) {}

  /** Inside a transaction: an id no payment in `store` has (a clock set back cannot repeat one). */
  next(store: BankStore): string {
    const now = BigInt(Math.max(0, Math.floor(this.clock()))) << 16n;
    for (;;) {
      this.last = now > this.last ? now : this.last + 1n;
      assert(this.last < 1n << 64n, 'a payment id fits 16 hex digits');
      const id = `pay-${this.last.toString(16).padStart(16, '0')}`;
      if (store.payments.get(id) === undefined) return id;
    }
  }
}

export class PaymentPipeline {
  private readonly ids: PaymentIds;

  constructor(private readonly c: PaymentContext) {
    this.ids = new PaymentIds(() => c.clock());
  }

  /** Inside a transaction: the paying account, which must be active, and its usage of today and this year. */
  private payerNow(accountId: string): { a: AccountRec; now: number; day: string; year: string; usage: Usage } {
    const a = this.c.account(accountId);
    checkActive(a);
    const now = this.c.clock();
    const day = dayKey(now);
    const year = yearKey(now);
    return { a, now, day, year, usage: usageAt(this.c.store, accountId, day, year) };
  }

  /**
   * Step 1: the wallet's signed payment request. The bank resolves the payee, checks every
   * limit, reserves the payer's outputs, builds the transaction with change, and returns it for
   * the wallet's signature. The same idempotency key returns the same payment.
   */
  async preparePayment(accountId: string, req: { idempotencyKey: string; payee: PayeeRef | 'deposit' | OfflineLoadPayee | ContractPayee; amountFen: bigint; source?: PaymentSource; receiptDraft?: string }): Promise<PaymentRec> {
    const contract = typeof req.payee === 'object' && 'contract' in req.payee ? req.payee : null;
    const digestOf = contract === null ? [req.payee, req.source?.owner ?? null] : ['contract', contract.contract, contract.outputs.map((o) => [o.value.toString(), encodeLock(o.lock).toString('hex')])];
    // A receipt draft is part of the request (the same key with another draft is another request).
    const digest = createHash('sha256').update(JSON.stringify([...digestOf, req.amountFen.toString(), ...(req.receiptDraft !== undefined ? [req.receiptDraft] : [])])).digest('hex');
    const existing = this.c.store.idem.get([accountId, req.idempotencyKey]);
    if (existing !== undefined) return this.samePayment(existing, digest);
    const payer = this.c.account(accountId);
    checkActive(payer);
    // A visitor converting back on exit moves money to its own deposit to leave the country with
    // it: the payer limits never block that (it pays no one; the bank's FX ledger records it).
    const limitsNow = contract === null ? !(req.payee === 'deposit' && payer.tier === 5) : contract.limitsNow;
    if (limitsNow) checkPayerLimits(this.c.limits[payer.tier], req.amountFen, this.c.usageOf(accountId));
    if (req.source === undefined && fen(payer.balanceFen) < req.amountFen) fail('CBDC_ERR_INSUFFICIENT_FUNDS');

    let quote: Quote;
    let payeeRec: PaymentRec['payee'];
    if (contract !== null) {
      assert(contract.outputs.reduce((s, o) => s + o.value, 0n) === req.amountFen, "a contract's outputs add up to the amount");
      quote = { bank: this.c.bankId, account: contract.contract, walletFen: 0n, excessFen: 0n, outputs: contract.outputs };
      payeeRec = { bank: this.c.bankId, account: contract.contract, alias: null, kind: 'contract' };
    } else if (req.payee === 'deposit') {
      quote = { bank: this.c.bankId, account: accountId, walletFen: 0n, excessFen: 0n, outputs: [{ value: req.amountFen, lock: this.c.holdingsLock }] };
      payeeRec = { bank: this.c.bankId, account: accountId, alias: null, kind: 'deposit' };
    } else if ('offlineDevice' in req.payee) {
      quote = { bank: this.c.bankId, account: accountId, walletFen: 0n, excessFen: 0n, outputs: [{ value: req.amountFen, lock: req.payee.reserveLock }] };
      payeeRec = { bank: this.c.bankId, account: req.payee.offlineDevice, alias: null, kind: 'offline' };
    } else {
      const payee = req.payee as PayeeRef;
      quote = await this.c.lookup.quote(payee, req.amountFen);
      if (quote.bank === this.c.bankId && quote.account === accountId) fail('CBDC_ERR_PAYEE_REFUSED', 'a wallet cannot pay itself');
      payeeRec = { bank: quote.bank, account: quote.account, alias: payee.alias ?? null, kind: 'customer' };
    }
    const receipts = this.c.receipts();
    if (req.receiptDraft !== undefined) {
      if (payeeRec.kind !== 'customer' || payeeRec.account === null || receipts === null) fail('CBDC_ERR_RECEIPT_MERCHANT', 'only a payment to a merchant carries a receipt draft');
      await receipts.check(req.receiptDraft, { bank: payeeRec.bank, account: payeeRec.account }, req.amountFen);
    }

    const { rec: prepared, tx: preparedTx } = await this.c.atomic((): { rec: PaymentRec; tx: Tx | null } => {
      const again = this.c.store.idem.get([accountId, req.idempotencyKey]);
      if (again !== undefined) return { rec: this.samePayment(again, digest), tx: null };
      const { a, now, day, year, usage } = this.payerNow(accountId);
      if (limitsNow) checkPayerLimits(this.c.limits[a.tier], req.amountFen, usage);
      const { coins, sumFen } = this.c.selectCoins(req.source?.owner ?? accountId, req.amountFen);
      const changeFen = sumFen - req.amountFen;
      const walletKey = Buffer.from(a.walletKey, 'hex');
      const outputs = [...quote.outputs];
      if (changeFen > 0n) outputs.push({ value: changeFen, lock: req.source?.changeLock ?? this.c.customerLock(walletKey) });
      const tx = makeTx({ network: this.c.network, inputs: coins.map((c) => ({ pos: BigInt(c.pos), id: Buffer.from(c.id, 'hex') })), outputs });
      const txid = txId(tx).toString('hex');
      const id = this.ids.next(this.c.store);
      const rec: PaymentRec = {
        id, account: accountId, idempotencyKey: req.idempotencyKey, requestDigest: digest, payee: payeeRec,
        amountFen: req.amountFen.toString(), walletFen: quote.walletFen.toString(), excessFen: quote.excessFen.toString(),
        inputs: coins.map((c) => c.pos), inputSumFen: sumFen.toString(), changeFen: changeFen.toString(),
        tx: txToJson(tx), txid, status: 'awaiting_signature', createdAtMs: now, expiresAtMs: now + this.c.paymentTtlMs,
        dayKey: day, yearKey: year, result: null,
        ...(limitsNow ? {} : { usageLater: true }),
        ...(req.source !== undefined ? { source: req.source.owner } : {}),
        ...(req.receiptDraft !== undefined ? { receiptDraft: req.receiptDraft } : {}),
      };
      for (const c of coins) this.c.store.reserved.reserveForPayment(posKey(c.pos), id);
      if (limitsNow) writeUsage(this.c.store, accountId, day, year, usage.dayFen + req.amountFen, usage.yearFen + req.amountFen);
      this.c.store.payments.putSync(id, rec);
      this.c.store.idem.putSync([accountId, req.idempotencyKey], id);
      this.c.store.byTxid.putSync(txid, id);
      return { rec, tx };
    });
    if (prepared.status === 'awaiting_signature' && (preparedTx !== null || !this.awaitingSignature.has(prepared.id))) {
      this.awaitingSignature.set(prepared.id, { expiresAtMs: prepared.expiresAtMs, tx: preparedTx });
    }
    return prepared;
  }

  /**
   * A payment in one request. The wallet built the transaction itself (its coins from the
   * account view, the payee's outputs from the payee's receive terms, its change to its own
   * lock) and signed its txid; that signature, the only one it carries, is also what
   * authenticates the request. The bank checks the transaction is exactly the payment asked
   * for, checks every limit, reserves the inputs, co-signs, settles through central and
   * answers the settled (or refused) payment. The same idempotency key, or the same
   * transaction sent again, answers the same payment.
   */
  async pay(accountId: string, req: { idempotencyKey: string; payee: PayeeRef; amountFen: bigint; tx: Tx; signatureChecked?: boolean; receiptDraft?: string }): Promise<PaymentRec> {
    const { tx, amountFen } = req;
    const txidBytes = txId(tx);
    const txid = txidBytes.toString('hex');
    const payer = this.c.account(accountId);
    if (req.signatureChecked !== true) this.checkWalletSignature(payer, tx, txidBytes);
    const digest = createHash('sha256').update(JSON.stringify([req.payee, null, amountFen.toString(), ...(req.receiptDraft !== undefined ? [req.receiptDraft] : [])])).digest('hex');
    const earlier = this.earlierPayment(accountId, req.idempotencyKey, txid, digest);
    if (earlier !== undefined) return earlier.status === 'submitted' ? this.waitForPayment(earlier.id) : earlier;
    checkActive(payer);
    checkPayerLimits(this.c.limits[payer.tier], amountFen, this.c.usageOf(accountId));
    if (tx.kind !== 'transfer') fail('CBDC_ERR_TX_KIND', 'a payment is a transfer');
    if ((tx.preimages?.length ?? 0) > 0 || (tx.certs?.length ?? 0) > 0) fail('CBDC_ERR_WITNESS', 'a payment from a wallet carries no preimages or certificates');

    const terms = await this.c.lookup.terms(req.payee, amountFen);
    if (terms.bank === this.c.bankId && terms.account === accountId) fail('CBDC_ERR_PAYEE_REFUSED', 'a wallet cannot pay itself');
    const receipts = this.c.receipts();
    if (req.receiptDraft !== undefined) {
      if (receipts === null) fail('CBDC_ERR_RECEIPT_MERCHANT', 'this bank hands on no receipt drafts');
      await receipts.check(req.receiptDraft, { bank: terms.bank, account: terms.account, walletKey: terms.walletKey }, amountFen);
    }
    const expected = payeeOutputs(terms, amountFen, tx.inputs[0]!.pos);
    const k = expected.outputs.length;
    if (tx.outputs.length < k || tx.outputs.length > k + 1 || expected.outputs.some((o, i) => tx.outputs[i]!.value !== o.value || !tx.outputs[i]!.lockBytes.equals(encodeLock(o.lock)))) {
      throw new PaymentOutputsRefusal(expected.outputs, `the first ${k} output(s) must pay the payee as its terms say, then at most the change`);
    }
    const signed = this.c.signByBank(tx);

    // The payee's room is taken now, before anything waits, so no two payments count on it;
    // given back where this one is not submitted.
    const local = terms.bank === this.c.bankId;
    const hold = expected.walletFen === 0n ? null
      : local ? this.c.incoming.add(terms.account, { fen: expected.walletFen, untilMs: this.c.clock() + this.c.paymentTtlMs })
        : (this.c.lookup.remoteTerms.spend(terms, expected.walletFen), null);
    const giveBack = (): void => {
      if (hold !== null) this.c.incoming.drop(terms.account, hold);
      else if (!local && expected.walletFen > 0n) this.c.lookup.remoteTerms.refund(terms, expected.walletFen);
    };
    let rec: PaymentRec;
    try {
      rec = await this.c.atomic((): PaymentRec => {
        const again = this.earlierPayment(accountId, req.idempotencyKey, txid, digest);
        if (again !== undefined) return again;
        const { a, now, day, year, usage } = this.payerNow(accountId);
        checkPayerLimits(this.c.limits[a.tier], amountFen, usage);
        let sumFen = 0n;
        for (const input of tx.inputs) {
          const pk = posKey(input.pos);
          const c = this.c.store.coins.get(pk);
          if (c === undefined || c.owner !== accountId || c.id !== input.id.toString('hex')) fail('CBDC_ERR_UNKNOWN_INPUT', `input ${input.pos} is not an unspent output of this wallet`);
          if (this.c.store.reserved.holder(pk) !== undefined) fail('CBDC_ERR_DOUBLE_SPEND', `input ${input.pos} is being spent by another payment`);
          sumFen += fen(c.value);
        }
        const changeFen = sumFen - amountFen;
        if (changeFen < 0n) fail('CBDC_ERR_INSUFFICIENT_FUNDS', 'the inputs do not cover the amount');
        const change = tx.outputs[k];
        if ((changeFen === 0n) !== (change === undefined)) fail('CBDC_ERR_UNBALANCED', changeFen === 0n ? 'the inputs are exactly the amount: no change output' : `the inputs exceed the amount by ${changeFen} fen: that change goes back to the wallet`);
        if (change !== undefined && (change.value !== changeFen || change.lockBytes.toString('hex') !== a.lockHex)) fail('CBDC_ERR_UNBALANCED', "the change must be the inputs less the amount, to the wallet's own lock");
        const id = this.ids.next(this.c.store);
        const p: PaymentRec = {
          id, account: accountId, idempotencyKey: req.idempotencyKey, requestDigest: digest,
          payee: { bank: terms.bank, account: terms.account, alias: req.payee.alias ?? null, kind: 'customer' },
          amountFen: amountFen.toString(), walletFen: expected.walletFen.toString(), excessFen: expected.excessFen.toString(),
          inputs: tx.inputs.map((i) => i.pos.toString()), inputSumFen: sumFen.toString(), changeFen: changeFen.toString(),
          tx: txToJson(signed), txid, status: 'submitted', createdAtMs: now, expiresAtMs: now + this.c.paymentTtlMs,
          dayKey: day, yearKey: year, result: null,
          ...(req.receiptDraft !== undefined ? { receiptDraft: req.receiptDraft } : {}),
        };
        for (const input of tx.inputs) this.c.store.reserved.reserveForPayment(posKey(input.pos), id);
        writeUsage(this.c.store, accountId, day, year, usage.dayFen + amountFen, usage.yearFen + amountFen);
        this.c.store.payments.putSync(id, p);
        this.c.store.idem.putSync([accountId, req.idempotencyKey], id);
        this.c.store.byTxid.putSync(txid, id);
        this.c.store.pending.add(txid, paymentPending(p));
        // A payee here: its output's lock is filed now, from the key just derived to check it,
        // so crediting need not derive it again (a point operation) to recognise it. Were the
        // payment refused, the lock names an output that never comes: nothing pays it.
        if (local && expected.walletFen > 0n) fileReceiveLock(this.c.store, tx.outputs[0]!.lockBytes.toString('hex'), { account: terms.account, pos: tx.inputs[0]!.pos.toString(), out: 0 });
        // The fault tests' edge: the reservation written, its write transaction (with the
        // others lmdb-js folds into it) not yet committed.
        faultPoint('payment-reserving');
        return p;
      });
    } catch (e) {
      giveBack();
      throw e;
    }
    if (rec.txid !== txid || rec.status !== 'submitted' || this.c.inFlight(txid)) {
      if (rec.txid !== txid) giveBack();
      return rec.status === 'submitted' ? this.waitForPayment(rec.id) : rec;
    }
    // The fault tests' edge: reserved and committed, not yet sent to central.
    faultPoint('payment-reserved');
    return this.settleSubmitted(rec.id, txid, signed);
  }

  /** A one-request payment's authentication: exactly one signature, the account's wallet's, over the txid. */
  checkWalletSignature(a: AccountRec, tx: Tx, txidBytes: Buffer = txId(tx)): void {
    const walletKey = Buffer.from(a.walletKey, 'hex');
    const sig = tx.sigs.length === 1 && tx.sigs[0]!.key.equals(walletKey) ? tx.sigs[0]!.sig : null;
    if (sig === null || !nativeVerifier.verify(sig, txidBytes, walletKey)) fail('CBDC_ERR_BAD_SIGNATURE', "a payment carries one signature: the payer wallet's, over its txid");
  }

  /** The payment an idempotency key or a transaction already made, checked to be the same request. Reads only. */
  private earlierPayment(accountId: string, idempotencyKey: string, txid: string, digest: string): PaymentRec | undefined {
    const byKey = this.c.store.idem.get([accountId, idempotencyKey]);
    if (byKey !== undefined) {
      const p = this.samePayment(byKey, digest);
      if (p.txid !== txid && p.status === 'awaiting_signature') fail('CBDC_ERR_PAYMENT_STATE', 'this key names a payment the bank prepared; sign that one');
      return p;
    }
    const byTx = this.c.store.byTxid.get(txid);
    if (byTx === undefined) return undefined;
    const p = this.c.store.payments.get(byTx);
    if (p === undefined || p.account !== accountId || p.requestDigest !== digest) fail('CBDC_ERR_IDEMPOTENCY_CONFLICT', 'this transaction was sent before as another request');
    return p;
  }

  private samePayment(paymentId: string, digest: string): PaymentRec {
    const p = this.c.store.payments.get(paymentId);
    assert(p !== undefined, 'idempotency index points at a payment');
    if (p.requestDigest !== digest) fail('CBDC_ERR_IDEMPOTENCY_CONFLICT');
    return p;
  }

  payment(accountId: string, paymentId: string): PaymentRec {
    const p = this.c.store.payments.get(paymentId);
    if (p === undefined || p.account !== accountId) fail('CBDC_ERR_NOT_FOUND', 'no such payment for this account');
    return p;
  }

  /**
   * Step 2: the wallet's signature over the txid (its consent to exactly this transaction).
   * The bank checks it, re-checks the account, co-signs, settles through central and answers
   * with the result. Signing a settled payment again answers the same result.
   */
  async signPayment(accountId: string, paymentId: string, sigHex: string): Promise<PaymentRec> {
    const p = this.payment(accountId, paymentId);
    if (p.status === 'settled' || p.status === 'rejected') return p;
    if (p.status === 'expired') fail('CBDC_ERR_PAYMENT_EXPIRED');
    if (p.status === 'submitted') return this.waitForPayment(paymentId);
    if (p.source !== undefined) fail('CBDC_ERR_PAYMENT_STATE', "the bank pays this one from a contract's funds; it takes no wallet signature");
    const a = this.c.account(accountId);
    const sig = Buffer.from(sigHex, 'hex');
    const walletKey = Buffer.from(a.walletKey, 'hex');
    if (!nativeVerifier.verify(sig, Buffer.from(p.txid, 'hex'), walletKey)) fail('CBDC_ERR_BAD_SIGNATURE', "the signature is not the wallet's over this payment's txid");
    return this.submitPayment(accountId, p, [{ key: walletKey, sig }]);
  }

  /**
   * A payment from funds the bank alone may spend for the payer (a scheduled payment's pot,
   * whose consent the wallet gave when it funded it): the bank signs it and settles it, with
   * every check of a wallet-signed payment (freeze, expiry) made again now.
   */
  async settleByBank(accountId: string, paymentId: string): Promise<PaymentRec> {
    const p = this.payment(accountId, paymentId);
    assert(p.source !== undefined, 'the bank settles alone only payments from a contract source');
    if (p.status === 'settled' || p.status === 'rejected') return p;
    if (p.status === 'expired') fail('CBDC_ERR_PAYMENT_EXPIRED');
    if (p.status === 'submitted') return this.waitForPayment(paymentId);
    return this.submitPayment(accountId, p, []);
  }

  /** `p`: the payment as read before its signatures were checked (the transaction re-reads it before acting). */
  private async submitPayment(accountId: string, p: PaymentRec, walletSigs: { key: Buffer; sig: Buffer }[]): Promise<PaymentRec> {
    const paymentId = p.id;
    // The transaction as prepared (p.tx is its JSON); parsed from the record after a restart.
    const unsigned = this.awaitingSignature.get(paymentId)?.tx ?? parseTx({ ...p.tx, witness: {} }, this.c.network, { witnessLater: true });
    const signed = this.c.signByBank({ ...unsigned, sigs: walletSigs });
    const signedFirst = await this.c.atomic(() => {
      const cur = this.c.store.payments.get(paymentId)!;
      // The same signature sent twice at once: the other request submits it; answer its result.
      if (cur.status === 'submitted' || cur.status === 'settled' || cur.status === 'rejected') return false;
      if (cur.status === 'expired') fail('CBDC_ERR_PAYMENT_EXPIRED');
      if (cur.status !== 'awaiting_signature') fail('CBDC_ERR_PAYMENT_STATE');
      if (this.c.clock() > cur.expiresAtMs) {
        // Lapsed: release its outputs and usage now, as the refusal is answered, not on the next sweep.
        this.releasePayment(paymentId, 'expired', { status: 'expired', code: 'CBDC_ERR_PAYMENT_EXPIRED' });
        return 'expired' as const;
      }
      const acc = this.c.account(accountId);
      checkActive(acc);
      const submitted: PaymentRec = { ...cur, status: 'submitted', tx: txToJson(signed) };
      this.c.store.payments.putSync(paymentId, submitted);
      // The signed transaction is in the payment record just written: the pending entry names it.
      this.c.store.pending.add(cur.txid, paymentPending(submitted));
      return true;
    });
    if (signedFirst === 'expired') {
      await this.c.durable();
      this.c.emit('payment', 'expired');
      fail('CBDC_ERR_PAYMENT_EXPIRED');
    }
    if (!signedFirst) return this.waitForPayment(paymentId);
    this.awaitingSignature.delete(paymentId);
    return this.settleSubmitted(paymentId, p.txid, signed);
  }

  /** Sends a payment just marked submitted to central and answers once its outcome is known and on disk (or it is still pending after a while). */
  private async settleSubmitted(paymentId: string, txid: string, signed: Tx): Promise<PaymentRec> {
    const r = await this.c.submitPending(txid, signed);
    // The fault tests' edge: central has answered (settled, in its batch), the bank has not
    // written the outcome.
    faultPoint('payment-answered');
    await this.finishPayment(paymentId, signed, r);
    let done = this.c.store.payments.get(paymentId)!;
    if (done.status === 'submitted') {
      void this.c.resubmitPending();
      done = await this.waitForPayment(paymentId, 10_000);
    }
    // Whatever was read above is on disk before it is answered.
    await this.c.durable();
    this.c.emit('payment', done.status === 'settled' || done.status === 'rejected' || done.status === 'expired' ? done.status : 'pending');
    return done;
  }

  private readonly waiters = new Map<string, (() => void)[]>();

  /** Wakes the requests waiting on a payment that settled or was released. */
  wake(paymentId: string): void {
    for (const w of this.waiters.get(paymentId) ?? []) w();
    this.waiters.delete(paymentId);
  }

  /** Waits until a transaction is applied here (settled), or the time is up. */
  async waitForApplied(txid: string, maxMs: number): Promise<boolean> {
    for (let waited = 0; waited < maxMs; waited += 50) {
      if (this.c.store.applied.get(txid) !== undefined) return true;
      if (committedPending(this.c.store, txid) === undefined) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.c.store.applied.get(txid) !== undefined;
  }

  private async waitForPayment(paymentId: string, maxMs = 30_000): Promise<PaymentRec> {
    for (let waited = 0; waited < maxMs; waited += 100) {
      const p = this.c.store.payments.get(paymentId)!;
      if (p.status !== 'submitted') return p;
      await new Promise<void>((r) => {
        const list = this.waiters.get(paymentId) ?? [];
        list.push(r);
        this.waiters.set(paymentId, list);
        setTimeout(r, 100);
      });
    }
    return this.c.store.payments.get(paymentId)!;
  }

  private async finishPayment(paymentId: string, tx: Tx, r: CentralResult): Promise<void> {
    if (r.status === 'settled') {
      await this.c.applySettled(tx, r, {});
    } else if (isUncertain(r)) {
      // Outcome unknown: the payment stays submitted and is sent again until central answers
      // (resubmitPending); central's event stream settles it if the first attempt committed.
      return;
    } else if (r.code === 'CBDC_ERR_DOUBLE_SPEND' || r.code === 'CBDC_ERR_UNKNOWN_INPUT') {
      // Our inputs are reserved, so this is an earlier attempt (a transport retry) that did
      // settle: resubmitPending confirms it from the event stream before anything is released.
      return;
    } else {
      await this.c.atomic(() => this.releasePayment(paymentId, 'rejected', { status: 'rejected', code: r.code, message: r.message }));
    }
    this.wake(paymentId);
  }

  /** Inside a transaction: undo a payment's reservation and usage. */
  releasePayment(paymentId: string, status: 'rejected' | 'expired', result: Record<string, unknown>): void {
    const p = this.c.store.payments.get(paymentId)!;
    if (p.status !== 'awaiting_signature' && p.status !== 'submitted') return;
    for (const pos of p.inputs) this.c.store.reserved.release(posKey(pos), paymentId);
    if (p.status === 'submitted') this.c.store.pending.drop(p.txid);
    if (p.usageLater !== true) addUsage(this.c.store, p.account, p.dayKey, p.yearKey, -fen(p.amountFen));
    this.c.store.payments.putSync(paymentId, { ...p, status, result });
    this.c.paymentEnded(paymentId);
  }

  /**
   * Payments that may still await their signature, with their expiry: the sweep reads these,
   * not every payment ever made. Filled from the store at start, added to at prepare (with
   * the unsigned transaction it built, which the signing step would otherwise parse again
   * from the record); an entry leaves when its payment is submitted or at the first sweep
   * after its payment moved on.
   */
  readonly awaitingSignature = new Map<string, { expiresAtMs: number; tx: Tx | null }>();

  async expirePayments(): Promise<void> {
    const now = this.c.clock();
    const due: string[] = [];
    for (const [id, { expiresAtMs }] of this.awaitingSignature) {
      if (expiresAtMs >= now) continue;
      if (this.c.store.payments.get(id)?.status === 'awaiting_signature') due.push(id);
      else this.awaitingSignature.delete(id);
    }
    if (due.length === 0) return;
    await this.c.atomic(() => {
      for (const id of due) {
        const p = this.c.store.payments.get(id)!;
        if (p.status === 'awaiting_signature' && p.expiresAtMs < now) this.releasePayment(id, 'expired', { status: 'expired', code: 'CBDC_ERR_PAYMENT_EXPIRED' });
      }
    });
    for (const id of due) this.awaitingSignature.delete(id);
  }
}
