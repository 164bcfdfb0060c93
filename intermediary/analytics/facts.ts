// The facts a bank's analytics count: its settled customer payments, from its own history
// records (Bank.applyTx writes them), with each account's contribution bounded.
//
// Which legs count, so that nothing is counted twice:
// - group_by day, tier, region, none: the OUTGOING leg, the payer's history entry of kind
//   'payment' and direction 'out' (one per settled payment the payer made at this bank: to a
//   customer of any bank, an offline device or a contract). Exchanges to the deposit (kind
//   'exchange') and sweeps are not payments. Tier and region are the payer's, as they are now.
// - group_by mcc: the INCOMING leg at this bank's merchant accounts, the merchant's entry of kind
//   'payment' and direction 'in', its value plus the over-cap part swept to the merchant's
//   deposit for the same transaction (kind 'sweep', same txid). A payment between two of this
//   bank's accounts has both legs; a query only ever counts one kind of leg.
// Each account contributes at most L payments (its first L in the range, in time order) and at
// most C fen in total (values taken in that order, the one that crosses C cut to what is left),
// so one person changes any query's count vector by at most L (L1) and its value vector by at
// most C: the sensitivities the noise is scaled to.
import type { BankStore, AccountRec } from '../store.js';
import { TIERS } from '../tiers.js';
import { dayKey } from '../../platform/clock.js';
import { REGIONS, regionOf } from '../../protocol/regions.js';
import { bucketOf, emptyCells, HISTOGRAM_BUCKETS, type TrueCell } from '../../platform/analytics.js';

export const BANK_METRICS = ['payments_count', 'payments_value_fen', 'value_histogram'] as const;
export type BankMetric = (typeof BANK_METRICS)[number];
export const BANK_GROUPINGS = ['day', 'mcc', 'tier', 'region', 'none'] as const;
export type BankGrouping = (typeof BANK_GROUPINGS)[number];

export interface Bounds {
  /** L: payments one account contributes to a query at most. */
  paymentsMax: number;
  /** C: fen one account contributes to a query's values at most. */
  valueFenMax: bigint;
}

/** The groups of a grouping, fixed before any data is read (the MCCs: those of the bank's merchant accounts, treated as public). */
export function groupDomain(store: BankStore, groupBy: BankGrouping, days: readonly string[]): string[] {
  switch (groupBy) {
    case 'day': return [...days];
    case 'tier': return TIERS.map(String);
    case 'region': return [...REGIONS];
    case 'none': return ['all'];
    case 'mcc': {
      const mccs = new Set<string>();
      for (const { value } of store.accounts.getRange({})) if (value.kind === 'merchant' && value.mcc !== null) mccs.add(value.mcc);
      return [...mccs].sort();
    }
  }
}

interface Leg { atMs: number; amountFen: bigint }

/** One account's counted legs in [fromMs, toMs), in time order. */
function legsOf(store: BankStore, a: AccountRec, incoming: boolean, fromMs: number, toMs: number): Leg[] {
  const legs: Leg[] = [];
  const byTxid = new Map<string, Leg>();
  for (const { value: h } of store.history.getRange({ start: [a.id, 0], end: [a.id, Number.MAX_SAFE_INTEGER] })) {
    if (h.atMs < fromMs || h.atMs >= toMs) continue;
    if (!incoming) {
      if (h.direction === 'out' && h.kind === 'payment') legs.push({ atMs: h.atMs, amountFen: BigInt(h.amountFen) });
      continue;
    }
    if (h.direction !== 'in') continue;
    if (h.kind === 'payment') {
      const leg = byTxid.get(h.txid) ?? { atMs: h.atMs, amountFen: 0n };
      if (!byTxid.has(h.txid)) { byTxid.set(h.txid, leg); legs.push(leg); }
      leg.amountFen += BigInt(h.amountFen);
    } else if (h.kind === 'sweep' && byTxid.has(h.txid)) {
      byTxid.get(h.txid)!.amountFen += BigInt(h.amountFen);
    }
  }
  return legs;
}

/** The true, bounded figures of every cell of the query's domain (in domain order; buckets inside each group for the histogram). */
export function bankCells(store: BankStore, q: { metric: BankMetric; groupBy: BankGrouping; days: readonly string[]; fromMs: number; toMs: number }, b: Bounds): TrueCell[] {
  const groups = groupDomain(store, q.groupBy, q.days);
  const histogram = q.metric === 'value_histogram';
  const { cells, index } = emptyCells(groups, histogram ? HISTOGRAM_BUCKETS : undefined);
  const incoming = q.groupBy === 'mcc';
  for (const { value: a } of store.accounts.getRange({})) {
    if (incoming && (a.kind !== 'merchant' || a.mcc === null)) continue;
    const legs = legsOf(store, a, incoming, q.fromMs, q.toMs).slice(0, b.paymentsMax);
    let valueLeft = b.valueFenMax;
    for (const leg of legs) {
      const g = q.groupBy === 'day' ? dayKey(leg.atMs) : q.groupBy === 'tier' ? String(a.tier) : q.groupBy === 'region' ? regionOf(a) : q.groupBy === 'mcc' ? a.mcc! : 'all';
      const c = index.get(`${g}|${histogram ? bucketOf(leg.amountFen) : ''}`);
      if (c === undefined) continue;
      const v = leg.amountFen < valueLeft ? leg.amountFen : valueLeft;
      valueLeft -= v;
      c.count += 1n;
      c.valueFen += v;
    }
  }
  return cells;
}
