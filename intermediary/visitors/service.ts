// Visitor (non-resident) wallets: opening with a passport (hashed, never kept), top-ups from a
// foreign card through the simulated acquirer, conversion back to the card on exit, and the FX
// ledger of both. The wallet itself is an ordinary account of tier 5 (intermediary/tiers.ts);
// where money comes in, bank.ts applies the validity end (rules.ts).
//
// A top-up is checked completely before the card is charged (the validity, the card, the
// currency, the balance cap), then charged, then paid from the bank's holdings into the wallet
// by the bank's deposit -> wallet exchange with the money in transit (holdings.ts ExchangeExtra),
// whose LMDB transaction also writes the FX line. A refusal before that transaction commits
// refunds the charge at once; a refusal by central after it leaves the money in the visitor's
// deposit, which is then given back to the card (a reversal line).
import { randomBytes } from 'node:crypto';
import { CbdcError, isCbdcError } from '../../protocol/errors.js';
import { AMOUNT_FEN_MAX } from '../../protocol/amount.js';
import type { Bank } from '../bank.js';
import type { AccountRec } from '../store.js';
import { committedPending } from '../in_flight.js';
import { type Evidence, VISITOR_TIER, checkEvidence } from '../tiers.js';
import {
  type Card, type FxTable, DECLINING_TEST_CARDS, DEFAULT_FEE_BPS, DEFAULT_FX_TABLE, SimulatedAcquirer, cardHash, checkCard, checkFxConfig, convertIn, convertOut,
  digestOf, rateOf, rateText,
} from './acquirer.js';
import { FxLedger, type FxLine } from './fx_ledger.js';
import { VISITOR_VALIDITY_MAX_MS, VISITOR_VALIDITY_MIN_MS, checkValidity, checkVisitorReceives, keyedHash, passportHash } from './rules.js';
import { checkActive } from '../accounts.js';

export interface VisitorOptions {
  /** Currency -> rate (default DEFAULT_FX_TABLE). */
  fxTable?: FxTable;
  /** The bank's fee on each conversion, basis points (default 150). */
  feeBps?: number;
}

/** The card a visitor topped up from last: conversions back are refunded to it. */
interface CardOnFile {
  reference: string;
  last4: string;
  cardHash: string;
}

interface Earlier {
  digest: string;
  seq: number;
}

export interface TopUpAnswer {
  status: 'settled' | 'pending' | 'refused';
  replayed: boolean;
  line: FxLine;
  account: AccountRec;
}

export interface ConvertBackAnswer {
  status: 'refunded';
  replayed: boolean;
  line: FxLine;
  account: AccountRec;
}

export class VisitorService {
  readonly acquirer = new SimulatedAcquirer();
  readonly ledger: FxLedger;
  readonly fxTable: FxTable;
  readonly feeBps: number;
  /** Top-ups and conversions under way (account/key): a second at once is refused, never charged twice. */
  private readonly inFlight = new Set<string>();

  constructor(private readonly bank: Bank, private readonly pepper: Buffer, o: VisitorOptions = {}) {
    this.fxTable = o.fxTable ?? DEFAULT_FX_TABLE;
    this.feeBps = o.feeBps ?? DEFAULT_FEE_BPS;
    checkFxConfig(this.fxTable, this.feeBps);
    if (pepper.length < 32) throw new Error('the visitor pepper is at least 32 bytes');
    this.ledger = new FxLedger(bank.store);
  }

  /** What GET /v1/visitors/fx shows. */
  info(): Record<string, unknown> {
    return {
      fee_bps: this.feeBps,
      currencies: Object.entries(this.fxTable).map(([currency, r]) => ({ currency, exponent: r.exponent, rate: rateText(r), rate_fen: r.fen.toString(), rate_minor: r.minor.toString() })),
      validity_min_ms: VISITOR_VALIDITY_MIN_MS,
      validity_max_ms: VISITOR_VALIDITY_MAX_MS,
      declining_test_cards: Object.entries(DECLINING_TEST_CARDS).map(([number, answer]) => ({ number, answer })),
    };
  }

  /** Opens a visitor wallet: the passport fields are checked, hashed, and dropped. */
  async open(o: { walletKey: Buffer; kind: 'personal' | 'merchant'; mcc: string | null; evidence: Evidence; taxId?: string | null; region?: string; validUntilMs: unknown }): Promise<AccountRec> {
    checkEvidence(VISITOR_TIER, o.evidence);
    const validUntilMs = checkValidity(o.validUntilMs, this.bank.now());
    const hash = passportHash(this.pepper, o.evidence.nationality!, o.evidence.passport_number!);
    return this.bank.openAccount({ walletKey: o.walletKey, kind: o.kind, mcc: o.mcc, tier: VISITOR_TIER, evidence: o.evidence, staff: null, taxId: o.taxId ?? null, ...(o.region !== undefined ? { region: o.region } : {}), visitor: { passportHash: hash, validUntilMs } });
  }

  /** The account, which must be a visitor wallet. */
  visitorAccount(id: string): AccountRec {
    const a = this.bank.account(id);
    if (a.visitor === undefined) throw new CbdcError('CBDC_ERR_VISITOR_ONLY');
    return a;
  }

  private earlier(key: string, digest: string): FxLine | undefined {
    const e = this.bank.store.meta.get(key) as Earlier | undefined;
    if (e === undefined) return undefined;
    if (e.digest !== digest) throw new CbdcError('CBDC_ERR_IDEMPOTENCY_CONFLICT');
    return this.ledger.get(e.seq);
  }

  private claim(key: string): void {
    if (this.inFlight.has(key)) throw new CbdcError('CBDC_ERR_IDEMPOTENCY_CONFLICT', 'a request with this idempotency key is already under way');
    this.inFlight.add(key);
  }

  /** A top-up's state now: settled once its transaction is applied here. */
  private topUpStatus(line: FxLine): TopUpAnswer['status'] {
    if (line.txid !== null && this.bank.store.applied.get(line.txid) !== undefined) return 'settled';
    if (line.txid !== null && committedPending(this.bank.store, line.txid) !== undefined) return 'pending';
    return 'refused';
  }

  /** Card -> CNY -> the visitor's wallet. */
  async topUp(id: string, r: { card: Card; currency: string; amountMinor: bigint; idempotencyKey: string }): Promise<TopUpAnswer> {
    const a = this.visitorAccount(id);
    const hmac = (t: string) => keyedHash(this.pepper, t);
    const hashOfCard = cardHash(hmac, r.card.number);
    const digest = digestOf(['top-up', r.currency, r.amountMinor.toString(), hashOfCard, r.card.expiry]);
    const idemKey = `visitor-topup/${id}/${r.idempotencyKey}`;
    const before = this.earlier(idemKey, digest);
    if (before !== undefined) return { status: this.topUpStatus(before), replayed: true, line: before, account: this.bank.account(id) };

    checkActive(a);
    const now = this.bank.now();
    checkVisitorReceives(a, now);
    const rate = rateOf(this.fxTable, r.currency);
    checkCard(r.card, now);
    const { amountFen, feeFen } = convertIn(rate, this.feeBps, r.amountMinor);
    if (amountFen > AMOUNT_FEN_MAX) throw new CbdcError('CBDC_ERR_AMOUNT_RANGE');
    // Over the cap is refused before the card is charged (the exchange checks it again, atomically).
    const room = this.bank.capRoomFen(a);
    if (room !== null && amountFen > room) throw new CbdcError('CBDC_ERR_BALANCE_CAP', `the top-up brings ${amountFen} fen; the wallet has room for ${room} fen under its cap`);

    this.claim(idemKey);
    try {
      const charge = this.acquirer.charge(r.card, r.currency, r.amountMinor, now);
      let line: FxLine | undefined;
      try {
        await this.bank.exchangeToWallet(id, amountFen, `visitor:${r.idempotencyKey}`, {
          transit: true,
          within: (txid) => {
            line = this.ledger.append({
              atMs: now, account: id, direction: 'in', kind: 'top-up', currency: r.currency, amountMinor: r.amountMinor.toString(), rate: rateText(rate),
              feeBps: this.feeBps, feeFen: feeFen.toString(), amountFen: amountFen.toString(), txid, acquirerRef: charge.reference, cardLast4: charge.last4,
            });
            this.bank.store.meta.putSync(idemKey, { digest, seq: line.seq } satisfies Earlier);
            this.bank.store.meta.putSync(`visitor-card/${id}`, { reference: charge.reference, last4: charge.last4, cardHash: hashOfCard } satisfies CardOnFile);
          },
        });
      } catch (e) {
        const committed = this.bank.store.meta.get(idemKey) !== undefined;
        if (!committed) {
          // Nothing was written: the charge goes straight back to the card.
          this.acquirer.refund(newReference(), charge.reference, r.currency, r.amountMinor, charge.last4);
          throw e;
        }
        // Pending at central: it settles into the wallet, or lands in the deposit (convert it back from there).
        if (isCbdcError(e) && e.code === 'CBDC_ERR_CENTRAL_UNAVAILABLE') throw e;
        await this.reverse(line!);
        throw e;
      }
      await this.bank.durable();
      return { status: this.topUpStatus(line!), replayed: false, line: line!, account: this.bank.account(id) };
    } finally {
      this.inFlight.delete(idemKey);
    }
  }

  /** A top-up central refused after the bank committed it: its money is in the deposit; give it back to the card. */
  private async reverse(l: FxLine): Promise<void> {
    const reference = newReference();
    const done = await this.bank.atomic(() => {
      const a = this.bank.account(l.account);
      if (BigInt(a.depositFen) < BigInt(l.amountFen)) return false;
      this.bank.store.accounts.putSync(a.id, { ...a, depositFen: (BigInt(a.depositFen) - BigInt(l.amountFen)).toString() });
      this.ledger.append({ ...l, atMs: this.bank.now(), direction: 'out', kind: 'top-up-reversal', txid: null, acquirerRef: reference, feeFen: '0' });
      return true;
    });
    if (done) this.acquirer.refund(reference, l.acquirerRef, l.currency, BigInt(l.amountMinor), l.cardLast4);
    await this.bank.durable();
  }

  /**
   * Deposit -> the card last topped up from, in `currency`: the wallet moved the CNY to its
   * deposit first (a payment it signed); this takes what the refund costs from the deposit.
   * Before and after the validity end alike.
   */
  async convertBack(id: string, r: { amountFen: bigint; currency: string; idempotencyKey: string }): Promise<ConvertBackAnswer> {
    const a = this.visitorAccount(id);
    const digest = digestOf(['convert-back', r.currency, r.amountFen.toString()]);
    const idemKey = `visitor-convert/${id}/${r.idempotencyKey}`;
    const before = this.earlier(idemKey, digest);
    if (before !== undefined) return { status: 'refunded', replayed: true, line: before, account: this.bank.account(id) };
    checkActive(a);
    const rate = rateOf(this.fxTable, r.currency);
    const card = this.bank.store.meta.get(`visitor-card/${id}`) as CardOnFile | undefined;
    if (card === undefined) throw new CbdcError('CBDC_ERR_VISITOR_NO_CARD');
    const out = convertOut(rate, this.feeBps, r.amountFen);
    const reference = newReference();
    this.claim(idemKey);
    try {
      const line = await this.bank.atomic(() => {
        const cur = this.bank.account(id);
        checkActive(cur);
        if (BigInt(cur.depositFen) < out.amountFen) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS', `the deposit holds ${cur.depositFen} fen; move the money from the wallet to the deposit first`);
        this.bank.store.accounts.putSync(id, { ...cur, depositFen: (BigInt(cur.depositFen) - out.amountFen).toString() });
        const l = this.ledger.append({
          atMs: this.bank.now(), account: id, direction: 'out', kind: 'convert-back', currency: r.currency, amountMinor: out.amountMinor.toString(), rate: rateText(rate),
          feeBps: this.feeBps, feeFen: out.feeFen.toString(), amountFen: out.amountFen.toString(), txid: null, acquirerRef: reference, cardLast4: card.last4,
        });
        this.bank.store.meta.putSync(idemKey, { digest, seq: l.seq } satisfies Earlier);
        return l;
      });
      await this.bank.durable();
      // The refund goes out once the debit is on disk, under the reference the line names.
      this.acquirer.refund(reference, card.reference, r.currency, out.amountMinor, card.last4);
      return { status: 'refunded', replayed: false, line, account: this.bank.account(id) };
    } finally {
      this.inFlight.delete(idemKey);
    }
  }
}

function newReference(): string {
  return `acq-${randomBytes(8).toString('hex')}`;
}
