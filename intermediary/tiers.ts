// Tiered KYC (e-CNY style wallet classes) and their limits, in one table. Amounts in fen;
// null means no cap. Pure: the caller supplies balances, usage and the bank's clock.
import { CbdcError } from '../protocol/errors.js';

export type Tier = 1 | 2 | 3 | 4;
export const TIERS: readonly Tier[] = [1, 2, 3, 4];

export interface TierLimits {
  balanceCapFen: bigint | null;
  singlePaymentFen: bigint | null;
  dailyFen: bigint | null;
  annualFen: bigint | null;
}

const yuan = (n: number): bigint => BigInt(n) * 100n;

/** Defaults, in yuan: balance cap / single payment / daily / annual. */
export const DEFAULT_TIER_LIMITS: Readonly<Record<Tier, TierLimits>> = {
  4: { balanceCapFen: yuan(10_000), singlePaymentFen: yuan(2_000), dailyFen: yuan(5_000), annualFen: yuan(50_000) },
  3: { balanceCapFen: yuan(20_000), singlePaymentFen: yuan(5_000), dailyFen: yuan(10_000), annualFen: yuan(200_000) },
  2: { balanceCapFen: yuan(500_000), singlePaymentFen: yuan(50_000), dailyFen: yuan(100_000), annualFen: null },
  1: { balanceCapFen: null, singlePaymentFen: null, dailyFen: null, annualFen: null },
};

/** What each tier needs recorded (not verified against any real registry). */
export const TIER_EVIDENCE: Readonly<Record<Tier, readonly string[]>> = {
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
}

const EVIDENCE_PATTERNS: Record<keyof Evidence, RegExp> = {
  phone: /^\+[0-9]{6,15}$/,
  name: /^[^\u0000-\u001f]{1,64}$/u,
  id_number: /^[0-9A-Za-z]{6,32}$/,
  linked_account: /^[0-9A-Za-z-]{4,34}$/,
  verified_in_person_by: /^[^\u0000-\u001f]{1,64}$/u,
};

export function parseTier(v: unknown): Tier {
  if (v === 1 || v === 2 || v === 3 || v === 4) return v;
  throw new CbdcError('CBDC_ERR_KYC_TIER', 'tier must be 1, 2, 3 or 4');
}

/** Checks the evidence a tier needs is present and well-formed; returns just those fields. */
export function checkEvidence(tier: Tier, ev: Evidence): Evidence {
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
