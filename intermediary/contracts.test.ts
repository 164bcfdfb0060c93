// The lock-based contract services against a real in-process network (central + one bank):
// every malformed or refused request has its code and changes nothing (balances, histories,
// the bank's totals, central's supply compared before and after); creation and proposals are
// idempotent; only the signers a proposal names can sign it, with their own key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { signHashNative } from '../protocol/sig.js';
import type { ErrorCode } from '../protocol/errors.js';
import { expectError, type HttpResponse } from '../test/helpers/http_fixture.js';
import {
  type TestBank, type TestNetwork, type Wallet, account, fundHoldings, fundWallet, idemKey, openWallet, quiesce, signPayment, snapshot, startNetwork,
} from '../test/helpers/bank_fixture.js';

const yuan = (n: number): string => (BigInt(n) * 100n).toString();

let net: TestNetwork;
let A: TestBank;
let buyer: Wallet;
let seller: Wallet;
let arbiter: Wallet;
let transit: Wallet;
const wallets: Wallet[] = [];

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }]);
  A = net.bank('bank-a');
  await fundHoldings(net, A);
  [buyer, seller, arbiter, transit] = await Promise.all([openWallet(A), openWallet(A), openWallet(A), openWallet(A, { tier: 4, kind: 'merchant', mcc: '4111' })]);
  wallets.push(buyer, seller, arbiter, transit);
  // Two coins: a funding payment left unsigned (the idempotency test) reserves one until it lapses.
  await fundWallet(buyer, BigInt(yuan(600)));
  await fundWallet(buyer, BigInt(yuan(400)));
}, 60_000);

afterAll(async () => {
  await net?.close();
});

async function refused(status: number, code: ErrorCode, act: () => Promise<HttpResponse>): Promise<void> {
  await quiesce(net);
  const before = await snapshot(net, wallets);
  const r = await act();
  expectError(r, status, code);
  expect(await snapshot(net, wallets)).toEqual(before);
}

const create = (kind: string, body: Record<string, unknown>, key = idemKey()) => buyer.client.post(`/v1/accounts/${buyer.id}/contracts/${kind}`, { idempotency_key: key, ...body });
const sig = (w: Wallet, txid: string) => signHashNative(w.key.sk, Buffer.from(txid, 'hex')).toString('hex');

describe('creating a contract', () => {
  const later = () => Date.now() + 600_000;
  it.each([
    ['prepaid: zero units', 'prepaid', () => ({ merchant: transit.id, unit_fen: '100', units: 0, deadline_ms: later() }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['prepaid: a deadline in the past', 'prepaid', () => ({ merchant: transit.id, unit_fen: '100', units: 1, deadline_ms: Date.now() - 1 }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['prepaid: a delegate key that is no point', 'prepaid', () => ({ merchant: transit.id, unit_fen: '100', units: 1, deadline_ms: later(), delegate_key: '02' + 'ff'.repeat(32) }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['prepaid: an unknown merchant', 'prepaid', () => ({ merchant: 'bank-a.000000000000', unit_fen: '100', units: 1, deadline_ms: later() }), 404, 'CBDC_ERR_PAYEE_UNKNOWN'],
    ['prepaid: a unit price as a number', 'prepaid', () => ({ merchant: transit.id, unit_fen: 100, units: 1, deadline_ms: later() }), 400, 'CBDC_ERR_AMOUNT_FORMAT'],
    ['escrow: the buyer as its own arbiter', 'escrow', () => ({ seller: seller.id, arbiter: buyer.id, amount_fen: '100' }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['escrow: more than the wallet holds', 'escrow', () => ({ seller: seller.id, arbiter: arbiter.id, amount_fen: yuan(2_000) }), 409, 'CBDC_ERR_INSUFFICIENT_FUNDS'],
    ['escrow: over the single-payment limit', 'escrow', () => ({ seller: seller.id, arbiter: arbiter.id, amount_fen: yuan(5_001) }), 409, 'CBDC_ERR_LIMIT_SINGLE'],
    ['hashlock: a short hash', 'hashlock', () => ({ payee: seller.id, amount_fen: '100', hash: 'ab', timeout_ms: later() }), 400, 'CBDC_ERR_HEX_FORMAT'],
    ['hashlock: an unknown field', 'hashlock', () => ({ payee: seller.id, amount_fen: '100', hash: 'ab'.repeat(32), timeout_ms: later(), memo: 'x' }), 400, 'CBDC_ERR_SCHEMA'],
    ['subsidy: no recipients', 'subsidy', () => ({ recipients: [], mccs: ['4111'], expires_at_ms: later() }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['subsidy: a three-digit category', 'subsidy', () => ({ recipients: [{ account: seller.id, amount_fen: '100' }], mccs: ['411'], expires_at_ms: later() }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['subsidy: a recipient twice', 'subsidy', () => ({ recipients: [{ account: seller.id, amount_fen: '100' }, { account: seller.id, amount_fen: '100' }], mccs: ['4111'], expires_at_ms: later() }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
    ['subsidy: the issuer as a recipient', 'subsidy', () => ({ recipients: [{ account: buyer.id, amount_fen: '100' }], mccs: ['4111'], expires_at_ms: later() }), 400, 'CBDC_ERR_CONTRACT_TERMS'],
  ] as const)('%s', async (_what, kind, body, status, code) => {
    await refused(status, code, () => create(kind, body()));
  });

  it('is idempotent by key; the same key with other terms is a conflict; another wallet cannot create for the buyer', async () => {
    const key = idemKey();
    const body = { seller: seller.id, arbiter: arbiter.id, amount_fen: '100' };
    const a = await create('escrow', body, key);
    expect(a.status, a.text).toBe(200);
    const b = await create('escrow', body, key);
    expect(b.body.contract.id).toBe(a.body.contract.id);
    expect(b.body.payment.id).toBe(a.body.payment.id);
    await refused(409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT', () => create('escrow', { ...body, amount_fen: '200' }, key));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => seller.client.post(`/v1/accounts/${buyer.id}/contracts/escrow`, { idempotency_key: idemKey(), ...body }));
    // Unfunded: no action yet.
    await refused(409, 'CBDC_ERR_CONTRACT_STATE', () => buyer.client.post(`/v1/contracts/${a.body.contract.id}/resolve`, { outcome: 'release' }));
  });
});

describe('proposals and signatures', () => {
  let cid: string;
  let spend: { id: string; txid: string };

  beforeAll(async () => {
    const r = await create('escrow', { seller: seller.id, arbiter: arbiter.id, amount_fen: yuan(10) });
    expect(r.status, r.text).toBe(200);
    expect((await signPayment(buyer, r.body.payment)).body.status).toBe('settled');
    cid = r.body.contract.id;
    const p = await buyer.client.post(`/v1/contracts/${cid}/resolve`, { outcome: 'release' });
    expect(p.status, p.text).toBe(200);
    spend = p.body.spend;
  });

  it('proposing the same outcome again is the same proposal', async () => {
    const again = await seller.client.post(`/v1/contracts/${cid}/resolve`, { outcome: 'release' });
    expect(again.body.spend.id).toBe(spend.id);
  });

  it('refuses outsiders, wrong keys, unknown actions and outcomes, and changes nothing', async () => {
    await refused(404, 'CBDC_ERR_CONTRACT_UNKNOWN', () => transit.client.get(`/v1/contracts/${cid}`));
    await refused(404, 'CBDC_ERR_CONTRACT_UNKNOWN', () => transit.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(transit, spend.txid) }));
    await refused(403, 'CBDC_ERR_BAD_SIGNATURE', () => seller.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(arbiter, spend.txid) }));
    await refused(403, 'CBDC_ERR_BAD_SIGNATURE', () => seller.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(seller, randomBytes(32).toString('hex')) }));
    await refused(400, 'CBDC_ERR_CONTRACT_TERMS', () => buyer.client.post(`/v1/contracts/${cid}/claim`, { preimage: 'ab'.repeat(32) }));
    await refused(400, 'CBDC_ERR_CONTRACT_TERMS', () => buyer.client.post(`/v1/contracts/${cid}/resolve`, {}));
    await refused(400, 'CBDC_ERR_CONTRACT_TERMS', () => buyer.client.post(`/v1/contracts/${cid}/void`, {}));
    await refused(404, 'CBDC_ERR_CONTRACT_UNKNOWN', () => buyer.client.get('/v1/contracts/ctr-0000000000000000'));
    await refused(404, 'CBDC_ERR_NOT_FOUND', () => buyer.client.get(`/v1/contracts/${cid}/spends/sp-0000000000000000`));
  });

  it('one signature is not enough; the same signature twice counts once; two settle it', async () => {
    const one = await buyer.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(buyer, spend.txid) });
    expect(one.body.spend).toMatchObject({ status: 'awaiting_signatures', signed_by: [buyer.key.pk.toString('hex')] });
    const twice = await buyer.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(buyer, spend.txid) });
    expect(twice.body.spend).toMatchObject({ status: 'awaiting_signatures', signed_by: [buyer.key.pk.toString('hex')] });
    const before = BigInt((await account(seller)).balance_fen);
    const two = await seller.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(seller, spend.txid) });
    expect(two.status, two.text).toBe(200);
    expect(two.body).toMatchObject({ spend: { status: 'settled' }, contract: { status: 'released', held_fen: '0' } });
    expect(BigInt((await account(seller)).balance_fen)).toBe(before + BigInt(yuan(10)));
    // Signing a settled proposal again answers it as it is, and pays nothing twice.
    const after = await arbiter.client.post(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: sig(arbiter, spend.txid) });
    expect(after.body.spend.status).toBe('settled');
    expect(BigInt((await account(seller)).balance_fen)).toBe(before + BigInt(yuan(10)));
  });

  it('a hash lock refuses a wrong preimage and a refund before its timeout, and changes nothing', async () => {
    const preimage = randomBytes(32);
    const r = await create('hashlock', { payee: seller.id, amount_fen: yuan(3), hash: createHash('sha256').update(preimage).digest('hex'), timeout_ms: Date.now() + 600_000 });
    expect((await signPayment(buyer, r.body.payment)).body.status).toBe('settled');
    const h = r.body.contract.id;
    await refused(403, 'CBDC_ERR_LOCK_PREIMAGE', () => seller.client.post(`/v1/contracts/${h}/claim`, { preimage: randomBytes(32).toString('hex') }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => buyer.client.post(`/v1/contracts/${h}/claim`, { preimage: preimage.toString('hex') }));
    await refused(403, 'CBDC_ERR_LOCK_TIMELOCK', () => buyer.client.post(`/v1/contracts/${h}/refund`, {}));
    await refused(400, 'CBDC_ERR_HEX_FORMAT', () => seller.client.post(`/v1/contracts/${h}/claim`, { preimage: 'zz' }));
  });
});
