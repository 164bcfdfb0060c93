// End to end: the bank's contract services with central and a bank as real processes
// (test/helpers/network_process.ts). Wallets sign over HTTP as a phone would. Each service runs
// to its end: a subsidy issued to several recipients, spent at a certified transit merchant,
// refused at a restaurant, its remainder back at the issuer after expiry; prepaid lessons
// released unit by unit (by the payer and by its delegate key), refunded after the deadline,
// and refunded early once the school is frozen; escrow released by buyer and seller, and by the
// arbiter each way; a hash-locked payment claimed with its preimage (a wrong one refused) and
// another refunded after its timeout; scheduled one-off and recurring payments across a bank
// SIGKILL and restart (every slot once, none lost), and a slot refused by the payer's tier
// limit; and the command lines for both. Expiries are seconds away; the bank's scheduler ticks
// every 200 ms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseYuan } from '../protocol/amount.js';
import { signHash } from '../protocol/sig.js';
import { newKeyPair } from '../platform/key_file.js';
import { SignedClient, type SignedResponse } from '../platform/signed_client.js';
import { BANK_CLI, type BankProcess, NetworkProcess } from './helpers/network_process.js';
import { WalletClient as Wallet, freshPhone, idemKey as key } from './helpers/wallet_client.js';
import { WalletUser, runNode, tellerDeposit } from './helpers/wallet_fixture.js';

const NETWORK = 'cbdc-contracts';
const Y = (yuan: string): bigint => parseYuan(yuan);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Body = Record<string, any>;

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let root: string;
let net: NetworkProcess;
let bank: BankProcess;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'cbdc-contracts-e2e-'));
  net = new NetworkProcess({ root, network: NETWORK, banks: ['bank-a'], bankArgs: ['--scheduler-tick-ms', '200'] });
  await net.start();
  bank = net.bank('bank-a');
  await until('bank-a holdings', async () => {
    const t = await bank.client('staff').get<Body>('/v1/bank/totals');
    return t.status === 200 && BigInt(t.body.holdings_fen) >= Y('1000000');
  });
}, 60_000);

afterAll(async () => {
  await net?.killAll();
  if (root) await rm(root, { recursive: true, force: true });
});

const open = async (name: string, tier: number, mcc?: string) => new Wallet(name, bank, NETWORK).openAtTier(tier, mcc);

/** Balances of these wallets, the bank's totals and central's supply: what a refusal must not change. */
async function digest(ws: Wallet[]): Promise<string> {
  const balances = await Promise.all(ws.map((w) => w.balance()));
  const totals = (await bank.client('staff').get<Body>('/v1/bank/totals')).body;
  const supply = await (await fetch(`${net.central.url}/v1/supply`)).json();
  return JSON.stringify([balances.map(String), totals, supply]);
}

async function refused(ws: Wallet[], status: number, code: string, act: () => Promise<SignedResponse<Body>>): Promise<void> {
  const before = await digest(ws);
  const r = await act();
  expect({ status: r.status, code: r.body?.code }, JSON.stringify(r.body)).toEqual({ status, code });
  expect(await digest(ws)).toBe(before);
}

describe('purpose-bound subsidy', () => {
  it('is issued to several recipients, spent at a transit merchant, refused at a restaurant, and reverts to the issuer after expiry', async () => {
    const [city, r1, r2, r3, transit, restaurant] = await Promise.all([
      open('city', 2), open('r1', 4), open('r2', 4), open('r3', 4), open('transit', 4, '4111'), open('restaurant', 4, '5812'),
    ]);
    await city.fund('1000');
    const expires = Date.now() + 7_000;
    const cid = await city.contract('subsidy', {
      recipients: [r1, r2, r3].map((r) => ({ account: r.id, amount_fen: Y('20').toString() })), mccs: ['4111', '4112'], expires_at_ms: expires,
    });
    expect(await city.balance()).toBe(Y('940'));
    const seen = await r2.view(cid);
    expect(seen.contract.pots.map((p: Body) => p.held_fen)).toEqual([Y('20'), Y('20'), Y('20')].map(String));

    const spent = await r1.settle(cid, 'spend', { merchant: transit.id, amount_fen: Y('5').toString() });
    expect(spent.contract.pots[0].held_fen).toBe(Y('15').toString());
    expect(await transit.balance()).toBe(Y('5'));

    await refused([city, r2, transit, restaurant], 403, 'CBDC_ERR_LOCK_PURPOSE', () => r2.act(cid, 'spend', { merchant: restaurant.id, amount_fen: Y('5').toString() }));
    await refused([city, r2], 404, 'CBDC_ERR_CONTRACT_UNKNOWN', () => transit.act(cid, 'spend', { merchant: transit.id, amount_fen: '100' }));
    await refused([city, r3, transit], 409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => r3.act(cid, 'spend', { merchant: transit.id, amount_fen: Y('21').toString() }));
    // A spend proposed before the expiry and signed after it cannot settle.
    const late = await r3.act(cid, 'spend', { merchant: transit.id, amount_fen: Y('1').toString() });
    expect(late.status, JSON.stringify(late.body)).toBe(200);

    const done = await until('the subsidy to revert', async () => {
      const v = await city.view(cid);
      return v.contract.status === 'expired' ? v : null;
    });
    expect(done.contract.state).toEqual({ spent_fen: Y('5').toString(), reverted_fen: Y('55').toString() });
    expect(done.contract.held_fen).toBe('0');
    expect(await city.balance()).toBe(Y('995'));
    expect(await transit.balance()).toBe(Y('5'));
    await refused([r2, transit], 403, 'CBDC_ERR_LOCK_TIMELOCK', () => r2.act(cid, 'spend', { merchant: transit.id, amount_fen: '100' }));
    await refused([r3, transit], 403, 'CBDC_ERR_LOCK_TIMELOCK', () => r3.signSpend(cid, late.body.spend));
  });
});

describe('prepaid funds', () => {
  it('are released lesson by lesson by the payer and its delegate, then refunded after the deadline', async () => {
    const [parent, school] = await Promise.all([open('parent', 3), open('school', 4, '8211')]);
    await parent.fund('500');
    const delegate = newKeyPair();
    const deadline = Date.now() + 8_000;
    const cid = await parent.contract('prepaid', { merchant: school.id, unit_fen: Y('10').toString(), units: 5, deadline_ms: deadline, delegate_key: delegate.publicKey.toString('hex') });
    expect(await parent.balance()).toBe(Y('450'));

    await parent.settle(cid, 'release', { units: 1 });
    expect(await school.balance()).toBe(Y('10'));

    // The delegate (a key, not an account: the school's attendance system the parent trusts) confirms two lessons.
    const d = new SignedClient(bank.url, NETWORK, `key:${delegate.publicKey.toString('hex')}`, delegate.secretKey);
    const p = await d.post<Body>(`/v1/contracts/${cid}/release`, { units: 2 });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    const s = await d.post<Body>(`/v1/contracts/${cid}/spends/${p.body.spend.id}/sign`, { sig: signHash(delegate.secretKey, Buffer.from(p.body.spend.txid, 'hex')).toString('hex') });
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(s.body.contract.state).toMatchObject({ released_units: 3, released_fen: Y('30').toString() });
    expect(await school.balance()).toBe(Y('30'));

    await refused([parent, school], 409, 'CBDC_ERR_CONTRACT_STATE', () => parent.act(cid, 'refund'));
    await refused([parent, school], 403, 'CBDC_ERR_FORBIDDEN', () => school.act(cid, 'release', { units: 1 }));
    await refused([parent, school], 409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => parent.act(cid, 'release', { units: 3 }));

    const v = await until('the refund after the deadline', async () => {
      const x = await parent.view(cid);
      return x.contract.status === 'refunded' ? x : null;
    });
    expect(v.contract.state).toEqual({ released_units: 3, released_fen: Y('30').toString(), refunded_fen: Y('20').toString() });
    expect(await parent.balance()).toBe(Y('470'));
    expect(await school.balance()).toBe(Y('30'));
    await refused([parent, school], 403, 'CBDC_ERR_LOCK_TIMELOCK', () => parent.act(cid, 'release', { units: 1 }));
  });

  it('are refunded at the payer’s request once the school is frozen', async () => {
    const [parent, school] = await Promise.all([open('parent2', 3), open('school2', 4, '8211')]);
    await parent.fund('100');
    const cid = await parent.contract('prepaid', { merchant: school.id, unit_fen: Y('10').toString(), units: 3, deadline_ms: Date.now() + 600_000 });
    await parent.settle(cid, 'release', { units: 1 });
    expect((await bank.client('staff').post<Body>(`/v1/accounts/${school.id}/freeze`, {})).status).toBe(200);
    await refused([parent, school], 403, 'CBDC_ERR_ACCOUNT_FROZEN', () => parent.act(cid, 'release', { units: 1 }));
    const r = await parent.settle(cid, 'refund');
    expect(r.contract.status).toBe('refunded');
    expect(r.contract.state).toEqual({ released_units: 1, released_fen: Y('10').toString(), refunded_fen: Y('20').toString() });
    expect(await parent.balance()).toBe(Y('90'));
    expect(await school.balance()).toBe(Y('10'));
  });
});

describe('escrow with an arbiter (2 of 3)', () => {
  it('releases on buyer and seller, and on the arbiter’s decision either way', async () => {
    const [buyer, seller, arbiter] = await Promise.all([open('buyer', 3), open('seller', 3), open('arbiter', 3)]);
    await buyer.fund('300');
    const make = () => buyer.contract('escrow', { seller: seller.id, arbiter: arbiter.id, amount_fen: Y('50').toString() });

    // Buyer and seller agree: released to the seller.
    const e1 = await make();
    const p1 = await buyer.act(e1, 'resolve', { outcome: 'release' });
    expect(p1.status, JSON.stringify(p1.body)).toBe(200);
    const half = await buyer.signSpend(e1, p1.body.spend);
    expect(half.body.spend.status).toBe('awaiting_signatures');
    await refused([buyer, seller], 403, 'CBDC_ERR_BAD_SIGNATURE', () => seller.client.post(`/v1/contracts/${e1}/spends/${p1.body.spend.id}/sign`, { sig: buyer.sig(p1.body.spend.txid) }));
    const done1 = await seller.signSpend(e1, p1.body.spend);
    expect(done1.body.contract).toMatchObject({ status: 'released' });
    expect(await seller.balance()).toBe(Y('50'));

    // The arbiter decides for the seller (the seller signs to collect).
    const e2 = await make();
    const p2 = await arbiter.act(e2, 'resolve', { outcome: 'release' });
    await arbiter.signSpend(e2, p2.body.spend);
    const done2 = await seller.signSpend(e2, p2.body.spend);
    expect(done2.body.contract).toMatchObject({ status: 'released', state: { outcome: 'release', decided_by: [arbiter.id, seller.id] } });
    expect(await seller.balance()).toBe(Y('100'));

    // The arbiter decides for the buyer: refunded; the seller's competing proposal can no longer settle.
    const e3 = await make();
    const sellerWants = await seller.act(e3, 'resolve', { outcome: 'release' });
    await seller.signSpend(e3, sellerWants.body.spend);
    const p3 = await arbiter.act(e3, 'resolve', { outcome: 'refund' });
    await arbiter.signSpend(e3, p3.body.spend);
    const done3 = await buyer.signSpend(e3, p3.body.spend);
    expect(done3.body.contract).toMatchObject({ status: 'refunded', state: { outcome: 'refund', decided_by: [arbiter.id, buyer.id] } });
    expect(await buyer.balance()).toBe(Y('300') - Y('150') + Y('50'));
    await refused([buyer, seller], 409, 'CBDC_ERR_CONTRACT_STATE', () => buyer.signSpend(e3, sellerWants.body.spend));
    expect(await seller.balance()).toBe(Y('100'));
  });
});

describe('hash-locked payment', () => {
  it('is claimed with the preimage (a wrong one refused), and refunded after its timeout', async () => {
    const [payer, payee] = await Promise.all([open('dvp-payer', 3), open('dvp-payee', 3)]);
    await payer.fund('200');
    const preimage = randomBytes(32);
    const hash = createHash('sha256').update(preimage).digest('hex');
    const h1 = await payer.contract('hashlock', { payee: payee.id, amount_fen: Y('40').toString(), hash, timeout_ms: Date.now() + 600_000 });
    await refused([payer, payee], 403, 'CBDC_ERR_LOCK_PREIMAGE', () => payee.act(h1, 'claim', { preimage: randomBytes(32).toString('hex') }));
    await refused([payer, payee], 403, 'CBDC_ERR_LOCK_TIMELOCK', () => payer.act(h1, 'refund'));
    const claimed = await payee.settle(h1, 'claim', { preimage: preimage.toString('hex') });
    expect(claimed.contract).toMatchObject({ status: 'claimed', state: { preimage: preimage.toString('hex') } });
    expect(await payee.balance()).toBe(Y('40'));

    const timeout = Date.now() + 4_000;
    const h2 = await payer.contract('hashlock', { payee: payee.id, amount_fen: Y('30').toString(), hash, timeout_ms: timeout });
    expect(await payer.balance()).toBe(Y('130'));
    await until('the refund after the timeout', async () => (await payer.view(h2)).contract.status === 'refunded');
    expect(await payer.balance()).toBe(Y('160'));
    await refused([payer, payee], 403, 'CBDC_ERR_LOCK_TIMELOCK', () => payee.act(h2, 'claim', { preimage: preimage.toString('hex') }));
  });
});

describe('scheduled and recurring payments', () => {
  it('run every slot once across a bank SIGKILL and restart, and refuse a slot over the tier limit', async () => {
    const [payer, small, landlord] = await Promise.all([open('tenant', 3), open('small', 4), open('landlord', 3)]);
    await payer.fund('500');
    await small.fund('3000');
    const schedule = async (w: Wallet, b: Body): Promise<string> => {
      const r = await w.client.post<Body>(`/v1/accounts/${w.id}/schedules`, { idempotency_key: key('sched'), payee: { account: landlord.id }, ...b });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await w.signPayment(r.body.payment);
      return r.body.schedule.id;
    };
    const t0 = Date.now();
    const once = await schedule(payer, { amount_fen: Y('7').toString(), first_at_ms: t0 + 4_000, interval_ms: 0, count: 1 });
    const rent = await schedule(payer, { amount_fen: Y('11').toString(), first_at_ms: t0 + 2_000, interval_ms: 1_000, count: 5 });
    const big = await schedule(small, { amount_fen: Y('2500').toString(), first_at_ms: t0 + 1_000, interval_ms: 0, count: 1 });
    expect(await payer.balance()).toBe(Y('500') - Y('7') - Y('55'));
    const slots = async (w: Wallet, id: string) => (await w.client.get<Body>(`/v1/accounts/${w.id}/schedules/${id}`)).body;

    await until('the first rent slot', async () => (await slots(payer, rent)).slots.some((s: Body) => s.status === 'settled'));
    await bank.kill('SIGKILL');
    await sleep(2_500); // rent slots, and the one-off, come due while the bank is down
    await bank.start();

    const rentDone = await until('every rent slot', async () => {
      const v = await slots(payer, rent);
      return v.schedule.status === 'finished' && v.slots.every((s: Body) => s.status === 'settled') ? v : null;
    }, 30_000);
    expect(rentDone.slots.map((s: Body) => s.slot)).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(rentDone.slots.map((s: Body) => s.txid)).size).toBe(5);
    const onceDone = await until('the one-off', async () => {
      const v = await slots(payer, once);
      return v.schedule.status === 'finished' && v.slots[0]?.status === 'settled' ? v : null;
    });
    expect(onceDone.slots).toHaveLength(1);
    const bigDone = await until('the refused slot', async () => {
      const v = await slots(small, big);
      return v.slots[0]?.status === 'refused' && v.schedule.pot_fen === '0' ? v : null;
    });
    expect(bigDone.slots[0].code).toBe('CBDC_ERR_LIMIT_SINGLE');

    // Paid exactly once per slot: the landlord's incoming history and every balance.
    const h = (await landlord.client.get<Body>(`/v1/accounts/${landlord.id}/history?direction=in&limit=500`)).body.entries as Body[];
    expect(h.filter((e) => e.amount_fen === Y('11').toString())).toHaveLength(5);
    expect(h.filter((e) => e.amount_fen === Y('7').toString())).toHaveLength(1);
    expect(await landlord.balance()).toBe(Y('62'));
    expect(await payer.balance()).toBe(Y('438'));
    expect(await small.balance()).toBe(Y('3000'));

    // Both tiers agree: the bank reconciles against central, central's supply adds up.
    const rec = await net.reconcileCli('bank-a');
    expect(rec.json.problems).toEqual([]);
    expect(rec.json.ok).toBe(true);
    const audit = await net.audit();
    expect(audit.ok).toBe(true);
  }, 90_000);
});

describe('the command lines', () => {
  it('cbdc-wallet schedules a payment and shows it run; cbdc-bank lists schedules and contracts', async () => {
    const landlord = await open('cli-landlord', 3);
    const u = new WalletUser('cli-tenant', root, 'correct horse battery');
    await u.ok(['init', '--scrypt-cost', '10']);
    const [opened] = await u.ok(['open-account', '--bank', bank.url, '--tier', '3', '--phone', freshPhone(), '--name', 'Cli Tenant', '--id-number', 'ID0123456789']);
    const id = opened!.account.id as string;
    expect((await tellerDeposit(bank, id, '50.00', root)).code).toBe(0);
    await u.ok(['exchange', 'to-wallet', '50']);
    const [made] = await u.ok(['schedule', 'create', landlord.id, '2.50', '--at', '+1', '--every', '1', '--count', '2']);
    expect(made!.funding.status).toBe('settled');
    const sid = made!.schedule.id as string;
    await until('both slots', async () => (await landlord.balance()) === Y('5'));
    const [shown] = await u.ok(['schedule', 'show', sid]);
    expect(shown!.schedule.status).toBe('finished');
    expect(shown!.slots.map((x: Body) => x.status)).toEqual(['settled', 'settled']);
    const bad = await u.run(['schedule', 'create', landlord.id, '2.50', '--at', '+1', '--count', '0', '--json']);
    expect(bad.code).toBe(2);

    const listed = await runNode(BANK_CLI, ['schedules', '--url', bank.url, '--data-dir', bank.o.dataDir, '--network', NETWORK, '--json'], { home: root });
    expect(listed.code).toBe(0);
    expect(listed.json[0]!.schedules.map((s: Body) => s.id)).toContain(sid);
    const contracts = await runNode(BANK_CLI, ['contracts', '--url', bank.url, '--data-dir', bank.o.dataDir, '--network', NETWORK, '--kind', 'escrow', '--json'], { home: root });
    expect(contracts.code).toBe(0);
    expect(contracts.json[0]!.contracts).toHaveLength(3);
    expect(contracts.json[0]!.contracts.map((c: Body) => c.status).sort()).toEqual(['refunded', 'released', 'released']);
  }, 60_000);
});
