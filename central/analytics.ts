// Central's private analytics (docs/ANALYTICS.md): differentially private figures of its own
// ledger for its regulator, and the coordinator of the combined statistic across banks, in
// which no bank reveals its figure: each bank splits its noised vector into additive shares
// (protocol/secret_share.ts), one per party, sealed to each recipient bank; central forwards the
// sealed shares, collects each bank's partial sum and adds them with its own shares. Central
// sees only uniform shares, partial sums masked by each bank's kept share, and the total.
//
// The budget and the record of combined queries live in a small LMDB file of their own
// (analytics.mdb under central's data directory), whichever store holds the ledger (LMDB or SQL).
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { CbdcError, ERRORS } from '../protocol/errors.js';
import { isValidPublicKey, nativeVerifier } from '../protocol/sig.js';
import { IntermediaryId, PublicKeyHex } from '../protocol/json_schemas.js';
import {
  SHARE_PARTIES_MAX, SHARE_VECTOR_MAX, addShares, decodeSigned, parseShareVector, type SealedShare,
} from '../protocol/secret_share.js';
import { SignedClient } from '../platform/signed_client.js';
import type { KeyPair } from '../platform/key_file.js';
import {
  DAY_PATTERN, EPSILON_PATTERN, PRIVACY_DEFAULTS, PrivacyBudget, answerDigest, bucketOf, formatEpsilon, HISTOGRAM_BUCKETS, emptyCells, TIER_GROUPS,
  parseDayRange, parseEpsilon, releaseCells, type PrivacyParams, type ReleasedCell,
} from '../platform/analytics.js';
import { BANK_TIME_ZONE, dayKey } from '../platform/clock.js';
import { REGIONS } from '../protocol/regions.js';
import type { LedgerStore } from './store.js';

export const REGULATOR_SIGNER = 'regulator';
/** The signer id central's coordinator signs its requests to banks with (banks fetch its key from GET /v1/analytics/coordinator). */
export const COORDINATOR_SIGNER = 'central';
/** Outputs of one transfer a histogram counts at most: one transaction changes it by at most this (its sensitivity). */
export const HISTOGRAM_OUTPUTS_PER_TX_MAX = 4;

export interface CentralAnalyticsOptions extends Partial<PrivacyParams> {
  /** Milliseconds a bank has to answer one round. */
  bankTimeoutMs?: number;
}

interface CombinedRec {
  atMs: number;
  signer: string;
  metric: string;
  groupBy: string;
  fromDay: string;
  toDay: string;
  epsilon: string;
  parties: string[];
  groups: ReleasedCell[];
}

export class CentralAnalytics {
  readonly params: PrivacyParams;
  readonly budget: PrivacyBudget;
  private readonly root: RootDatabase;
  /** query id -> what was asked and answered (never a share, a partial sum or a bank's figure). */
  readonly combinedLog: Database<CombinedRec, string>;
  private readonly inFlight = new Set<string>();
  private readonly bankTimeoutMs: number;

  constructor(
    dataDir: string,
    readonly network: string,
    private readonly store: LedgerStore,
    readonly coordinator: KeyPair,
    readonly regulatorPublicKey: Buffer,
    o: CentralAnalyticsOptions = {},
  ) {
    this.params = { ...PRIVACY_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => k in PRIVACY_DEFAULTS && v !== undefined)) };
    this.bankTimeoutMs = o.bankTimeoutMs ?? 15_000;
    this.root = open({ path: path.join(dataDir, 'analytics.mdb'), maxDbs: 4 });
    this.budget = new PrivacyBudget(this.root.openDB({ name: 'budget' }) as unknown as Database<{ spentHundredths: number; queries: number }, string>, this.params.budgetHundredths);
    this.combinedLog = this.root.openDB({ name: 'combined' });
  }

  close(): Promise<void> {
    return this.root.close();
  }

  /** The ledger's own figures: transfers per day (one transaction counts 1), or a histogram of their output values. */
  async query(signer: string, b: { metric: 'transactions_count' | 'value_histogram'; group_by: 'day' | 'none'; from_day: string; to_day: string; epsilon: string }): Promise<Record<string, unknown>> {
    const epsilonH = parseEpsilon(b.epsilon, this.params);
    const range = parseDayRange(b.from_day, b.to_day, this.params.dayRangeMax);
    const histogram = b.metric === 'value_histogram';
    if (histogram && b.group_by === 'day' && range.days.length > 62) throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', 'a histogram by day spans at most 62 days');
    const spent = await this.budget.spend(signer, epsilonH);
    const groups = b.group_by === 'day' ? range.days : ['all'];
    const { cells, index } = emptyCells(groups, histogram ? HISTOGRAM_BUCKETS : undefined);
    for (let seq = 0n; ;) {
      const batches = this.store.readBatches(seq, 1_000);
      if (batches.length === 0) break;
      for (const batch of batches) {
        seq = batch.seq + 1n;
        if (batch.timeMs < range.fromMs || batch.timeMs >= range.toMs) continue;
        const g = b.group_by === 'day' ? dayKey(batch.timeMs) : 'all';
        for (const tx of batch.txs) {
          if (tx.kind !== 'transfer') continue;
          if (!histogram) {
            index.get(`${g}|`)!.count += 1n;
            continue;
          }
          for (const out of this.store.readOutputs(tx.firstPos, Math.min(tx.outputCount, HISTOGRAM_OUTPUTS_PER_TX_MAX))) {
            index.get(`${g}|${bucketOf(out.value)}`)!.count += 1n;
          }
        }
      }
    }
    const sensitivity = histogram ? HISTOGRAM_OUTPUTS_PER_TX_MAX : 1;
    return {
      metric: b.metric, group_by: b.group_by, from_day: b.from_day, to_day: b.to_day, time_zone: BANK_TIME_ZONE,
      epsilon: formatEpsilon(epsilonH), remaining_epsilon: formatEpsilon(spent.remainingHundredths),
      mechanism: { noise: 'laplace', unit: 'transaction', sensitivity, count_scale: String(sensitivity / (epsilonH / 100)), threshold: 'noisy count', min_group_size: this.params.minGroupSize },
      groups: releaseCells(cells, { values: false, epsilon: epsilonH / 100, paymentsMax: sensitivity, valueFenMax: 1n, minGroupSize: this.params.minGroupSize }),
    };
  }

  /** A signed request to a bank and its answer, or CBDC_ERR_ANALYTICS_BANK. */
  private async ask<T>(bank: { id: string; url: string }, route: string, body: unknown): Promise<T> {
    const client = new SignedClient(bank.url, this.network, COORDINATOR_SIGNER, this.coordinator.secretKey, this.bankTimeoutMs);
    let r;
    try {
      r = await client.post<T & { code?: string; message?: string }>(route, body);
    } catch (e) {
      throw new CbdcError('CBDC_ERR_ANALYTICS_BANK', `${bank.id} did not answer: ${(e as Error).message}`);
    }
    if (r.status !== 200) {
      const code = typeof r.body?.code === 'string' && r.body.code in ERRORS ? r.body.code : `HTTP ${r.status}`;
      throw new CbdcError('CBDC_ERR_ANALYTICS_BANK', `${bank.id} refused: ${code}${typeof r.body?.message === 'string' ? ` (${r.body.message.slice(0, 200)})` : ''}`);
    }
    return r.body;
  }

  private checkSig(bankId: string, digest: Buffer, sig: unknown): void {
    const i = this.store.getIntermediary(bankId);
    const pk = i === undefined ? undefined : Buffer.from(i.publicKey, 'hex');
    if (pk === undefined || typeof sig !== 'string' || !/^[0-9a-f]{128}$/.test(sig) || !nativeVerifier.verify(Buffer.from(sig, 'hex'), digest, pk)) {
      throw new CbdcError('CBDC_ERR_ANALYTICS_BANK', `the answer of ${bankId} is not signed by its registered key`);
    }
  }

  /** The combined statistic across banks (docs/ANALYTICS.md, "Combined"). */
  async combined(signer: string, b: {
    metric: 'payments_count' | 'payments_value_fen'; group_by: 'day' | 'tier' | 'region' | 'none'; from_day: string; to_day: string; epsilon: string;
    banks: { id: string; url: string }[];
  }): Promise<Record<string, unknown>> {
    const epsilonH = parseEpsilon(b.epsilon, this.params);
    const range = parseDayRange(b.from_day, b.to_day, this.params.dayRangeMax);
    const values = b.metric === 'payments_value_fen';
    const groups = b.group_by === 'day' ? range.days : b.group_by === 'tier' ? [...TIER_GROUPS] : b.group_by === 'region' ? [...REGIONS] : ['all'];
    const length = groups.length * (values ? 2 : 1);
    if (length > SHARE_VECTOR_MAX) throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', `a combined vector holds at most ${SHARE_VECTOR_MAX} figures (fewer days, or counts instead of values)`);
    const ids = b.banks.map((x) => x.id);
    if (new Set(ids).size !== ids.length || ids.length < 2 || ids.length > SHARE_PARTIES_MAX - 1) {
      throw new CbdcError('CBDC_ERR_ANALYTICS_QUERY', `2 to ${SHARE_PARTIES_MAX - 1} distinct banks`);
    }
    for (const id of ids) if (this.store.getIntermediary(id) === undefined) throw new CbdcError('CBDC_ERR_INTERMEDIARY_UNKNOWN', `${id} is not a registered intermediary`);
    const banks = [...b.banks].sort((x, y) => (x.id < y.id ? -1 : 1));
    const parties = [...banks.map((x) => x.id), COORDINATOR_SIGNER];
    const queryId = `aq-${randomBytes(16).toString('hex')}`;
    if (this.inFlight.size >= 4) throw new CbdcError('CBDC_ERR_ANALYTICS_STATE', 'combined queries already in flight');
    await this.budget.spend(signer, epsilonH);
    this.inFlight.add(queryId);
    try {
      const query = { query_id: queryId, metric: b.metric, group_by: b.group_by, from_day: b.from_day, to_day: b.to_day, epsilon: b.epsilon, parties };
      // Round 1: every bank's shares.
      const round1 = await Promise.all(banks.map(async (bank) => {
        const r = await this.ask<{ query_id: string; bank: string; length: number; central_share: string[]; sealed: SealedShare[]; sig: string }>(bank, '/v1/analytics/shares', query);
        this.checkSig(bank.id, answerDigest('shares', this.network, queryId, bank.id, [r.length, r.central_share, r.sealed]), r.sig);
        if (r.query_id !== queryId || r.bank !== bank.id || r.length !== length || !Array.isArray(r.sealed)) throw new CbdcError('CBDC_ERR_ANALYTICS_BANK', `${bank.id} answered another query`);
        const to = r.sealed.map((s) => s.to).sort();
        const others = ids.filter((id) => id !== bank.id).sort();
        if (r.sealed.some((s) => s.from !== bank.id) || JSON.stringify(to) !== JSON.stringify(others)) throw new CbdcError('CBDC_ERR_ANALYTICS_BANK', `${bank.id} sealed its shares to other parties`);
        return { bank: bank.id, central: parseShareVector(r.central_share, length), sealed: r.sealed };
      }));
      // Round 2: each bank its incoming sealed shares; it answers its partial sum.
      const partials = await Promise.all(banks.map(async (bank) => {
        const sealed = round1.filter((x) => x.bank !== bank.id).map((x) => x.sealed.find((s) => s.to === bank.id)!);
        const r = await this.ask<{ query_id: string; bank: string; partial: string[]; sig: string }>(bank, '/v1/analytics/partial', { query_id: queryId, sealed });
        this.checkSig(bank.id, answerDigest('partial', this.network, queryId, bank.id, r.partial), r.sig);
        if (r.query_id !== queryId || r.bank !== bank.id) throw new CbdcError('CBDC_ERR_ANALYTICS_BANK', `${bank.id} answered another query`);
        return parseShareVector(r.partial, length);
      }));
      const total = addShares([...partials, ...round1.map((x) => x.central)]).map(decodeSigned);
      const k = BigInt(this.params.minGroupSize);
      // The total already carries every bank's noise: thresholding and clamping it is post-processing.
      const released: ReleasedCell[] = groups.map((g, i) => {
        const count = total[i]!;
        if (count < k) return { group: g, suppressed: true, value: null };
        const v = values ? total[groups.length + i]! : count;
        return { group: g, suppressed: false, value: (v < 0n ? 0n : v).toString() };
      });
      await this.combinedLog.put(queryId, {
        atMs: Date.now(), signer, metric: b.metric, groupBy: b.group_by, fromDay: b.from_day, toDay: b.to_day, epsilon: formatEpsilon(epsilonH), parties, groups: released,
      });
      return {
        query_id: queryId, metric: b.metric, group_by: b.group_by, from_day: b.from_day, to_day: b.to_day, time_zone: BANK_TIME_ZONE,
        epsilon: formatEpsilon(epsilonH), remaining_epsilon: formatEpsilon(this.budget.remainingOf(signer)), parties,
        mechanism: { noise: 'laplace at each bank (each bank its own contribution bounds)', sharing: 'additive mod 2^61-1', threshold: 'noisy total count', min_group_size: this.params.minGroupSize },
        groups: released,
      };
    } finally {
      this.inFlight.delete(queryId);
    }
  }
}

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
const Obj = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });
const Loose = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: true });
const q = { 'x-cbdc-code': 'CBDC_ERR_ANALYTICS_QUERY' };
const Errors = { '4xx': Loose({ code: Type.String(), message: Type.String() }), '5xx': Loose({ code: Type.String(), message: Type.String() }) };
const Day = Type.String({ pattern: DAY_PATTERN, ...q });
const Epsilon = Type.String({ pattern: EPSILON_PATTERN, maxLength: 6, description: 'Decimal string, e.g. "0.5"', ...q });
const Cell = Loose({ group: Type.String(), bucket: Type.Optional(Type.String()), suppressed: Type.Boolean(), value: Type.Union([Type.String(), Type.Null()]) });
const Answer = Loose({ metric: Type.String(), group_by: Type.String(), epsilon: Type.String(), remaining_epsilon: Type.String(), mechanism: Loose({}), groups: Type.Array(Cell) });
const BankUrl = Type.String({ pattern: '^https?://[A-Za-z0-9.:\\[\\]-]{1,200}$', maxLength: 210, ...q });

export async function centralAnalyticsApi(app: FastifyInstance, o: { analytics: CentralAnalytics; regulatorOnly: Hook; anySigner: Hook }): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const a = o.analytics;
  if (!isValidPublicKey(a.coordinator.publicKey)) throw new Error('invariant violated: the coordinator key is a valid public key');

  r.get('/v1/analytics/coordinator', {
    preValidation: o.anySigner,
    schema: { description: "The public key central's analytics coordinator signs its requests to banks with (signer \"central\").", response: { 200: Obj({ signer: Type.String(), public_key: PublicKeyHex }), ...Errors } },
  }, async () => ({ signer: COORDINATOR_SIGNER, public_key: a.coordinator.publicKey.toString('hex') }));

  r.post('/v1/analytics/query', {
    preValidation: o.regulatorOnly,
    schema: {
      description: "Regulator: differentially private figures of central's ledger (transfers per day, a histogram of transfer output values). Spends epsilon from the regulator's budget at central.",
      body: Obj({
        metric: Type.Union([Type.Literal('transactions_count'), Type.Literal('value_histogram')], q), group_by: Type.Union([Type.Literal('day'), Type.Literal('none')], q),
        from_day: Day, to_day: Day, epsilon: Epsilon,
      }),
      response: { 200: Answer, ...Errors },
    },
  }, async (req) => (await a.query(req.signer!.id, req.body)) as never);

  r.get('/v1/analytics/budget', {
    preValidation: o.regulatorOnly,
    schema: { description: "Regulator: its privacy budget at central.", response: { 200: Obj({ budgets: Type.Array(Loose({ signer: Type.String(), remaining_epsilon: Type.String() })) }), ...Errors } },
  }, async (req) => ({ budgets: [a.budget.json(req.signer!.id)] }));

  r.post('/v1/analytics/combined', {
    preValidation: o.regulatorOnly,
    schema: {
      description: "Regulator: one statistic across banks (payments per tier, region, day or in all) without any bank revealing its figure: additive shares sealed bank to bank, partial sums, central adds them (docs/ANALYTICS.md). Spends epsilon at central and, for central, at every bank.",
      body: Obj({
        metric: Type.Union([Type.Literal('payments_count'), Type.Literal('payments_value_fen')], q),
        group_by: Type.Union([Type.Literal('day'), Type.Literal('tier'), Type.Literal('region'), Type.Literal('none')], q),
        from_day: Day, to_day: Day, epsilon: Epsilon,
        banks: Type.Array(Obj({ id: IntermediaryId, url: BankUrl }), { minItems: 2, maxItems: SHARE_PARTIES_MAX - 1, ...q }),
      }),
      response: { 200: Answer, ...Errors },
    },
  }, async (req) => (await a.combined(req.signer!.id, req.body)) as never);
}
