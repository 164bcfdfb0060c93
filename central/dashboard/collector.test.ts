// The dashboard's interval figures: rate from the interval's own length, p50/p99 within one
// bucket (20%) of the exact quantile and never above the maximum seen, refusals counted,
// and every interval starting from zero.
import { describe, expect, it } from 'vitest';
import type { DecidedStats } from '../ledger.js';
import { IntervalCollector, LATENCY_BUCKETS, latencyBucketBoundMs, latencyBucketOf } from './collector.js';

function decided(latencies: number[], rejected: [string, number][] = []): DecidedStats {
  return {
    batchTxCount: latencies.length + rejected.reduce((a, [, n]) => a + n, 0), settledTransfer: latencies.length, settledIssue: 0, settledRedeem: 0,
    rejected: rejected.length === 0 ? null : new Map(rejected) as DecidedStats['rejected'],
    latencyMs: latencies.length === 0 ? null : Float64Array.from(latencies),
  };
}

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('latency buckets', () => {
  it('each value lands in the bucket whose bounds hold it', () => {
    for (const ms of [0, 0.05, 0.1, 0.1000001, 0.12, 0.5, 1, 7.3, 42, 999, 12_345, 119_000]) {
      const i = latencyBucketOf(ms);
      expect(ms <= latencyBucketBoundMs(i) * (1 + 1e-12), `${ms} <= bound ${i}`).toBe(true);
      if (i > 0) expect(ms > latencyBucketBoundMs(i - 1), `${ms} > bound ${i - 1}`).toBe(true);
    }
    expect(latencyBucketOf(10 ** 9)).toBe(LATENCY_BUCKETS - 1);
    expect(latencyBucketOf(Number.NaN)).toBe(0);
  });
});

describe('IntervalCollector', () => {
  it('reports the rate over the interval and quantiles within 20% of the exact ones', () => {
    let now = 1_000;
    const c = new IntervalCollector(() => now);
    // A spread of latencies from 0.2 ms to ~110 ms in three batches.
    const all: number[] = [];
    for (let b = 0; b < 3; b++) {
      const l = Array.from({ length: 700 }, (_, i) => 0.2 * 1.003 ** (i + b * 700));
      all.push(...l);
      c.onDecided(decided(l));
    }
    c.onDecided(decided([], [['CBDC_ERR_DOUBLE_SPEND', 4], ['CBDC_ERR_BAD_SIGNATURE', 1]]));
    now += 2_000;
    const f = c.tick(123);
    expect(f.timeMs).toBe(123);
    expect(f.intervalMs).toBe(2_000);
    expect(f.settled).toBe(2_100);
    expect(f.rejected).toBe(5);
    expect(f.settledPerS).toBe(1_050);
    const sorted = [...all].sort((a, b) => a - b);
    const max = sorted.at(-1)!;
    for (const [q, got] of [[0.5, f.latencyMs!.p50], [0.99, f.latencyMs!.p99]] as const) {
      const exact = exactQuantile(sorted, q);
      expect(got, `q${q}`).toBeGreaterThanOrEqual(exact - 1e-3);
      expect(got, `q${q}`).toBeLessThanOrEqual(exact * 1.2 + 1e-3);
      expect(got).toBeLessThanOrEqual(max + 1e-3);
    }
    expect(f.latencyMs!.max).toBeCloseTo(max, 3);
    expect(c.settledTotal).toBe(2_100);
    expect(c.rejectedTotal).toBe(5);
  });

  it('starts every interval from zero; an idle interval has no latency', () => {
    let now = 0;
    const c = new IntervalCollector(() => now);
    c.onDecided(decided([5, 6, 7]));
    now += 1_000;
    expect(c.tick().settled).toBe(3);
    now += 500;
    const idle = c.tick();
    expect(idle).toMatchObject({ settled: 0, rejected: 0, settledPerS: 0, latencyMs: null, intervalMs: 500 });
    c.onDecided(decided([50]));
    now += 1_000;
    const one = c.tick();
    expect(one.settled).toBe(1);
    // One sample: every quantile is that sample (capped at the maximum seen, not the bucket bound).
    expect(one.latencyMs).toEqual({ p50: 50, p99: 50, max: 50 });
    expect(c.settledTotal).toBe(4);
  });
});
