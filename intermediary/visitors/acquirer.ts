// A simulated card acquirer for visitor wallets' top-ups from foreign cards, and the FX
// arithmetic the bank converts at. Pure except the acquirer's in-memory log (what it charged
// and refunded, for the node's own inspection and the tests).
//
// Rates are rationals: `fen` CNY fen per `minor` minor units of the currency (USD 7.10 CNY =>
// 710 fen per 100 cents), so no amount ever passes through a float. The bank's fee is in basis
// points. Rounding is stated once and is always in the bank's favour, by less than one fen:
//   in  (card -> wallet): amount_fen = floor(amount_minor * fen * (10000 - fee_bps) / (minor * 10000))
//   out (wallet -> card): amount_minor = floor(amount_fen * minor * 10000 / (fen * (10000 + fee_bps))),
//        and the bank takes only what that costs: amount_fen = ceil(amount_minor * fen * (10000 + fee_bps) / (minor * 10000))
//        (at most the fen offered; the rest, less than one minor unit's worth, stays in the deposit).
// fee_fen is the part of the CNY side that is the fee: in, floor(gross) - amount_fen; out,
// amount_fen - ceil(gross), where gross is the amount at the rate without the fee.
import { createHash, randomBytes } from 'node:crypto';
import { CbdcError, assert } from '../../protocol/errors.js';

export interface FxRate {
  /** CNY fen per `minor` minor units. */
  fen: bigint;
  minor: bigint;
  /** ISO 4217 minor-unit exponent (2 for USD, 0 for JPY): how the CLI writes amounts. */
  exponent: number;
}

export type FxTable = Readonly<Record<string, FxRate>>;

/** Basis points are parts of 10,000. */
const BPS = 10_000n;
/** The fee the bank takes at most (a misconfiguration above this is refused at start). */
export const FEE_BPS_MAX = 2_000;

/** Default table (illustrative rates, not market data), and the default fee of 1.5%. */
export const DEFAULT_FX_TABLE: FxTable = {
  USD: { fen: 710n, minor: 100n, exponent: 2 },
  EUR: { fen: 780n, minor: 100n, exponent: 2 },
  GBP: { fen: 910n, minor: 100n, exponent: 2 },
  HKD: { fen: 91n, minor: 100n, exponent: 2 },
  JPY: { fen: 47n, minor: 10n, exponent: 0 },
};
export const DEFAULT_FEE_BPS = 150;

/** ISO 4217 currencies without minor units (the rest of a table entry defaults to exponent 2). */
const ZERO_EXPONENT = new Set(['JPY', 'KRW', 'VND', 'ISK', 'CLP', 'PYG', 'UGX', 'XAF', 'XOF']);
const CURRENCY = /^[A-Z]{3}$/;
/** Rates' terms at most (keeps every product far inside bigint comfort and every table readable). */
const RATE_TERM_MAX = 10n ** 12n;

/** Checks a table and fee as configured (the node refuses to start with a bad one). */
export function checkFxConfig(table: FxTable, feeBps: number): void {
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > FEE_BPS_MAX) throw new Error(`the FX fee is a whole number of basis points from 0 to ${FEE_BPS_MAX}`);
  const names = Object.keys(table);
  if (names.length === 0 || names.length > 64) throw new Error('the FX table names 1 to 64 currencies');
  for (const [c, r] of Object.entries(table)) {
    if (!CURRENCY.test(c) || c === 'CNY') throw new Error(`FX table: "${c}" is not a foreign ISO 4217 code`);
    if (r.fen < 1n || r.minor < 1n || r.fen > RATE_TERM_MAX || r.minor > RATE_TERM_MAX) throw new Error(`FX table: ${c}'s rate terms are 1 to ${RATE_TERM_MAX}`);
    if (!Number.isInteger(r.exponent) || r.exponent < 0 || r.exponent > 3) throw new Error(`FX table: ${c}'s exponent is 0 to 3`);
  }
}

/** Parses `CUR=FEN/MINOR` (e.g. USD=710/100: 710 fen per 100 cents), as `serve --fx-rate` takes it. */
export function parseFxRate(text: string): [string, FxRate] {
  const m = /^([A-Z]{3})=([0-9]{1,12})\/([0-9]{1,12})$/.exec(text);
  if (m === null) throw new Error(`--fx-rate wants CUR=FEN/MINOR, like USD=710/100 (got "${text.slice(0, 40)}")`);
  const cur = m[1]!;
  return [cur, { fen: BigInt(m[2]!), minor: BigInt(m[3]!), exponent: ZERO_EXPONENT.has(cur) ? 0 : 2 }];
}

export function rateOf(table: FxTable, currency: string): FxRate {
  const r = Object.hasOwn(table, currency) ? table[currency] : undefined;
  if (r === undefined) throw new CbdcError('CBDC_ERR_FX_CURRENCY', `the bank converts ${Object.keys(table).join(', ')}; not "${currency.slice(0, 8)}"`);
  return r;
}

const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b;

/** Card -> wallet: the fen the visitor receives for `amountMinor`, and the fee. */
export function convertIn(rate: FxRate, feeBps: number, amountMinor: bigint): { amountFen: bigint; feeFen: bigint } {
  assert(amountMinor > 0n, 'a conversion is of a positive amount');
  const bps = BigInt(feeBps);
  const amountFen = (amountMinor * rate.fen * (BPS - bps)) / (rate.minor * BPS);
  const grossFen = (amountMinor * rate.fen) / rate.minor;
  if (amountFen === 0n) throw new CbdcError('CBDC_ERR_FX_AMOUNT', 'that amount converts to less than one fen after the fee');
  assert(grossFen >= amountFen, 'the fee is never negative');
  return { amountFen, feeFen: grossFen - amountFen };
}

/** Wallet -> card: the minor units refunded for at most `offeredFen`, what that costs in fen (<= offered), and the fee. */
export function convertOut(rate: FxRate, feeBps: number, offeredFen: bigint): { amountMinor: bigint; amountFen: bigint; feeFen: bigint } {
  assert(offeredFen > 0n, 'a conversion is of a positive amount');
  const bps = BigInt(feeBps);
  const amountMinor = (offeredFen * rate.minor * BPS) / (rate.fen * (BPS + bps));
  if (amountMinor === 0n) throw new CbdcError('CBDC_ERR_FX_AMOUNT', 'that amount buys less than one minor unit of the currency after the fee');
  const amountFen = ceilDiv(amountMinor * rate.fen * (BPS + bps), rate.minor * BPS);
  const grossFen = ceilDiv(amountMinor * rate.fen, rate.minor);
  assert(amountFen <= offeredFen, 'a conversion back never takes more than offered');
  assert(amountFen >= grossFen, 'the fee is never negative');
  return { amountMinor, amountFen, feeFen: amountFen - grossFen };
}

/** A rate as the API shows it: "710/100". */
export function rateText(r: FxRate): string {
  return `${r.fen}/${r.minor}`;
}

// ---------------------------------------------------------------- cards

export interface Card {
  number: string;
  /** MM/YY */
  expiry: string;
}

/** Luhn (ISO/IEC 7812-1 annex B): the check digit makes the weighted digit sum a multiple of 10. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Checks a card's form and expiry (by `nowMs`, the bank's clock); returns its last four digits. */
export function checkCard(card: Card, nowMs: number): { last4: string } {
  if (!/^[0-9]{12,19}$/.test(card.number) || !luhnValid(card.number)) throw new CbdcError('CBDC_ERR_CARD_FORMAT', 'a card number is 12 to 19 digits passing the Luhn check');
  const m = /^(0[1-9]|1[0-2])\/([0-9]{2})$/.exec(card.expiry);
  if (m === null) throw new CbdcError('CBDC_ERR_CARD_FORMAT', 'a card expiry is MM/YY');
  // Valid through the last day of its month (UTC): expired from the first instant of the next.
  const endMs = Date.UTC(2000 + Number(m[2]), Number(m[1]), 1);
  if (nowMs >= endMs) throw new CbdcError('CBDC_ERR_CARD_EXPIRED', `the card expired at the end of ${card.expiry}`);
  return { last4: card.number.slice(-4) };
}

/**
 * Test numbers the simulated acquirer declines (all pass the Luhn check), with the issuer's
 * answer. Every other well-formed, unexpired card is approved.
 */
export const DECLINING_TEST_CARDS: Readonly<Record<string, string>> = {
  '4000000000000002': 'card declined by the issuer',
  '4000000000009995': 'insufficient funds',
  '4000000000000069': 'card reported lost or stolen',
};

export interface AcquirerEntry {
  kind: 'charge' | 'refund';
  reference: string;
  currency: string;
  amountMinor: bigint;
  last4: string;
  /** For a refund: the charge it returns money to. */
  of?: string;
}

/** Entries the log keeps at most (oldest dropped first): it is for inspection, not the books. */
const LOG_MAX = 10_000;

/**
 * The simulated acquirer: approves or declines a charge at once and answers a reference. The
 * bank's books (the FX ledger) are the record; this log is only the acquirer's side as seen
 * from here.
 */
export class SimulatedAcquirer {
  readonly log: AcquirerEntry[] = [];

  charge(card: Card, currency: string, amountMinor: bigint, nowMs: number): { reference: string; last4: string } {
    const { last4 } = checkCard(card, nowMs);
    const declined = DECLINING_TEST_CARDS[card.number];
    if (declined !== undefined) throw new CbdcError('CBDC_ERR_CARD_DECLINED', `the card ending ${last4} was declined: ${declined}`);
    const reference = `acq-${randomBytes(8).toString('hex')}`;
    this.record({ kind: 'charge', reference, currency, amountMinor, last4 });
    return { reference, last4 };
  }

  /** Returns money to the card a charge was made on, under the reference the bank chose (and recorded first). */
  refund(reference: string, ofReference: string, currency: string, amountMinor: bigint, last4: string): void {
    assert(/^acq-[0-9a-f]{16}$/.test(ofReference) && /^acq-[0-9a-f]{16}$/.test(reference), 'a refund names its reference and a charge reference');
    this.record({ kind: 'refund', reference, currency, amountMinor, last4, of: ofReference });
  }

  private record(e: AcquirerEntry): void {
    if (this.log.length >= LOG_MAX) this.log.shift();
    this.log.push(e);
  }
}

/** A card number's keyed hash (the bank keeps it and the last four digits, never the number). */
export function cardHash(hmac: (text: string) => string, number: string): string {
  return hmac(`card:${number}`);
}

/** A request digest for idempotency (never the card number itself). */
export function digestOf(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}
