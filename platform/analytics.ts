// What the bank's and central's analytics share: the query's parameters (epsilon, day range),
// the privacy budget per querier (durable in LMDB), and the release of a fixed set of cells
// under the Laplace mechanism with a threshold on the noisy count. docs/ANALYTICS.md.
import type { Database } from 'lmdb';
import { CbdcError } from '../protocol/errors.js';
import { taggedHash } from '../protocol/hash.js';
import { dayKey, dayStartMs } from './clock.js';
import { cryptoUniform, noisyInteger, type Uniform } from './laplace.js';

/** Epsilon travels as a decimal string of at most two decimals ("0.5"); code keeps hundredths (exact sums). */
export const EPSILON_PATTERN = '^(0|[1-9][0-9]?)(\\.[0-9]{1,2})?$';
export const DAY_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';
/** Tag of the hashes banks sign their analytics answers under. */
export const ANALYTICS_TAG = 'CBDC/analytics';

export interface PrivacyParams {
  /** Smallest and largest epsilon one query may spend, in hundredths. */
  epsilonMinHundredths: number;
  epsilonMaxHundredths: number;
  /** Each querier's total epsilon, in hundredths; spent for good (no refill). */
  budgetHundredths: number;
  /** Groups whose noisy count is below this are suppressed. */
  minGroupSize: number;
  /** Days one query may span at most. */
  dayRangeMax: number;
}

export const PRIVACY_DEFAULTS: PrivacyParams = { epsilonMinHundredths: 10, epsilonMaxHundredths: 200, budgetHundredths: 1000, minGroupSize: 10, dayRangeMax: 366 };

export function parseEpsilon(text: string, p: PrivacyParams): number {
  if (!new RegExp(EPSILON_PATTERN).test(text)) throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', 'epsilon is a decimal string such as "0.5"');
  const [whole, frac = ''] = text.split('.');
  const h = Number(whole) * 100 + Number(frac.padEnd(2, '0'));
  if (h < p.epsilonMinHundredths || h > p.epsilonMaxHundredths) {
    throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', `epsilon must be from ${formatEpsilon(p.epsilonMinHundredths)} to ${formatEpsilon(p.epsilonMaxHundredths)}`);
  }
  return h;
}

export function formatEpsilon(hundredths: number): string {
  const frac = String(hundredths % 100).padStart(2, '0').replace(/0+$/, '');
  return `${Math.floor(hundredths / 100)}${frac ? `.${frac}` : ''}`;
}

export interface DayRange {
  days: string[];
  /** [fromMs, toMs): the first day's start to the day after the last one (bank time zone). */
  fromMs: number;
  toMs: number;
}

/** A range of whole days in the bank's time zone (platform/clock.ts), both ends included. */
export function parseDayRange(fromDay: string, toDay: string, dayRangeMax: number): DayRange {
  const fromMs = dayStartMs(fromDay);
  const lastMs = dayStartMs(toDay);
  // A date that does not exist (2026-02-30) does not round-trip.
  if (!Number.isFinite(fromMs) || !Number.isFinite(lastMs) || dayKey(fromMs) !== fromDay || dayKey(lastMs) !== toDay) {
    throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', 'from_day and to_day are calendar days YYYY-MM-DD');
  }
  if (lastMs < fromMs) throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', 'to_day is before from_day');
  const count = Math.round((lastMs - fromMs) / 86_400_000) + 1;
  if (count > dayRangeMax) throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', `a query spans at most ${dayRangeMax} days`);
  const days: string[] = [];
  for (let i = 0; i < count; i++) days.push(dayKey(fromMs + i * 86_400_000));
  return { days, fromMs, toMs: lastMs + 86_400_000 };
}

/** Payment values bucketed by these upper bounds in fen (10, 100, 1,000 and 10,000 yuan), and a last open bucket. */
export const HISTOGRAM_BOUNDS_FEN: readonly bigint[] = [1_000n, 10_000n, 100_000n, 1_000_000n];
export const HISTOGRAM_BUCKETS: readonly string[] = ['lt_10_yuan', 'lt_100_yuan', 'lt_1000_yuan', 'lt_10000_yuan', 'ge_10000_yuan'];

export function bucketOf(valueFen: bigint): string {
  const i = HISTOGRAM_BOUNDS_FEN.findIndex((b) => valueFen < b);
  return HISTOGRAM_BUCKETS[i === -1 ? HISTOGRAM_BUCKETS.length - 1 : i]!;
}

// ---------------------------------------------------------------------------------------
// The budget

interface BudgetRec {
  spentHundredths: number;
  queries: number;
}

/** Epsilon spent per querier (signer id), in an LMDB database: a restart does not refill it. */
export class PrivacyBudget {
  constructor(private readonly db: Database<BudgetRec, string>, readonly totalHundredths: number) {}

  spentOf(signer: string): number {
    return this.db.get(signer)?.spentHundredths ?? 0;
  }

  remainingOf(signer: string): number {
    return Math.max(0, this.totalHundredths - this.spentOf(signer));
  }

  /** Spends `hundredths` of the signer's budget, or refuses with CBDC_ERR_PRIVACY_BUDGET and spends nothing. Durable on return. */
  async spend(signer: string, hundredths: number): Promise<{ spentHundredths: number; remainingHundredths: number }> {
    const r = this.db.transactionSync(() => {
      const cur = this.db.get(signer) ?? { spentHundredths: 0, queries: 0 };
      if (cur.spentHundredths + hundredths > this.totalHundredths) {
        throw new CbdcError('CBDC_ERR_PRIVACY_BUDGET', `epsilon ${formatEpsilon(hundredths)} would exceed the budget: ${formatEpsilon(this.totalHundredths - cur.spentHundredths)} of ${formatEpsilon(this.totalHundredths)} left`);
      }
      const next = { spentHundredths: cur.spentHundredths + hundredths, queries: cur.queries + 1 };
      this.db.putSync(signer, next);
      return next;
    });
    // Spent before anything is answered, and on disk before the answer leaves.
    await this.db.flushed;
    return { spentHundredths: r.spentHundredths, remainingHundredths: this.totalHundredths - r.spentHundredths };
  }

  json(signer: string): { signer: string; total_epsilon: string; spent_epsilon: string; remaining_epsilon: string; queries: number } {
    const rec = this.db.get(signer);
    return {
      signer, total_epsilon: formatEpsilon(this.totalHundredths), spent_epsilon: formatEpsilon(rec?.spentHundredths ?? 0),
      remaining_epsilon: formatEpsilon(this.remainingOf(signer)), queries: rec?.queries ?? 0,
    };
  }
}

// ---------------------------------------------------------------------------------------
// Release

export interface TrueCell {
  group: string;
  bucket?: string;
  count: bigint;
  valueFen: bigint;
}

/** The tier groups' domain: the tier table's ids as strings (intermediary/tiers.test.ts pins that they agree). */
export const TIER_GROUPS: readonly string[] = ['1', '2', '3', '4', '5'];

/** Every cell of a fixed domain at zero (buckets inside each group for a histogram), and an index by `group|bucket`. */
export function emptyCells(groups: readonly string[], buckets: readonly string[] | undefined): { cells: TrueCell[]; index: Map<string, TrueCell> } {
  const cells: TrueCell[] = [];
  const index = new Map<string, TrueCell>();
  for (const g of groups) {
    for (const bucket of buckets ?? [undefined]) {
      const c: TrueCell = { group: g, ...(bucket !== undefined ? { bucket } : {}), count: 0n, valueFen: 0n };
      cells.push(c);
      index.set(`${g}|${bucket ?? ''}`, c);
    }
  }
  return { cells, index };
}

export interface ReleasedCell {
  group: string;
  bucket?: string;
  suppressed: boolean;
  /** The noisy figure (a count, or fen), null when suppressed. */
  value: string | null;
}

/**
 * Releases every cell of a fixed domain (the domain never depends on the data, so which groups
 * appear tells nothing). Counts: Lap(L/ε). Values: ε is split, half for a noisy count that only
 * decides suppression (never released), half for the value, Lap(C/(ε/2)). A cell is suppressed
 * when its NOISY count is below k: the threshold is itself differentially private (a function of
 * released noise), unlike one on the true count, which would tell "fewer than k" exactly.
 */
export function releaseCells(cells: readonly TrueCell[], o: { values: boolean; epsilon: number; paymentsMax: number; valueFenMax: bigint; minGroupSize: number }, uniform: Uniform = cryptoUniform): ReleasedCell[] {
  const countEps = o.values ? o.epsilon / 2 : o.epsilon;
  return cells.map((c) => {
    const noisyCount = noisyInteger(c.count, o.paymentsMax, countEps, uniform);
    const base = { group: c.group, ...(c.bucket !== undefined ? { bucket: c.bucket } : {}) };
    if (noisyCount < BigInt(o.minGroupSize)) return { ...base, suppressed: true, value: null };
    const v = o.values ? noisyInteger(c.valueFen, Number(o.valueFenMax), o.epsilon / 2, uniform) : noisyCount;
    // Clamping at zero is post-processing: it spends nothing.
    return { ...base, suppressed: false, value: (v < 0n ? 0n : v).toString() };
  });
}

/** The message a bank signs over an analytics answer to central: the tagged hash of its fields in a fixed order. */
export function answerDigest(kind: 'shares' | 'partial', network: string, queryId: string, bank: string, fields: unknown): Buffer {
  return taggedHash(ANALYTICS_TAG, Buffer.from(JSON.stringify([kind, network, queryId, bank, fields]), 'utf8'));
}
