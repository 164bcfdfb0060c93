// The bank: receiving (quotes, receive terms), the submission of its transactions to central
// and their resubmission while the outcome is unknown, and the contract services' spending.
// The Bank class is the one door to the rest, each a file of its own: accounts and the teller
// (accounts.ts), the payment pipeline (payments.ts), the holdings, the second tier of
// distribution (holdings.ts: deposits exchanged to wallets, issuance, redemption), finding a
// payee at another bank (payee_lookup.ts), money on its way in held against caps
// (incoming.ts), crediting settled transactions from central (crediting.ts), coin picking
// (coins.ts), the bank's keys and signatures (bank_keys.ts), limit usage (usage.ts),
// compliance reports (aml.ts), history, statements, totals and reconciliation (statements.ts).
//
// Every state change runs inside one LMDB write transaction whose callback first checks,
// then writes (it never throws after writing): concurrent requests serialize there, so two
// payments can neither reserve the same output nor together pass a limit.
import { EventEmitter } from 'node:events';
import { type ErrorCode, assert, fail, isCbdcError } from '../protocol/errors.js';
import { TX_INPUTS_MAX } from '../protocol/limits.js';
import { type Lock, decodeLockTrusted, encodeLock, lockToJson, parseLock } from '../protocol/lock.js';
import { type MerchantCertificate, signMerchantCert } from '../protocol/merchant_cert.js';
import { checkSpend } from '../protocol/spend.js';
import { type Tx, parseTx, txId, txToJson } from '../protocol/tx.js';
import { keyLock, multiLock } from '../protocol/tx_builder.js';
import { BankKeys, type LockDerivation } from './bank_keys.js';
import { IncomingHolds } from './incoming.js';
import { PaymentPipeline } from './payments.js';
import { type ExchangeExtra, Holdings } from './holdings.js';
import { type PendingTx, isUncertain } from './pending_tx.js';
import { committedPending } from './in_flight.js';
import { selectCoins, unreservedCoins } from './coins.js';
import { PayeeLookup } from './payee_lookup.js';
import { type CreditingContext, type SettledOutput, applyTx } from './crediting.js';
import { RECEIVE_TERMS_TTL_MS, type ReceiveTerms } from './payee_terms.js';
import { type Clock, dayKey, yearKey } from '../platform/clock.js';
import {
  type Evidence, type Tier, type TierLimits, DEFAULT_TIER_LIMITS, splitAtCap,
} from './tiers.js';
import {
  type AccountRec, type AmlRec, type BankStore, type CoinRec, type HistoryRec, type PaymentRec, type VisitorRec, BANK_OWNER, OFFLINE_RESERVE_OWNER, fen, posKey,
} from './store.js';
import type { CentralBatchEvent, CentralLink, CentralResult } from './central_link.js';
import { checkVisitorReceives } from './visitors/rules.js';
import * as accounts from './accounts.js';
import { usageAt } from './usage.js';
import { amlReports } from './aml.js';
import { type BankTotals, type HistoryFilter, type Reconciliation, type Statement, bankTotals, historyOf, reconcileWithCentral, statementOf } from './statements.js';

export { BANK_OWNER, OFFLINE_RESERVE_OWNER };
export type { ExchangeExtra };

export interface BankConfig {
  id: string;
  network: string;
  secretKey: Buffer;
  publicKey: Buffer;
  tierLimits?: Record<Tier, TierLimits>;
  /** Whether a frozen account may still receive. */
  frozenCanReceive?: boolean;
  /** Payments at or above this are reported to compliance (default 50,000 yuan). */
  amlThresholdFen?: bigint;
  /** Keep holdings between low and high: below low, request issuance up to target; above high, redeem down to target. */
  holdingsLowFen?: bigint;
  holdingsTargetFen?: bigint;
  holdingsHighFen?: bigint;
  /** How long a prepared payment waits for the wallet's signature. */
  paymentTtlMs?: number;
  /** Other banks' node URLs, for resolving their customers' aliases. */
  peers?: Map<string, string>;
  clock?: Clock;
}

export interface PayeeRef {
  alias?: string;
  account?: string;
  bank?: string;
}

/** A load of an offline device: the payment goes to the bank's offline-reserve lock. */
export interface OfflineLoadPayee {
  offlineDevice: string;
  reserveLock: Lock;
}

/** Called inside the write transaction that applies a settled transaction (once per txid). */
export type AppliedTxHook = (txid: string, payment: PaymentRec | undefined) => void;

export interface Quote {
  bank: string;
  account: string;
  walletFen: bigint;
  excessFen: bigint;
  outputs: { value: bigint; lock: Lock }[];
}

export interface BankEvents {
  history: [string, HistoryRec];
  /** A wallet-signed payment's outcome as its signing request answers it (settled, rejected, pending, expired). */
  payment: [PaymentOutcome];
}

export type PaymentOutcome = 'settled' | 'rejected' | 'pending' | 'expired';
/**
 * A payee that is a contract of this bank's contract services: the outputs to pay (locks the
 * service made) and whether the payer's tier limits apply now (money leaving the payer's
 * control) or later (a scheduled payment's pot, checked when each slot runs).
 */
export interface ContractPayee {
  contract: string;
  outputs: { value: bigint; lock: Lock }[];
  limitsNow: boolean;
}

/** Where a payment's inputs come from when not the payer's wallet (a scheduled payment's pot). */
export interface PaymentSource {
  owner: string;
  changeLock: Lock;
}

/**
 * The contract services' view of settlement, called inside the LMDB transaction that applies
 * (or gives up) a transaction, so their records move with the ledger's.
 */
export interface ContractHooks {
  applied(txid: string, outputs: readonly { pos: string; id: string; value: string; lockHex: string }[], atMs: number): void;
  refused(txid: string, code: ErrorCode, message: string): void;
}

/** What the receipt service does at the bank's payment steps. */
export interface ReceiptHooks {
  /** Before a payment carrying a receipt draft is made (throws a coded refusal; changes nothing). */
  check(draft: string, payee: { bank: string; account: string; walletKey?: Buffer }, amountFen: bigint): Promise<void>;
  /** Inside the transaction applying `txid`: `credits` is what it paid into each account here (wallet and sweep). Only writes. */
  applied(txid: string, payment: PaymentRec | undefined, credits: ReadonlyMap<string, bigint>, atMs: number): void;
  /** Inside the transaction recording an account's tax id: indexes it. Only writes. */
  taxIdSet(accountId: string, taxId: string): void;
}

export class Bank extends EventEmitter<BankEvents> {
  readonly id: string;
  readonly network: string;
  readonly publicKey: Buffer;
  readonly holdingsLock: Lock;
  readonly holdingsLockHex: string;
  private readonly sk: Buffer;
  private readonly keys: BankKeys;
  private readonly limits: Record<Tier, TierLimits>;
  private readonly clock: Clock;
  private readonly cfg: Required<Omit<BankConfig, 'tierLimits' | 'clock' | 'peers' | 'secretKey' | 'publicKey' | 'id' | 'network'>>;
  readonly peers: Map<string, string>;
  /** Incoming amounts promised but not yet settled, per account (for balance caps). */
  private readonly incoming: IncomingHolds;
  private readonly crediting: CreditingContext;
  private readonly payments: PaymentPipeline;
  private readonly holdings: Holdings;
  /** Payees at other banks: their receive terms and quotes (intermediary/payee_lookup.ts). */
  private readonly lookup: PayeeLookup;
  private timers: NodeJS.Timeout[] = [];
  /** The offline module's hook (loads and reserve payouts settle atomically with their transaction). */
  onApplied: AppliedTxHook | null = null;
  /** The receipt service (intermediary/receipts/service.ts): checks a payment's draft before it is made, and hears of each settlement. */
  receipts: ReceiptHooks | null = null;

  constructor(readonly store: BankStore, readonly link: CentralLink, c: BankConfig) {
    super();
    this.setMaxListeners(0);
    this.id = c.id;
    this.network = c.network;
    this.sk = c.secretKey;
    this.publicKey = c.publicKey;
    this.keys = new BankKeys(c.secretKey, c.publicKey);
    this.holdingsLock = keyLock(this.publicKey);
    this.holdingsLockHex = encodeLock(this.holdingsLock).toString('hex');
    this.limits = c.tierLimits ?? DEFAULT_TIER_LIMITS;
    this.clock = c.clock ?? Date.now;
    this.peers = c.peers ?? new Map();
    this.cfg = {
      frozenCanReceive: c.frozenCanReceive ?? true,
      amlThresholdFen: c.amlThresholdFen ?? 5_000_000n,
      holdingsLowFen: c.holdingsLowFen ?? 100_000_000n,
      holdingsTargetFen: c.holdingsTargetFen ?? 500_000_000n,
      holdingsHighFen: c.holdingsHighFen ?? 2_000_000_000n,
      paymentTtlMs: c.paymentTtlMs ?? 60_000,
    };
    this.lookup = new PayeeLookup({
      bankId: this.id, network: this.network, secretKey: this.sk, ca: () => this.link.ca, peers: this.peers, store, clock: this.clock,
      peerKeyOf: (bank) => this.peerKeyOf(bank),
      localTerms: (payee, amountFen) => this.receiveTerms(payee, this.id, amountFen),
      localQuote: (payee, amountFen) => this.quote(payee, amountFen),
    });
    this.incoming = new IncomingHolds(this.clock);
    this.crediting = {
      store, bankId: this.id, amlThresholdFen: this.cfg.amlThresholdFen, incoming: this.incoming,
      receiveKeyOf: (accountId) => this.keys.receiveKeyOf(accountId),
      noteHistory: (accountId, rec) => {
        assert(this.notes !== null, 'history is written inside atomic()');
        this.notes.push([accountId, rec]);
      },
      paymentEnded: (paymentId) => this.ended?.push(paymentId),
      hooks: () => ({ onApplied: this.onApplied, receipts: this.receipts, contractHooks: this.contractHooks }),
    };
    this.payments = new PaymentPipeline({
      store, bankId: this.id, network: this.network, limits: this.limits, paymentTtlMs: this.cfg.paymentTtlMs, holdingsLock: this.holdingsLock,
      lookup: this.lookup, incoming: this.incoming, clock: this.clock,
      account: (id) => this.account(id),
      usageOf: (id) => this.usageOf(id),
      selectCoins: (owner, amountFen) => this.selectCoins(owner, amountFen),
      customerLock: (walletKey) => this.customerLock(walletKey),
      signByBank: (tx) => this.signByBank(tx),
      atomic: (fn) => this.atomic(fn),
      durable: () => this.durable(),
      emit: (event, outcome) => this.emit(event, outcome),
      receipts: () => this.receipts,
      submitPending: (txid, tx) => this.submitPending(txid, tx),
      resubmitPending: () => this.resubmitPending(),
      inFlight: (txid) => this.inFlight.has(txid),
      applySettled: (tx, r, o) => this.applySettled(tx, r, o),
      paymentEnded: (paymentId) => this.ended?.push(paymentId),
    });
    this.holdings = new Holdings({
      store, bankId: this.id, network: this.network, limits: this.limits, holdingsLock: this.holdingsLock, holdingsLockHex: this.holdingsLockHex,
      incoming: this.incoming, link: this.link, clock: this.clock,
      marks: { lowFen: this.cfg.holdingsLowFen, targetFen: this.cfg.holdingsTargetFen, highFen: this.cfg.holdingsHighFen },
      account: (id) => this.account(id),
      customerLock: (walletKey) => this.customerLock(walletKey),
      signByBank: (tx) => this.signByBank(tx),
      selectCoins: (owner, amountFen) => this.selectCoins(owner, amountFen),
      atomic: (fn) => this.atomic(fn),
      durable: () => this.durable(),
      submitPending: (txid, tx) => this.submitPending(txid, tx),
      resubmitPending: () => this.resubmitPending(),
      waitForApplied: (txid, maxMs) => this.payments.waitForApplied(txid, maxMs),
      applySettled: (tx, r, o) => this.applySettled(tx, r, o),
      applyTx: (txid, spent, outputs, atMs, exchangeFor) => this.applyTx(txid, spent, outputs, atMs, exchangeFor),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    await this.store.root.transaction(() => {
      if (this.store.locks.get(this.holdingsLockHex) === undefined) this.store.locks.putSync(this.holdingsLockHex, BANK_OWNER);
    });
    for (const { id, expiresAtMs } of this.store.awaitingAtOpen) this.payments.awaitingSignature.set(id, { expiresAtMs, tx: null });
    this.link.follow(
      () => BigInt((this.store.meta.get('cursor') as string | undefined) ?? '0'),
      (b) => this.onCentralBatch(b),
      (e) => process.stderr.write(`bank ${this.id}: event handling failed: ${e.message}\n`),
    );
    this.timers.push(setInterval(() => void this.expirePayments(), 1_000));
    this.timers.push(setInterval(() => void this.manageHoldings(), 2_000));
    this.timers.push(setInterval(() => void this.resubmitPending(), 3_000));
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.link.stop();
  }

  /** Waits until every write so far is on disk (before acknowledging to a wallet). */
  durable(): Promise<void> {
    return this.store.flushed();
  }

  /** Runs check-then-write atomically; errors thrown by `fn` before it writes come back as rejections. */
  async atomic<T>(fn: () => T): Promise<T> {
    let notes: [string, HistoryRec][] = [];
    let ended: string[] = [];
    const r = await this.store.root.transaction(() => {
      this.notes = [];
      this.ended = [];
      try {
        const value = fn();
        notes = this.notes;
        ended = this.ended;
        return { ok: true as const, value };
      } catch (e) {
        if (isCbdcError(e)) return { ok: false as const, error: e };
        throw e;
      } finally {
        this.notes = null;
        this.ended = null;
      }
    });
    // Wallets hear of new history entries only now that the transaction has committed: a
    // subscriber reading the history any earlier would not see them yet.
    for (const [account, rec] of notes) this.emit('history', account, rec);
    // Requests waiting on a payment this transaction settled or released answer now, however
    // it got here (central's answer, its event stream, a resubmission, the expiry sweep).
    for (const paymentId of ended) this.payments.wake(paymentId);
    if (!r.ok) throw r.error;
    return r.value;
  }

  /** History entries written by the transaction now running, announced once it commits. */
  private notes: [string, HistoryRec][] | null = null;
  /** Payments the transaction now running settled or released; their waiters wake once it commits. */
  private ended: string[] | null = null;

  // ---------------------------------------------------------------- accounts

  customerLock(walletKey: Buffer): Lock {
    return this.keys.customerLock(walletKey);
  }

  sweepLock(walletKey: Buffer): Lock {
    return this.keys.sweepLock(walletKey);
  }

  account(id: string): AccountRec {
    const a = this.store.accounts.get(id);
    if (a === undefined) fail('CBDC_ERR_ACCOUNT_UNKNOWN', `no account "${id.slice(0, 40)}" at ${this.id}`);
    return a;
  }

  accountByWalletKey(hex: string): AccountRec | undefined {
    const id = this.store.walletKeys.get(hex);
    return id === undefined ? undefined : this.store.accounts.get(id);
  }

  tierLimits(tier: Tier): TierLimits {
    return this.limits[tier];
  }

  /** The bank's clock (tests move it; every limit and validity uses it). */
  now(): number {
    return this.clock();
  }

  /** Room left under an account's balance cap, counting money promised to it (null: no cap). */
  capRoomFen(a: AccountRec): bigint | null {
    const cap = this.limits[a.tier].balanceCapFen;
    if (cap === null) return null;
    const used = fen(a.balanceFen) + this.incoming.sumFen(a.id);
    return cap > used ? cap - used : 0n;
  }

  // Accounts and the teller's deposits: intermediary/accounts.ts.

  openAccount(o: { walletKey: Buffer; kind: 'personal' | 'merchant'; mcc?: string | null; tier: Tier; evidence: Evidence; staff: string | null; visitor?: VisitorRec; taxId?: string | null; region?: string }): Promise<AccountRec> {
    return accounts.openAccount(this, o);
  }

  changeTier(id: string, tier: Tier, evidence: Evidence, by: string, byStaff: boolean): Promise<AccountRec> {
    return accounts.changeTier(this, id, tier, evidence, by, byStaff);
  }

  setStatus(id: string, status: 'active' | 'frozen'): Promise<AccountRec> {
    return accounts.setStatus(this, id, status);
  }

  close(id: string): Promise<AccountRec> {
    return accounts.close(this, id);
  }

  addAlias(id: string, alias: string): Promise<AccountRec> {
    return accounts.addAlias(this, id, alias);
  }

  creditDeposit(id: string, amountFen: bigint): Promise<AccountRec> {
    return accounts.creditDeposit(this, id, amountFen);
  }

  debitDeposit(id: string, amountFen: bigint): Promise<AccountRec> {
    return accounts.debitDeposit(this, id, amountFen);
  }

  // ---------------------------------------------------------------- holdings (intermediary/holdings.ts)

  /** Deposit -> wallet, paid from the bank's holdings. */
  exchangeToWallet(id: string, amountFen: bigint, idempotencyKey: string, x: ExchangeExtra = {}): Promise<Record<string, unknown>> {
    return this.holdings.exchangeToWallet(id, amountFen, idempotencyKey, x);
  }

  holdingsFen(): bigint {
    return this.holdings.fen();
  }

  /** Keeps the bank's own CBDC between its low and high marks, within its quota at central. */
  manageHoldings(): Promise<void> {
    return this.holdings.manage();
  }

  requestIssuance(amountFen: bigint): Promise<unknown> {
    return this.holdings.requestIssuance(amountFen);
  }

  redeemHoldings(amountFen: bigint): Promise<unknown> {
    return this.holdings.redeem(amountFen);
  }

  /** The account a wallet key opened (for a wallet whose answer to opening was lost). */
  accountOfWalletKey(walletKeyHex: string): AccountRec {
    const a = this.accountByWalletKey(walletKeyHex);
    if (a === undefined) fail('CBDC_ERR_ACCOUNT_UNKNOWN', 'no account was opened with this key');
    return a;
  }

  private inFlight = new Set<string>();

  /** Sends a pending transaction to central, at most once at a time per txid. */
  private async submitPending(txid: string, tx: Tx): Promise<CentralResult> {
    this.inFlight.add(txid);
    try {
      return await this.link.submit(tx);
    } finally {
      this.inFlight.delete(txid);
    }
  }

  /**
   * Transactions sent to central whose outcome is unknown (central was unreachable) are sent
   * again until central answers: settled, or refused. A refusal for a spent input counts only
   * once this bank has applied every batch central has, so a first attempt that did settle is
   * never mistaken for a refusal.
   */
  async resubmitPending(): Promise<void> {
    // From memory, each as last committed: one a write transaction has only just added is not sent before it is on file.
    const pending: [string, PendingTx][] = [];
    for (const [txid] of this.store.pending.entries()) {
      const p = this.inFlight.has(txid) ? undefined : committedPending(this.store, txid);
      if (p !== undefined) pending.push([txid, p]);
    }
    for (const [txid, p] of pending) {
      if (this.store.applied.get(txid) !== undefined) continue;
      const txJson = p.tx ?? this.store.payments.get(p.paymentId!)?.tx;
      assert(txJson !== undefined, 'a pending transaction is stored with it or with its payment');
      const tx = parseTx(txJson, this.network);
      const r = await this.submitPending(txid, tx);
      if (r.status === 'settled') {
        await this.applySettled(tx, r, p.kind === 'exchange' ? { exchangeFor: p.account } : {});
      } else if (!isUncertain(r)) {
        if (r.code === 'CBDC_ERR_DOUBLE_SPEND' || r.code === 'CBDC_ERR_UNKNOWN_INPUT') {
          const head = await this.link.call<{ batches: string }>('GET', '/v1/supply').catch(() => null);
          const cursor = BigInt((this.store.meta.get('cursor') as string | undefined) ?? '0');
          if (head === null || cursor < BigInt(head.batches) || this.store.applied.get(txid) !== undefined) continue;
        }
        await this.atomic(() => {
          if (p.kind === 'exchange') this.holdings.releaseExchange(txid);
          else if (p.kind === 'contract') this.releaseContractTx(txid, r.code, r.message);
          else this.payments.releasePayment(p.paymentId!, 'rejected', { status: 'rejected', code: r.code, message: r.message });
        });
      }
      if (p.paymentId) this.payments.wake(p.paymentId);
    }
  }

  /** Adds the bank's signatures (intermediary/bank_keys.ts), each input's key as its lock was filed. */
  private signByBank(tx: Tx): Tx {
    return this.keys.sign(tx, (input) => {
      const lockHex = this.store.coins.get(posKey(input.pos))?.lockHex;
      const d = lockHex === undefined ? undefined : (this.store.meta.get(`lock-derivation/${lockHex}`) as LockDerivation | undefined);
      return d === undefined ? undefined : { lockHex: lockHex!, d };
    });
  }

  /** R_a, the key this bank publishes for account `accountId`: payers derive each payment's bank key from it. */
  receiveKeyOf(accountId: string): Buffer {
    return this.keys.receiveKeyOf(accountId);
  }

  /** Inside a transaction: oldest-first unreserved coins of `owner` covering the amount (intermediary/coins.ts). */
  private selectCoins(owner: string, amountFen: bigint): { coins: CoinRec[]; sumFen: bigint } {
    return selectCoins(this.store, owner, amountFen, owner === BANK_OWNER ? "the bank's CBDC holdings do not cover that yet; retry shortly" : 'the wallet balance (less payments in flight) does not cover that');
  }

  // ---------------------------------------------------------------- receiving

  /**
   * The payee side: finds the account, checks it can receive, and says which outputs pay it:
   * the wallet's lock up to its balance cap, the excess to its sweep lock (credited to the
   * linked deposit) — or refuses when there is excess and no linked account.
   */
  async quote(ref: { alias?: string; account?: string }, amountFen: bigint, payerBank: string = this.id): Promise<Quote> {
    const a = this.receivingAccount(ref);
    const { walletFen, excessFen } = splitAtCap(this.limits[a.tier], fen(a.balanceFen) + this.incoming.sumFen(a.id), amountFen);
    if (excessFen > 0n && a.evidence.linked_account === undefined) fail('CBDC_ERR_BALANCE_CAP');
    const wk = Buffer.from(a.walletKey, 'hex');
    const outputs: Quote['outputs'] = [];
    if (walletFen > 0n) outputs.push({ value: walletFen, lock: await this.freshLock(a.id, wk, payerBank) });
    if (excessFen > 0n) outputs.push({ value: excessFen, lock: this.sweepLock(wk) });
    this.incoming.add(a.id, { fen: walletFen, untilMs: this.clock() + this.cfg.paymentTtlMs });
    return { bank: this.id, account: a.id, walletFen, excessFen, outputs };
  }

  /** A fresh lock multi(2, [wallet, derived bank key]) for one incoming payment, mapped to the account. */
  private async freshLock(accountId: string, walletKey: Buffer, payerBank: string): Promise<Lock> {
    return this.atomic(() => {
      const i = (this.store.meta.get('lock-next') as number | undefined) ?? 0;
      const d = this.keys.derivedKey(i);
      const lock = multiLock(2, [walletKey, d.pk]);
      const lockHex = encodeLock(lock).toString('hex');
      this.store.meta.putSync('lock-next', i + 1);
      this.store.meta.putSync(`lock-derivation/${lockHex}`, i);
      // Which bank asked for it: the payee's history names where a payment came from.
      this.store.meta.putSync(`lock-payer/${lockHex}`, payerBank);
      this.store.locks.putSync(lockHex, accountId);
      return lock;
    });
  }

  /** The payee's account by alias or id, if it can receive (else the refusal a quote gives). */
  private receivingAccount(ref: { alias?: string; account?: string }): AccountRec {
    const id = ref.account ?? (ref.alias !== undefined ? this.store.aliases.get(ref.alias) : undefined);
    const a = id === undefined ? undefined : this.store.accounts.get(id);
    if (a === undefined || a.status === 'closed') fail('CBDC_ERR_PAYEE_UNKNOWN');
    if (a.status === 'frozen' && !this.cfg.frozenCanReceive) fail('CBDC_ERR_ACCOUNT_FROZEN', 'the payee account is frozen');
    checkVisitorReceives(a, this.clock());
    return a;
  }

  /**
   * The payee side of a payment made without a quote: the account's receive terms. For another
   * bank and a capped tier, room under the cap (up to `roomWantedFen`) is set aside for that
   * bank until the terms lapse, as a quote sets aside its amount; for this bank's own payers
   * the room is what is left now (the payment that uses it sets its own amount aside).
   */
  receiveTerms(ref: { alias?: string; account?: string }, askingBank: string, roomWantedFen: bigint, unusedFen = 0n): ReceiveTerms {
    const a = this.receivingAccount(ref);
    const cap = this.limits[a.tier].balanceCapFen;
    // A visitor wallet's terms end with its validity: a payer's bank holding them pays no later.
    const untilMs = Math.min(this.clock() + RECEIVE_TERMS_TTL_MS, a.visitor?.validUntilMs ?? Number.MAX_SAFE_INTEGER);
    let roomFen: bigint | null = null;
    if (cap !== null) {
      if (askingBank !== this.id && unusedFen > 0n) this.incoming.releaseAllotted(a.id, askingBank, unusedFen);
      const used = fen(a.balanceFen) + this.incoming.sumFen(a.id);
      const free = cap > used ? cap - used : 0n;
      roomFen = askingBank === this.id || free < roomWantedFen ? free : roomWantedFen;
      // Held past the terms' end by a payment's lifetime: a payment made on the last instant
      // of the terms still finds its room here when it settles.
      if (askingBank !== this.id && roomFen > 0n) this.incoming.add(a.id, { fen: roomFen, untilMs: untilMs + this.cfg.paymentTtlMs, allotment: askingBank });
    }
    return { bank: this.id, account: a.id, walletKey: Buffer.from(a.walletKey, 'hex'), receiveKey: this.receiveKeyOf(a.id), bankKey: this.publicKey, roomFen, sweeps: a.evidence.linked_account !== undefined, untilMs };
  }

  /** The payer side: the terms to pay `payee` with (intermediary/payee_lookup.ts). */
  payeeTerms(payee: PayeeRef, amountFen: bigint): Promise<ReceiveTerms> {
    return this.lookup.terms(payee, amountFen);
  }

  /** Another bank's key as central's directory has it (the node sets this; undefined: not known here). */
  peerKeyOf: (bank: string) => Buffer | undefined = () => undefined;

  // ---------------------------------------------------------------- paying (intermediary/payments.ts)

  /** Step 1 of the two-step flow: the payment built and reserved, for the wallet's signature. */
  preparePayment(accountId: string, req: { idempotencyKey: string; payee: PayeeRef | 'deposit' | OfflineLoadPayee | ContractPayee; amountFen: bigint; source?: PaymentSource; receiptDraft?: string }): Promise<PaymentRec> {
    return this.payments.preparePayment(accountId, req);
  }

  /** A payment in one request: the wallet's transaction and its one signature. */
  pay(accountId: string, req: { idempotencyKey: string; payee: PayeeRef; amountFen: bigint; tx: Tx; signatureChecked?: boolean; receiptDraft?: string }): Promise<PaymentRec> {
    return this.payments.pay(accountId, req);
  }

  checkWalletSignature(a: AccountRec, tx: Tx, txidBytes: Buffer = txId(tx)): void {
    this.payments.checkWalletSignature(a, tx, txidBytes);
  }

  payment(accountId: string, paymentId: string): PaymentRec {
    return this.payments.payment(accountId, paymentId);
  }

  /** Step 2 of the two-step flow: the wallet's signature over the txid. */
  signPayment(accountId: string, paymentId: string, sigHex: string): Promise<PaymentRec> {
    return this.payments.signPayment(accountId, paymentId, sigHex);
  }

  /** A payment from funds the bank alone may spend for the payer (a scheduled payment's pot). */
  settleByBank(accountId: string, paymentId: string): Promise<PaymentRec> {
    return this.payments.settleByBank(accountId, paymentId);
  }

  expirePayments(): Promise<void> {
    return this.payments.expirePayments();
  }

  // ---------------------------------------------------------------- contract services

  /** Set by the contract services (intermediary/contracts/): told of each settlement and refusal. */
  contractHooks: ContractHooks | null = null;

  /** A fresh bank key for a contract's lock, recorded so the bank can sign for it (inside a transaction). */
  contractKey(): { index: number; pk: Buffer } {
    const i = (this.store.meta.get('lock-next') as number | undefined) ?? 0;
    this.store.meta.putSync('lock-next', i + 1);
    return { index: i, pk: this.keys.derivedKey(i).pk };
  }

  /**
   * Inside a transaction: files a contract's lock under its owner ('ctr:<id>…' or 'sched:<id>')
   * so the coins paid to it are tracked, and notes which derived key of the bank it names.
   */
  registerContractLock(lock: Lock, owner: string, keyIndex: number): string {
    const lockHex = encodeLock(lock).toString('hex');
    this.store.locks.putSync(lockHex, owner);
    this.store.meta.putSync(`lock-derivation/${lockHex}`, keyIndex);
    return lockHex;
  }

  /**
   * This bank's certificate that `lock` is one of its merchants' of category `mcc` (what a
   * purpose rule asks of the outputs paying merchants), valid until `expiresMs`.
   */
  certifyMerchantLock(lock: Lock, mcc: number, expiresMs: number): MerchantCertificate {
    return signMerchantCert(this.sk, { network: this.network, intermediary: this.id, lockBytes: encodeLock(lock), mcc, expiresMs });
  }

  /** The wallet lock this bank pays a customer's refunds and releases to. */
  payLockOf(accountId: string): Lock {
    const a = this.account(accountId);
    return this.customerLock(Buffer.from(a.walletKey, 'hex'));
  }

  /** An owner's unreserved coins (oldest first), at most `max`. */
  coinsOf(owner: string, max = TX_INPUTS_MAX): CoinRec[] {
    return unreservedCoins(this.store, owner, max);
  }

  /**
   * Spends coins held under a contract's locks with a transaction its service built and the
   * parties signed (their signatures already in `tx.sigs`, and any other witness): the bank
   * adds its own signatures, sends it to central and applies it, like an exchange. `label`
   * names the contract in the history of the accounts it pays; `prepare` runs in the same LMDB
   * transaction that reserves the coins (the service's own records). The result is central's;
   * an uncertain one stays pending and resubmitPending finishes it.
   */
  async submitContractTx(o: { owner: string; tx: Tx; label: string; prepare?: () => void }): Promise<CentralResult> {
    const txid = txId(o.tx).toString('hex');
    const signed = this.signByBank(o.tx);
    // The checks central makes of the locks (time by this bank's clock), before anything is
    // reserved: a spend that cannot pass is refused here with central's code, changing nothing.
    const inputs = o.tx.inputs.map((i) => {
      const c = this.store.coins.get(posKey(i.pos));
      if (c === undefined || c.lockHex === undefined) fail('CBDC_ERR_CONTRACT_STATE', `input ${i.pos} is not a coin this bank holds`);
      const lockBytes = Buffer.from(c.lockHex, 'hex');
      return { lock: decodeLockTrusted(lockBytes), lockBytes };
    });
    checkSpend(signed, inputs, this.clock(), (id) => (id === this.id ? this.publicKey : undefined));
    await this.atomic(() => {
      if (this.store.pending.get(txid) !== undefined || this.store.applied.get(txid) !== undefined) fail('CBDC_ERR_CONTRACT_STATE', 'that transaction is already under way');
      for (const i of o.tx.inputs) {
        const c = this.store.coins.get(posKey(i.pos));
        if (c === undefined || c.owner !== o.owner || c.id !== i.id.toString('hex')) fail('CBDC_ERR_CONTRACT_STATE', `input ${i.pos} is not a coin of ${o.owner}`);
        if (this.store.reserved.holder(posKey(i.pos)) !== undefined) fail('CBDC_ERR_CONTRACT_STATE', `input ${i.pos} is already being spent`);
      }
      o.prepare?.();
      for (const i of o.tx.inputs) this.store.reserved.reserve(posKey(i.pos), `contract:${txid}`);
      this.store.meta.putSync(`tx-label/${txid}`, o.label);
      this.store.pending.add(txid, { kind: 'contract', account: o.owner, amountFen: '0', tx: txToJson(signed), coins: o.tx.inputs.map((i) => i.pos.toString()) });
    });
    const r = await this.submitPending(txid, signed);
    if (r.status === 'settled') {
      await this.applySettled(signed, r, {});
    } else if (isUncertain(r) || r.code === 'CBDC_ERR_DOUBLE_SPEND' || r.code === 'CBDC_ERR_UNKNOWN_INPUT') {
      // Possibly settled by an earlier attempt: resubmitPending makes it certain first.
      void this.resubmitPending();
      await this.payments.waitForApplied(txid, 10_000);
    } else {
      await this.atomic(() => this.releaseContractTx(txid, r.code, r.message));
    }
    await this.durable();
    return r;
  }

  /** Inside a transaction: a refused contract transaction frees its coins and tells its service. */
  private releaseContractTx(txid: string, code: ErrorCode, message: string): void {
    const p = this.store.pending.get(txid);
    if (p === undefined || p.kind !== 'contract' || this.store.applied.get(txid) !== undefined) return;
    for (const pos of p.coins) this.store.reserved.release(posKey(pos), `contract:${txid}`);
    this.store.pending.drop(txid);
    this.store.meta.removeSync(`tx-label/${txid}`);
    this.contractHooks?.refused(txid, code, message);
  }

  // ---------------------------------------------------------------- usage

  usageOf(accountId: string): { dayFen: bigint; yearFen: bigint } {
    const now = this.clock();
    return usageAt(this.store, accountId, dayKey(now), yearKey(now));
  }

  // ---------------------------------------------------------------- applying settlements

  /** Applies a transaction this bank submitted and central settled (idempotent by txid). */
  async applySettled(tx: Tx, r: { txid: string; outputs: { pos: string; id: string }[] }, o: { exchangeFor?: string }): Promise<void> {
    const outputs = tx.outputs.map((out, i) => ({ pos: r.outputs[i]!.pos, id: r.outputs[i]!.id, value: out.value.toString(), lockHex: out.lockBytes.toString('hex') }));
    await this.atomic(() => this.applyTx(r.txid, tx.inputs.map((i) => i.pos.toString()), outputs, this.clock(), o.exchangeFor ?? null));
  }

  /** Handles one settled batch from central's event stream, and moves the cursor with it. */
  private async onCentralBatch(b: CentralBatchEvent): Promise<void> {
    await this.atomic(() => {
      const cursor = BigInt((this.store.meta.get('cursor') as string | undefined) ?? '0');
      if (BigInt(b.seq) < cursor) return;
      for (const t of b.txs) {
        // Central's own record: the lock bytes it checked when the output was created (parsed
        // from the JSON only when a central too old to send them does not).
        const outputs = t.outputs.map((o) => ({ pos: o.pos, id: o.id, value: o.value, lockHex: o.lock_hex ?? encodeLock(parseLock(o.lock)).toString('hex') }));
        this.applyTx(t.txid, t.spent, outputs, b.time_ms, null);
      }
      this.store.meta.putSync('cursor', (BigInt(b.seq) + 1n).toString());
    });
  }

  /** Inside a transaction: applies a settled transaction once (intermediary/crediting.ts). */
  private applyTx(txid: string, spent: string[], outputs: SettledOutput[], atMs: number, exchangeFor: string | null): void {
    applyTx(this.crediting, txid, spent, outputs, atMs, exchangeFor);
  }

  // ---------------------------------------------------------------- compliance

  amlReports(fromSeq = 0, limit = 100): AmlRec[] {
    return amlReports(this.store, fromSeq, limit);
  }

  // ---------------------------------------------------------------- history, statements, totals

  history(accountId: string, f: HistoryFilter = {}): HistoryRec[] {
    this.account(accountId);
    return historyOf(this.store, accountId, f);
  }

  /** A day's statement (bank time zone): opening and closing wallet balance and the entries between. */
  statement(accountId: string, day: string, dayStart: number): Statement {
    return statementOf(this.store, accountId, day, dayStart);
  }

  /** The bank's own figures: customers' wallets, deposits, holdings, the offline reserve, money held by contracts. */
  totals(): BankTotals {
    return bankTotals(this.store, this.holdingsFen());
  }

  /** Reconciliation against central (intermediary/statements.ts). */
  reconcile(): Promise<Reconciliation> {
    return reconcileWithCentral(this.store, this.link, this.holdingsFen());
  }

  lockJsonOf(a: AccountRec): unknown {
    return lockToJson(this.customerLock(Buffer.from(a.walletKey, 'hex')));
  }
}
