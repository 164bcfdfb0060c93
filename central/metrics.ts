// The central bank node's own Prometheus metrics: settlements and refusals as the ledger
// decides them, batch sizes, settlement latency, the ledger's queue, supply, each
// intermediary's issuance, and the LMDB environment's size. Counters move once per commit
// (by the batch's counts); latencies go into an allocation-free histogram.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { BATCH_TX_MAX } from '../protocol/limits.js';
import { BulkHistogram, LATENCY_BUCKETS_S, registerLmdbGauges } from '../platform/metrics.js';
import type { DecidedStats, Ledger } from './ledger.js';
import { LmdbStore } from './store_lmdb.js';
import type { LedgerStore } from './store.js';

/** Intermediaries given their own series at most (the label's cardinality bound). */
export const METRICS_INTERMEDIARIES_MAX = 1_000;
/** Transactions per committed batch: 1 to the ledger's cap. */
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, BATCH_TX_MAX] as const;

export function registerCentralMetrics(registry: Registry, o: { ledger: Ledger; store: LedgerStore }): void {
  const settled = new Counter({
    name: 'cbdc_settled_transactions_total', help: 'Transactions settled (durably committed), by kind',
    labelNames: ['kind'] as const, registers: [registry],
  });
  for (const kind of ['transfer', 'issue', 'redeem']) settled.inc({ kind }, 0);
  const rejected = new Counter({
    name: 'cbdc_rejected_transactions_total', help: 'Transactions refused, by error code',
    labelNames: ['code'] as const, registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'cbdc_batch_size', help: 'Transactions per committed ledger batch (one LMDB write transaction)',
    buckets: [...BATCH_SIZE_BUCKETS], registers: [registry],
  });
  const latency = new BulkHistogram(
    'cbdc_settlement_latency_seconds', 'Time from a transaction entering the ledger queue to its batch being durably committed',
    LATENCY_BUCKETS_S, registry,
  );

  o.ledger.on('decided', (s: DecidedStats) => {
    if (s.settledTransfer > 0) settled.inc({ kind: 'transfer' }, s.settledTransfer);
    if (s.settledIssue > 0) settled.inc({ kind: 'issue' }, s.settledIssue);
    if (s.settledRedeem > 0) settled.inc({ kind: 'redeem' }, s.settledRedeem);
    if (s.rejected !== null) for (const [code, n] of s.rejected) rejected.inc({ code }, n);
    if (s.batchTxCount > 0) batchSize.observe(s.batchTxCount);
    if (s.latencyMs !== null) for (let i = 0; i < s.latencyMs.length; i++) latency.observe(s.latencyMs[i]! / 1000);
  });

  new Gauge({
    name: 'cbdc_ledger_queue_transactions', help: 'Transactions waiting to enter a ledger batch', registers: [registry],
    collect() { this.set(o.ledger.queuedTxCount); },
  });

  // Supply, from the store's running totals (a gauge is a float: exact up to 2^53 fen).
  const supplyGauge = (name: string, help: string, pick: (s: ReturnType<LedgerStore['supply']>) => bigint): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(Number(pick(o.store.supply()))); } });
  };
  supplyGauge('cbdc_supply_issued_fen', 'Money ever issued, in fen', (s) => s.issuedFen);
  supplyGauge('cbdc_supply_redeemed_fen', 'Money ever redeemed, in fen', (s) => s.redeemedFen);
  supplyGauge('cbdc_supply_unspent_fen', 'Money in circulation (sum of unspent outputs), in fen', (s) => s.unspentFen);
  supplyGauge('cbdc_ledger_outputs', 'Outputs ever created', (s) => s.outputCount);
  supplyGauge('cbdc_ledger_batches', 'Batches committed', (s) => s.batchCount);

  const perIntermediary = (name: string, help: string, pick: (i: ReturnType<LedgerStore['listIntermediaries']>[number]) => bigint): void => {
    new Gauge({
      name, help, labelNames: ['intermediary'] as const, registers: [registry],
      collect() {
        this.reset();
        for (const i of o.store.listIntermediaries().slice(0, METRICS_INTERMEDIARIES_MAX)) this.set({ intermediary: i.id }, Number(pick(i)));
      },
    });
  };
  perIntermediary('cbdc_intermediary_issued_fen', 'Money issued to an intermediary, in fen', (i) => i.issuedFen);
  perIntermediary('cbdc_intermediary_outstanding_fen', "An intermediary's issued minus redeemed, in fen", (i) => i.issuedFen - i.redeemedFen);

  // The LMDB map's figures exist only for the LMDB store.
  const store = o.store;
  if (store instanceof LmdbStore) registerLmdbGauges(registry, () => store.envStats());
}
