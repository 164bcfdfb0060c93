// The bank's private analytics: differentially private answers to the regulator from the bank's
// own records, and its part in central's combined statistic across banks (additive shares,
// sealed to each recipient bank). docs/ANALYTICS.md.
import type { Database } from 'lmdb';
import { CbdcError } from '../../protocol/errors.js';
import { signHashNative } from '../../protocol/sig.js';
import {
  SHARE_PARTIES_MAX, SHARE_VECTOR_MAX, addShares, encodeSigned, openShare, sealShare, split, type SealedShare, type ShareContext,
} from '../../protocol/secret_share.js';
import {
  PRIVACY_DEFAULTS, PrivacyBudget, answerDigest, formatEpsilon, parseDayRange, parseEpsilon, releaseCells, type PrivacyParams,
} from '../../platform/analytics.js';
import { cryptoUniform, noisyInteger } from '../../platform/laplace.js';
import { BANK_TIME_ZONE } from '../../platform/clock.js';
import type { Bank } from '../bank.js';
import { bankCells, type BankGrouping, type BankMetric, type Bounds } from './facts.js';

export interface BankAnalyticsOptions extends Partial<PrivacyParams> {
  /** L: payments one account contributes to a query at most (default 10). */
  paymentsMax?: number;
  /** C: fen one account contributes to a query's values at most (default 1,000,000: 10,000 yuan). */
  valueFenMax?: bigint;
  /** How long a combined query's kept share waits for round 2 (default two minutes). */
  combinedTtlMs?: number;
}

/** The signer id central's analytics coordinator signs its requests to banks with. */
export const COORDINATOR_SIGNER = 'central';
/** Combined queries a bank holds a kept share for at once. */
export const COMBINED_IN_FLIGHT_MAX = 64;
export const QUERY_ID_PATTERN = '^aq-[0-9a-f]{32}$';

export interface QueryBody { metric: BankMetric; group_by: BankGrouping; from_day: string; to_day: string; epsilon: string }
export interface SharesBody {
  query_id: string; metric: 'payments_count' | 'payments_value_fen'; group_by: 'day' | 'tier' | 'region' | 'none';
  from_day: string; to_day: string; epsilon: string; parties: string[];
}

interface Kept { parties: string[]; share: bigint[]; expiresAtMs: number }

export class BankAnalytics {
  readonly params: PrivacyParams;
  readonly bounds: Bounds;
  readonly budget: PrivacyBudget;
  private readonly kept = new Map<string, Kept>();
  /** Query ids seen (kept or finished) with when they expire: an id is used once. */
  private readonly seen = new Map<string, number>();
  private readonly ttlMs: number;
  private coordinatorKey: Buffer | undefined;

  constructor(
    readonly bank: Bank,
    private readonly secretKey: Uint8Array,
    private readonly bankKeys: () => Map<string, Buffer>,
    private readonly refreshBankKeys: () => Promise<void>,
    o: BankAnalyticsOptions = {},
  ) {
    this.params = { ...PRIVACY_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => k in PRIVACY_DEFAULTS && v !== undefined)) };
    this.bounds = { paymentsMax: o.paymentsMax ?? 10, valueFenMax: o.valueFenMax ?? 1_000_000n };
    if (!(this.bounds.paymentsMax >= 1) || this.bounds.valueFenMax < 1n) throw new Error('invariant violated: contribution bounds are positive');
    this.ttlMs = o.combinedTtlMs ?? 120_000;
    // In the bank's own LMDB environment: the budget is part of the bank's durable state.
    const db = bank.store.root.openDB({ name: 'analytics-budget' }) as unknown as Database<{ spentHundredths: number; queries: number }, string>;
    this.budget = new PrivacyBudget(db, this.params.budgetHundredths);
  }

  private mechanism(epsilonH: number, values: boolean): Record<string, unknown> {
    return {
      noise: 'laplace', threshold: 'noisy count', min_group_size: this.params.minGroupSize,
      contribution_payments_max: this.bounds.paymentsMax, contribution_value_fen_max: this.bounds.valueFenMax.toString(),
      count_scale: (this.bounds.paymentsMax / ((values ? epsilonH / 2 : epsilonH) / 100)).toString(),
      ...(values ? { value_scale_fen: (Number(this.bounds.valueFenMax) / (epsilonH / 200)).toString() } : {}),
    };
  }

  /** A regulator's query: checks it all, spends the epsilon, then answers the noisy figures. */
  async query(signer: string, b: QueryBody): Promise<Record<string, unknown>> {
    const epsilonH = parseEpsilon(b.epsilon, this.params);
    const range = parseDayRange(b.from_day, b.to_day, this.params.dayRangeMax);
    if (b.metric === 'value_histogram' && b.group_by === 'day' && range.days.length > 62) {
      throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', 'a histogram by day spans at most 62 days');
    }
    const spent = await this.budget.spend(signer, epsilonH);
    const cells = bankCells(this.bank.store, { metric: b.metric, groupBy: b.group_by, ...range }, this.bounds);
    const values = b.metric === 'payments_value_fen';
    const groups = releaseCells(cells, { values, epsilon: epsilonH / 100, ...this.bounds, minGroupSize: this.params.minGroupSize });
    return {
      bank: this.bank.id, metric: b.metric, group_by: b.group_by, from_day: b.from_day, to_day: b.to_day, time_zone: BANK_TIME_ZONE,
      epsilon: formatEpsilon(epsilonH), remaining_epsilon: formatEpsilon(spent.remainingHundredths),
      mechanism: this.mechanism(epsilonH, values), groups,
    };
  }

  // ------------------------------------------------------------------- the combined statistic

  private prune(now: number): void {
    for (const [id, t] of this.seen) if (t < now) { this.seen.delete(id); this.kept.delete(id); }
  }

  private async partyKeys(parties: readonly string[]): Promise<Map<string, Buffer>> {
    const banks = parties.filter((p) => p !== COORDINATOR_SIGNER && p !== this.bank.id);
    if (banks.some((p) => !this.bankKeys().has(p))) await this.refreshBankKeys().catch(() => undefined);
    const keys = new Map<string, Buffer>();
    for (const p of banks) {
      const k = this.bankKeys().get(p);
      if (k === undefined) throw new CbdcError('CBDC_ERR_ANALYTICS_PARTY', `${p} is not a registered bank`);
      keys.set(p, k);
    }
    return keys;
  }

  private ctx(queryId: string, parties: readonly string[], from: string, to: string): ShareContext {
    return { network: this.bank.network, queryId, from, to, parties };
  }

  /** Round 1: this bank's vector (bounded, with its own Laplace noise), split into one share per party. */
  async shares(b: SharesBody): Promise<{ query_id: string; bank: string; length: number; central_share: string[]; sealed: SealedShare[]; sig: string }> {
    const parties = b.parties;
    if (new Set(parties).size !== parties.length || parties.length < 3 || parties.length > SHARE_PARTIES_MAX) {
      throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', `3 to ${SHARE_PARTIES_MAX} distinct parties (two banks at least, and central)`);
    }
    if (!parties.includes(this.bank.id) || !parties.includes(COORDINATOR_SIGNER)) throw new CbdcError('CBDC_ERR_ANALYTICS_PARTY', 'the parties name this bank and central');
    const epsilonH = parseEpsilon(b.epsilon, this.params);
    const range = parseDayRange(b.from_day, b.to_day, this.params.dayRangeMax);
    const values = b.metric === 'payments_value_fen';
    const keys = await this.partyKeys(parties);
    const now = Date.now();
    this.prune(now);
    if (this.seen.has(b.query_id)) throw new CbdcError('CBDC_ERR_ANALYTICS_STATE', 'that query id is in flight or used');
    if (this.kept.size >= COMBINED_IN_FLIGHT_MAX) throw new CbdcError('CBDC_ERR_ANALYTICS_STATE', 'too many combined queries in flight');
    const cells = bankCells(this.bank.store, { metric: values ? 'payments_value_fen' : 'payments_count', groupBy: b.group_by, ...range }, this.bounds);
    const length = cells.length * (values ? 2 : 1);
    if (length > SHARE_VECTOR_MAX) throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', `a combined vector holds at most ${SHARE_VECTOR_MAX} figures (fewer days, or counts instead of values)`);
    // The id is taken before the budget is awaited: a concurrent request with the same id is refused.
    this.seen.set(b.query_id, now + this.ttlMs);
    try {
      // Central's own budget at this bank: each bank protects its customers whatever central asks.
      await this.budget.spend(COORDINATOR_SIGNER, epsilonH);
    } catch (e) {
      this.seen.delete(b.query_id);
      throw e;
    }
    const eps = epsilonH / 100;
    // Each bank adds the full noise a release of its own figures would need: its vector is
    // ε-differentially private by itself, so even the exact sum central computes is.
    const counts = cells.map((c) => noisyInteger(c.count, this.bounds.paymentsMax, values ? eps / 2 : eps, cryptoUniform));
    const x = values ? [...counts, ...cells.map((c) => noisyInteger(c.valueFen, Number(this.bounds.valueFenMax), eps / 2, cryptoUniform))] : counts;
    const shares = split(x.map(encodeSigned), parties.length);
    const mine = parties.indexOf(this.bank.id);
    const sealed: SealedShare[] = [];
    let centralShare: bigint[] = [];
    parties.forEach((p, i) => {
      if (p === this.bank.id) return;
      if (p === COORDINATOR_SIGNER) centralShare = shares[i]!;
      else sealed.push(sealShare(this.ctx(b.query_id, parties, this.bank.id, p), this.secretKey, keys.get(p)!, shares[i]!));
    });
    this.kept.set(b.query_id, { parties: [...parties], share: shares[mine]!, expiresAtMs: now + this.ttlMs });
    const central_share = centralShare.map(String);
    const sig = signHashNative(this.secretKey, answerDigest('shares', this.bank.network, b.query_id, this.bank.id, [length, central_share, sealed])).toString('hex');
    return { query_id: b.query_id, bank: this.bank.id, length, central_share, sealed, sig };
  }

  /** Round 2: the shares the other banks sealed to this one, opened and added to the kept one. */
  async partial(b: { query_id: string; sealed: SealedShare[] }): Promise<{ query_id: string; bank: string; partial: string[]; sig: string }> {
    const now = Date.now();
    this.prune(now);
    const k = this.kept.get(b.query_id);
    if (k === undefined) throw new CbdcError(this.seen.has(b.query_id) ? 'CBDC_ERR_ANALYTICS_STATE' : 'CBDC_ERR_ANALYTICS_PARTY', 'no share kept for that query id (unknown, expired or already summed)');
    const others = k.parties.filter((p) => p !== COORDINATOR_SIGNER && p !== this.bank.id);
    const keys = await this.partyKeys(k.parties);
    const from = new Set(b.sealed.map((s) => s.from));
    if (b.sealed.length !== others.length || from.size !== others.length || others.some((p) => !from.has(p))) {
      throw new CbdcError('CBDC_ERR_ANALYTICS_PARTY', `one share from each of ${others.join(', ')}`);
    }
    if (b.sealed.some((s) => s.to !== this.bank.id)) throw new CbdcError('CBDC_ERR_ANALYTICS_PARTY', 'a share is sealed to another bank');
    const opened = b.sealed.map((s) => openShare(this.ctx(b.query_id, k.parties, s.from, this.bank.id), this.secretKey, keys.get(s.from)!, s, k.share.length));
    // Opened: the kept share is used once, and gone.
    this.kept.delete(b.query_id);
    const partial = addShares([k.share, ...opened]).map(String);
    const sig = signHashNative(this.secretKey, answerDigest('partial', this.bank.network, b.query_id, this.bank.id, partial)).toString('hex');
    return { query_id: b.query_id, bank: this.bank.id, partial, sig };
  }

  /** Central's coordinator key, as central publishes it (GET /v1/analytics/coordinator), fetched once. */
  async coordinatorPublicKey(): Promise<Buffer | undefined> {
    if (this.coordinatorKey === undefined) {
      const r = await this.bank.link.call<{ public_key: string }>('GET', '/v1/analytics/coordinator').catch(() => undefined);
      if (r !== undefined && /^[0-9a-f]{66}$/.test(r.public_key)) this.coordinatorKey = Buffer.from(r.public_key, 'hex');
    }
    return this.coordinatorKey;
  }

  cachedCoordinatorKey(): Buffer | undefined {
    return this.coordinatorKey;
  }
}
