// The bank's offline side against real servers (in-process central and banks, LMDB in temp
// dirs), with devices simulated at the voucher level (test/helpers/offline_device_sim.ts):
// provisioning and loads through the reserve, settlement that happens once however often
// payer and payee upload, unloads paid out online once, each bad upload refused with its
// code and nothing changed, and a cloned device caught, revoked and its loss bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ErrorCode, ERRORS } from '../../protocol/errors.js';
import { expectError, type HttpResponse } from '../../test/helpers/http_fixture.js';
import {
  type TestBank, type TestNetwork, type Wallet, account, fundHoldings, fundWallet, idemKey, openWallet, quiesce, signPayment, snapshot, startNetwork,
} from '../../test/helpers/bank_fixture.js';
import { SimDevice, tap } from '../../test/helpers/offline_device_sim.js';
import { decodeRevocationList, isRevoked } from '../../offline/revocation.js';
import { decodeVoucher, encodeVoucher, signVoucher } from '../../offline/voucher.js';

const yuan = (n: number): bigint => BigInt(n) * 100n;

let net: TestNetwork;
let A: TestBank;
let B: TestBank;
const wallets: Wallet[] = [];
let alice: Wallet;
let bob: Wallet;
let carol: Wallet;
let dora: Wallet; // bank-b
const sims: { w: Wallet; d: SimDevice }[] = [];

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }, { id: 'bank-b' }]);
  A = net.bank('bank-a');
  B = net.bank('bank-b');
  await Promise.all([fundHoldings(net, A), fundHoldings(net, B)]);
  [alice, bob, carol] = [await openWallet(A), await openWallet(A), await openWallet(A)];
  dora = await openWallet(B);
  wallets.push(alice, bob, carol, dora);
  await fundWallet(alice, yuan(5_000));
  await fundWallet(bob, yuan(1_000));
  await fundWallet(dora, yuan(1_000));
}, 60_000);

afterAll(async () => {
  await net?.close();
});

async function provision(w: Wallet, caps: Record<string, string> = {}): Promise<SimDevice> {
  const d = new SimDevice();
  const r = await w.client.post(`/v1/accounts/${w.id}/offline/devices`, { device_public_key: d.pub.toString('hex'), ...caps });
  expect(r.status, r.text).toBe(201);
  d.install(r.body.certificate);
  sims.push({ w, d });
  return d;
}

async function sync(w: Wallet, d: SimDevice): Promise<HttpResponse> {
  const r = await w.client.post('/v1/offline/uploads', d.uploadBody());
  expect(r.status, r.text).toBe(200);
  d.synced();
  return r;
}

async function load(w: Wallet, d: SimDevice, amountFen: bigint): Promise<void> {
  const p = await w.client.post(`/v1/accounts/${w.id}/offline/devices/${d.serial}/loads`, { amount_fen: amountFen.toString(), idempotency_key: idemKey() });
  expect(p.status, p.text).toBe(200);
  const s = await signPayment(w, p.body.payment);
  expect(s.status, s.text).toBe(200);
  expect(s.body.status).toBe('settled');
  const a = await w.client.post(`/v1/accounts/${w.id}/offline/devices/${d.serial}/loads/${p.body.payment.id}/authorisation`, { device_counter: d.counter.toString() });
  expect(a.status, a.text).toBe(200);
  d.apply(a.body.authorisation);
  await sync(w, d);
}

async function device(w: Wallet, d: SimDevice): Promise<Record<string, string>> {
  const r = await A.staff.get(`/v1/bank/offline/devices/${d.serial}`);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

async function check(b: TestBank = A): Promise<{ ok: boolean; reserve_fen: string; liabilities_fen: string; loss_fen: string; max_device_loss_fen: string; problems: string[] }> {
  const r = await b.staff.get('/v1/bank/offline/check');
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** Everything a refused upload must leave alone: accounts, histories, totals, supply, every device, the evidence, the check. */
async function digest(): Promise<unknown> {
  const devices: Record<string, unknown> = {};
  for (const s of sims) devices[`${s.d.cert!.bank}/${s.d.serial}`] = (await (s.w.bank === A ? A : B).staff.get(`/v1/bank/offline/devices/${s.d.serial}`)).body;
  const evidence = (await A.staff.get('/v1/bank/offline/evidence')).body;
  const revocations = (await A.staff.get('/v1/offline/revocations')).body.sequence;
  return { snap: await snapshot(net, wallets), devices, evidence, revocations, check: await check() };
}

async function refused(status: number, code: ErrorCode, act: () => Promise<HttpResponse>): Promise<void> {
  expect(ERRORS[code][0]).toBe(status);
  const before = await digest();
  const r = await act();
  expectError(r, status, code);
  expect(await digest()).toEqual(before);
}

describe('offline: provisioning, settlement, unloads', () => {
  let da: SimDevice;
  let db: SimDevice;

  it('provisions devices with bank-signed certificates and loads them from the wallet into the reserve', async () => {
    da = await provision(alice);
    db = await provision(bob);
    expect(da.cert!.bank).toBe('bank-a');
    expect(da.cert!.balanceCapFen).toBe(100_000n);
    const before = BigInt((await account(alice)).balance_fen);
    await load(alice, da, yuan(300));
    expect(BigInt((await account(alice)).balance_fen)).toBe(before - yuan(300));
    expect(da.balance).toBe(yuan(300));
    const dev = await device(alice, da);
    expect(dev).toMatchObject({ loaded_fen: '30000', held_fen: '30000', synced_counter: '1', synced_balance_fen: '30000', status: 'active' });
    const c = await check();
    expect(c).toMatchObject({ ok: true, reserve_fen: '30000', liabilities_fen: '30000' });
  });

  it('settles a voucher once, however many times payer and payee upload it', async () => {
    const hex = tap(da, db, yuan(120));
    const payerUpload = da.uploadBody();
    const payeeUpload = db.uploadBody();
    // Payee first, then payer, then each again.
    const r1 = await bob.client.post('/v1/offline/uploads', payeeUpload);
    expect(r1.status, r1.text).toBe(200);
    expect(r1.body.results.map((x: { status: string }) => x.status)).toEqual(['accepted', 'accepted']);
    const r2 = await alice.client.post('/v1/offline/uploads', payerUpload);
    expect(r2.status, r2.text).toBe(200);
    // The payer's own log step: the voucher is already held (settled once), the log moves on.
    expect(r2.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate']);
    expect(r2.body.device).toMatchObject({ synced_counter: '2' });
    const r3 = await bob.client.post('/v1/offline/uploads', payeeUpload);
    const r4 = await alice.client.post('/v1/offline/uploads', payerUpload);
    expect(r3.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate', 'duplicate']);
    expect(r4.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate']);
    // And the payee's payer voucher alone, uploaded by a third party.
    const r5 = await carol.client.post('/v1/offline/uploads', { log: [], received: [{ certificate: da.certHex, voucher: hex }] });
    expect(r5.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate']);
    da.synced();
    db.synced();
    expect(await device(alice, da)).toMatchObject({ paid_fen: '12000', held_fen: '18000', synced_counter: '2' });
    expect(await device(bob, db)).toMatchObject({ received_fen: '12000', held_fen: '12000', synced_counter: '1' });
    expect(r4.body.sync_authorisation).toMatch(/^[0-9a-f]+$/);
    expect(await check()).toMatchObject({ ok: true, reserve_fen: '30000', liabilities_fen: '30000' });
  });

  it('pays an unload out to the online wallet once', async () => {
    const before = BigInt((await account(bob)).balance_fen);
    const key = idemKey();
    const a = await bob.client.post(`/v1/accounts/${bob.id}/offline/devices/${db.serial}/unloads`, { amount_fen: yuan(100).toString(), device_counter: db.counter.toString(), idempotency_key: key });
    expect(a.status, a.text).toBe(200);
    const again = await bob.client.post(`/v1/accounts/${bob.id}/offline/devices/${db.serial}/unloads`, { amount_fen: yuan(100).toString(), device_counter: db.counter.toString(), idempotency_key: key });
    expect(again.body.authorisation).toBe(a.body.authorisation);
    db.apply(a.body.authorisation);
    const upload = db.uploadBody();
    await sync(bob, db);
    await quiesce(net);
    expect(BigInt((await account(bob)).balance_fen)).toBe(before + yuan(100));
    const r = await bob.client.post('/v1/offline/uploads', upload);
    expect(r.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate']);
    await quiesce(net);
    expect(BigInt((await account(bob)).balance_fen)).toBe(before + yuan(100));
    expect(await device(bob, db)).toMatchObject({ unloaded_fen: '10000', held_fen: '2000' });
    expect(await check()).toMatchObject({ ok: true, reserve_fen: '20000', liabilities_fen: '20000' });
  });

  it('refuses bad uploads and requests with their codes, changing nothing', async () => {
    // A certificate from another bank: bank-a settles only its own devices.
    const dd = await provision(dora);
    // Nothing is in flight from here on: each digest reads a settled state.
    await quiesce(net);
    await refused(403, 'CBDC_ERR_OFFLINE_UNTRUSTED', () => alice.client.post('/v1/offline/uploads', { certificate: dd.certHex, log: [], received: [] }));
    // A forged certificate (right shape, wrong signature).
    const forged = da.certHex.slice(0, -8) + (da.certHex.endsWith('00000000') ? '11111111' : '00000000');
    await refused(403, 'CBDC_ERR_OFFLINE_SIGNATURE', () => alice.client.post('/v1/offline/uploads', { certificate: forged, log: [], received: [] }));
    // Over the per-payment cap: a tampered card signed it, the bank refuses it.
    const big = da.clone().pay(db.ref, yuan(600), true);
    await refused(409, 'CBDC_ERR_OFFLINE_CAP', () => bob.client.post('/v1/offline/uploads', { log: [], received: [{ certificate: da.certHex, voucher: big }] }));
    // A voucher signed by another key.
    const v = decodeVoucher(Buffer.from(da.clone().pay(db.ref, yuan(1)), 'hex'));
    const wrong = encodeVoucher(signVoucher(v, new SimDevice().sk)).toString('hex');
    await refused(403, 'CBDC_ERR_OFFLINE_SIGNATURE', () => bob.client.post('/v1/offline/uploads', { log: [], received: [{ certificate: da.certHex, voucher: wrong }] }));
    // Garbage.
    await refused(400, 'CBDC_ERR_OFFLINE_FORMAT', () => bob.client.post('/v1/offline/uploads', { log: [], received: [{ certificate: da.certHex, voucher: '00ff' }] }));
    await refused(400, 'CBDC_ERR_OFFLINE_FORMAT', () => bob.client.post('/v1/offline/uploads', { log: [], received: [{ certificate: da.certHex, voucher: 'abc' }] }));
    // A log that skips steps.
    const ahead = da.clone();
    ahead.pay(db.ref, yuan(1));
    const skipped = ahead.uploadBody();
    ahead.log = [];
    ahead.pay(db.ref, yuan(1));
    await refused(409, 'CBDC_ERR_OFFLINE_COUNTER', () => alice.client.post('/v1/offline/uploads', ahead.uploadBody()));
    void skipped;
    // Counter rollback: the device says a counter below what the bank synced.
    await refused(409, 'CBDC_ERR_OFFLINE_COUNTER', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${da.serial}/unloads`, { amount_fen: '100', device_counter: (da.counter - 1n).toString(), idempotency_key: idemKey() }));
    // Unload over what the device holds; a load over the balance cap; someone else's device.
    await refused(409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${da.serial}/unloads`, { amount_fen: yuan(181).toString(), device_counter: da.counter.toString(), idempotency_key: idemKey() }));
    await refused(409, 'CBDC_ERR_OFFLINE_CAP', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${da.serial}/loads`, { amount_fen: yuan(900).toString(), idempotency_key: idemKey() }));
    await refused(404, 'CBDC_ERR_OFFLINE_DEVICE_UNKNOWN', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${db.serial}/loads`, { amount_fen: '100', idempotency_key: idemKey() }));
    // A load authorisation before its payment settled.
    await refused(409, 'CBDC_ERR_OFFLINE_LOAD_STATE', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${da.serial}/loads/pay-0123456789abcdef/authorisation`, { device_counter: da.counter.toString() }));
    // Amount as a JSON number: no coercion.
    await refused(400, 'CBDC_ERR_AMOUNT_FORMAT', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${da.serial}/unloads`, { amount_fen: 100, device_counter: '2', idempotency_key: idemKey() }));
  });

  it('catches a cloned device spending twice, keeps the evidence, revokes it, and bounds the loss by its caps', async () => {
    const dc = await provision(carol);
    const victim = await provision(alice, { balance_cap_fen: yuan(200).toString(), payment_cap_fen: yuan(200).toString() });
    await load(alice, victim, yuan(200));
    const clone = victim.clone();
    // The original pays bob's device, the clone pays carol's: same counter, both 200 yuan.
    tap(victim, db, yuan(200));
    tap(clone, dc, yuan(200));
    await sync(bob, db);
    const r = await carol.client.post('/v1/offline/uploads', dc.uploadBody());
    expect(r.status, r.text).toBe(200);
    dc.synced();
    expect(r.body.findings.map((f: { kind: string }) => f.kind)).toContain('counter_reuse');
    expect(r.body.revoked).toEqual([victim.serial]);
    // The revocation list names it, signed, and it reached carol's device in this answer.
    const list = decodeRevocationList(Buffer.from(r.body.revocation_list, 'hex'));
    expect(isRevoked(list, victim.cert!.serial)).toBe(true);
    // Evidence: both device-signed vouchers at the reused counter.
    const ev = (await A.staff.get('/v1/bank/offline/evidence')).body.evidence.filter((e: { serial: string }) => e.serial === victim.serial);
    expect(ev.length).toBeGreaterThan(0);
    expect(ev[0].kind).toBe('counter_reuse');
    expect(ev[0].vouchers.length).toBe(2);
    const counters = ev[0].vouchers.map((h: string) => decodeVoucher(Buffer.from(h, 'hex')).counter);
    expect(counters[0]).toBe(counters[1]);
    // The loss is one payment, within the caps; the bank covered it from its holdings.
    const c = await check();
    expect(c.ok, c.problems.join('; ')).toBe(true);
    expect(BigInt(c.loss_fen)).toBe(yuan(200));
    expect(BigInt(c.max_device_loss_fen)).toBeLessThanOrEqual(yuan(200));
    // The revoked device is refused from now on: its own sync, and a voucher of it uploaded alone.
    await refused(403, 'CBDC_ERR_OFFLINE_REVOKED', () => alice.client.post('/v1/offline/uploads', victim.uploadBody()));
    const late = clone.pay(db.ref, yuan(1), true);
    await refused(403, 'CBDC_ERR_OFFLINE_REVOKED', () => bob.client.post('/v1/offline/uploads', { log: [], received: [{ certificate: victim.certHex, voucher: late }] }));
    await refused(403, 'CBDC_ERR_OFFLINE_REVOKED', () => alice.client.post(`/v1/accounts/${alice.id}/offline/devices/${victim.serial}/loads`, { amount_fen: '100', idempotency_key: idemKey() }));
  });
});
