// Electronic receipts at a bank (docs/RECEIPTS.md).
//
// As the payer's bank: a payment may carry the merchant's signed receipt draft. It is checked
// before the payment is made (canonical, the merchant's signature, its total the amount), kept
// on the payment, and once the payment settles it goes into a bounded delivery queue in LMDB
// (written in the transaction that applies the payment, so a restart loses nothing). A timer
// hands each draft to the payee's bank (itself, or another bank over POST
// /v1/interbank/receipts) until that bank answers, and keeps the signed receipt for the payer.
//
// As the merchant's bank: it issues a receipt only for a draft its merchant signed, for a txid
// that credited exactly that merchant with exactly the draft's total (recorded as the
// transaction was applied here), for a merchant with a tax id, once per txid: the same draft
// again answers the same receipt, another draft is refused.
import { CbdcError, isCbdcError } from '../../protocol/errors.js';
import {
  type ReceiptJson, isValidTaxId, checkTaxId, parseDraft, receiptFromJson, receiptIdOf, signReceipt, totalsOf, verifyDraftSignature, verifyReceipt,
} from '../../protocol/receipt.js';
import { SignedClient } from '../../platform/signed_client.js';
import { dayKey } from '../../platform/clock.js';
import type { Bank, ReceiptHooks } from '../bank.js';
import type { PaymentRec } from '../store.js';
import { type OutgoingRec, type ReceiptRec, type ReceiptRole, ReceiptStore } from './store.js';

export interface ReceiptServiceOptions {
  /** The bank's secret key (receipts are signed with it; interbank requests too). */
  secretKey: Buffer;
  /** Another bank's public key as central's directory has it. */
  peerKey(bank: string): Buffer | undefined;
  refreshPeerKeys?: () => Promise<void>;
  /** Drafts waiting for delivery at most; past it, payments with a draft are refused (default 10,000). */
  queueMax?: number;
  /** Longest wait between two delivery attempts of one draft (default 5 s). */
  retryMaxMs?: number;
  tickMs?: number;
  tlsCa?: Buffer;
}

/** Receipts listed in one answer at most. */
export const RECEIPTS_LISTED_MAX = 200;
/** Queue keys of refused drafts: after every txid (hex), so the delivery scan stops before them. */
const REFUSED_PREFIX = 'refused:';
/** Deliveries attempted per tick at most. */
const DELIVERIES_PER_TICK = 20;

/** Delivery answers after which the payer's bank tries again (the payee's bank may simply not have seen the payment yet). */
const RETRY_CODES = new Set(['CBDC_ERR_RECEIPT_NOT_SETTLED', 'CBDC_ERR_OVERLOADED', 'CBDC_ERR_STORAGE', 'CBDC_ERR_UNAUTHENTICATED', 'CBDC_ERR_RATE_LIMITED']);

export interface ReceiptEntry {
  role: ReceiptRole;
  receipt: ReceiptJson;
}

export class ReceiptService implements ReceiptHooks {
  readonly store: ReceiptStore;
  private readonly queueMax: number;
  private readonly retryMaxMs: number;
  private readonly tickMs: number;
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly bank: Bank, private readonly o: ReceiptServiceOptions) {
    this.store = new ReceiptStore(bank.store.root);
    this.queueMax = o.queueMax ?? 10_000;
    this.retryMaxMs = o.retryMaxMs ?? 5_000;
    this.tickMs = o.tickMs ?? 250;
    bank.receipts = this;
  }

  start(): void {
    this.pending = 0;
    for (const { value } of this.store.outgoing.getRange({ end: REFUSED_PREFIX })) if (value.status === 'pending') this.pending++;
    this.timer = setInterval(() => void this.deliverDue(), this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (let i = 0; i < 100 && this.busy; i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** Drafts waiting to be delivered. */
  pendingCount(): number {
    return this.pending;
  }

  // ---------------------------------------------------------------- the bank's hooks

  async check(draft: string, payee: { bank: string; account: string; walletKey?: Buffer }, amountFen: bigint): Promise<void> {
    if (this.pending >= this.queueMax) throw new CbdcError('CBDC_ERR_RECEIPT_QUEUE_FULL');
    const d = parseDraft(draft, this.bank.network);
    if (d.draft.merchantAccount !== payee.account) throw new CbdcError('CBDC_ERR_RECEIPT_MERCHANT', 'the draft names another account than the payee');
    if (d.draft.totalFen !== amountFen) throw new CbdcError('CBDC_ERR_RECEIPT_TOTAL', `the draft's total is ${d.draft.totalFen} fen, the payment ${amountFen} fen`);
    let walletKey = payee.walletKey;
    if (payee.bank === this.bank.id) {
      const a = this.bank.store.accounts.get(payee.account);
      if (a === undefined || a.kind !== 'merchant' || a.taxId === undefined) throw new CbdcError('CBDC_ERR_RECEIPT_MERCHANT', 'the payee is not a merchant with a tax id');
      walletKey = Buffer.from(a.walletKey, 'hex');
      if (this.store.drafts.get(d.digestHex) !== undefined) throw new CbdcError('CBDC_ERR_RECEIPT_CONFLICT', 'this draft already receipted another payment');
    }
    // Another bank's merchant in a two-step payment: its wallet key from its receive terms.
    walletKey ??= (await this.bank.payeeTerms({ account: payee.account, bank: payee.bank }, amountFen)).walletKey;
    if (!verifyDraftSignature(d, walletKey)) throw new CbdcError('CBDC_ERR_RECEIPT_SIGNATURE');
  }

  applied(txid: string, payment: PaymentRec | undefined, credits: ReadonlyMap<string, bigint>, atMs: number): void {
    const merchants = [];
    for (const [account, fen] of credits) {
      if (this.bank.store.accounts.get(account)?.kind === 'merchant') merchants.push({ account, fen: fen.toString(), atMs });
    }
    if (merchants.length > 0) this.store.credits.putSync(txid, merchants);
    if (payment?.receiptDraft !== undefined && payment.payee.account !== null && this.store.outgoing.get(txid) === undefined) {
      this.store.outgoing.putSync(txid, {
        paymentId: payment.id, payer: payment.account, payeeBank: payment.payee.bank, payeeAccount: payment.payee.account, draft: payment.receiptDraft,
        attempts: 0, nextAtMs: 0, status: 'pending',
      });
      this.pending++;
    }
  }

  taxIdSet(accountId: string, taxId: string): void {
    this.store.taxIds.putSync([taxId, accountId], '');
  }

  /** Staff: records (or replaces) a merchant account's tax id. */
  async setTaxId(accountId: string, taxId: string): Promise<void> {
    checkTaxId(taxId);
    await this.bank.atomic(() => {
      const a = this.bank.account(accountId);
      if (a.kind !== 'merchant') throw new CbdcError('CBDC_ERR_TAX_ID', 'only a merchant account records a tax id');
      if (a.taxId === taxId) return;
      if (a.taxId !== undefined) this.store.taxIds.removeSync([a.taxId, a.id]);
      this.bank.store.accounts.putSync(a.id, { ...a, taxId });
      this.taxIdSet(a.id, taxId);
    });
  }

  // ---------------------------------------------------------------- issuing (the merchant's bank)

  /**
   * Issues (or answers again) the receipt for `txid` from a draft. `payer`: the paying account
   * when it is this bank's own customer (indexed for it in the same transaction).
   */
  async issue(txid: string, draft: string, payer: string | null = null): Promise<ReceiptJson> {
    const d = parseDraft(draft, this.bank.network);
    const merchantId = d.draft.merchantAccount;
    const rec = await this.bank.atomic((): ReceiptRec => {
      const a = this.bank.store.accounts.get(merchantId);
      if (a === undefined || a.kind !== 'merchant' || a.mcc === null) throw new CbdcError('CBDC_ERR_RECEIPT_MERCHANT', 'the draft names no merchant account of this bank');
      if (a.taxId === undefined) throw new CbdcError('CBDC_ERR_RECEIPT_MERCHANT', 'the merchant has no tax id');
      if (!verifyDraftSignature(d, Buffer.from(a.walletKey, 'hex'))) throw new CbdcError('CBDC_ERR_RECEIPT_SIGNATURE');
      const earlier = this.store.receipts.get(txid);
      if (earlier !== undefined) {
        if (earlier.draftDigest !== d.digestHex) throw new CbdcError('CBDC_ERR_RECEIPT_CONFLICT', 'a receipt was already issued for this txid from another draft');
        return earlier;
      }
      const used = this.store.drafts.get(d.digestHex);
      if (used !== undefined && used !== txid) throw new CbdcError('CBDC_ERR_RECEIPT_CONFLICT', 'this draft already receipted another payment');
      const credit = this.store.credits.get(txid)?.find((c) => c.account === merchantId);
      if (credit === undefined) {
        if (this.bank.store.applied.get(txid) === undefined) throw new CbdcError('CBDC_ERR_RECEIPT_NOT_SETTLED');
        throw new CbdcError('CBDC_ERR_RECEIPT_PAYMENT', 'that txid paid nothing into this merchant account');
      }
      if (BigInt(credit.fen) !== d.draft.totalFen) throw new CbdcError('CBDC_ERR_RECEIPT_PAYMENT', `that txid paid ${credit.fen} fen into the merchant account, the draft says ${d.draft.totalFen}`);
      const t = totalsOf(d.draft.lines);
      const issuedAtMs = this.bank.now();
      const receipt = signReceipt({
        network: this.bank.network, bankId: this.bank.id, receiptId: receiptIdOf(this.bank.id, txid), merchantAccount: merchantId, merchantName: d.draft.merchantName,
        taxId: a.taxId, mcc: a.mcc, lines: d.draft.lines, subtotalFen: t.subtotalFen, taxFen: t.taxFen, totalFen: t.totalFen,
        txid: Buffer.from(txid, 'hex'), issuedAtMs: BigInt(issuedAtMs),
      }, this.o.secretKey);
      const r: ReceiptRec = { receipt, draftDigest: d.digestHex, payer, merchant: merchantId };
      const day = dayKey(issuedAtMs);
      this.store.receipts.putSync(txid, r);
      this.store.byId.putSync(receipt.receipt_id, txid);
      this.store.drafts.putSync(d.digestHex, txid);
      this.store.index.putSync([merchantId, day, txid], 'merchant');
      if (payer !== null) this.store.index.putSync([payer, day, txid], 'payer');
      if (payer !== null) this.finishOutgoing(txid);
      return r;
    });
    await this.bank.durable();
    return rec.receipt;
  }

  // ---------------------------------------------------------------- delivering (the payer's bank)

  /** Inside a transaction: the draft of `txid` is delivered; it leaves the queue. */
  private finishOutgoing(txid: string): void {
    const q = this.store.outgoing.get(txid);
    if (q === undefined) return;
    this.store.outgoing.removeSync(txid);
    if (q.status === 'pending') this.pending--;
  }

  /** One pass over the drafts due: each handed to the payee's bank, or put back for later. */
  async deliverDue(): Promise<number> {
    if (this.busy) return 0;
    this.busy = true;
    let done = 0;
    try {
      const now = this.bank.now();
      const due: [string, OutgoingRec][] = [];
      for (const { key, value } of this.store.outgoing.getRange({ end: REFUSED_PREFIX })) {
        if (value.status === 'pending' && value.nextAtMs <= now) due.push([key, value]);
        if (due.length >= DELIVERIES_PER_TICK) break;
      }
      for (const [txid, q] of due) if (await this.deliver(txid, q)) done++;
    } finally {
      this.busy = false;
    }
    return done;
  }

  private async deliver(txid: string, q: OutgoingRec): Promise<boolean> {
    let outcome: { ok: true } | { retry: true; why: string } | { refused: true; code: string; message: string };
    try {
      if (q.payeeBank === this.bank.id) {
        await this.issue(txid, q.draft, q.payer);
        outcome = { ok: true };
      } else {
        outcome = await this.deliverRemote(txid, q);
      }
    } catch (e) {
      if (!isCbdcError(e)) throw e;
      outcome = RETRY_CODES.has(e.code) ? { retry: true, why: e.code } : { refused: true, code: e.code, message: e.message };
    }
    if ('ok' in outcome) return true;
    await this.bank.atomic(() => {
      const cur = this.store.outgoing.get(txid);
      if (cur === undefined || cur.status !== 'pending') return;
      if ('retry' in outcome) {
        const attempts = cur.attempts + 1;
        this.store.outgoing.putSync(txid, { ...cur, attempts, nextAtMs: this.bank.now() + Math.min(this.retryMaxMs, 250 * 2 ** Math.min(attempts, 16)) });
      } else {
        // Refused for good (the draft or the merchant is not what the payee's bank accepts): kept
        // under its own prefix (the delivery scan never reads it again), not retried.
        this.store.outgoing.removeSync(txid);
        this.store.outgoing.putSync(REFUSED_PREFIX + txid, { ...cur, status: 'refused', code: outcome.code, message: outcome.message });
        this.pending--;
      }
    });
    return false;
  }

  private async deliverRemote(txid: string, q: OutgoingRec): Promise<{ ok: true } | { retry: true; why: string } | { refused: true; code: string; message: string }> {
    const url = this.bank.peers.get(q.payeeBank);
    if (url === undefined) return { retry: true, why: 'no URL for that bank' };
    const client = new SignedClient(url, this.bank.network, this.bank.id, this.o.secretKey, 10_000, this.o.tlsCa);
    let r;
    try {
      r = await client.post<ReceiptJson & { code?: string; message?: string }>('/v1/interbank/receipts', { txid, draft: q.draft });
    } catch (e) {
      return { retry: true, why: (e as Error).message };
    }
    if (r.status !== 200) {
      const code = r.body?.code ?? `HTTP ${r.status}`;
      if (r.status >= 500 || RETRY_CODES.has(code)) return { retry: true, why: code };
      return { refused: true, code, message: r.body?.message ?? '' };
    }
    // The payee bank's receipt is checked before it is kept: its key, this txid, this draft.
    let key = this.o.peerKey(q.payeeBank);
    if (key === undefined && this.o.refreshPeerKeys) {
      await this.o.refreshPeerKeys().catch(() => undefined);
      key = this.o.peerKey(q.payeeBank);
    }
    const d = parseDraft(q.draft, this.bank.network);
    const receipt = r.body;
    if (key === undefined || !verifyReceipt(receipt, key)) return { retry: true, why: 'the receipt does not verify with that bank key' };
    const { receipt: parsed } = receiptFromJson(receipt);
    if (parsed.txid.toString('hex') !== txid || parsed.bankId !== q.payeeBank || parsed.merchantAccount !== q.payeeAccount || parsed.totalFen !== d.draft.totalFen
      || parsed.lines.length !== d.draft.lines.length || parsed.lines.some((l, i) => l.description !== d.draft.lines[i]!.description || l.amountFen !== d.draft.lines[i]!.amountFen)) {
      return { refused: true, code: 'CBDC_ERR_RECEIPT_FORMAT', message: 'the receipt the payee bank sent is not the one of this draft and txid' };
    }
    const clean: ReceiptJson = {
      version: receipt.version, network: receipt.network, bank: receipt.bank, receipt_id: receipt.receipt_id, merchant_account: receipt.merchant_account,
      merchant_name: receipt.merchant_name, tax_id: receipt.tax_id, mcc: receipt.mcc, lines: receipt.lines, subtotal_fen: receipt.subtotal_fen, tax_fen: receipt.tax_fen,
      total_fen: receipt.total_fen, txid: receipt.txid, issued_at_ms: receipt.issued_at_ms, signature: receipt.signature,
    };
    await this.bank.atomic(() => {
      if (this.store.receipts.get(txid) === undefined) {
        this.store.receipts.putSync(txid, { receipt: clean, draftDigest: d.digestHex, payer: q.payer, merchant: null });
        this.store.byId.putSync(clean.receipt_id, txid);
        this.store.index.putSync([q.payer, dayKey(clean.issued_at_ms), txid], 'payer');
      }
      this.finishOutgoing(txid);
    });
    await this.bank.durable();
    return { ok: true };
  }

  // ---------------------------------------------------------------- reading

  /** An account's receipts (oldest day first), as payer or merchant; `after` is the cursor an earlier page ended with. */
  list(accountId: string, f: { day?: string; role?: ReceiptRole; limit: number; after?: string }): { entries: ReceiptEntry[]; next: string | null } {
    this.bank.account(accountId);
    return this.listOf([accountId], f);
  }

  private listOf(accounts: string[], f: { day?: string; role?: ReceiptRole; limit: number; after?: string }): { entries: ReceiptEntry[]; next: string | null } {
    const limit = Math.max(1, Math.min(f.limit, RECEIPTS_LISTED_MAX));
    const after = f.after === undefined ? null : f.after.split('/') as [string, string, string];
    const entries: ReceiptEntry[] = [];
    let last: string | null = null;
    for (const acc of [...accounts].sort()) {
      if (after !== null && acc < after[0]) continue;
      const start: [string, string, string] = after !== null && acc === after[0] ? [acc, after[1], after[2]] : [acc, f.day ?? '', ''];
      const end: [string, string, string] = f.day !== undefined ? [acc, f.day, '~'] : [acc, '~', ''];
      for (const { key, value: role } of this.store.index.getRange({ start, end })) {
        if (after !== null && key[0] === after[0] && key[1] === after[1] && key[2] === after[2]) continue;
        if (f.day !== undefined && key[1] !== f.day) continue;
        if (f.role !== undefined && role !== f.role) continue;
        const r = this.store.receipts.get(key[2]);
        if (r === undefined) continue;
        entries.push({ role, receipt: r.receipt });
        last = key.join('/');
        if (entries.length >= limit) return { entries, next: last };
      }
    }
    return { entries, next: null };
  }

  /** One receipt of the account (as payer or merchant); CBDC_ERR_RECEIPT_UNKNOWN otherwise. */
  get(accountId: string, receiptId: string): ReceiptEntry {
    this.bank.account(accountId);
    const txid = this.store.byId.get(receiptId);
    const r = txid === undefined ? undefined : this.store.receipts.get(txid);
    if (r === undefined || (r.payer !== accountId && r.merchant !== accountId)) throw new CbdcError('CBDC_ERR_RECEIPT_UNKNOWN');
    return { role: r.merchant === accountId ? 'merchant' : 'payer', receipt: r.receipt };
  }

  /** The tax authority: the receipts this bank issued for a merchant (account id, or every account of a tax id). */
  taxList(merchant: string, f: { day?: string; limit: number; after?: string }): { merchants: string[]; entries: ReceiptEntry[]; next: string | null } {
    let accounts: string[];
    if (isValidTaxId(merchant)) {
      accounts = [...this.store.taxIds.getRange({ start: [merchant, ''], end: [merchant, '~'] })].map((x) => x.key[1]);
    } else {
      const a = this.bank.store.accounts.get(merchant);
      if (a === undefined || a.kind !== 'merchant') throw new CbdcError('CBDC_ERR_RECEIPT_UNKNOWN', 'no merchant account with that id or tax id at this bank');
      accounts = [a.id];
    }
    if (accounts.length === 0) throw new CbdcError('CBDC_ERR_RECEIPT_UNKNOWN', 'no merchant account with that tax id at this bank');
    return { merchants: accounts, ...this.listOf(accounts, { ...f, role: 'merchant' }) };
  }

  /** Refusals of drafts this bank handed on, for an account (the payer's view of a receipt that will not come). */
  refusedFor(txid: string): { code: string; message: string } | null {
    const q = this.store.outgoing.get(REFUSED_PREFIX + txid);
    return q?.status === 'refused' ? { code: q.code ?? '', message: q.message ?? '' } : null;
  }
}
