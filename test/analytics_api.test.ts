// Private analytics over real nodes (central + two banks on real ports, LMDB on disk): the
// regulator's differentially private queries at a bank and at central, the privacy budget, and
// the combined statistic across banks, checked for what it must never reveal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readOrCreateKeyFile } from '../platform/key_file.js';
import { dayKey } from '../platform/clock.js';
import { startBank } from '../intermediary/node.js';
import { TIERS } from '../intermediary/tiers.js';
import { laplaceBound } from '../platform/laplace.js';
import { Client, keyPair } from './helpers/http_fixture.js';
import {
  NETWORK, applicantClient, evidenceFor, fundHoldings, fundWallet, nextPhone, pay, quiesce, startNetwork,
  type TestNetwork, type Wallet,
} from './helpers/bank_fixture.js';

let net: TestNetwork;
let central: { regulator: Client; coordinator: Client; coordinatorSk: Buffer };
const wallets: Wallet[] = [];
let merchant: Wallet;
const ANALYTICS = { paymentsMax: 1, valueFenMax: 100_000n, minGroupSize: 10, epsilonMaxHundredths: 1000, budgetHundredths: 10_000 };
const PAYERS = { 'bank-a': 12, 'bank-b': 14 } as const;
const today = dayKey(Date.now());
// L = 1 and epsilon 10 in these tests (a test configuration: the default largest epsilon is 2):
// a count's noise is Lap(0.1); a figure of 2 banks' noise stays within this bound except with
// probability 2e-9.
const BOUND = 2 * laplaceBound(1, 10, 1e-9);

async function open(bankId: string, region: string | undefined, o: { kind?: 'merchant'; mcc?: string } = {}): Promise<Wallet> {
  const b = net.bank(bankId);
  const key = keyPair(`analytics-${process.pid}-${randomBytes(4).toString('hex')}`);
  const phone = nextPhone();
  const r = await applicantClient(b, key).post('/v1/accounts', {
    kind: o.kind ?? 'personal', ...(o.mcc ? { mcc: o.mcc } : {}), tier: 3, evidence: evidenceFor(3, phone), ...(region ? { region } : {}),
  });
  expect(r.status, r.text).toBe(201);
  b.accounts.push(r.body.id);
  return { bank: b, key, id: r.body.id, client: new Client(b.url, NETWORK, r.body.id, key.sk), phone };
}

/** Every identifier of a customer that an answer must never hold. */
function customerStrings(): string[] {
  return wallets.flatMap((w) => [w.id, w.id.split('.')[1]!, w.phone, w.key.pk.toString('hex')]);
}

function expectNoCustomerData(text: string): void {
  for (const s of customerStrings()) expect(text.includes(s), `answer holds ${s}`).toBe(false);
}

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a', analytics: ANALYTICS }, { id: 'bank-b', analytics: ANALYTICS }], { centralAnalytics: { epsilonMaxHundredths: 1000, budgetHundredths: 10_000 } });
  for (const b of net.banks.values()) await fundHoldings(net, b);
  const dir = path.join(net.dir, 'central');
  const coordinatorSk = readOrCreateKeyFile(path.join(dir, 'coordinator.key')).secretKey;
  central = {
    regulator: new Client(net.centralUrl, NETWORK, 'regulator', readOrCreateKeyFile(path.join(dir, 'regulator.key')).secretKey),
    coordinator: new Client(net.bank('bank-a').url, NETWORK, 'central', coordinatorSk),
    coordinatorSk,
  };
  merchant = await open('bank-a', 'CN-GD', { kind: 'merchant', mcc: '5411' });
  wallets.push(merchant);
  for (const [bankId, n] of Object.entries(PAYERS)) {
    for (let i = 0; i < n; i++) {
      const w = await open(bankId, bankId === 'bank-a' ? 'CN-GD' : 'CN-BJ');
      wallets.push(w);
      await fundWallet(w, 10_000n);
      await pay(w, { account: merchant.id, bank: 'bank-a' }, 5_000n);
    }
  }
  await quiesce(net);
}, 120_000);

afterAll(async () => {
  await net?.close();
});

const query = (bankId: string, body: Record<string, unknown>) => net.bank(bankId).regulator.post('/v1/analytics/query', body);
const budgetOf = async (c: Client) => (await c.get('/v1/analytics/budget')).body.budgets[0].remaining_epsilon as string;

describe('regions', () => {
  it('an account shows the region it was opened with; old ones read unknown; a bad one is refused and opens nothing', async () => {
    const a = await net.bank('bank-a').staff.get(`/v1/accounts/${merchant.id}`);
    expect(a.body.region).toBe('CN-GD');
    const w = await open('bank-a', undefined);
    expect((await net.bank('bank-a').staff.get(`/v1/accounts/${w.id}`)).body.region).toBe('unknown');
    const key = keyPair(`analytics-bad-region-${process.pid}`);
    const before = net.bank('bank-a').node.bank.store.accounts.getCount();
    for (const region of ['CN-XX', 'cn-gd', 'GD', 7, '']) {
      const r = await applicantClient(net.bank('bank-a'), key).post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: nextPhone() }, region });
      expect(r.status, r.text).toBe(400);
      expect(r.body.code).toBe('CBDC_ERR_REGION');
    }
    expect(net.bank('bank-a').node.bank.store.accounts.getCount()).toBe(before);
  });
});

describe("a bank's regulator queries", () => {
  it('counts payments by region and tier within the noise bound, suppresses small groups, holds no customer data', async () => {
    const r = await query('bank-a', { metric: 'payments_count', group_by: 'region', from_day: today, to_day: today, epsilon: '10' });
    expect(r.status, r.text).toBe(200);
    expectNoCustomerData(r.text);
    expect(r.body.groups).toHaveLength(35);
    const gd = r.body.groups.find((g: { group: string }) => g.group === 'CN-GD');
    expect(gd.suppressed).toBe(false);
    expect(Math.abs(Number(gd.value) - PAYERS['bank-a'])).toBeLessThanOrEqual(BOUND);
    // No payer of bank-a is anywhere else: every other region is under k and suppressed.
    for (const g of r.body.groups.filter((x: { group: string }) => x.group !== 'CN-GD')) expect(g).toEqual({ group: g.group, suppressed: true, value: null });
    expect(r.body.mechanism).toMatchObject({ noise: 'laplace', threshold: 'noisy count', contribution_payments_max: 1, min_group_size: 10 });

    const t = await query('bank-b', { metric: 'payments_count', group_by: 'tier', from_day: today, to_day: today, epsilon: '10' });
    expect(t.status, t.text).toBe(200);
    // Every tier of the table, the visitor tier included once it exists.
    expect(t.body.groups.map((g: { group: string }) => g.group)).toEqual(TIERS.map(String));
    const t3 = t.body.groups.find((g: { group: string }) => g.group === '3');
    expect(Math.abs(Number(t3.value) - PAYERS['bank-b'])).toBeLessThanOrEqual(BOUND);
    expectNoCustomerData(t.text);
  });

  it('counts the incoming leg at merchants by mcc (both banks paid it), and buckets values', async () => {
    const m = await query('bank-a', { metric: 'payments_count', group_by: 'mcc', from_day: today, to_day: today, epsilon: '10' });
    expect(m.status, m.text).toBe(200);
    expect(m.body.groups).toHaveLength(1);
    expect(m.body.groups[0].group).toBe('5411');
    // The merchant account is the unit there (the payer of an interbank payment is not known at
    // the payee's bank): one merchant contributes at most L = 1 payment, under k: suppressed.
    expect(m.body.groups[0]).toEqual({ group: '5411', suppressed: true, value: null });
    const h = await query('bank-a', { metric: 'value_histogram', group_by: 'none', from_day: today, to_day: today, epsilon: '10' });
    expect(h.status, h.text).toBe(200);
    expect(h.body.groups.map((g: { bucket: string }) => g.bucket)).toEqual(['lt_10_yuan', 'lt_100_yuan', 'lt_1000_yuan', 'lt_10000_yuan', 'ge_10000_yuan']);
    // 50 yuan each.
    expect(Math.abs(Number(h.body.groups[1].value) - PAYERS['bank-a'])).toBeLessThanOrEqual(BOUND);
    expect(h.body.groups.filter((g: { suppressed: boolean }) => g.suppressed)).toHaveLength(4);
  });

  it('refuses bad queries and other signers with their codes, spending nothing', async () => {
    const b = net.bank('bank-a');
    const before = await budgetOf(b.regulator);
    const ok = { metric: 'payments_count', group_by: 'day', from_day: today, to_day: today, epsilon: '1' };
    for (const [body, code] of [
      [{ ...ok, epsilon: '11' }, 'CBDC_ERR_ANALYTICS_QUERY'], [{ ...ok, epsilon: '0.01' }, 'CBDC_ERR_ANALYTICS_QUERY'], [{ ...ok, epsilon: 1 }, 'CBDC_ERR_ANALYTICS_QUERY'],
      [{ ...ok, epsilon: '1e0' }, 'CBDC_ERR_ANALYTICS_QUERY'], [{ ...ok, metric: 'balances' }, 'CBDC_ERR_ANALYTICS_QUERY'], [{ ...ok, group_by: 'account' }, 'CBDC_ERR_ANALYTICS_QUERY'],
      [{ ...ok, from_day: '2025-01-01', to_day: '2026-12-31' }, 'CBDC_ERR_ANALYTICS_QUERY'], [{ ...ok, from_day: '2026-02-30' }, 'CBDC_ERR_ANALYTICS_QUERY'],
      [{ ...ok, to_day: '2000-01-01' }, 'CBDC_ERR_ANALYTICS_QUERY'], [{ ...ok, extra: 1 }, 'CBDC_ERR_SCHEMA'],
    ] as const) {
      const r = await b.regulator.post('/v1/analytics/query', body);
      expect(r.status, `${JSON.stringify(body)} ${r.text}`).toBeGreaterThanOrEqual(400);
      expect(r.body.code, JSON.stringify(body)).toBe(code);
    }
    for (const c of [b.staff, b.compliance, wallets[1]!.client]) {
      const r = await c.post('/v1/analytics/query', ok);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('CBDC_ERR_FORBIDDEN');
    }
    // Central's coordinator key does not make a regulator either.
    expect((await central.coordinator.post('/v1/analytics/query', ok)).status).toBe(401);
    expect(await budgetOf(b.regulator)).toBe(before);
  });
});

describe("central's regulator", () => {
  it("queries central's ledger (transfers, value histogram) under its own budget", async () => {
    const before = await budgetOf(central.regulator);
    const r = await central.regulator.post('/v1/analytics/query', { metric: 'transactions_count', group_by: 'none', from_day: today, to_day: today, epsilon: '1' });
    expect(r.status, r.text).toBe(200);
    // Every exchange and payment is a transfer: more than the payments alone.
    expect(Number(r.body.groups[0].value)).toBeGreaterThan(26);
    expectNoCustomerData(r.text);
    const h = await central.regulator.post('/v1/analytics/query', { metric: 'value_histogram', group_by: 'day', from_day: today, to_day: today, epsilon: '1' });
    expect(h.status, h.text).toBe(200);
    expect(h.body.groups).toHaveLength(5);
    expect(Number(await budgetOf(central.regulator))).toBeCloseTo(Number(before) - 2, 5);
    // Bank staff keys mean nothing at central.
    const staffAtCentral = new Client(net.centralUrl, NETWORK, 'staff', net.bank('bank-a').staff.sk);
    expect((await staffAtCentral.post('/v1/analytics/query', { metric: 'transactions_count', group_by: 'none', from_day: today, to_day: today, epsilon: '1' })).status).toBe(401);
  });
});

describe('the combined statistic across banks', () => {
  const combined = (body: Record<string, unknown>) => central.regulator.post('/v1/analytics/combined', {
    metric: 'payments_count', from_day: today, to_day: today, epsilon: '10',
    banks: [{ id: 'bank-a', url: net.bank('bank-a').url }, { id: 'bank-b', url: net.bank('bank-b').url }], ...body,
  });

  it('adds both banks (within the noise bound) and reveals neither bank\'s figure, in the answer or in central\'s records', async () => {
    const r = await combined({ group_by: 'none' });
    expect(r.status, r.text).toBe(200);
    const total = Number(r.body.groups[0].value);
    const truth = PAYERS['bank-a'] + PAYERS['bank-b'];
    expect(Math.abs(total - truth)).toBeLessThanOrEqual(BOUND);
    expect(BOUND).toBeLessThan(PAYERS['bank-a']);
    expect(r.body.parties).toEqual(['bank-a', 'bank-b', 'central']);
    expectNoCustomerData(r.text);
    // Neither bank's figure appears: not in the answer, not in what central keeps of the query.
    const rec = net.central.analytics.combinedLog.get(r.body.query_id);
    expect(rec).toBeDefined();
    const kept = JSON.stringify(rec);
    expectNoCustomerData(kept);
    for (const text of [r.text, kept]) {
      const numbers = [...text.matchAll(/"(-?[0-9]+)"/g)].map((m) => Number(m[1]));
      for (const own of Object.values(PAYERS)) expect(numbers.includes(own), `${own} in ${text}`).toBe(false);
    }
    // Per tier: all payers are class 3; the visitor tier is there too, suppressed.
    const t = await combined({ group_by: 'tier' });
    expect(t.status, t.text).toBe(200);
    expect(t.body.groups.map((g: { group: string }) => g.group)).toEqual(TIERS.map(String));
    expect(Math.abs(Number(t.body.groups.find((g: { group: string }) => g.group === '3').value) - truth)).toBeLessThanOrEqual(BOUND);
    expect(t.body.groups.filter((g: { suppressed: boolean }) => g.suppressed)).toHaveLength(TIERS.length - 1);
    // Central's budget at each bank paid for both.
    const at = (await net.bank('bank-a').regulator.get('/v1/analytics/budget')).body.budgets[1];
    expect(at).toMatchObject({ signer: 'central', spent_epsilon: '20', queries: 2 });
  });

  it('refuses unknown banks, a bank twice, too long a vector, changing nothing', async () => {
    const before = await budgetOf(central.regulator);
    for (const [body, code] of [
      [{ group_by: 'none', banks: [{ id: 'bank-a', url: net.bank('bank-a').url }, { id: 'bank-z', url: net.bank('bank-b').url }] }, 'CBDC_ERR_INTERMEDIARY_UNKNOWN'],
      [{ group_by: 'none', banks: [{ id: 'bank-a', url: net.bank('bank-a').url }, { id: 'bank-a', url: net.bank('bank-a').url }] }, 'CBDC_ERR_ANALYTICS_QUERY'],
      [{ group_by: 'none', banks: [{ id: 'bank-a', url: net.bank('bank-a').url }] }, 'CBDC_ERR_ANALYTICS_QUERY'],
      [{ group_by: 'region', metric: 'payments_value_fen' }, 'CBDC_ERR_ANALYTICS_QUERY'],
      [{ group_by: 'none', banks: [{ id: 'bank-a', url: 'file:///etc/passwd' }, { id: 'bank-b', url: net.bank('bank-b').url }] }, 'CBDC_ERR_ANALYTICS_QUERY'],
    ] as const) {
      const r = await combined(body);
      expect(r.body.code, `${JSON.stringify(body)} ${r.text}`).toBe(code);
    }
    expect(await budgetOf(central.regulator)).toBe(before);
  });

  it('a bank answers shares and partials only to central, for a query naming it, once; a tampered or foreign share is refused', async () => {
    const a = net.bank('bank-a');
    const b = net.bank('bank-b');
    const qid = `aq-${randomBytes(16).toString('hex')}`;
    const parties = ['bank-a', 'bank-b', 'central'];
    const req = { query_id: qid, metric: 'payments_count', group_by: 'none', from_day: today, to_day: today, epsilon: '1', parties };
    const asCentral = (bank: typeof a) => new Client(bank.url, NETWORK, 'central', central.coordinatorSk);
    // Not central: another bank, the regulator.
    expect((await new Client(a.url, NETWORK, 'bank-b', b.self.sk).post('/v1/analytics/shares', req)).status).toBeGreaterThanOrEqual(401);
    expect((await a.regulator.post('/v1/analytics/shares', req)).body.code).toBe('CBDC_ERR_UNAUTHENTICATED');
    // Parties without this bank, or with a bank that is not registered.
    expect((await asCentral(a).post('/v1/analytics/shares', { ...req, parties: ['bank-b', 'bank-x', 'central'] })).body.code).toBe('CBDC_ERR_ANALYTICS_PARTY');
    expect((await asCentral(a).post('/v1/analytics/shares', { ...req, parties: ['bank-a', 'bank-x', 'central'] })).body.code).toBe('CBDC_ERR_ANALYTICS_PARTY');
    // An unknown query's partial.
    const stray = { from: 'bank-b', to: 'bank-a', iv: '0'.repeat(24), ct: 'ab'.repeat(20), tag: '0'.repeat(32) };
    expect((await asCentral(a).post('/v1/analytics/partial', { query_id: `aq-${'1'.repeat(32)}`, sealed: [stray] })).body.code).toBe('CBDC_ERR_ANALYTICS_PARTY');

    const ra = await asCentral(a).post('/v1/analytics/shares', req);
    const rb = await asCentral(b).post('/v1/analytics/shares', req);
    expect(ra.status, ra.text).toBe(200);
    expect(rb.status, rb.text).toBe(200);
    // The same id again: refused.
    expect((await asCentral(a).post('/v1/analytics/shares', req)).body.code).toBe('CBDC_ERR_ANALYTICS_STATE');
    const toA = rb.body.sealed.find((s: { to: string }) => s.to === 'bank-a');
    const toB = ra.body.sealed.find((s: { to: string }) => s.to === 'bank-b');
    const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
    for (const [sealed, code] of [
      [[{ ...toA, ct: flip(toA.ct) }], 'CBDC_ERR_ANALYTICS_SHARE'],
      [[{ ...toA, tag: flip(toA.tag) }], 'CBDC_ERR_ANALYTICS_SHARE'],
      [[{ ...toA, from: 'bank-x' }], 'CBDC_ERR_ANALYTICS_PARTY'],
      [[toB], 'CBDC_ERR_ANALYTICS_PARTY'],
      [[toA, toA], 'CBDC_ERR_ANALYTICS_PARTY'],
    ] as const) {
      const r = await asCentral(a).post('/v1/analytics/partial', { query_id: qid, sealed });
      expect(r.body.code, r.text).toBe(code);
    }
    // Sealed to bank-a: bank-b cannot open it as its own.
    expect((await asCentral(b).post('/v1/analytics/partial', { query_id: qid, sealed: [{ ...toA, from: 'bank-a', to: 'bank-b' }] })).body.code).toBe('CBDC_ERR_ANALYTICS_SHARE');
    // The refusals kept the share: the real round 2 still sums.
    const pa = await asCentral(a).post('/v1/analytics/partial', { query_id: qid, sealed: [toA] });
    const pb = await asCentral(b).post('/v1/analytics/partial', { query_id: qid, sealed: [toB] });
    expect(pa.status, pa.text).toBe(200);
    expect(pb.status, pb.text).toBe(200);
    const P = (1n << 61n) - 1n;
    let sum = (BigInt(pa.body.partial[0]) + BigInt(pb.body.partial[0]) + BigInt(ra.body.central_share[0]) + BigInt(rb.body.central_share[0])) % P;
    if (sum > P / 2n) sum -= P;
    expect(Math.abs(Number(sum) - (PAYERS['bank-a'] + PAYERS['bank-b']))).toBeLessThanOrEqual(2 * laplaceBound(1, 1, 1e-9));
    // Shares and partials look nothing like the figures.
    for (const v of [...ra.body.central_share, ...pa.body.partial]) expect(BigInt(v) > 1_000_000n).toBe(true);
    // Once.
    expect((await asCentral(a).post('/v1/analytics/partial', { query_id: qid, sealed: [toA] })).body.code).toBe('CBDC_ERR_ANALYTICS_STATE');
  });
});

describe('the privacy budget', () => {
  it('runs out, then refuses with its code and changes nothing; a restart does not refill it', async () => {
    const a = net.bank('bank-a');
    const ok = { metric: 'payments_count', group_by: 'none', from_day: today, to_day: today, epsilon: '10' };
    let remaining = Number(await budgetOf(a.regulator));
    while (remaining >= 10) {
      const r = await a.regulator.post('/v1/analytics/query', ok);
      expect(r.status, r.text).toBe(200);
      remaining -= 10;
      expect(Number(r.body.remaining_epsilon)).toBeCloseTo(remaining, 5);
    }
    const left = await budgetOf(a.regulator);
    const r = await a.regulator.post('/v1/analytics/query', ok);
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('CBDC_ERR_PRIVACY_BUDGET');
    expect(r.text).not.toContain('groups');
    expect(await budgetOf(a.regulator)).toBe(left);
    // What is left still buys a smaller query, exactly.
    if (Number(left) >= 0.1) {
      expect((await a.regulator.post('/v1/analytics/query', { ...ok, epsilon: left })).status).toBe(200);
      expect(await budgetOf(a.regulator)).toBe('0');
    }
    // Restart the bank on the same data: the budget is as spent.
    await a.node.close();
    const again = await startBank({ id: 'bank-a', host: '127.0.0.1', port: 0, dataDir: a.dir, centralUrl: net.centralUrl, network: NETWORK, analytics: ANALYTICS });
    try {
      const reg = new Client(again.url, NETWORK, 'regulator', a.regulator.sk);
      expect((await reg.get('/v1/analytics/budget')).body.budgets[0]).toMatchObject({ signer: 'regulator', total_epsilon: '100', spent_epsilon: '100', remaining_epsilon: '0' });
      expect((await reg.post('/v1/analytics/query', { ...ok, epsilon: '0.1' })).body.code).toBe('CBDC_ERR_PRIVACY_BUDGET');
    } finally {
      await again.close();
    }
  });
});
