// A bank node's own Prometheus metrics: wallet payments by outcome, batches sent to central
// (count, transactions, time including retries), the queue waiting for central, and the
// bank's LMDB environment's size. Each moves once per payment or per batch sent.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_S, registerLmdbGauges } from '../platform/metrics.js';
import type { Bank, PaymentOutcome } from './bank.js';

const OUTCOMES: readonly PaymentOutcome[] = ['settled', 'rejected', 'pending', 'expired'];

export function registerBankMetrics(registry: Registry, bank: Bank): void {
  const payments = new Counter({
    name: 'cbdc_bank_payments_total', help: 'Wallet-signed payments by the outcome their signing request answered',
    labelNames: ['outcome'] as const, registers: [registry],
  });
  for (const outcome of OUTCOMES) payments.inc({ outcome }, 0);
  bank.on('payment', (outcome) => payments.inc({ outcome }));

  const submitted = new Counter({
    name: 'cbdc_central_submitted_transactions_total', help: 'Transactions sent to central in batches, by whether central answered',
    labelNames: ['answered'] as const, registers: [registry],
  });
  const submission = new Histogram({
    name: 'cbdc_central_submission_duration_seconds', help: 'Time for one batch sent to central to be answered (durably settled or refused), retries included',
    buckets: [...LATENCY_BUCKETS_S, 30], registers: [registry],
  });
  bank.link.onBatchSent = (b) => {
    submitted.inc({ answered: String(b.answered) }, b.txCount);
    submission.observe(b.seconds);
  };

  new Gauge({
    name: 'cbdc_central_queue_transactions', help: 'Transactions waiting to be sent to central', registers: [registry],
    collect() { this.set(bank.link.queuedTxCount); },
  });

  registerLmdbGauges(registry, () => bank.store.root.getStats() as { mapSize: number; pageSize: number; lastPageNumber: number });
}
