// The fixed-rate driver against a real HTTP server on a free port: items start on their
// schedule, each item's requests go back to back with one fresh context, never more items in
// flight than connections, a chain ends where a step is not built, and failures (refusals,
// connections refused, timeouts) are counted.
// Nothing here asserts a duration: only orders, counts and contexts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type autocannon from 'autocannon';
import { arrivalMs, latencyFigures, runPaced } from './pacer.js';

let server: http.Server;
let url = '';
const seen: { path: string; body: string }[] = [];
let concurrent = 0;
let concurrentMax = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    concurrent++;
    concurrentMax = Math.max(concurrentMax, concurrent);
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body });
      // Never answered: the driver's timeout ends the request.
      if (req.url === '/hang') {
        concurrent--;
        return;
      }
      // Held a little, so that items overlap and the connection bound is what limits them.
      setTimeout(() => {
        concurrent--;
        res.writeHead(req.url === '/refuse' ? 409 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }));
      }, 5);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

/** A one-request chain: GET `path`, `onBuilt` told each time it is built. */
function getChain(path: string, onBuilt: () => void): autocannon.Request[] {
  return [{
    method: 'GET',
    setupRequest: (req: autocannon.Request) => {
      onBuilt();
      return { ...req, method: 'GET', path };
    },
  }] as unknown as autocannon.Request[];
}

describe('paced runs', () => {
  it('arrivals are evenly spaced at the rate; latency percentiles by rank', () => {
    expect([0, 1, 2, 10].map((k) => arrivalMs(k, 200))).toEqual([0, 5, 10, 50]);
    const l = latencyFigures(Array.from({ length: 1000 }, (_, i) => 1000 - i));
    expect(l).toEqual({ p50: 500, p90: 900, p99: 990, p99_9: 999, max: 1000 });
    expect(latencyFigures([])).toEqual({ p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0 });
  });

  it('a ramp: the rate rises evenly from 0 to the rate, then stays there', () => {
    // 100/s after a 2 s ramp: the ramp holds 100 items; by t = 1 s a quarter of them have come.
    const at = (k: number) => arrivalMs(k, 100, 2);
    expect(at(0)).toBe(0);
    expect(at(25)).toBeCloseTo(1_000, 9);
    expect(at(100)).toBeCloseTo(2_000, 9);
    expect(at(101) - at(100)).toBeCloseTo(10, 9);
    expect(at(300)).toBeCloseTo(4_000, 9);
    // The gaps shrink through the ramp, to the rate's at its end.
    const gaps = Array.from({ length: 99 }, (_, k) => at(k + 1) - at(k));
    for (let k = 1; k < gaps.length; k++) expect(gaps[k]!).toBeLessThan(gaps[k - 1]!);
    expect(gaps[98]!).toBeGreaterThan(10);
    expect(arrivalMs(7, 200, 0)).toBe(arrivalMs(7, 200));
  });

  it('runs each item as one chain with a fresh context, in order, never more in flight than connections', async () => {
    seen.length = 0;
    concurrentMax = 0;
    const items = 60;
    let built = 0;
    const contexts: object[] = [];
    const answers: string[] = [];
    const chain = [
      {
        method: 'POST',
        setupRequest: (req: autocannon.Request, ctx: Record<string, unknown>) => {
          expect(Object.keys(ctx)).toEqual(['arrivalMs']);
          contexts.push(ctx);
          ctx.item = built++;
          return { ...req, method: 'POST', path: '/first', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: ctx.item }) };
        },
        onResponse: (status: number, body: string, ctx: Record<string, unknown>) => {
          expect(status).toBe(200);
          ctx.first = JSON.parse(body).echo;
        },
      },
      {
        method: 'POST',
        setupRequest: (req: autocannon.Request, ctx: Record<string, unknown>) => {
          // The second step sees what the first stored in the same context.
          expect(ctx.first).toBe(JSON.stringify({ item: ctx.item }));
          // Odd items end after one request.
          if ((ctx.item as number) % 2 === 1) return undefined;
          return { ...req, method: 'POST', path: '/second', body: String(ctx.item) };
        },
        onResponse: (_s: number, body: string) => { answers.push(JSON.parse(body).echo); },
      },
    ] as unknown as autocannon.Request[];
    let errors = 0;
    const r = await runPaced({ url, connections: 3, itemRate: 2_000, timeoutS: 10 }, chain, { stopped: () => built >= items, onError: () => { errors++; } });
    expect(built).toBe(items);
    expect(new Set(contexts).size).toBe(items);
    expect(errors).toBe(0);
    expect(concurrentMax).toBeLessThanOrEqual(3);
    expect(concurrentMax).toBeGreaterThan(1);
    // Every item's first request, then the even items' second, each after its own first.
    expect(seen.filter((s) => s.path === '/first')).toHaveLength(items);
    expect(answers.sort()).toEqual(Array.from({ length: items / 2 }, (_, i) => String(2 * i)).sort());
    for (const a of answers) {
      const first = seen.findIndex((s) => s.path === '/first' && s.body === JSON.stringify({ item: Number(a) }));
      const second = seen.findIndex((s) => s.path === '/second' && s.body === a);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(second).toBeGreaterThan(first);
    }
    expect(r.requests.total).toBe(items + items / 2);
    expect(r.non2xx).toBe(0);
    expect(r.latency.max).toBeGreaterThan(0);
  });

  it('counts answers outside 2xx, and requests that got none, ending their item', async () => {
    let built = 0;
    const chain = getChain('/refuse', () => { built++; });
    const refused = await runPaced({ url, connections: 2, itemRate: 1_000, timeoutS: 10 }, chain, { stopped: () => built >= 5, onError: () => {} });
    expect(refused.non2xx).toBe(5);
    // Nothing listens on the port of a closed server: each item fails to connect.
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    let failed = 0;
    built = 0;
    const dead = await runPaced({ url: deadUrl, connections: 2, itemRate: 1_000, timeoutS: 10 }, chain, { stopped: () => built >= 4, onError: () => { failed++; } });
    expect(failed).toBe(4);
    expect(dead.errors).toBe(4);
    expect(dead.requests.total).toBe(0);
  });

  it('counts a request unanswered within the timeout as a timeout and an error, and ends its item', async () => {
    let built = 0;
    let failed = 0;
    const chain = getChain('/hang', () => { built++; });
    const hung = await runPaced({ url, connections: 2, itemRate: 1_000, timeoutS: 0.2 }, chain, { stopped: () => built >= 3, onError: () => { failed++; } });
    expect(hung.timeouts).toBe(3);
    expect(hung.errors).toBe(3);
    expect(failed).toBe(3);
    expect(hung.requests.total).toBe(0);
  });

  it('refuses a rate or connection count it cannot run', () => {
    expect(() => runPaced({ url, connections: 0, itemRate: 10, timeoutS: 1 }, [], { stopped: () => true, onError: () => {} })).toThrow(RangeError);
    expect(() => runPaced({ url, connections: 1, itemRate: 0, timeoutS: 1 }, [], { stopped: () => true, onError: () => {} })).toThrow(RangeError);
    expect(() => runPaced({ url, connections: 1, itemRate: 10, rampS: -1, timeoutS: 1 }, [], { stopped: () => true, onError: () => {} })).toThrow(RangeError);
  });
});
