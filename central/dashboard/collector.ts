// The dashboard's figures, gathered from the ledger's per-commit statistics: settled
// transactions and refusals per interval, and settlement latency in log-spaced buckets (each
// 20% wider than the last), so an interval's p50 and p99 cost a fixed array however many
// transactions settle. One tick closes an interval: its rate, its quantiles, then a fresh one.
import { assert } from '../../protocol/errors.js';
import type { DecidedStats } from '../ledger.js';

/** The smallest latency bucket's upper bound, and each next bucket's growth. */
const LATENCY_BUCKET_MS_MIN = 0.1;
const LATENCY_BUCKET_GROWTH = 1.2;
/** Buckets up to ~120 s; slower settlements land in the last one. */
export const LATENCY_BUCKETS = 78;
const LOG_GROWTH = Math.log(LATENCY_BUCKET_GROWTH);

/** The upper bound of latency bucket i, in ms. */
export function latencyBucketBoundMs(i: number): number {
  return LATENCY_BUCKET_MS_MIN * LATENCY_BUCKET_GROWTH ** i;
}

export function latencyBucketOf(ms: number): number {
  if (!(ms > LATENCY_BUCKET_MS_MIN)) return 0;
  const i = Math.ceil(Math.log(ms / LATENCY_BUCKET_MS_MIN) / LOG_GROWTH - 1e-9);
  return i >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : i;
}

export interface IntervalFigures {
  /** Wall-clock time the interval closed. */
  timeMs: number;
  intervalMs: number;
  settled: number;
  rejected: number;
  settledPerS: number;
  /** Quantiles as the upper bound of the bucket they fall in (within 20%), capped at the maximum seen; null when nothing settled. */
  latencyMs: { p50: number; p99: number; max: number } | null;
}

export class IntervalCollector {
  private readonly buckets = new Float64Array(LATENCY_BUCKETS);
  private settled = 0;
  private rejected = 0;
  private latencyMaxMs = 0;
  private openedAtMs: number;
  /** Since the collector started. */
  settledTotal = 0;
  rejectedTotal = 0;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.openedAtMs = now();
  }

  /** The ledger's 'decided' listener. */
  readonly onDecided = (s: DecidedStats): void => {
    const n = s.settledTransfer + s.settledIssue + s.settledRedeem;
    this.settled += n;
    this.settledTotal += n;
    if (s.rejected !== null) {
      for (const count of s.rejected.values()) {
        this.rejected += count;
        this.rejectedTotal += count;
      }
    }
    const l = s.latencyMs;
    if (l !== null) {
      for (let i = 0; i < l.length; i++) {
        const ms = l[i]!;
        this.buckets[latencyBucketOf(ms)]!++;
        if (ms > this.latencyMaxMs) this.latencyMaxMs = ms;
      }
    }
  };

  /** Closes the current interval and opens the next. */
  tick(wallMs: number = Date.now()): IntervalFigures {
    const at = this.now();
    const intervalMs = Math.max(at - this.openedAtMs, 1);
    let latency: IntervalFigures['latencyMs'] = null;
    let counted = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) counted += this.buckets[i]!;
    if (counted > 0) {
      latency = { p50: this.quantile(0.5, counted), p99: this.quantile(0.99, counted), max: round3(this.latencyMaxMs) };
    }
    assert(counted <= this.settled, 'one latency per settled transaction');
    const f: IntervalFigures = {
      timeMs: wallMs, intervalMs: Math.round(intervalMs), settled: this.settled, rejected: this.rejected,
      settledPerS: Math.round((this.settled * 1000 / intervalMs) * 10) / 10, latencyMs: latency,
    };
    this.buckets.fill(0);
    this.settled = 0;
    this.rejected = 0;
    this.latencyMaxMs = 0;
    this.openedAtMs = at;
    return f;
  }

  private quantile(q: number, counted: number): number {
    const rank = Math.max(1, Math.ceil(q * counted));
    let seen = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return round3(Math.min(latencyBucketBoundMs(i), this.latencyMaxMs));
    }
    return round3(this.latencyMaxMs);
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
