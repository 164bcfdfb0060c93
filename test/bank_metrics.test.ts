// GET /metrics on a bank node (real port): the shared HTTP metrics by route pattern, payments
// by outcome, batches sent to central with their duration, the queue to central, the bank's
// LMDB size; the route stays out of the bank's OpenAPI document.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestBank, type TestNetwork, type Wallet, fundHoldings, fundWallet, openWallet, pay, preparePayment, startNetwork } from './helpers/bank_fixture.js';
import { rawRequest } from './helpers/http_fixture.js';
import { type Exposition, sampleValue, scrape } from './helpers/prom_text.js';

let net: TestNetwork;
let A: TestBank;
let alice: Wallet;
let bob: Wallet;

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }]);
  A = net.bank('bank-a');
  await fundHoldings(net, A);
  alice = await openWallet(A, { tier: 3 });
  bob = await openWallet(A, { tier: 3 });
  await fundWallet(alice, 10_000n);
});

afterAll(async () => {
  await net?.close();
});

const v = (e: Exposition, name: string, labels: Record<string, string> = {}): number => sampleValue(e, name, labels) ?? 0;

describe('GET /metrics on a bank', () => {
  it('has the conventional names and types, and every payment outcome from zero', async () => {
    const e = await scrape(A.url);
    const want: Record<string, string> = {
      http_requests_total: 'counter', http_request_duration_seconds: 'histogram',
      cbdc_bank_payments_total: 'counter', cbdc_central_submitted_transactions_total: 'counter',
      cbdc_central_submission_duration_seconds: 'histogram', cbdc_central_queue_transactions: 'gauge',
      cbdc_lmdb_map_size_bytes: 'gauge', cbdc_lmdb_used_bytes: 'gauge', process_cpu_seconds_total: 'counter',
    };
    for (const [name, type] of Object.entries(want)) expect(e.types.get(name), name).toBe(type);
    for (const outcome of ['settled', 'rejected', 'pending', 'expired']) expect(sampleValue(e, 'cbdc_bank_payments_total', { outcome }), outcome).toBeDefined();
    expect(v(e, 'cbdc_lmdb_used_bytes')).toBeGreaterThan(0);
    expect(v(e, 'cbdc_lmdb_used_bytes')).toBeLessThanOrEqual(v(e, 'cbdc_lmdb_map_size_bytes'));
    expect(v(e, 'cbdc_central_queue_transactions')).toBe(0);
  });

  it('payments, batches sent to central and HTTP requests move the counters', async () => {
    const before = await scrape(A.url);
    await pay(alice, { account: bob.id }, 150n);
    await pay(alice, { account: bob.id }, 250n);
    // A payment refused at prepare (over the balance) is not a signed payment: no outcome counted.
    const refused = await preparePayment(alice, { account: bob.id }, 1_000_000n);
    expect(refused.status).toBe(409);
    const after = await scrape(A.url);
    const d = (name: string, labels: Record<string, string> = {}) => v(after, name, labels) - v(before, name, labels);
    expect(d('cbdc_bank_payments_total', { outcome: 'settled' })).toBe(2);
    expect(d('cbdc_bank_payments_total', { outcome: 'rejected' })).toBe(0);
    expect(d('cbdc_central_submitted_transactions_total', { answered: 'true' })).toBeGreaterThanOrEqual(2);
    expect(d('cbdc_central_submission_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(d('cbdc_central_submission_duration_seconds_sum')).toBeGreaterThan(0);
    const route = '/v1/accounts/:id/payments/:pid/sign';
    expect(d('http_requests_total', { method: 'POST', route, status_code: '200' })).toBe(2);
    expect(d('http_requests_total', { method: 'POST', route: '/v1/accounts/:id/payments', status_code: '409' })).toBe(1);
    // No raw account ids in any label.
    for (const s of after.samples) for (const l of Object.values(s.labels)) expect(l).not.toContain(alice.id);
  });

  it('is not part of the OpenAPI document', async () => {
    const doc = await rawRequest(A.url, 'GET', '/docs/json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).not.toContain('/metrics');
  });
});
