// Prometheus metrics every server tier shares: a Registry per node (never prom-client's global
// one, so two nodes in one process keep apart), the process metrics under their conventional
// names, HTTP request counters and latency histograms labelled by route pattern (the raw URL
// would make one series per account or output id), and GET /metrics in the text format.
// Names follow the Prometheus conventions: base units (seconds, bytes) last, `_total` on
// counters (https://prometheus.io/docs/practices/naming/).
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from '@fastify/type-provider-typebox';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { assert } from '../protocol/errors.js';

/** Seconds: 0.5 ms to 10 s, for request and settlement latencies. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** The label for requests no route matched (a 404), so unknown URLs add no series. */
export const UNMATCHED_ROUTE = 'unmatched';

/** A node's own registry with the process metrics (process_*, nodejs_*) registered in it. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A label-free histogram whose observe() allocates nothing: for per-transaction figures on
 * the settlement path (prom-client's Histogram allocates a closure and label objects per
 * observation). It registers in a prom-client Registry like any metric.
 */
export class BulkHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  /** Per bucket (not cumulative); the last slot is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(readonly name: string, readonly help: string, bounds: readonly number[], registry: Registry) {
    assert(bounds.length > 0 && bounds.every((b, i) => i === 0 || b > bounds[i - 1]!), 'bucket bounds ascend');
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
    registry.registerMetric(this as never);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** What prom-client's Registry reads: cumulative buckets, then _sum and _count. */
  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.counts.length; i++) {
      cumulative += this.counts[i]!;
      values.push({ labels: { le: i < this.bounds.length ? this.bounds[i]! : '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** The figures lmdb-js's getStats() reports that size an environment. */
export interface LmdbEnvStats {
  mapSize: number;
  pageSize: number;
  lastPageNumber: number;
}

/** cbdc_lmdb_map_size_bytes and cbdc_lmdb_used_bytes for one LMDB environment, read at scrape time. */
export function registerLmdbGauges(registry: Registry, stats: () => LmdbEnvStats | null): void {
  new Gauge({
    name: 'cbdc_lmdb_map_size_bytes', help: 'Size of the LMDB memory map: the most the store can grow to', registers: [registry],
    collect() { const s = stats(); if (s !== null) this.set(s.mapSize); },
  });
  new Gauge({
    name: 'cbdc_lmdb_used_bytes', help: 'Bytes of the LMDB map in use (pages up to the last one written)', registers: [registry],
    collect() { const s = stats(); if (s !== null) this.set((s.lastPageNumber + 1) * s.pageSize); },
  });
}

export interface MetricsPluginOptions {
  registry: Registry;
}

/** http_requests_total, http_request_duration_seconds and GET /metrics on one fastify server. */
export const metricsPlugin = fp(async (app: FastifyInstance, o: MetricsPluginOptions) => {
  const requests = new Counter({
    name: 'http_requests_total', help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const, registers: [o.registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds', help: 'Time from receiving a request to sending its answer, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const, buckets: [...LATENCY_BUCKETS_S], registers: [o.registry],
  });

  app.addHook('onResponse', async (req, reply) => {
    const labels = { method: req.method, route: req.routeOptions.url ?? UNMATCHED_ROUTE, status_code: reply.statusCode };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  app.get('/metrics', {
    schema: { hide: true, querystring: Type.Object({}, { additionalProperties: false }) },
  }, async (_req, reply) => {
    const text = await o.registry.metrics();
    return reply.type(o.registry.contentType).send(text);
  });
}, { name: 'cbdc-metrics' });
