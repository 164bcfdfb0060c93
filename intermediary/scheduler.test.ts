// The scheduler against a real in-process network (central + one bank, LMDB in temp dirs),
// with the scheduler's clock injected and its ticks driven by the test (the interval timer is
// set far beyond the test's length): due slots run once, missed slots are caught up by the
// documented rule or recorded missed, refusals (tier limits, a freeze) are recorded with
// their code and not retried, ended schedules give their pot back, and bad requests are
// refused with a code and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, type HttpResponse } from '../test/helpers/http_fixture.js';
import {
  type TestBank, type TestNetwork, type Wallet, account, fundHoldings, fundWallet, idemKey, openWallet, quiesce, signPayment, snapshot, startNetwork, totals,
} from '../test/helpers/bank_fixture.js';
import type { ErrorCode } from '../protocol/errors.js';

const yuan = (n: number): bigint => BigInt(n) * 100n;
const T0 = Date.now();
let now = T0;
/** Catch-up window of the bank under test: 10 s of scheduler time. */
const WINDOW_MS = 10_000;

let net: TestNetwork;
let A: TestBank;
let payer: Wallet;
let payee: Wallet;
let small: Wallet; // tier 4: single-payment limit 2,000 yuan
const wallets: Wallet[] = [];

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a', contracts: { scheduler: { tickMs: 3_600_000, catchUpWindowMs: WINDOW_MS, clock: () => now } } }]);
  A = net.bank('bank-a');
  await fundHoldings(net, A);
  payer = await openWallet(A, { tier: 3 });
  payee = await openWallet(A, { tier: 3 });
  small = await openWallet(A, { tier: 4 });
  wallets.push(payer, payee, small);
  await fundWallet(payer, yuan(1_000));
  await fundWallet(small, yuan(5_000));
}, 60_000);

afterAll(async () => {
  await net?.close();
});

const tick = () => A.node.contracts.scheduler.tick();
const balance = async (w: Wallet) => BigInt((await account(w)).balance_fen);

async function createSchedule(w: Wallet, o: Record<string, unknown>): Promise<HttpResponse> {
  return w.client.post(`/v1/accounts/${w.id}/schedules`, { idempotency_key: idemKey(), payee: { account: payee.id }, amount_fen: '1000', first_at_ms: now + 1_000, interval_ms: 1_000, count: 3, ...o });
}

/** Creates and funds a schedule (the wallet signs the funding payment); returns its id. */
async function funded(w: Wallet, o: Record<string, unknown>): Promise<string> {
  const r = await createSchedule(w, o);
  expect(r.status, r.text).toBe(200);
  expect(r.body.schedule.status).toBe('awaiting_funding');
  const s = await signPayment(w, r.body.payment);
  expect(s.status, s.text).toBe(200);
  expect(s.body.status).toBe('settled');
  const got = await view(w, r.body.schedule.id);
  expect(got.schedule.status).toBe('active');
  return r.body.schedule.id;
}

async function view(w: Wallet, id: string): Promise<{ schedule: any; slots: any[] }> {
  const r = await w.client.get(`/v1/accounts/${w.id}/schedules/${id}`);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

async function refused(status: number, code: ErrorCode, act: () => Promise<HttpResponse>): Promise<void> {
  await quiesce(net);
  const before = await snapshot(net, wallets);
  const r = await act();
  expectError(r, status, code);
  expect(await snapshot(net, wallets)).toEqual(before);
}

describe('a recurring payment', () => {
  it('runs each slot once when it is due, catches up missed slots inside the window, and ends', async () => {
    const p0 = await balance(payer);
    const q0 = await balance(payee);
    const id = await funded(payer, { amount_fen: yuan(10).toString(), count: 3, interval_ms: 1_000, first_at_ms: now + 1_000 });
    expect(await balance(payer)).toBe(p0 - yuan(30));
    expect((await totals(A)).contracts_fen).toBe(yuan(30).toString());

    await tick();
    expect((await view(payer, id)).slots).toEqual([]);

    now += 1_000;
    await tick();
    await tick();
    let v = await view(payer, id);
    expect(v.slots.map((s) => [s.slot, s.status])).toEqual([[0, 'settled']]);
    expect(await balance(payee)).toBe(q0 + yuan(10));

    // Both remaining slots are overdue (by 4 s and 3 s), inside the 10 s window: both run, in order, once.
    now += 5_000;
    await tick();
    await tick();
    v = await view(payer, id);
    expect(v.slots.map((s) => [s.slot, s.status])).toEqual([[0, 'settled'], [1, 'settled'], [2, 'settled']]);
    expect(new Set(v.slots.map((s) => s.idempotency_key)).size).toBe(3);
    expect(v.schedule).toMatchObject({ status: 'finished', settled: 3, refused: 0, missed: 0, pot_fen: '0' });
    expect(await balance(payee)).toBe(q0 + yuan(30));
    expect(await balance(payer)).toBe(p0 - yuan(30));

    const h = (await payee.client.get(`/v1/accounts/${payee.id}/history?direction=in`)).body.entries;
    expect(h.filter((e: any) => e.amount_fen === yuan(10).toString())).toHaveLength(3);
  });

  it('records slots overdue past the window as missed, and gives the pot back', async () => {
    const p0 = await balance(payer);
    const id = await funded(payer, { amount_fen: yuan(5).toString(), count: 2, interval_ms: 1_000, first_at_ms: now + 1_000 });
    expect(await balance(payer)).toBe(p0 - yuan(10));
    now += 1_000 + WINDOW_MS + 1_001; // slot 0 is 11 s late, slot 1 10.001 s
    await tick();
    await tick();
    const v = await view(payer, id);
    expect(v.slots.map((s) => [s.slot, s.status, s.code])).toEqual([[0, 'missed', 'CBDC_ERR_SCHEDULE_MISSED'], [1, 'missed', 'CBDC_ERR_SCHEDULE_MISSED']]);
    expect(v.schedule).toMatchObject({ status: 'finished', missed: 2, pot_fen: '0', refunded_fen: yuan(10).toString() });
    expect(await balance(payer)).toBe(p0);
  });
});

describe('run-time checks', () => {
  it("refuses a slot over the payer's tier limit with its code, does not retry it, and runs the next", async () => {
    const s0 = await balance(small);
    const q0 = await balance(payee);
    // Tier 4: at most 2,000 yuan a payment. Setting 2,500 aside is allowed (limits apply when a slot runs).
    const id = await funded(small, { amount_fen: yuan(2_500).toString(), count: 1, interval_ms: 0, first_at_ms: now + 500, fund_fen: yuan(2_500).toString() });
    now += 500;
    await tick();
    await tick();
    const v = await view(small, id);
    expect(v.slots.map((s) => [s.slot, s.status, s.code])).toEqual([[0, 'refused', 'CBDC_ERR_LIMIT_SINGLE']]);
    expect(v.schedule).toMatchObject({ status: 'finished', refused: 1, pot_fen: '0' });
    expect(await balance(small)).toBe(s0);
    expect(await balance(payee)).toBe(q0);
    expect((await account(small)).used_today_fen).toBe('0');
  });

  it('refuses slots while the payer is frozen, then pays once it is unfrozen', async () => {
    const q0 = await balance(payee);
    const id = await funded(payer, { amount_fen: yuan(1).toString(), count: 2, interval_ms: 1_000, first_at_ms: now + 1_000 });
    expect((await A.staff.post(`/v1/accounts/${payer.id}/freeze`, {})).status).toBe(200);
    now += 1_000;
    await tick();
    expect((await A.staff.post(`/v1/accounts/${payer.id}/unfreeze`, {})).status).toBe(200);
    now += 1_000;
    await tick();
    await tick();
    const v = await view(payer, id);
    expect(v.slots.map((s) => [s.slot, s.status, s.code])).toEqual([[0, 'refused', 'CBDC_ERR_ACCOUNT_FROZEN'], [1, 'settled', null]]);
    expect(await balance(payee)).toBe(q0 + yuan(1));
    expect(v.schedule.pot_fen).toBe('0');
  });

  it('cancelling stops the slots not yet run and gives back what is left', async () => {
    const p0 = await balance(payer);
    const id = await funded(payer, { amount_fen: yuan(2).toString(), count: 5, interval_ms: 1_000, first_at_ms: now + 1_000 });
    now += 1_000;
    await tick();
    const c = await payer.client.post(`/v1/accounts/${payer.id}/schedules/${id}/cancel`, {});
    expect(c.status, c.text).toBe(200);
    expect(c.body.schedule.status).toBe('cancelled');
    now += 10_000;
    await tick();
    await tick();
    const v = await view(payer, id);
    expect(v.slots.map((s) => s.status)).toEqual(['settled']);
    expect(v.schedule).toMatchObject({ status: 'cancelled', pot_fen: '0', refunded_fen: yuan(8).toString() });
    expect(await balance(payer)).toBe(p0 - yuan(2));
  });
});

describe('bad requests are refused with a code and change nothing', () => {
  it.each([
    ['a count of 0', { count: 0 }, 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['a recurring payment without an interval', { count: 2, interval_ms: 0 }, 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['a one-off payment with an interval', { count: 1, interval_ms: 1_000 }, 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['an interval under a second', { interval_ms: 999 }, 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['a first slot in the past', { first_at_ms: Date.now() - 3_600_000 }, 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['a fund below one slot', { fund_fen: '999' }, 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['an amount as a number', { amount_fen: 1000 }, 400, 'CBDC_ERR_AMOUNT_FORMAT'],
    ['more than the wallet holds', { amount_fen: yuan(100_000).toString(), count: 1, interval_ms: 0 }, 409, 'CBDC_ERR_INSUFFICIENT_FUNDS'],
  ] as const)('%s', async (_what, o, status, code) => {
    await refused(status, code, () => createSchedule(payer, { first_at_ms: now + 1_000, ...o }));
  });

  it('an unknown payee is refused when its slot runs, with its code', async () => {
    const id = await funded(payer, { payee: { account: 'bank-a.000000000000' }, amount_fen: '100', count: 1, interval_ms: 0, first_at_ms: now + 100 });
    now += 100;
    await tick();
    await tick();
    const v = await view(payer, id);
    expect(v.slots.map((s) => [s.status, s.code])).toEqual([['refused', 'CBDC_ERR_PAYEE_UNKNOWN']]);
    expect(v.schedule.pot_fen).toBe('0');
  });

  it("another wallet's schedule is unknown to a wallet; the same key with other terms is a conflict", async () => {
    const r = await createSchedule(payer, { idempotency_key: 'sched-same-key-1', amount_fen: '100', count: 1, interval_ms: 0 });
    expect(r.status, r.text).toBe(200);
    const again = await createSchedule(payer, { idempotency_key: 'sched-same-key-1', amount_fen: '100', count: 1, interval_ms: 0, first_at_ms: r.body.schedule.first_at_ms });
    expect(again.status).toBe(200);
    expect(again.body.schedule.id).toBe(r.body.schedule.id);
    expect(again.body.payment.id).toBe(r.body.payment.id);
    await refused(409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT', () => createSchedule(payer, { idempotency_key: 'sched-same-key-1', amount_fen: '200', count: 1, interval_ms: 0 }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => payee.client.get(`/v1/accounts/${payer.id}/schedules/${r.body.schedule.id}`));
    await refused(404, 'CBDC_ERR_CONTRACT_UNKNOWN', () => payee.client.get(`/v1/accounts/${payee.id}/schedules/${r.body.schedule.id}`));
  });
});
