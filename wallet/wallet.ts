// The wallet: an unlocked keystore and its bank. Opens the account (and records it in the
// keystore), pays (one request: its coins and the payee's keys -> the transaction it builds
// and signs -> settled; payment_build.ts), exchanges between deposit and wallet, reads
// balance and history, and follows the notification stream.
//
// Before signing a transaction the bank built (two-step payments, exchanges), the wallet
// checks it against what it asked for: the txid is the hash of that transaction on this
// wallet's network, the outputs not paying back to the wallet's own lock add up to exactly
// the amount, and the change the bank reports is what comes back. (The payee's lock at
// another bank is that bank's word; the wallet cannot check it.) Its signature is its
// consent to exactly that transaction.
import { randomBytes } from 'node:crypto';
import { CbdcError, ERRORS, type ErrorCode } from '../protocol/errors.js';
import { signHash } from '../protocol/sig.js';
import { encodeLock, parseLock, type LockJson } from '../protocol/lock.js';
import { parseTx, txId, txToJson } from '../protocol/tx.js';
import { buildPayment, payeeOutputsOf, selectWalletCoins } from './payment_build.js';
import { keyLock } from '../protocol/tx_builder.js';
import type { UnlockedKeystore, WalletAccount } from './keystore.js';
import {
  type AccountJson, BankClient, BankRefusal, type Evidence, type ExchangeToWalletJson, type HistoryEntry, type PaymentJson, type RetryPolicy, bankHealth,
} from './client.js';
import type { FxLineJson, VisitorFxAnswer } from './client.js';
import { AccountSubscription } from './events.js';
import type { Payee } from './payment_request.js';

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** A fresh idempotency key: time-ordered prefix, 72 random bits. */
export function newIdempotencyKey(): string {
  return `w${Date.now().toString(36)}-${randomBytes(9).toString('base64url')}`;
}

export function checkIdempotencyKey(key: string): string {
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) throw new CbdcError('CBDC_ERR_SCHEMA', 'an idempotency key is 8 to 64 of A-Z, a-z, 0-9, _ and -');
  return key;
}

const badResponse = (what: string) => new CbdcError('CBDC_ERR_BANK_RESPONSE', what);

/**
 * Checks a payment the bank prepared against the request and returns the txid to sign.
 * `ownLock` is the wallet's lock (change comes back to it); for a payment to the wallet's own
 * deposit, `bankKeyHex` is the bank key whose lock must receive the amount.
 */
export function checkPreparedPayment(p: PaymentJson, o: { network: string; ownLock: LockJson; amountFen: bigint; toBankKeyHex?: string }): Buffer {
  if (p.amount_fen !== o.amountFen.toString()) throw badResponse(`the bank prepared a payment of ${p.amount_fen} fen, not ${o.amountFen}`);
  let tx;
  try {
    tx = parseTx({ ...p.tx, witness: {} }, o.network, { witnessLater: true });
  } catch (e) {
    throw badResponse(`the bank prepared a transaction that does not parse: ${(e as Error).message}`);
  }
  if (tx.kind !== 'transfer') throw badResponse(`the bank prepared a ${tx.kind} transaction, not a transfer`);
  const id = txId(tx);
  if (id.toString('hex') !== p.txid) throw badResponse("the payment's txid is not the hash of its transaction");
  const own = encodeLock(parseLock(o.ownLock));
  const target = o.toBankKeyHex !== undefined ? encodeLock(keyLock(Buffer.from(o.toBankKeyHex, 'hex'))) : null;
  let change = 0n;
  let paid = 0n;
  for (const out of tx.outputs) {
    if (out.lockBytes.equals(own)) change += out.value;
    else {
      if (target !== null && !out.lockBytes.equals(target)) throw badResponse('the exchange pays a lock other than the bank’s');
      paid += out.value;
    }
  }
  if (paid !== o.amountFen) throw badResponse(`the transaction pays ${paid} fen away, not the ${o.amountFen} asked for`);
  if (change.toString() !== p.change_fen) throw badResponse(`the transaction returns ${change} fen of change, the bank says ${p.change_fen}`);
  return id;
}

export interface WalletOptions {
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
  /** How long to wait for a submitted payment to settle before reporting it pending. */
  settleWaitMs?: number;
  onRetry?: (info: { attempt: number; method: string; path: string; reason: string }) => void;
  /** PEM CA certificates trusted for an https bank URL (cbdc-wallet --tls-ca), instead of the system's. */
  ca?: Buffer;
}

/** A payment whose outcome is not known yet (central was unreachable when it was submitted). */
export class PaymentPending extends BankRefusal {
  constructor(readonly payment: PaymentJson) {
    super('CBDC_ERR_CENTRAL_UNAVAILABLE', 'the payment was submitted but has not settled yet', 503, { payment });
    this.name = 'PaymentPending';
  }
}

function statusOf(code: string): number {
  return code in ERRORS ? ERRORS[code as ErrorCode][0] : 409;
}

export class Wallet {
  constructor(readonly keystore: UnlockedKeystore, private readonly o: WalletOptions = {}) {}

  get account(): WalletAccount {
    const a = this.keystore.account;
    if (a === null) throw new CbdcError('CBDC_ERR_WALLET_NO_ACCOUNT', 'this wallet has no account yet; open one with: cbdc-wallet open-account --bank URL --tier 4 --phone +86…');
    return a;
  }

  private clientOpts() {
    return {
      ...(this.o.retry ? { retry: this.o.retry } : {}), ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}), ...(this.o.onRetry ? { onRetry: this.o.onRetry } : {}),
      ...(this.o.ca ? { ca: this.o.ca } : {}),
    };
  }

  /** The bank client, signing as this wallet's account. */
  client(): BankClient {
    const a = this.account;
    return new BankClient({ url: a.bank_url, network: a.network, signer: a.account_id, secretKey: this.keystore.secretKey, ...this.clientOpts() });
  }

  /** Opens an account at the bank at `bankUrl` and records it in the keystore. */
  async openAccount(bankUrl: string, r: { tier: number; evidence: Evidence; mcc?: string; validUntilMs?: number; taxId?: string; region?: string }): Promise<AccountJson> {
    const existing = this.keystore.account;
    if (existing !== null) throw new CbdcError('CBDC_ERR_KEYSTORE_EXISTS', `this wallet already has account ${existing.account_id} at ${existing.bank_id}; use another --wallet file for another account`);
    const url = bankUrl.replace(/\/+$/, '');
    const health = await bankHealth(url, this.clientOpts());
    const c = new BankClient({ url, network: health.network, signer: `key:${this.keystore.publicKeyHex}`, secretKey: this.keystore.secretKey, ...this.clientOpts() });
    const acc = await c.openAccount({ kind: r.mcc !== undefined ? 'merchant' : 'personal', ...(r.mcc !== undefined ? { mcc: r.mcc } : {}), tier: r.tier, evidence: r.evidence, ...(r.validUntilMs !== undefined ? { valid_until_ms: r.validUntilMs } : {}), ...(r.taxId !== undefined ? { tax_id: r.taxId } : {}), ...(r.region !== undefined ? { region: r.region } : {}) });
    if (acc.wallet_key !== this.keystore.publicKeyHex) throw badResponse('the bank opened an account for another key');
    let lock;
    try {
      lock = parseLock(acc.lock);
    } catch {
      throw badResponse("the account's lock is malformed");
    }
    if (lock.type !== 'multi' || !lock.keys.some((k) => k.equals(this.keystore.publicKey))) throw badResponse("the account's lock does not name this wallet's key");
    this.keystore.setAccount({ bank_url: url, bank_id: health.bank, network: health.network, account_id: acc.id, lock: acc.lock, opened_at: new Date().toISOString() });
    return acc;
  }

  balance(): Promise<AccountJson> {
    return this.client().account(this.account.account_id);
  }

  changeTier(tier: number, evidence: Evidence): Promise<AccountJson> {
    return this.client().changeTier(this.account.account_id, tier, evidence);
  }

  addAlias(alias: string): Promise<AccountJson> {
    return this.client().addAlias(this.account.account_id, alias);
  }

  exchangeToWallet(amountFen: bigint, idempotencyKey: string): Promise<ExchangeToWalletJson> {
    return this.client().exchangeToWallet(this.account.account_id, amountFen, checkIdempotencyKey(idempotencyKey));
  }

  /** Wallet -> deposit: a payment to the bank's own lock, checked and signed like any payment. */
  async exchangeToDeposit(amountFen: bigint, idempotencyKey: string): Promise<{ payment: PaymentJson; replayed: boolean }> {
    const c = this.client();
    const p = await c.prepareToDeposit(this.account.account_id, amountFen, checkIdempotencyKey(idempotencyKey));
    const bankKey = this.bankKeyHex();
    return this.complete(c, p, amountFen, bankKey);
  }

  /**
   * Pays in one request: the wallet reads its coins and the payee's keys, builds and signs the
   * transaction itself, and the bank checks, co-signs and settles it. Where the payee's bank
   * splits the amount at the payee's cap, the bank answers the outputs to use and the wallet
   * signs once more (after checking they pay that payee). Same key, same payment.
   */
  async pay(r: { payee: Payee; amountFen: bigint; idempotencyKey: string; receipt?: string }): Promise<{ payment: PaymentJson; replayed: boolean }> {
    // receipt: the merchant's signed receipt draft from its payment request, sent with the payment.
    const c = this.client();
    const key = checkIdempotencyKey(r.idempotencyKey);
    const id = this.account.account_id;
    const [view, payee] = await Promise.all([c.coins(id), c.payee(id, r.payee, r.amountFen)]);
    const coins = selectWalletCoins(view.coins, r.amountFen);
    // Coins that do not cover it: the bank's two-step path gives its own answer (the limit it
    // breaks before the funds, or the payment an earlier attempt under this key made).
    if (coins === null) return this.complete(c, await c.preparePayment(id, { payee: r.payee, amountFen: r.amountFen, idempotencyKey: key, ...(r.receipt !== undefined ? { receipt: r.receipt } : {}) }), r.amountFen);
    const firstPos = BigInt(coins[0]!.pos);
    let split: { value: string; lock: unknown }[] | undefined;
    for (let attempt = 0; ; attempt++) {
      const tx = buildPayment({
        network: this.account.network, coins, ownLock: parseLock(this.account.lock), amountFen: r.amountFen, secretKey: this.keystore.secretKey,
        payeeOutputs: payeeOutputsOf(payee, r.amountFen, firstPos, split),
      });
      let p: PaymentJson;
      try {
        p = await c.pay(id, { payee: r.payee, amountFen: r.amountFen, idempotencyKey: key, tx: txToJson(tx), ...(r.receipt !== undefined ? { receipt: r.receipt } : {}) });
      } catch (e) {
        if (e instanceof BankRefusal && e.code === 'CBDC_ERR_PAYMENT_OUTPUTS' && attempt === 0 && Array.isArray(e.body.outputs)) {
          split = e.body.outputs as { value: string; lock: unknown }[];
          continue;
        }
        throw e;
      }
      if (p.amount_fen !== r.amountFen.toString()) throw badResponse(`the bank returned a payment of ${p.amount_fen} fen for ${r.amountFen}`);
      // Another transaction under this key: the payment an earlier attempt made.
      return this.outcome(c, p, p.txid !== txId(tx).toString('hex'));
    }
  }

  /**
   * Signs a payment the bank prepared for a request made elsewhere (a contract's or a
   * schedule's funding), after the same checks as any payment; waits for it to settle.
   */
  signPrepared(prepared: PaymentJson, amountFen: bigint): Promise<{ payment: PaymentJson; replayed: boolean }> {
    return this.complete(this.client(), prepared, amountFen);
  }

  /** The bank's key in this wallet's lock multi(2, [wallet, bank]). */
  private bankKeyHex(): string {
    const lock = parseLock(this.account.lock);
    const other = lock.type === 'multi' ? lock.keys.find((k) => !k.equals(this.keystore.publicKey)) : undefined;
    if (other === undefined) throw badResponse("the account's lock names no bank key");
    return other.toString('hex');
  }

  private async complete(c: BankClient, prepared: PaymentJson, amountFen: bigint, toBankKeyHex?: string): Promise<{ payment: PaymentJson; replayed: boolean }> {
    const replayed = prepared.status !== 'awaiting_signature';
    let p = prepared;
    if (p.status === 'awaiting_signature') {
      const a = this.account;
      const txid = checkPreparedPayment(p, { network: a.network, ownLock: a.lock, amountFen, ...(toBankKeyHex ? { toBankKeyHex } : {}) });
      const sig = signHash(this.keystore.secretKey, txid);
      p = await c.signPayment(a.account_id, p.id, sig.toString('hex'));
    } else if (p.amount_fen !== amountFen.toString()) {
      throw badResponse(`the bank returned a payment of ${p.amount_fen} fen for ${amountFen}`);
    }
    return this.outcome(c, p, replayed);
  }

  /** A payment's answer as the wallet reports it: settled, or the refusal, expiry or pending it is. */
  private async outcome(c: BankClient, answered: PaymentJson, replayed: boolean): Promise<{ payment: PaymentJson; replayed: boolean }> {
    let p = answered;
    if (p.status === 'submitted') p = await this.waitSettled(c, p);
    switch (p.status) {
      case 'settled':
        return { payment: p, replayed };
      case 'rejected': {
        const code = p.result?.code ?? 'CBDC_ERR_PAYMENT_STATE';
        throw new BankRefusal(code, p.result?.message ?? 'the payment was refused', statusOf(code), { payment: p });
      }
      case 'expired':
        throw new BankRefusal('CBDC_ERR_PAYMENT_EXPIRED', 'the payment expired before it was signed; nothing was paid (use a new idempotency key to pay)', 410, { payment: p });
      case 'submitted':
        throw new PaymentPending(p);
      default:
        throw badResponse(`the payment is in an unknown state "${String(p.status)}"`);
    }
  }

  private async waitSettled(c: BankClient, p: PaymentJson): Promise<PaymentJson> {
    const until = Date.now() + (this.o.settleWaitMs ?? 15_000);
    let cur = p;
    while (cur.status === 'submitted' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      cur = await c.payment(this.account.account_id, p.id);
    }
    return cur;
  }

  /** A visitor wallet's top-up from a foreign card (the bank converts and pays the CNY into the wallet). */
  visitorTopUp(r: { card: { number: string; expiry: string }; currency: string; amountMinor: bigint; idempotencyKey: string }): Promise<VisitorFxAnswer> {
    return this.client().visitorTopUp(this.account.account_id, { ...r, idempotencyKey: checkIdempotencyKey(r.idempotencyKey) });
  }

  /**
   * A visitor's conversion back: the wallet moves `amountFen` to its deposit (a payment it
   * checks and signs, under `<key>-d`), then the bank refunds the card from the deposit (under
   * `<key>-c`). Run again with the same key, neither step happens twice.
   */
  async visitorConvertBack(r: { amountFen: bigint; currency: string; idempotencyKey: string }): Promise<{ moved: PaymentJson; answer: VisitorFxAnswer }> {
    const key = checkIdempotencyKey(r.idempotencyKey);
    // Each step's key stays within the 64-character limit.
    const base = key.slice(0, 62);
    const { payment } = await this.exchangeToDeposit(r.amountFen, `${base}-d`);
    const answer = await this.client().visitorConvertBack(this.account.account_id, { amountFen: r.amountFen, currency: r.currency, idempotencyKey: `${base}-c` });
    return { moved: payment, answer };
  }

  /** The visitor wallet's FX ledger, oldest first. */
  async visitorFxLedger(): Promise<FxLineJson[]> {
    const out: FxLineJson[] = [];
    let from: number | null = 0;
    while (from !== null && out.length < 100_000) {
      const page: { lines: FxLineJson[]; next_seq: number | null } = await this.client().visitorFxLedger(this.account.account_id, from);
      out.push(...page.lines);
      from = page.next_seq;
    }
    return out;
  }

  /** The seq after the last history entry (where a live watch starts). */
  async nextSeq(): Promise<number> {
    let next = 0;
    for await (const e of this.client().historyAll(this.account.account_id)) next = e.seq + 1;
    return next;
  }

  /** History, oldest first; with `last`, only the last that many entries. */
  async history(q: { direction?: 'in' | 'out'; last?: number } = {}): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    for await (const e of this.client().historyAll(this.account.account_id, q.direction ? { direction: q.direction } : {})) {
      out.push(e);
      if (q.last !== undefined && out.length > q.last) out.shift();
    }
    return out;
  }

  /** Follows the account's notifications from `from` (reconnecting and resuming; see events.ts). */
  subscribe(from: number, onEntry: (e: HistoryEntry) => void, onState?: ConstructorParameters<typeof AccountSubscription>[0]['onState']): AccountSubscription {
    const c = this.client();
    return new AccountSubscription({
      url: c.url, accountId: this.account.account_id, from, onEntry, ...(onState ? { onState } : {}),
      headersFor: (method, p) => c.headersFor(method, p), ...(this.o.ca ? { ca: this.o.ca } : {}),
    }).start();
  }
}
