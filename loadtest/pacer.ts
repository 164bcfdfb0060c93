// The fixed-rate driver (--rate): items (a payment's requests, a contract payment's, one batch)
// start at uniform intervals, open loop, each item's requests sent back to back on one
// keep-alive connection, at most `connections` items in flight (a later arrival waits for a
// free connection, and its wait counts in its latency).
//
// autocannon's own rate limit (overallRate) is not used for this: it lets each connection send
// its quota of requests at the start of every second and then pauses it, so arrivals come in
// bursts once a second and an item's second request waits for the connection's next second.
// At 50 payments/s over 8 connections that put the payments' p99 at ~670 ms where the system
// answered in ~50 ms: the figure measured the pacing, not the system. Runs without --rate stay
// with autocannon (closed loop, as fast as the system answers).
//
// The items are the same autocannon request chains (setupRequest / onResponse, one fresh
// context per chain, a chain ending at the last request or where setupRequest returns nothing),
// so every target's runner serves both drivers unchanged.
import http from 'node:http';
import type autocannon from 'autocannon';

/** What a paced run reports in the shape the runners read from autocannon's result. */
export interface PacedResult {
  requests: { total: number; average: number };
  latency: { p50: number; p90: number; p99: number; p99_9: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface PacedOptions {
  url: string;
  /** Items in flight at most (one keep-alive connection each). */
  connections: number;
  /** Items started per second. */
  itemRate: number;
  /** Seconds over which the rate rises evenly from 0 to itemRate (a warm-up); 0: at itemRate from the start. */
  rampS?: number;
  /** Per request, seconds. */
  timeoutS: number;
}

export interface PacedHooks {
  /** True once no new item should start (the window is over, or the workload used up). */
  stopped: () => boolean;
  /** A request failed without an answer (refused, reset, timed out): the item ends there. */
  onError: () => void;
}

/**
 * The time item k arrives, in ms after the start: uniform spacing at `itemRate`, after a ramp of
 * `rampS` seconds whose rate rises evenly from 0 (by time t within it, R t^2 / (2 rampS) items
 * have arrived, so item k is due at sqrt(2 rampS k / R); the ramp holds R rampS / 2 items).
 */
export function arrivalMs(k: number, itemRate: number, rampS = 0): number {
  const rampItems = (itemRate * rampS) / 2;
  if (k < rampItems) return Math.sqrt((2 * rampS * k) / itemRate) * 1000;
  return (rampS + (k - rampItems) / itemRate) * 1000;
}

/** Latency percentiles (ms) of the requests answered, as autocannon names them. */
export function latencyFigures(ms: Float64Array | number[]): PacedResult['latency'] {
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p99_9: at(0.999), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! };
}

/**
 * Runs items until `hooks.stopped()`; resolves once every started item has ended. Each chain's
 * context starts as `{ arrivalMs }`: the performance.now() time the item was due, from which
 * a runner measures the item's latency.
 */
export function runPaced(o: PacedOptions, chain: readonly autocannon.Request[], hooks: PacedHooks): Promise<PacedResult> {
  if (!(o.itemRate > 0) || !Number.isSafeInteger(o.connections) || o.connections < 1) throw new RangeError('a paced run needs a positive rate and connections');
  const ramp = o.rampS ?? 0;
  if (!(ramp >= 0)) throw new RangeError('a ramp lasts 0 seconds or more');
  const base = new URL(o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let inFlight = 0;
  let started = 0;
  const waiting: number[] = [];
  const t0 = performance.now();

  return new Promise((resolve) => {
    let done = false;
    const finishIfIdle = (): void => {
      if (done || inFlight > 0 || !hooks.stopped()) return;
      done = true;
      clearTimeout(timer);
      agent.destroy();
      const seconds = (performance.now() - t0) / 1000;
      resolve({ requests: { total: latencies.length, average: seconds > 0 ? latencies.length / seconds : 0 }, latency: latencyFigures(latencies), non2xx, errors, timeouts });
    };

    const send = (req: autocannon.Request): Promise<{ status: number; body: string; headers: Record<string, string> } | null> => new Promise((res) => {
      const body = req.body === undefined || req.body === '' ? null : Buffer.isBuffer(req.body) ? req.body : Buffer.from(String(req.body));
      const headers: Record<string, string> = { ...(req.headers as Record<string, string> | undefined ?? {}) };
      if (body !== null) headers['content-length'] = String(body.length);
      const sentAt = performance.now();
      const r = http.request({ host: base.hostname, port: base.port, path: req.path, method: req.method, headers, agent, timeout: o.timeoutS * 1000 }, (resp) => {
        const chunks: Buffer[] = [];
        resp.on('data', (c: Buffer) => chunks.push(c));
        resp.on('end', () => {
          latencies.push(performance.now() - sentAt);
          const status = resp.statusCode ?? 0;
          if (status < 200 || status >= 300) non2xx++;
          res({ status, body: Buffer.concat(chunks).toString('utf8'), headers: resp.headers as Record<string, string> });
        });
        resp.on('error', () => res(null));
      });
      r.on('timeout', () => {
        timeouts++;
        r.destroy(new Error('timed out'));
      });
      r.on('error', () => res(null));
      r.end(body ?? undefined);
    });

    // One item: the chain's requests in order, with one context, until one is not built.
    const runItem = async (dueMs: number): Promise<void> => {
      const ctx: Record<string, unknown> = { arrivalMs: dueMs };
      for (const step of chain) {
        const built = typeof step.setupRequest === 'function' ? step.setupRequest({ ...step }, ctx) : step;
        if (!built) break;
        const answer = await send(built as autocannon.Request);
        if (answer === null) {
          errors++;
          hooks.onError();
          break;
        }
        (step.onResponse as ((status: number, body: string, context: object, headers: Record<string, string>) => void) | undefined)?.(answer.status, answer.body, ctx, answer.headers);
      }
    };

    const startNext = (): void => {
      // Once stopped, arrivals still waiting for a connection are dropped unstarted.
      if (hooks.stopped()) waiting.length = 0;
      while (inFlight < o.connections && waiting.length > 0 && !hooks.stopped()) {
        const due = waiting.shift()!;
        inFlight++;
        void runItem(due).finally(() => {
          inFlight--;
          startNext();
          finishIfIdle();
        });
      }
    };

    // Arrivals on schedule: each tick starts every item due by now (timers are coarse; the due
    // time, not the tick, is what a latency is measured from).
    let timer: NodeJS.Timeout;
    const tick = (): void => {
      if (!hooks.stopped()) {
        const now = performance.now();
        // Each arrival time is computed once: the first one not yet due sets the next tick.
        let due = t0 + arrivalMs(started, o.itemRate, ramp);
        while (due <= now && !hooks.stopped()) {
          waiting.push(due);
          started++;
          due = t0 + arrivalMs(started, o.itemRate, ramp);
        }
        startNext();
        timer = setTimeout(tick, Math.max(0, due - performance.now()));
      } else {
        startNext();
        finishIfIdle();
      }
    };
    timer = setTimeout(tick, 0);
  });
}
