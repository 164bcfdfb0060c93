// GET /metrics on a real central node (port 0): the text format parses strictly, the names
// and labels are the conventional ones, HTTP counters are labelled by route pattern (so raw
// URLs add no series), settlement and refusal counters, batch sizes and latency move with
// the ledger, supply gauges agree with GET /v1/supply, and two nodes in one process keep
// their figures apart (one registry per node).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../protocol/errors.js';
import {
  type Coin, type InProcessCentral, type KeyPair, type SettledJson, coinsFrom, issueTx, json, keyPair, rawRequest, registerBank,
  startInProcess, transferTx,
} from './helpers/http_fixture.js';
import { type Exposition, parseExposition, sampleValue, scrape } from './helpers/prom_text.js';

const alice = keyPair('metrics-alice');
const bob = keyPair('metrics-bob');

let c: InProcessCentral;
let other: InProcessCentral;

beforeAll(async () => {
  c = await startInProcess({ durability: 'sync' });
  other = await startInProcess({ durability: 'sync' });
  await registerBank(c, 'bank-m', keyPair('metrics-bank'));
});

afterAll(async () => {
  await c?.dispose();
  await other?.dispose();
});

async function issue(values: bigint[], owner: KeyPair): Promise<Coin[]> {
  const info = await c.op.get<{ next_serial: string }>('/v1/intermediaries/bank-m');
  const outs = values.map((value) => ({ value, owner }));
  const r = await c.op.post<SettledJson>('/v1/transactions', json(issueTx(c.network, c.operator, 'bank-m', BigInt(info.body.next_serial), outs)));
  expect(r.status, r.text).toBe(200);
  return coinsFrom(r.body, outs);
}

const v = (e: Exposition, name: string, labels: Record<string, string> = {}): number => sampleValue(e, name, labels) ?? 0;

/** Cumulative buckets ascend, end in +Inf, and the +Inf bucket equals _count. */
function checkHistogram(e: Exposition, name: string, labels: Record<string, string> = {}): { count: number; sum: number } {
  expect(e.types.get(name), name).toBe('histogram');
  const buckets = e.samples.filter((s) => s.name === `${name}_bucket` && Object.keys(s.labels).length === Object.keys(labels).length + 1
    && Object.entries(labels).every(([k, x]) => s.labels[k] === x));
  expect(buckets.length, `${name} has buckets`).toBeGreaterThan(1);
  const bounds = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
  for (let i = 1; i < buckets.length; i++) {
    expect(bounds[i]!).toBeGreaterThan(bounds[i - 1]!);
    expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
  }
  expect(bounds.at(-1)).toBe(Infinity);
  const count = v(e, `${name}_count`, labels);
  expect(buckets.at(-1)!.value).toBe(count);
  return { count, sum: v(e, `${name}_sum`, labels) };
}

describe('GET /metrics on central', () => {
  it('answers the Prometheus text format with conventional names and types', async () => {
    const e = await scrape(c.url);
    expect(e.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const want: Record<string, string> = {
      http_requests_total: 'counter', http_request_duration_seconds: 'histogram',
      cbdc_settled_transactions_total: 'counter', cbdc_rejected_transactions_total: 'counter',
      cbdc_batch_size: 'histogram', cbdc_settlement_latency_seconds: 'histogram', cbdc_ledger_queue_transactions: 'gauge',
      cbdc_supply_issued_fen: 'gauge', cbdc_supply_redeemed_fen: 'gauge', cbdc_supply_unspent_fen: 'gauge',
      cbdc_intermediary_issued_fen: 'gauge', cbdc_intermediary_outstanding_fen: 'gauge',
      cbdc_lmdb_map_size_bytes: 'gauge', cbdc_lmdb_used_bytes: 'gauge',
      // The process metrics, unprefixed.
      process_cpu_seconds_total: 'counter', process_resident_memory_bytes: 'gauge', nodejs_heap_size_used_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(want)) expect(e.types.get(name), name).toBe(type);
    // Counters end in _total; every family has help text; nothing uses a unit other than base units.
    for (const [name, type] of e.types) {
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
      expect(e.help.get(name)?.length ?? 0, `${name} has help`).toBeGreaterThan(0);
      expect(name, name).not.toMatch(/_(milliseconds|ms|kilobytes|megabytes)$/);
    }
    // Every kind is present from the start (rate() needs the zero).
    for (const kind of ['transfer', 'issue', 'redeem']) expect(sampleValue(e, 'cbdc_settled_transactions_total', { kind }), kind).toBeDefined();
    // LMDB sizes: something used, within the map.
    const used = v(e, 'cbdc_lmdb_used_bytes');
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(v(e, 'cbdc_lmdb_map_size_bytes'));
  });

  it('settlement and refusal counters, batch sizes and latency move with the ledger', async () => {
    const before = await scrape(c.url);
    const [a1, a2, a3] = await issue([500n, 300n, 200n], alice);
    const t1 = transferTx(c.network, [a1!], [{ value: 400n, owner: bob }, { value: 100n, owner: alice }]);
    const t2 = transferTx(c.network, [a2!, a3!], [{ value: 500n, owner: bob }]);
    // Two transfers in one batch of a POST /v1/batches, then a double spend of a1.
    const r = await c.op.post('/v1/batches', { transactions: [json(t1), json(t2)] });
    expect(r.status, r.text).toBe(200);
    expect(r.body.accepted).toBe(2);
    const again = transferTx(c.network, [a1!], [{ value: 500n, owner: alice }]);
    const refused = await c.op.post('/v1/transactions', json(again));
    expect(refused.status).toBe(ERRORS.CBDC_ERR_DOUBLE_SPEND[0]);
    expect(refused.body.code).toBe('CBDC_ERR_DOUBLE_SPEND');

    const after = await scrape(c.url);
    const d = (name: string, labels: Record<string, string> = {}) => v(after, name, labels) - v(before, name, labels);
    expect(d('cbdc_settled_transactions_total', { kind: 'issue' })).toBe(1);
    expect(d('cbdc_settled_transactions_total', { kind: 'transfer' })).toBe(2);
    expect(d('cbdc_settled_transactions_total', { kind: 'redeem' })).toBe(0);
    expect(d('cbdc_rejected_transactions_total', { code: 'CBDC_ERR_DOUBLE_SPEND' })).toBe(1);

    const lat = checkHistogram(after, 'cbdc_settlement_latency_seconds');
    expect(lat.count - v(before, 'cbdc_settlement_latency_seconds_count')).toBe(3);
    expect(lat.sum).toBeGreaterThan(0);
    const batches = checkHistogram(after, 'cbdc_batch_size');
    // The issuance, the two transfers (one or two batches, as the ledger groups them), the refusal.
    const newBatches = batches.count - v(before, 'cbdc_batch_size_count');
    expect(newBatches).toBeGreaterThanOrEqual(3);
    expect(newBatches).toBeLessThanOrEqual(4);
    expect(batches.sum - v(before, 'cbdc_batch_size_sum')).toBe(4);

    // HTTP: by route pattern and status code.
    expect(d('http_requests_total', { method: 'POST', route: '/v1/batches', status_code: '200' })).toBe(1);
    expect(d('http_requests_total', { method: 'POST', route: '/v1/transactions', status_code: '200' })).toBe(1);
    expect(d('http_requests_total', { method: 'POST', route: '/v1/transactions', status_code: '409' })).toBe(1);
    const http = checkHistogram(after, 'http_request_duration_seconds', { method: 'POST', route: '/v1/batches', status_code: '200' });
    expect(http.count).toBe(v(after, 'http_requests_total', { method: 'POST', route: '/v1/batches', status_code: '200' }));
    expect(http.sum).toBeGreaterThan(0);
  });

  it('supply and per-intermediary gauges agree with GET /v1/supply and the intermediary record', async () => {
    await issue([1234n], alice);
    const e = await scrape(c.url);
    const s = (await rawRequest(c.url, 'GET', '/v1/supply')).body;
    expect(v(e, 'cbdc_supply_issued_fen')).toBe(Number(s.issued_fen));
    expect(v(e, 'cbdc_supply_redeemed_fen')).toBe(Number(s.redeemed_fen));
    expect(v(e, 'cbdc_supply_unspent_fen')).toBe(Number(s.unspent_fen));
    expect(v(e, 'cbdc_ledger_batches')).toBe(Number(s.batches));
    const rec = (await c.op.get('/v1/intermediaries/bank-m')).body;
    expect(v(e, 'cbdc_intermediary_issued_fen', { intermediary: 'bank-m' })).toBe(Number(rec.issued_fen));
    expect(v(e, 'cbdc_intermediary_outstanding_fen', { intermediary: 'bank-m' })).toBe(Number(rec.outstanding_fen));
  });

  it('labels requests by route pattern: many URLs of one route are one series, unknown URLs one "unmatched" series', async () => {
    for (const p of ['/v1/outputs/0', '/v1/outputs/1', '/v1/outputs/2?id=' + '0'.repeat(64)]) await c.op.get(p);
    for (const p of ['/no/such/a', '/no/such/b', '/v1/zzz']) await rawRequest(c.url, 'GET', p);
    const e = await scrape(c.url);
    const routes = new Set(e.samples.filter((s) => s.name === 'http_requests_total').map((s) => s.labels.route));
    expect(routes.has('/v1/outputs/:pos')).toBe(true);
    expect(routes.has('unmatched')).toBe(true);
    for (const r of routes) expect(r, r).not.toMatch(/\/v1\/outputs\/[0-9]|\/no\/such|zzz/);
    expect(v(e, 'http_requests_total', { method: 'GET', route: 'unmatched', status_code: '404' })).toBeGreaterThanOrEqual(3);
  });

  it('each node has its own registry: requests to one do not move the other', async () => {
    const before = await scrape(other.url);
    for (let i = 0; i < 5; i++) await rawRequest(c.url, 'GET', '/v1/health');
    const after = await scrape(other.url);
    const health = { method: 'GET', route: '/v1/health', status_code: '200' };
    expect(v(after, 'http_requests_total', health)).toBe(v(before, 'http_requests_total', health));
    expect(v(after, 'cbdc_settled_transactions_total', { kind: 'issue' })).toBe(0);
  });

  it('the reader used here refuses malformed expositions (so the checks above mean something)', () => {
    expect(() => parseExposition('x 1\n')).toThrow(/no declared family/);
    expect(() => parseExposition('# TYPE x counter\nx{a="1} 1\n')).toThrow();
    expect(() => parseExposition('# TYPE x gauge\nx one\n')).toThrow(/bad sample/);
    expect(() => parseExposition('# TYPE x gauge\nx 1')).toThrow(/newline/);
    expect(parseExposition('# HELP x a thing\n# TYPE x gauge\nx{a="q\\"b"} 2.5\n').samples).toEqual([{ name: 'x', labels: { a: 'q"b' }, value: 2.5 }]);
  });
});
