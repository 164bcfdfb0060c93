// Tiered KYC (e-CNY style wallet classes) and their limits, in one table. Amounts in fen;
// null means no cap. Pure: the caller supplies balances, usage and the bank's clock.
import { CbdcError } from '../protocol/errors.js';

/** 1 to 4: resident wallet classes; 5: a visitor's (non-resident's) wallet (intermediary/visitors/). */
export type Tier = 1 | 2 | 3 | 4 | 5;
export const TIERS: readonly Tier[] = [1, 2, 3, 4, 5];
/** The visitor tier: a passport instead of a resident identity, a validity end, foreign-card top-ups. */
export const VISITOR_TIER = 5;

export interface TierLimits {
  balanceCapFen: bigint | null;
  singlePaymentFen: bigint | null;
  dailyFen: bigint | null;
  annualFen: bigint | null;
}

const yuan = (n: number): bigint => BigInt(n) * 100n;

/**
 * Defaults, in yuan: balance cap / single payment / daily / annual. Class 5 (visitor): the
 * cap of class 4 (10,000), a single payment of 5,000 and a day of 10,000 (a visitor spends
 * in larger amounts over a short stay than a phone-only resident wallet), a year of 50,000.
 */
export const DEFAULT_TIER_LIMITS: Readonly<Record<Tier, TierLimits>> = {
  5: { balanceCapFen: yuan(10_000), singlePaymentFen: yuan(5_000), dailyFen: yuan(10_000), annualFen: yuan(50_000) },
  4: { balanceCapFen: yuan(10_000), singlePaymentFen: yuan(2_000), dailyFen: yuan(5_000), annualFen: yuan(50_000) },
  3: { balanceCapFen: yuan(20_000), singlePaymentFen: yuan(5_000), dailyFen: yuan(10_000), annualFen: yuan(200_000) },
  2: { balanceCapFen: yuan(500_000), singlePaymentFen: yuan(50_000), dailyFen: yuan(100_000), annualFen: null },
  1: { balanceCapFen: null, singlePaymentFen: null, dailyFen: null, annualFen: null },
};

/**
 * What each tier needs (not verified against any real registry). Class 5 also needs its
 * validity end (valid_until_ms, a field of the opening request beside the evidence); its
 * passport number and nationality are checked here but never kept: the bank keeps only their
 * keyed hash (intermediary/visitors/passport.ts).
 */
export const TIER_EVIDENCE: Readonly<Record<Tier, readonly string[]>> = {
  5: ['phone', 'passport_number', 'nationality'],
  4: ['phone'],
  3: ['phone', 'name', 'id_number'],
  2: ['phone', 'name', 'id_number', 'linked_account'],
  1: ['phone', 'name', 'id_number', 'linked_account', 'verified_in_person_by'],
};

export interface Evidence {
  phone?: string;
  name?: string;
  id_number?: string;
  linked_account?: string;
  verified_in_person_by?: string;
  /** Class 5 only: the passport's document number (checked, hashed, never stored). */
  passport_number?: string;
  /** Class 5 only: the passport's issuing state, ISO 3166-1 alpha-3 (e.g. "FRA"); hashed with the number. */
  nationality?: string;
}

const EVIDENCE_PATTERNS: Record<keyof Evidence, RegExp> = {
  phone: /^\+[0-9]{6,15}$/,
  name: /^[^\u0000-\u001f]{1,64}$/u,
  id_number: /^[0-9A-Za-z]{6,32}$/,
  linked_account: /^[0-9A-Za-z-]{4,34}$/,
  verified_in_person_by: /^[^\u0000-\u001f]{1,64}$/u,
  // ICAO 9303 document numbers are up to 9 characters in the machine-readable zone; some states
  // use longer ones: letters and digits, 5 to 20.
  passport_number: /^[0-9A-Za-z]{5,20}$/,
  nationality: /^[A-Z]{3}$/,
};

/** Fields only a visitor wallet takes, and never keeps. */
const VISITOR_ONLY_FIELDS = ['passport_number', 'nationality'] as const;

export function parseTier(v: unknown): Tier {
  if (v === 1 || v === 2 || v === 3 || v === 4 || v === 5) return v;
  throw new CbdcError('CBDC_ERR_KYC_TIER', 'tier must be 1, 2, 3, 4 or 5');
}

/** Checks the evidence a tier needs is present and well-formed; returns just those fields. */
export function checkEvidence(tier: Tier, ev: Evidence): Evidence {
  if (tier === VISITOR_TIER) return checkVisitorEvidence(ev);
  for (const field of VISITOR_ONLY_FIELDS) {
    if (ev[field] !== undefined) throw new CbdcError('CBDC_ERR_KYC_EVIDENCE', `${field} is for visitor (tier 5) wallets only`);
  }
  const out: Evidence = {};
  for (const field of TIER_EVIDENCE[tier] as (keyof Evidence)[]) {
    const v = ev[field];
    if (typeof v !== 'string' || !EVIDENCE_PATTERNS[field].test(v)) {
      throw new CbdcError('CBDC_ERR_KYC_EVIDENCE', `tier ${tier} needs ${field}${v === undefined ? '' : ' in the right format'}`);
    }
    out[field] = v;
  }
  // Evidence beyond what the tier needs is kept when well-formed (a class 3 or 4 wallet with a
  // linked account has its over-cap money swept there), refused when malformed. In-person
  // verification is recorded by staff only (class 1), never taken from the applicant.
  for (const field of ['phone', 'name', 'id_number', 'linked_account'] as const) {
    const v = ev[field];
    if (v === undefined || out[field] !== undefined) continue;
    if (typeof v !== 'string' || !EVIDENCE_PATTERNS[field].test(v)) throw new CbdcError('CBDC_ERR_KYC_EVIDENCE', `${field} is not in the right format`);
    out[field] = v;
  }
  return out;
}

/**
 * Class 5: phone, passport number and nationality present and well-formed. Only the phone is
 * returned (it becomes the wallet's alias): the passport fields are hashed by the caller and
 * never stored. Nothing else is taken (no resident identity, no linked account to sweep to).
 */
function checkVisitorEvidence(ev: Evidence): Evidence {
  for (const field of TIER_EVIDENCE[VISITOR_TIER] as (keyof Evidence)[]) {
    const v = ev[field];
    if (typeof v !== 'string' || !EVIDENCE_PATTERNS[field].test(v)) {
      throw new CbdcError('CBDC_ERR_KYC_EVIDENCE', `tier 5 needs ${field}${v === undefined ? '' : ' in the right format'}`);
    }
  }
  // A Chinese passport holder is a resident customer: classes 1 to 4.
  if (ev.nationality === 'CHN') throw new CbdcError('CBDC_ERR_KYC_EVIDENCE', 'a visitor wallet is for foreign passports; nationality CHN opens a resident account');
  for (const field of ['name', 'id_number', 'linked_account', 'verified_in_person_by'] as const) {
    if (ev[field] !== undefined) throw new CbdcError('CBDC_ERR_KYC_EVIDENCE', `a visitor (tier 5) wallet takes no ${field}`);
  }
  return { phone: ev.phone! };
}

export interface Usage {
  /** Paid out today (bank's time zone), including payments still in flight. */
  dayFen: bigint;
  /** Paid out this calendar year, likewise. */
  yearFen: bigint;
}

/** Refuses a payment the payer's tier does not allow. Order: single, daily, annual. */
export function checkPayerLimits(limits: TierLimits, amountFen: bigint, usage: Usage): void {
  if (limits.singlePaymentFen !== null && amountFen > limits.singlePaymentFen) throw new CbdcError('CBDC_ERR_LIMIT_SINGLE');
  if (limits.dailyFen !== null && usage.dayFen + amountFen > limits.dailyFen) throw new CbdcError('CBDC_ERR_LIMIT_DAILY');
  if (limits.annualFen !== null && usage.yearFen + amountFen > limits.annualFen) throw new CbdcError('CBDC_ERR_LIMIT_ANNUAL');
}

/** How much of an incoming amount the wallet can hold under its cap (the rest is excess). */
export function splitAtCap(limits: TierLimits, balanceFen: bigint, incomingFen: bigint): { walletFen: bigint; excessFen: bigint } {
  if (limits.balanceCapFen === null) return { walletFen: incomingFen, excessFen: 0n };
  const room = limits.balanceCapFen > balanceFen ? limits.balanceCapFen - balanceFen : 0n;
  const walletFen = incomingFen < room ? incomingFen : room;
  return { walletFen, excessFen: incomingFen - walletFen };
}
