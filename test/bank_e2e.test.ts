// End to end: central and two banks (bank-a, bank-b) run as real processes on real ports
// (test/helpers/network_process.ts). Wallets talk to their bank over signed HTTP and ws only,
// as a phone would. The suite walks through onboarding at every KYC tier, top-ups from
// deposits, payments within a bank and across banks, every limit, freezing, over-cap sweeps,
// idempotency, concurrent payments, a bank killed and restarted in the middle of a stream of
// payments, and ends by reconciling both banks against central and auditing central.
//
// The tests run in order and share one network and one set of customers; each states the
// balances it expects, so the figures below are cumulative.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseYuan } from '../protocol/amount.js';
import { signHash } from '../protocol/sig.js';
import { type Lock, lockToJson, parseLock } from '../protocol/lock.js';
import { type Tx, txId, txToJson } from '../protocol/tx.js';
import { keyLock, makeTx, signTx } from '../protocol/tx_builder.js';
import { payeeOutputsOf } from '../wallet/payment_build.js';
import { SignedClient, type SignedResponse } from '../platform/signed_client.js';
import { type BankProcess, NetworkProcess } from './helpers/network_process.js';
import { type AccountJson, type ErrorJson, type Payee, type PaymentJson, WalletClient, idemKey } from './helpers/wallet_client.js';

const NETWORK = 'cbdc-e2e';
const Y = (yuan: string): bigint => parseYuan(yuan);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Wallet = WalletClient;
const wallet = (name: string, bank: BankProcess): Wallet => new WalletClient(name, bank, NETWORK);

/** Polls until `f` returns true (another bank learns of a payment from central's event stream). */
async function until(what: string, f: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await f()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const waitBalance = (w: Wallet, fen: bigint, timeoutMs?: number) =>
  until(`${w.name} balance ${fen}`, async () => (await w.balance()) === fen, timeoutMs);

function expectError(r: SignedResponse<unknown>, status: number, code: string): void {
  expect({ status: r.status, code: (r.body as ErrorJson | null)?.code }, JSON.stringify(r.body)).toEqual({ status, code });
}

/** What a refusal must leave untouched. */
async function snapshot(...ws: Wallet[]): Promise<unknown[]> {
  return Promise.all(ws.map(async (w) => {
    const a = await w.get();
    return { who: w.name, balance: a.balance_fen, deposit: a.deposit_fen, today: a.used_today_fen, year: a.used_this_year_fen, status: a.status, history: (await w.history()).length };
  }));
}

// ------------------------------------------------------------------------------------------

let root = '';
let net: NetworkProcess;
let bankA: BankProcess;
let bankB: BankProcess;
let staffA: SignedClient;
let staffB: SignedClient;

// bank-a customers
let a4: Wallet; // class 4, phone only
let a3: Wallet; // class 3
let a2: Wallet; // class 2, linked account
let a1: Wallet; // class 1 (staff upgrade)
let c3: Wallet; // class 3, for the concurrent burst bound by the daily limit
let d4: Wallet; // class 4, for the concurrent burst bound by the balance
let e2: Wallet; // class 2 with six outputs, for payments signed while bank-b is down
let onP: Wallet; // class 3, each holding only the coin just paid to it: spent onward
let onQ: Wallet;
let onR: Wallet; // (at bank-b)
// bank-b customers
let m: Wallet; // merchant, class 2, mcc 5411, handle @tea_house
let b4: Wallet; // class 4, no linked account
let b3s: Wallet; // class 3 with a linked account: over-cap money is swept to its deposit
let b1: Wallet; // class 1 (staff upgrade at bank-b)


beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'cbdc-bank-e2e-'));
  net = new NetworkProcess({ root, network: NETWORK });
  await net.start();
  bankA = net.bank('bank-a');
  bankB = net.bank('bank-b');
  staffA = bankA.client('staff');
  staffB = bankB.client('staff');
  // Each bank tops up its own CBDC holdings from central issuance on its first ticks.
  for (const c of [staffA, staffB]) {
    await until('bank holdings from issuance', async () => {
      const t = await c.get<{ holdings_fen: string }>('/v1/bank/totals');
      return t.status === 200 && BigInt(t.body.holdings_fen) >= Y('1000000');
    });
  }
}, 60_000);

afterAll(async () => {
  await net?.killAll();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('two-tier network end to end (central + bank-a + bank-b as processes)', () => {
  it('onboards customers at every KYC tier, checking the evidence each needs', async () => {
    const totalsBefore = await staffA.get<{ accounts: number }>('/v1/bank/totals');
    expect(totalsBefore.body.accounts).toBe(0);

    // Refusals first: nothing is opened by any of them.
    const x = wallet('x', bankA);
    expectError(await x.open({ kind: 'personal', tier: 4, evidence: {} }), 400, 'CBDC_ERR_KYC_EVIDENCE');
    expectError(await x.open({ kind: 'personal', tier: 4, evidence: { phone: '13800000000' } }), 400, 'CBDC_ERR_KYC_EVIDENCE');
    expectError(await x.open({ kind: 'personal', tier: 3, evidence: { phone: '+8613800000009' } }), 400, 'CBDC_ERR_KYC_EVIDENCE');
    expectError(await x.open({ kind: 'personal', tier: 2, evidence: { phone: '+8613800000009', name: 'Xu Xin', id_number: '110101199001011234' } }), 400, 'CBDC_ERR_KYC_EVIDENCE');
    expectError(await x.open({ kind: 'personal', tier: 1, evidence: { phone: '+8613800000009', name: 'Xu Xin', id_number: '110101199001011234', linked_account: '6222000011112222', verified_in_person_by: 'me' } }), 400, 'CBDC_ERR_KYC_TIER');
    expectError(await x.open({ kind: 'personal', tier: 6, evidence: { phone: '+8613800000009' } }), 400, 'CBDC_ERR_KYC_TIER');
    expectError(await x.open({ kind: 'merchant', tier: 4, evidence: { phone: '+8613800000009' } }), 400, 'CBDC_ERR_MERCHANT_CATEGORY');
    expect((await staffA.get<{ accounts: number }>('/v1/bank/totals')).body.accounts).toBe(0);

    a4 = wallet('a4', bankA);
    const r4 = await a4.open({ kind: 'personal', tier: 4, evidence: { phone: '+8613800000004' } });
    expect(r4.status, JSON.stringify(r4.body)).toBe(201);
    expect(r4.body).toMatchObject({ tier: 4, kind: 'personal', status: 'active', aliases: ['+8613800000004'], balance_fen: '0', deposit_fen: '0', mcc: null });
    expect(r4.body.id).toMatch(/^bank-a\.[0-9a-f]{12}$/);
    expect(r4.body.limits).toEqual({ balance_cap_fen: '1000000', single_payment_fen: '200000', daily_fen: '500000', annual_fen: '5000000' });

    a3 = wallet('a3', bankA);
    const r3 = await a3.open({ kind: 'personal', tier: 3, evidence: { phone: '+8613800000003', name: 'Li Lei', id_number: '110101198505051234' } });
    expect(r3.status).toBe(201);
    expect(r3.body.limits).toEqual({ balance_cap_fen: '2000000', single_payment_fen: '500000', daily_fen: '1000000', annual_fen: '20000000' });

    a2 = wallet('a2', bankA);
    const r2 = await a2.open({ kind: 'personal', tier: 2, evidence: { phone: '+8613800000002', name: 'Han Meimei', id_number: '110101199202021234', linked_account: '6222000000000002' } });
    expect(r2.status).toBe(201);
    expect(r2.body.limits).toEqual({ balance_cap_fen: '50000000', single_payment_fen: '5000000', daily_fen: '10000000', annual_fen: null });

    // The same key or the same phone again: refused.
    expectError(await a2.open({ kind: 'personal', tier: 4, evidence: { phone: '+8613800000099' } }), 409, 'CBDC_ERR_ACCOUNT_EXISTS');
    expectError(await wallet('dup', bankA).open({ kind: 'personal', tier: 4, evidence: { phone: '+8613800000002' } }), 409, 'CBDC_ERR_ALIAS_TAKEN');

    // Class 1: opened at class 2; the wallet cannot raise itself to class 1, staff can.
    a1 = wallet('a1', bankA);
    expect((await a1.open({ kind: 'personal', tier: 2, evidence: { phone: '+8613800000001', name: 'Wang Fang', id_number: '110101197707071234', linked_account: '6222000000000001' } })).status).toBe(201);
    expectError(await a1.client.post(`/v1/accounts/${a1.id}/kyc`, { tier: 1, evidence: {} }), 400, 'CBDC_ERR_KYC_TIER');
    expect((await a1.get()).tier).toBe(2);
    // A wallet may upgrade itself where it brings the evidence (2 -> 3 is a downgrade; 4 -> 3 needs name and id).
    expectError(await a4.client.post(`/v1/accounts/${a4.id}/kyc`, { tier: 3, evidence: {} }), 400, 'CBDC_ERR_KYC_EVIDENCE');
    expect((await a4.get()).tier).toBe(4);
    // A wallet may not act on another's account.
    expectError(await a4.client.post(`/v1/accounts/${a1.id}/kyc`, { tier: 3, evidence: {} }), 403, 'CBDC_ERR_FORBIDDEN');
    const up = await staffA.post<AccountJson>(`/v1/accounts/${a1.id}/kyc`, { tier: 1, evidence: {} });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body.tier).toBe(1);
    expect(up.body.limits).toEqual({ balance_cap_fen: null, single_payment_fen: null, daily_fen: null, annual_fen: null });

    c3 = wallet('c3', bankA);
    expect((await c3.open({ kind: 'personal', tier: 3, evidence: { phone: '+8613800000013', name: 'Zhao Lei', id_number: '110101199303031234' } })).status).toBe(201);
    d4 = wallet('d4', bankA);
    expect((await d4.open({ kind: 'personal', tier: 4, evidence: { phone: '+8613800000014' } })).status).toBe(201);
    e2 = wallet('e2', bankA);
    expect((await e2.open({ kind: 'personal', tier: 2, evidence: { phone: '+8613800000012', name: 'Qian Yu', id_number: '110101199404041234', linked_account: '6222000000000012' } })).status).toBe(201);

    // bank-b: a merchant with its category code and a handle, a class 4, a class 3 with a
    // linked account, and a class 1.
    m = wallet('m', bankB);
    const rm_ = await m.open({ kind: 'merchant', mcc: '5411', tier: 2, evidence: { phone: '+8613900000001', name: 'Tea House Ltd', id_number: '91110000MA0012345X', linked_account: '6222000000000101' } });
    expect(rm_.status, JSON.stringify(rm_.body)).toBe(201);
    expect(rm_.body).toMatchObject({ kind: 'merchant', mcc: '5411', tier: 2 });
    expect(rm_.body.id).toMatch(/^bank-b\./);
    const al = await m.client.post<AccountJson>(`/v1/accounts/${m.id}/aliases`, { alias: '@tea_house' });
    expect(al.status).toBe(200);
    expect(al.body.aliases).toEqual(['+8613900000001', '@tea_house']);
    expectError(await m.client.post(`/v1/accounts/${m.id}/aliases`, { alias: 'tea house' }), 400, 'CBDC_ERR_ALIAS_FORMAT');

    b4 = wallet('b4', bankB);
    expect((await b4.open({ kind: 'personal', tier: 4, evidence: { phone: '+8613900000004' } })).status).toBe(201);
    b3s = wallet('b3s', bankB);
    expect((await b3s.open({ kind: 'personal', tier: 3, evidence: { phone: '+8613900000003', name: 'Chen Jing', id_number: '110101198808081234', linked_account: '6222000000000103' } })).status).toBe(201);
    b1 = wallet('b1', bankB);
    expect((await b1.open({ kind: 'personal', tier: 2, evidence: { phone: '+8613900000002', name: 'Sun Li', id_number: '110101196606061234', linked_account: '6222000000000102' } })).status).toBe(201);
    expect((await staffB.post<AccountJson>(`/v1/accounts/${b1.id}/kyc`, { tier: 1, evidence: {} })).body.tier).toBe(1);

    expect((await staffA.get<{ accounts: number }>('/v1/bank/totals')).body.accounts).toBe(7);
    expect((await staffB.get<{ accounts: number }>('/v1/bank/totals')).body.accounts).toBe(4);
  });

  it('tops wallets up from deposits: teller deposit, then exchange to the wallet', async () => {
    const topUp = async (w: Wallet, depositYuan: string, toWallet: string[], staffC: SignedClient) => {
      const d = await staffC.post<AccountJson>(`/v1/accounts/${w.id}/deposit`, { amount_fen: Y(depositYuan).toString() });
      expect(d.status, JSON.stringify(d.body)).toBe(200);
      for (const amt of toWallet) {
        const r = await w.exchange(Y(amt));
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.status).toBe('settled');
      }
    };
    // A wallet cannot credit its own deposit; only the teller can.
    expectError(await a1.client.post(`/v1/accounts/${a1.id}/deposit`, { amount_fen: '100' }), 403, 'CBDC_ERR_FORBIDDEN');

    await topUp(a1, '200000', ['150000'], staffA);
    await topUp(a2, '60000', ['50000'], staffA);
    await topUp(a3, '15000', [], staffA);
    await topUp(a4, '9000', ['8000'], staffA);
    await topUp(c3, '10800', Array.from({ length: 12 }, () => '900'), staffA);
    await topUp(d4, '4000', ['1000', '1000', '1000', '1000'], staffA);
    await topUp(e2, '6000', Array.from({ length: 6 }, () => '1000'), staffA);
    await topUp(b4, '12000', ['9000'], staffB);
    await topUp(b3s, '19000', ['19000'], staffB);
    await topUp(b1, '30000', ['20000'], staffB);

    // The exchange is idempotent: the same key answers the same result and debits once.
    const key = idemKey('a3-ex');
    const ex1 = await a3.exchange(Y('12000'), key);
    expect(ex1.status, JSON.stringify(ex1.body)).toBe(200);
    expect(ex1.body).toMatchObject({ status: 'settled', balance_fen: Y('12000').toString(), deposit_fen: Y('3000').toString() });
    const ex2 = await a3.exchange(Y('12000'), key);
    expect(ex2.body).toEqual(ex1.body);

    const fig = async (w: Wallet) => { const a = await w.get(); return [a.balance_fen, a.deposit_fen]; };
    expect(await fig(a1)).toEqual([Y('150000'), Y('50000')].map(String));
    expect(await fig(a2)).toEqual([Y('50000'), Y('10000')].map(String));
    expect(await fig(a3)).toEqual([Y('12000'), Y('3000')].map(String));
    expect(await fig(a4)).toEqual([Y('8000'), Y('1000')].map(String));
    expect(await fig(c3)).toEqual([Y('10800').toString(), '0']);
    expect(await fig(d4)).toEqual([Y('4000').toString(), '0']);
    expect(await fig(b4)).toEqual([Y('9000'), Y('3000')].map(String));
    expect(await fig(b3s)).toEqual([Y('19000').toString(), '0']);
    expect(await fig(b1)).toEqual([Y('20000'), Y('10000')].map(String));

    // Refused exchanges change nothing: more than the deposit, and past the wallet's cap.
    const before = await snapshot(b4);
    expectError(await b4.exchange(Y('5000')), 409, 'CBDC_ERR_INSUFFICIENT_FUNDS');
    expectError(await b4.exchange(Y('2000')), 409, 'CBDC_ERR_BALANCE_CAP');
    expect(await snapshot(b4)).toEqual(before);

    // History: one 'in' exchange entry per exchange, with the figures after it.
    const h = await a3.history();
    expect(h).toHaveLength(1);
    expect(h[0]).toMatchObject({ seq: 0, direction: 'in', kind: 'exchange', amount_fen: Y('12000').toString(), balance_after_fen: Y('12000').toString(), deposit_after_fen: Y('3000').toString(), counterparty: 'own deposit' });
    expect((await c3.history()).filter((e) => e.kind === 'exchange')).toHaveLength(12);
  });

  it('pays within a bank and across banks, by alias and by account id, with notifications', async () => {
    // Within bank-a, by phone: a3 -> a4.
    const subA4 = await a4.subscribe((await a4.history()).length);
    const p1 = await a3.paid({ alias: '+8613800000004' }, Y('500'));
    expect(p1).toMatchObject({ amount_fen: Y('500').toString(), payee: { bank: 'bank-a', account: a4.id, alias: '+8613800000004' } });
    expect(await a3.balance()).toBe(Y('11500'));
    expect(await a4.balance()).toBe(Y('8500'));
    const n1 = await subA4.waitFor((e) => e.txid === p1.txid);
    expect(n1).toMatchObject({ direction: 'in', kind: 'payment', amount_fen: Y('500').toString(), balance_after_fen: Y('8500').toString() });
    subA4.close();

    // Across banks, by handle: a2 (bank-a) -> the merchant (bank-b). The merchant's wallet
    // is listening before the payment is made.
    const subM = await m.subscribe(0);
    const p2 = await a2.paid({ alias: '@tea_house' }, Y('1234.56'));
    expect(p2.payee).toMatchObject({ bank: 'bank-b', account: m.id, alias: '@tea_house' });
    expect(await a2.balance()).toBe(Y('48765.44'));
    const n2 = await subM.waitFor((e) => e.txid === p2.txid);
    expect(n2).toMatchObject({ direction: 'in', kind: 'payment', amount_fen: Y('1234.56').toString(), balance_after_fen: Y('1234.56').toString() });
    expect(await m.balance()).toBe(Y('1234.56'));
    subM.close();

    // Across banks, by account id: the merchant (bank-b) -> a1 (bank-a).
    const subA1 = await a1.subscribe((await a1.history()).length);
    const p3 = await m.paid({ account: a1.id }, Y('234.56'));
    expect(p3.payee).toMatchObject({ bank: 'bank-a', account: a1.id });
    expect(await m.balance()).toBe(Y('1000'));
    await subA1.waitFor((e) => e.txid === p3.txid);
    await waitBalance(a1, Y('150234.56'));
    subA1.close();

    // Within bank-a, by account id: a1 -> a2.
    const p4 = await a1.paid({ account: a2.id }, Y('100'));
    expect(await a1.balance()).toBe(Y('150134.56'));
    expect(await a2.balance()).toBe(Y('48865.44'));

    // Histories on both sides.
    const outOf = async (w: Wallet, p: PaymentJson) => (await w.history()).filter((e) => e.txid === p.txid);
    expect(await outOf(a3, p1)).toEqual([expect.objectContaining({ direction: 'out', kind: 'payment', amount_fen: Y('500').toString(), payment_id: p1.id, balance_after_fen: Y('11500').toString(), counterparty: '+8613800000004@bank-a' })]);
    expect(await outOf(a4, p1)).toEqual([expect.objectContaining({ direction: 'in', kind: 'payment', amount_fen: Y('500').toString(), counterparty: '+8613800000003@bank-a' })]);
    expect(await outOf(a2, p2)).toEqual([expect.objectContaining({ direction: 'out', amount_fen: Y('1234.56').toString(), payment_id: p2.id, counterparty: '@tea_house@bank-b' })]);
    expect(await outOf(m, p2)).toEqual([expect.objectContaining({ direction: 'in', amount_fen: Y('1234.56').toString(), payment_id: null })]);
    expect(await outOf(m, p3)).toEqual([expect.objectContaining({ direction: 'out', amount_fen: Y('234.56').toString(), payment_id: p3.id })]);
    expect(await outOf(a1, p3)).toEqual([expect.objectContaining({ direction: 'in', amount_fen: Y('234.56').toString() })]);
    expect(await outOf(a1, p4)).toEqual([expect.objectContaining({ direction: 'out', amount_fen: Y('100').toString() })]);
    expect(await outOf(a2, p4)).toEqual([expect.objectContaining({ direction: 'in', amount_fen: Y('100').toString() })]);
    // The payment record is there for the payer, settled.
    const got = await a2.client.get<PaymentJson>(`/v1/accounts/${a2.id}/payments/${p2.id}`);
    expect(got.body).toMatchObject({ id: p2.id, status: 'settled', txid: p2.txid });
    // ... and only for the payer.
    expectError(await a3.client.get(`/v1/accounts/${a2.id}/payments/${p2.id}`), 403, 'CBDC_ERR_FORBIDDEN');
    expect((await a3.get()).used_today_fen).toBe(Y('500').toString());
  });

  it('enforces every limit, and a refused payment changes nothing', async () => {
    const refused = async (payer: Wallet, payee: Payee, amount: bigint, status: number, code: string, ...others: Wallet[]) => {
      const before = await snapshot(payer, ...others);
      expectError(await payer.pay(payee, amount), status, code);
      expect(await snapshot(payer, ...others)).toEqual(before);
    };
    const a3Alias = { alias: '+8613800000003' };

    // Single-payment limit (class 4: 2,000 yuan).
    await refused(a4, a3Alias, Y('2000.01'), 409, 'CBDC_ERR_LIMIT_SINGLE', a3);
    // Daily limit (class 4: 5,000 yuan): payments add up to it, not past it.
    await a4.paid(a3Alias, Y('2000'));
    await a4.paid(a3Alias, Y('2000'));
    await refused(a4, a3Alias, Y('1000.01'), 409, 'CBDC_ERR_LIMIT_DAILY', a3);
    await a4.paid(a3Alias, Y('1000'));
    expect((await a4.get()).used_today_fen).toBe(Y('5000').toString());
    await refused(a4, a3Alias, Y('0.01'), 409, 'CBDC_ERR_LIMIT_DAILY', a3);
    expect(await a4.balance()).toBe(Y('3500'));
    expect(await a3.balance()).toBe(Y('16500'));

    // Balance cap on a payee with no linked account: across banks (b4 holds 9,000 of its 10,000) ...
    await refused(a1, { alias: '+8613900000004' }, Y('1000.01'), 409, 'CBDC_ERR_BALANCE_CAP', b4);
    // ... and within the bank (a4 holds 3,500 of 10,000).
    await refused(a1, { account: a4.id }, Y('6500.01'), 409, 'CBDC_ERR_BALANCE_CAP', a4);
    // Exactly up to the cap is fine.
    await a1.paid({ alias: '+8613900000004' }, Y('1000'));
    await waitBalance(b4, Y('10000'));
    await refused(a1, { account: b4.id }, Y('0.01'), 409, 'CBDC_ERR_BALANCE_CAP', b4);

    // Insufficient funds (within every limit).
    await refused(a2, { account: a1.id }, Y('48865.45'), 409, 'CBDC_ERR_INSUFFICIENT_FUNDS', a1);

    // Unknown payees: an alias no bank knows, a handle, an account at either bank, an unknown bank.
    await refused(a1, { alias: '+8610000000099' }, Y('1'), 404, 'CBDC_ERR_PAYEE_UNKNOWN');
    await refused(a1, { alias: '@nobody_here' }, Y('1'), 404, 'CBDC_ERR_PAYEE_UNKNOWN');
    await refused(a1, { account: 'bank-a.000000000000' }, Y('1'), 404, 'CBDC_ERR_PAYEE_UNKNOWN');
    await refused(a1, { account: 'bank-b.000000000000' }, Y('1'), 404, 'CBDC_ERR_PAYEE_UNKNOWN');
    await refused(a1, { account: 'bank-z.000000000000' }, Y('1'), 404, 'CBDC_ERR_PAYEE_UNKNOWN');
    // A wallet cannot pay itself, nor pay from another's account.
    await refused(a1, { account: a1.id }, Y('1'), 409, 'CBDC_ERR_PAYEE_REFUSED');
    const before = await snapshot(a1);
    expectError(await a4.client.post(`/v1/accounts/${a1.id}/payments`, { idempotency_key: idemKey('steal'), payee: { account: a4.id }, amount_fen: '100' }), 403, 'CBDC_ERR_FORBIDDEN');
    expect(await snapshot(a1)).toEqual(before);
    // A bad signature over the txid is refused and the payment can still be signed properly.
    const p = await a1.prepare({ account: a2.id }, Y('1'));
    expect(p.status).toBe(200);
    const bad = await a1.client.post<ErrorJson>(`/v1/accounts/${a1.id}/payments/${p.body.id}/sign`, { sig: signHash(a4.sk, Buffer.from(p.body.txid, 'hex')).toString('hex') });
    expectError(bad, 403, 'CBDC_ERR_BAD_SIGNATURE');
    expect((await a1.sign(p.body)).body.status).toBe('settled');
    expect(await a2.balance()).toBe(Y('48866.44'));
  });

  it('freezes an account: it cannot pay, can still receive, and unfreezing restores it', async () => {
    // A payment prepared before the freeze.
    const pending = await a3.prepare({ account: a4.id }, Y('100'));
    expect(pending.status).toBe(200);

    // A wallet cannot freeze; staff can.
    expectError(await a3.client.post(`/v1/accounts/${a3.id}/freeze`, {}), 403, 'CBDC_ERR_FORBIDDEN');
    const f = await staffA.post<AccountJson>(`/v1/accounts/${a3.id}/freeze`, { reason: 'court order' });
    expect(f.status).toBe(200);
    expect(f.body.status).toBe('frozen');

    const before = await snapshot(a3, a4);
    expectError(await a3.pay({ account: a4.id }, Y('100')), 403, 'CBDC_ERR_ACCOUNT_FROZEN');
    expectError(await a3.sign(pending.body), 403, 'CBDC_ERR_ACCOUNT_FROZEN');
    expectError(await a3.exchange(Y('100')), 403, 'CBDC_ERR_ACCOUNT_FROZEN');
    expect(await snapshot(a3, a4)).toEqual(before);

    // It still receives, from its own bank and from another.
    await a1.paid({ alias: '+8613800000003' }, Y('100'));
    await m.paid({ alias: '+8613800000003' }, Y('50'));
    await waitBalance(a3, Y('16650'));
    expect((await a3.get()).status).toBe('frozen');

    const u = await staffA.post<AccountJson>(`/v1/accounts/${a3.id}/unfreeze`, {});
    expect(u.body.status).toBe('active');
    // The payment prepared before the freeze can now be signed; and new ones go through.
    const s = await a3.sign(pending.body);
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(s.body.status).toBe('settled');
    await a3.paid({ account: a4.id }, Y('100'));
    expect(await a3.balance()).toBe(Y('16450'));
    expect(await a4.balance()).toBe(Y('3700'));
    expect(await m.balance()).toBe(Y('950'));
  });

  it('sweeps what a payment brings over the balance cap to the linked deposit', async () => {
    // b3s: class 3 (cap 20,000) holding 19,000, with a linked account.
    const sub = await b3s.subscribe((await b3s.history()).length);
    const p = await a1.paid({ alias: '+8613900000003' }, Y('3000'));
    expect(p).toMatchObject({ wallet_fen: Y('1000').toString(), excess_fen: Y('2000').toString() });
    await sub.waitFor((e) => e.txid === p.txid && e.kind === 'sweep');
    await until('sweep at bank-b', async () => (await b3s.get()).deposit_fen === Y('2000').toString());
    const a = await b3s.get();
    expect([a.balance_fen, a.deposit_fen]).toEqual([Y('20000').toString(), Y('2000').toString()]);
    const h = (await b3s.history()).filter((e) => e.txid === p.txid);
    expect(h).toEqual([
      expect.objectContaining({ direction: 'in', kind: 'payment', amount_fen: Y('1000').toString() }),
      expect.objectContaining({ direction: 'in', kind: 'sweep', amount_fen: Y('2000').toString(), balance_after_fen: Y('20000').toString(), deposit_after_fen: Y('2000').toString() }),
    ]);

    // At the cap, all of it goes to the deposit.
    const p2 = await a1.paid({ account: b3s.id }, Y('500'));
    expect(p2).toMatchObject({ wallet_fen: '0', excess_fen: Y('500').toString() });
    await until('second sweep', async () => (await b3s.get()).deposit_fen === Y('2500').toString());
    expect(await b3s.balance()).toBe(Y('20000'));
    expect((await b3s.history()).filter((e) => e.txid === p2.txid)).toEqual([expect.objectContaining({ kind: 'sweep', amount_fen: Y('500').toString() })]);
    sub.close();
    expect(await a1.balance()).toBe(Y('150134.56') - Y('1000') - Y('1') - Y('100') - Y('3500'));
  });

  it('is idempotent: the same key gives the same payment, signing twice pays once', async () => {
    const a1Before = await a1.balance();
    const mBefore = await m.balance();
    const key = idemKey('a1-idem');
    const r1 = await a1.prepare({ alias: '@tea_house' }, Y('100'), key);
    expect(r1.status).toBe(200);
    expect(r1.body.status).toBe('awaiting_signature');
    const again = await Promise.all([1, 2, 3].map(() => a1.prepare({ alias: '@tea_house' }, Y('100'), key)));
    for (const r of again) expect({ id: r.body.id, txid: r.body.txid }).toEqual({ id: r1.body.id, txid: r1.body.txid });

    const s1 = await a1.sign(r1.body);
    expect(s1.body).toMatchObject({ id: r1.body.id, txid: r1.body.txid, status: 'settled' });
    const s2 = await a1.sign(r1.body);
    expect(s2.status).toBe(200);
    expect(s2.body).toEqual(s1.body);
    const r2 = await a1.prepare({ alias: '@tea_house' }, Y('100'), key);
    expect(r2.body).toMatchObject({ id: r1.body.id, txid: r1.body.txid, status: 'settled' });

    // The same key for another request.
    const before = await snapshot(a1);
    expectError(await a1.prepare({ alias: '@tea_house' }, Y('101'), key), 409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT');
    expectError(await a1.prepare({ account: a2.id }, Y('100'), key), 409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT');
    expect(await snapshot(a1)).toEqual(before);

    // Two signatures at once on a fresh payment: one settlement.
    const q = await a1.prepare({ alias: '@tea_house' }, Y('50'));
    const both = await Promise.all([a1.sign(q.body), a1.sign(q.body)]);
    for (const r of both) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ id: q.body.id, status: 'settled' });
    }

    expect(await a1.balance()).toBe(a1Before - Y('150'));
    await waitBalance(m, mBefore + Y('150'));
    const hOut = (await a1.history()).filter((e) => e.payment_id === r1.body.id || e.payment_id === q.body.id);
    expect(hOut).toHaveLength(2);
    const hIn = (await m.history()).filter((e) => e.txid === r1.body.txid || e.txid === q.body.txid);
    expect(hIn).toHaveLength(2);
  });

  it('one request per payment: the wallet signs its own transaction; every refusal changes nothing; a repeat is the same payment', async () => {
    // a1 (bank-a) pays b1 (bank-b, no cap) and a2 (bank-a) with transactions it builds itself.
    const view = await a1.coins();
    const coin = view.coins.find((c) => !c.reserved && BigInt(c.value) > Y('10'))!;
    const keysB1 = await a1.payee({ account: b1.id }, Y('5'));
    expect(keysB1.status, JSON.stringify(keysB1.body)).toBe(200);
    expect(keysB1.body).toMatchObject({ bank: 'bank-b', account: b1.id });
    expect(keysB1.body).not.toHaveProperty('room_fen'); // the payee's balance is not told
    const own = parseLock(view.lock);
    const build = (o: { coins?: typeof view.coins; amount?: bigint; payee?: { value: bigint; lock: Lock }[]; change?: { value: bigint; lock: Lock }; sk?: Buffer } = {}) => {
      const coins = o.coins ?? [coin];
      const amount = o.amount ?? Y('5');
      const payee = o.payee ?? payeeOutputsOf(keysB1.body, amount, BigInt(coins[0]!.pos));
      const sum = coins.reduce((t, c) => t + BigInt(c.value), 0n);
      const change = o.change ?? { value: sum - amount, lock: own };
      const tx = makeTx({ network: NETWORK, inputs: coins.map((c) => ({ pos: BigInt(c.pos), id: Buffer.from(c.id, 'hex') })), outputs: [...payee, change] });
      return signTx(tx, [o.sk ?? a1.sk]);
    };
    const body = (tx: Tx, key: string, amount = Y('5'), payee: Payee = { account: b1.id }) => ({ idempotency_key: key, payee, amount_fen: amount.toString(), tx: txToJson(tx) });

    const before = await snapshot(a1, b1);
    const b1Balance = await b1.balance();
    // Malformed and unauthenticated: no signature, another key's, a signature over another hash.
    const unsigned = build();
    expectError(await a1.payBody(body({ ...unsigned, sigs: [] }, idemKey('p1'))), 400, 'CBDC_ERR_WITNESS');
    expectError(await a1.payBody(body(build({ sk: a2.sk }), idemKey('p1'))), 403, 'CBDC_ERR_BAD_SIGNATURE');
    const forged = { ...txToJson(unsigned), witness: { sigs: [{ key: a1.pk.toString('hex'), sig: a1.sig('00'.repeat(32)) }] } };
    expectError(await a1.payBody({ ...body(unsigned, idemKey('p1')), tx: forged }), 403, 'CBDC_ERR_BAD_SIGNATURE');
    // Another wallet's transaction sent to this account: its key is not the account's.
    expectError(await a2.payBody(body(build(), idemKey('p1'))), 403, 'CBDC_ERR_BAD_SIGNATURE');
    // Amounts as JSON numbers or with a sign are refused as amounts.
    expectError(await a1.payBody({ ...body(build(), idemKey('p1')), amount_fen: 500 }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
    expectError(await a1.payBody({ ...body(build(), idemKey('p1')), amount_fen: '-500' }), 400, 'CBDC_ERR_AMOUNT_FORMAT');
    // A coin that is not the wallet's.
    const a2Coin = (await a2.coins()).coins[0]!;
    expectError(await a1.payBody(body(build({ coins: [a2Coin], amount: Y('1') }), idemKey('p1'), Y('1'))), 404, 'CBDC_ERR_UNKNOWN_INPUT');
    // Change that is not the inputs less the amount, or goes elsewhere.
    expectError(await a1.payBody(body(build({ change: { value: BigInt(coin.value) - Y('5') - 1n, lock: own } }), idemKey('p1'))), 400, 'CBDC_ERR_UNBALANCED');
    expectError(await a1.payBody(body(build({ change: { value: BigInt(coin.value) - Y('5'), lock: keyLock(a1.pk) } }), idemKey('p1'))), 400, 'CBDC_ERR_UNBALANCED');
    // The payee paid to a lock its terms do not give: refused, with the outputs to sign instead.
    const wrong = await a1.payBody(body(build({ payee: [{ value: Y('5'), lock: keyLock(a1.pk) }] }), idemKey('p1')));
    expectError(wrong, 409, 'CBDC_ERR_PAYMENT_OUTPUTS');
    expect(wrong.body.outputs).toEqual(payeeOutputsOf(keysB1.body, Y('5'), BigInt(coin.pos)).map((o) => ({ value: o.value.toString(), lock: lockToJson(o.lock) })));
    expect(await snapshot(a1, b1)).toEqual(before);
    expect((await a1.coins()).coins.find((c) => c.pos === coin.pos)).toMatchObject({ reserved: false });

    // Paid: settled in the one request, the payee credited once its bank sees it.
    const key = idemKey('p1');
    const tx = build();
    const r1 = await a1.payBody(body(tx, key));
    expect(r1.status, JSON.stringify(r1.body)).toBe(200);
    expect(r1.body).toMatchObject({ status: 'settled', txid: txId(tx).toString('hex'), amount_fen: Y('5').toString(), payee: { bank: 'bank-b', account: b1.id } });
    await waitBalance(b1, b1Balance + Y('5'));
    // The same body again, the same transaction under another key, at once: the same payment.
    const repeats = await Promise.all([a1.payBody(body(tx, key)), a1.payBody(body(tx, idemKey('p1-other'))), a1.payBody(body(tx, key))]);
    for (const r of repeats) expect({ status: r.status, id: r.body.id, txid: r.body.txid }).toEqual({ status: 200, id: r1.body.id, txid: r1.body.txid });
    // The key for another payment is a conflict; the spent coin again is no longer the wallet's.
    const after = await snapshot(a1, b1);
    expectError(await a1.payBody(body(tx, key, Y('6'))), 409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT');
    expectError(await a1.payBody(body(build({ amount: Y('6') }), idemKey('p2'), Y('6'))), 404, 'CBDC_ERR_UNKNOWN_INPUT');
    expect(await snapshot(a1, b1)).toEqual(after);
    expect((await a1.history()).filter((e) => e.payment_id === r1.body.id)).toHaveLength(1);
    expect((await b1.history()).filter((e) => e.txid === r1.body.txid)).toHaveLength(1);

    // Two transactions spending one coin at once: one settles, the other is refused.
    const c2 = (await a1.coins()).coins.find((c) => !c.reserved && BigInt(c.value) > Y('10'))!;
    const keysA2 = (await a1.payee({ account: a2.id }, Y('1'))).body;
    const race = await Promise.all([Y('1'), Y('2')].map((amount) => a1.payBody(body(build({ coins: [c2], amount, payee: payeeOutputsOf(keysA2, amount, BigInt(c2.pos)) }), idemKey('race'), amount, { account: a2.id }))));
    expect(race.filter((r) => r.status === 200 && r.body.status === 'settled')).toHaveLength(1);
    expect(['CBDC_ERR_DOUBLE_SPEND', 'CBDC_ERR_UNKNOWN_INPUT']).toContain(race.find((r) => r.status !== 200)!.body.code);

    // The payee spends what it received, on a lock derived from its receive key (its bank signs with the derived key).
    const b1View = await b1.coins();
    const got = b1View.coins.find((c) => c.value === Y('5').toString() && !c.reserved)!;
    expect(got).toBeDefined();
    const keysM = (await b1.payee({ account: m.id }, Y('5'))).body;
    const spend = signTx(makeTx({ network: NETWORK, inputs: [{ pos: BigInt(got.pos), id: Buffer.from(got.id, 'hex') }], outputs: payeeOutputsOf(keysM, Y('5'), BigInt(got.pos)) }), [b1.sk]);
    const mBefore = await m.balance();
    const paid = await b1.payBody(body(spend, idemKey('b1'), Y('5'), { account: m.id }));
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body.status).toBe('settled');
    expect(await m.balance()).toBe(mBefore + Y('5'));
  });

  it('concurrent payments never pass the daily limit or the balance, and spend nothing twice', async () => {
    const burst = async (payer: Wallet, payee: Payee, n: number, amount: bigint) => {
      const rs = await Promise.all(Array.from({ length: n }, () => payer.pay(payee, amount)));
      const answers = rs.filter((r) => r.status === 200 && r.body.status === 'settled');
      // A call that resumes after another's payment settled may build the very same transaction
      // from its older view of the coins; the bank answers that payment again (the same
      // transaction is the same payment). Count payments, not answers.
      const settled = [...new Map(answers.map((r) => [r.body.id, r])).values()];
      for (const r of answers) expect(settled.find((x) => x.body.id === r.body.id)!.body.txid).toBe(r.body.txid);
      const refused = rs.filter((r) => r.status !== 200).map((r) => r.body.code);
      expect(answers.length + refused.length).toBe(n);
      return { settled, refused, total: BigInt(settled.length) * amount };
    };

    // c3: class 3 (daily 10,000), 12 outputs of 900 = 10,800. Twenty payments of 900 at
    // once (18,000): the daily limit binds at 11 (9,900).
    const mBefore = await m.balance();
    const c = await burst(c3, { alias: '@tea_house' }, 20, Y('900'));
    expect(c.total).toBeLessThanOrEqual(Y('10000'));
    expect(c.total).toBeLessThanOrEqual(Y('10800'));
    expect(c.settled).toHaveLength(11);
    expect(new Set(c.refused)).toEqual(new Set(['CBDC_ERR_LIMIT_DAILY']));
    const c3a = await c3.get();
    expect(BigInt(c3a.balance_fen)).toBe(Y('10800') - c.total);
    expect(BigInt(c3a.used_today_fen)).toBe(c.total);
    expect(new Set(c.settled.map((r) => r.body.txid)).size).toBe(11);

    // d4: class 4 (daily 5,000), 4 outputs of 1,000. Twenty payments of 900 at once: the
    // balance binds (each needs a whole output; the change comes back only once settled).
    const a1Before = await a1.balance();
    const d = await burst(d4, { account: a1.id }, 20, Y('900'));
    expect(d.total).toBeLessThanOrEqual(Y('4000'));
    expect(d.settled.length).toBeGreaterThanOrEqual(1);
    for (const code of d.refused) expect(code).toBe('CBDC_ERR_INSUFFICIENT_FUNDS');
    const d4a = await d4.get();
    expect(BigInt(d4a.balance_fen)).toBe(Y('4000') - d.total);
    expect(BigInt(d4a.used_today_fen)).toBe(d.total);
    expect(await a1.balance()).toBe(a1Before + d.total);

    await waitBalance(m, mBefore + c.total);
    const inM = (await m.history()).filter((e) => e.direction === 'in').map((e) => e.txid);
    expect(new Set(inM).size).toBe(inM.length);

    // Nothing spent twice: central's ledger adds up and each bank's coins are unspent there.
    const audit = await net.audit();
    expect(audit.problems).toEqual([]);
    expect(audit.ok).toBe(true);
    for (const c_ of [staffA, staffB]) {
      const r = await c_.get<{ ok: boolean; problems: string[] }>('/v1/bank/reconcile');
      expect(r.body.problems).toEqual([]);
      expect(r.body.ok).toBe(true);
    }
  });

  it('a bank killed mid-stream catches up from central: every settled payment is credited once', async () => {
    const initial = { b1: await b1.balance(), m: await m.balance() };
    const settled: { payee: 'b1' | 'm'; txid: string; amount: bigint }[] = [];
    const refusals: string[] = [];
    let stop = false;

    // Payments prepared while bank-b is up, signed while it is down.
    const prepared: { w: Wallet; payee: 'b1' | 'm'; p: PaymentJson }[] = [];
    for (let i = 0; i < 6; i++) {
      const w = e2; // each payment reserves one of its six outputs
      const payee = i % 2 === 0 ? 'b1' as const : 'm' as const;
      const r = await w.prepare(payee === 'b1' ? { account: b1.id } : { alias: '@tea_house' }, Y(`10.0${i}`));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      prepared.push({ w, payee, p: r.body });
    }

    const worker = async (w: Wallet, payee: 'b1' | 'm', ref: Payee, base: bigint) => {
      for (let i = 0; !stop; i++) {
        const amount = base + BigInt(i % 50);
        let r;
        try {
          r = await w.pay(ref, amount);
        } catch (e) {
          refusals.push(`transport: ${(e as Error).message}`);
          await sleep(20);
          continue;
        }
        if (r.status === 200 && r.body.status === 'settled') settled.push({ payee, txid: r.body.txid, amount });
        else {
          refusals.push(r.body.code);
          await sleep(20);
        }
      }
    };
    const workers = [
      worker(a1, 'b1', { alias: '+8613900000002' }, Y('1')),
      worker(a2, 'm', { account: m.id }, Y('2')),
    ];

    let settledBeforeKill = 0;
    try {
      await until('payments flowing', async () => settled.length >= 4);
      const killed = await bankB.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      settledBeforeKill = settled.length;
      // bank-a keeps settling: the prepared payments go to central while bank-b is down ...
      for (const x of prepared) {
        const r = await x.w.sign(x.p);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.status).toBe('settled');
        settled.push({ payee: x.payee, txid: r.body.txid, amount: BigInt(r.body.amount_fen) });
      }
      // ... and payments within bank-a go on as usual.
      await a3.paid({ account: a4.id }, Y('1'));
      await sleep(300);
      await bankB.start();
      const settledBeforeRestart = settled.length;
      await until('payments flowing again', async () => settled.length >= settledBeforeRestart + 4);
    } finally {
      stop = true;
      await Promise.all(workers);
    }

    expect(settledBeforeKill).toBeGreaterThan(0);
    expect(settled.length).toBeGreaterThan(settledBeforeKill + prepared.length);
    // While bank-b was down, payments to its customers went on under the receive terms bank-a
    // held (no round trip to bank-b per payment); once those ran out of room or lapsed, new
    // terms could not be asked for: refused, nothing settled.
    for (const code of refusals) expect(code).toBe('CBDC_ERR_PAYEE_REFUSED');

    const expectTotal = (who: 'b1' | 'm') => settled.filter((s) => s.payee === who).reduce((s, x) => s + x.amount, 0n);
    await waitBalance(b1, initial.b1 + expectTotal('b1'));
    await waitBalance(m, initial.m + expectTotal('m'));

    for (const [w, who] of [[b1, 'b1'], [m, 'm']] as const) {
      const h = await w.history();
      const inTx = h.filter((e) => e.direction === 'in').map((e) => e.txid);
      expect(new Set(inTx).size, `${who}: a txid credited twice`).toBe(inTx.length);
      const credited = new Set(inTx);
      for (const s of settled.filter((x) => x.payee === who)) expect(credited.has(s.txid), `${who} missing ${s.txid}`).toBe(true);
      // History entries are numbered without gaps, and the last balance is the balance.
      expect(h.map((e) => e.seq)).toEqual(h.map((_, i) => i));
      expect(h[h.length - 1]!.balance_after_fen).toBe((await w.get()).balance_fen);
    }
    // The restarted bank's notifications replay the whole history.
    const sub = await b1.subscribe(0);
    const hb1 = await b1.history();
    await sub.waitFor((e) => e.seq === hb1.length - 1);
    expect(sub.messages.map((e) => e.txid)).toEqual(hb1.map((e) => e.txid));
    sub.close();

    // bank-a stopped politely (SIGTERM) and restarted: it comes back with the same state.
    await staffA.post(`/v1/accounts/${a4.id}/freeze`, {});
    const everyone = [a1, a2, a3, a4, c3, d4, e2];
    const stateOf = async () => ({
      accounts: await Promise.all(everyone.map((w) => w.get())),
      history: await Promise.all(everyone.map((w) => w.history())),
      totals: (await staffA.get('/v1/bank/totals')).body,
    });
    const beforeRestart = await stateOf();
    const stopped = await bankA.kill('SIGTERM');
    expect(stopped.code).toBe(0);
    await bankA.start();
    staffA = bankA.client('staff');
    const afterRestart = await stateOf();
    expect(afterRestart).toEqual(beforeRestart);
    expect((await a4.get()).status).toBe('frozen');
    await staffA.post(`/v1/accounts/${a4.id}/unfreeze`, {});
    // It works as before, within the bank and across.
    const a4Before = await a4.balance();
    await a3.paid({ account: a4.id }, Y('1'));
    expect(await a4.balance()).toBe(a4Before + Y('1'));
    const b1Before = await b1.balance();
    await a1.paid({ account: b1.id }, Y('2'));
    await waitBalance(b1, b1Before + Y('2'));
    const mNow = await m.balance();
    await m.paid({ account: a2.id }, Y('3'));
    await waitBalance(m, mNow - Y('3'));
  });

  it('a coin received in one request is spent onward: from a payee at the same bank, and from one at another', async () => {
    // Each wallet holds only the coin it was just paid, so each payment must spend that coin,
    // co-signed with the key derived for its lock (filed with the payment within a bank,
    // recognised from central's answer across banks).
    [onP, onQ, onR] = await Promise.all([
      wallet('onward-p', bankA).openAtTier(3), wallet('onward-q', bankA).openAtTier(3), wallet('onward-r', bankB).openAtTier(3),
    ]);
    const [p, q, r] = [onP, onQ, onR];
    await p.fund('100');
    const pq = await p.paid({ account: q.id }, Y('100'));
    expect((await q.coins()).coins.map((c) => c.pos)).toEqual([(pq.result as unknown as { outputs: { pos: string }[] }).outputs[0]!.pos]);
    await q.paid({ account: r.id }, Y('100'));
    await waitBalance(r, Y('100'));
    await r.paid({ account: p.id }, Y('100'));
    await waitBalance(p, Y('100'));
    expect([await q.balance(), await r.balance()]).toEqual([0n, 0n]);
  });

  it('reconciles every bank against central; central audits; each bank\'s totals add up', async () => {
    const [ra, rb, audit] = await Promise.all([net.reconcileCli('bank-a'), net.reconcileCli('bank-b'), net.audit()]);
    for (const r of [ra, rb]) {
      expect(r.json.problems).toEqual([]);
      expect(r.json.ok).toBe(true);
      expect(r.code).toBe(0);
    }
    expect(audit.ok).toBe(true);
    expect(audit.problems).toEqual([]);
    const viaApi = await net.operator().get<{ ok: boolean }>('/v1/audit');
    expect(viaApi.body.ok).toBe(true);

    const customers: [SignedClient, Wallet[]][] = [[staffA, [a1, a2, a3, a4, c3, d4, e2, onP, onQ]], [staffB, [m, b4, b3s, b1, onR]]];
    // Every coin either bank holds, for itself or its customers, is all that is unspent at
    // central (once both banks have caught up with the event stream).
    await until('banks caught up with central', async () => {
      const supply = await fetch(`${net.central.url}/v1/supply`).then((r) => r.json() as Promise<{ unspent_fen: string }>);
      let held = 0n;
      for (const [c] of customers) {
        const t = (await c.get<{ customers_wallet_fen: string; holdings_fen: string }>('/v1/bank/totals')).body;
        held += BigInt(t.customers_wallet_fen) + BigInt(t.holdings_fen);
      }
      return held === BigInt(supply.unspent_fen);
    });
    for (const [c, ws] of customers) {
      const t = (await c.get<{ customers_wallet_fen: string; customers_deposit_fen: string; accounts: number }>('/v1/bank/totals')).body;
      const accounts = await Promise.all(ws.map((w) => w.get()));
      expect(t.accounts).toBe(ws.length);
      expect(BigInt(t.customers_wallet_fen)).toBe(accounts.reduce((s, a) => s + BigInt(a.balance_fen), 0n));
      expect(BigInt(t.customers_deposit_fen)).toBe(accounts.reduce((s, a) => s + BigInt(a.deposit_fen), 0n));
      // No balance past its tier's cap.
      for (const a of accounts) if (a.limits.balance_cap_fen !== null) expect(BigInt(a.balance_fen)).toBeLessThanOrEqual(BigInt(a.limits.balance_cap_fen));
    }
    // Neither bank reported a failure handling central's event stream.
    for (const b of [bankA, bankB]) expect(b.stderrTail.join('')).not.toMatch(/failed/);
  });
});
