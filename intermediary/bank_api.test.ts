// The bank node's API against real servers: an in-process central node and three bank nodes
// (port 0, LMDB in temp dirs). Every bad input gets its own code and changes nothing (every
// involved account, its history, every bank's totals and central's supply compared before
// and after); then the positive paths: payment expiry, exchanges both ways, history pages,
// daily statements, AML reporting, and the distribution invariant across both tiers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ERRORS, type ErrorCode } from '../protocol/errors.js';
import { Client, expectError, keyPair, rawRequest, type HttpResponse } from '../test/helpers/http_fixture.js';
import {
  NETWORK, type TestBank, type TestNetwork, type Wallet, account, applicantClient, evidenceFor, fundHoldings, fundWallet, idemKey, nextPhone,
  openWallet, pay, preparePayment, quiesce, signPayment, snapshot, startNetwork, supply, totals, waitFor,
} from '../test/helpers/bank_fixture.js';
import { dayKey } from '../platform/clock.js';

const yuan = (n: number): bigint => BigInt(n) * 100n;
/** bank-a reports payments at or above 1,000 yuan. */
const AML_THRESHOLD = yuan(1_000);

let net: TestNetwork;
let A: TestBank;
let B: TestBank;
let C: TestBank;
/** Every wallet opened; the snapshot covers them all. */
const wallets: Wallet[] = [];
let a1: Wallet; // bank-a, class 3, funded
let a2: Wallet; // bank-a, class 3, funded
let b1: Wallet; // bank-b, class 3, funded

async function open(bank: TestBank, o: Parameters<typeof openWallet>[1] = {}): Promise<Wallet> {
  const w = await openWallet(bank, o);
  wallets.push(w);
  return w;
}

beforeAll(async () => {
  net = await startNetwork([
    { id: 'bank-a', opts: { amlThresholdFen: AML_THRESHOLD } },
    { id: 'bank-b' },
    { id: 'bank-c', opts: { paymentTtlMs: 300 } },
  ]);
  A = net.bank('bank-a');
  B = net.bank('bank-b');
  C = net.bank('bank-c');
  await Promise.all([fundHoldings(net, A), fundHoldings(net, B), fundHoldings(net, C)]);
  [a1, a2, b1] = await Promise.all([open(A), open(A), open(B)]);
  // One bank's exchanges run one at a time here (its holdings are a single output until the first change comes back).
  await Promise.all([fundWallet(a1, yuan(10_000)).then(() => fundWallet(a2, yuan(2_000))), fundWallet(b1, yuan(2_000))]);
});

afterAll(async () => {
  await net?.close();
});

/** Runs a request that must be refused with exactly this status and code, and change nothing. */
async function refused(status: number, code: ErrorCode, act: () => Promise<HttpResponse>): Promise<HttpResponse> {
  expect(ERRORS[code][0], `${code} has status ${status} in the registry`).toBe(status);
  await quiesce(net);
  const before = await snapshot(net, wallets);
  const r = await act();
  expectError(r, status, code);
  const after = await snapshot(net, wallets);
  expect(after).toEqual(before);
  return r;
}

const paymentsPath = (w: Wallet) => `/v1/accounts/${w.id}/payments`;
const body = (o: Record<string, unknown> = {}) => ({ idempotency_key: idemKey(), payee: { account: a2.id }, amount_fen: '100', ...o });

// ---------------------------------------------------------------------------------------

describe('amounts', () => {
  it.each([
    ['a JSON number', 100, 'CBDC_ERR_AMOUNT_FORMAT'],
    ['a float number', 1.5, 'CBDC_ERR_AMOUNT_FORMAT'],
    ['a float string', '1.50', 'CBDC_ERR_AMOUNT_FORMAT'],
    ['a negative string', '-100', 'CBDC_ERR_AMOUNT_FORMAT'],
    ['a leading zero', '0100', 'CBDC_ERR_AMOUNT_FORMAT'],
    ['an exponent', '1e3', 'CBDC_ERR_AMOUNT_FORMAT'],
    ['null', null, 'CBDC_ERR_AMOUNT_FORMAT'],
    ['zero', '0', 'CBDC_ERR_AMOUNT_RANGE'],
    ['above AMOUNT_FEN_MAX', '1000000000000000001', 'CBDC_ERR_AMOUNT_RANGE'],
    ['far above AMOUNT_FEN_MAX', '9'.repeat(30), 'CBDC_ERR_AMOUNT_RANGE'],
  ] as [string, unknown, ErrorCode][])('a payment amount as %s is %s', async (_what, amount, code) => {
    await refused(400, code, () => a1.client.post(paymentsPath(a1), body({ amount_fen: amount })));
  });

  it('the same rules hold on exchange, teller deposit and cash-out, and bank issuance', async () => {
    await refused(400, 'CBDC_ERR_AMOUNT_FORMAT', () => a1.client.post(`/v1/accounts/${a1.id}/exchange`, { direction: 'to_wallet', amount_fen: 5, idempotency_key: idemKey() }));
    await refused(400, 'CBDC_ERR_AMOUNT_RANGE', () => a1.client.post(`/v1/accounts/${a1.id}/exchange`, { direction: 'to_deposit', amount_fen: '0', idempotency_key: idemKey() }));
    await refused(400, 'CBDC_ERR_AMOUNT_FORMAT', () => A.staff.post(`/v1/accounts/${a1.id}/deposit`, { amount_fen: '-1' }));
    await refused(400, 'CBDC_ERR_AMOUNT_RANGE', () => A.staff.post(`/v1/accounts/${a1.id}/deposit`, { amount_fen: '0' }));
    await refused(400, 'CBDC_ERR_AMOUNT_FORMAT', () => A.staff.post(`/v1/accounts/${a1.id}/cash-out`, { amount_fen: 1.25 }));
    await refused(400, 'CBDC_ERR_AMOUNT_RANGE', () => A.staff.post('/v1/bank/issuance', { amount_fen: '0' }));
  });

  it('more than the wallet holds is CBDC_ERR_INSUFFICIENT_FUNDS; more than the deposit likewise', async () => {
    const bal = BigInt((await account(a2)).balance_fen);
    await refused(409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => a2.client.post(paymentsPath(a2), body({ payee: { account: a1.id }, amount_fen: (bal + 1n).toString() })));
    await refused(409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => A.staff.post(`/v1/accounts/${a2.id}/cash-out`, { amount_fen: '1' }));
    await refused(409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => a2.client.post(`/v1/accounts/${a2.id}/exchange`, { direction: 'to_wallet', amount_fen: '1', idempotency_key: idemKey() }));
  });
});

describe('request bodies', () => {
  it('an unknown field is CBDC_ERR_SCHEMA', async () => {
    await refused(400, 'CBDC_ERR_SCHEMA', () => a1.client.post(paymentsPath(a1), body({ memo: 'hi' })));
    await refused(400, 'CBDC_ERR_SCHEMA', () => a1.client.post(paymentsPath(a1), body({ payee: { account: a2.id, extra: 1 } })));
    await refused(400, 'CBDC_ERR_SCHEMA', () => A.staff.post(`/v1/accounts/${a1.id}/deposit`, { amount_fen: '100', note: 'x' }));
  });

  it.each(['short', 'has space 12345', 'x'.repeat(65), 'bad/slash123', ''])('idempotency key %j is CBDC_ERR_SCHEMA', async (k) => {
    await refused(400, 'CBDC_ERR_SCHEMA', () => a1.client.post(paymentsPath(a1), body({ idempotency_key: k })));
  });

  it('a missing field, a body that is not JSON, and no body are CBDC_ERR_SCHEMA', async () => {
    await refused(400, 'CBDC_ERR_SCHEMA', () => a1.client.post(paymentsPath(a1), { idempotency_key: idemKey(), payee: { account: a2.id } }));
    await refused(400, 'CBDC_ERR_SCHEMA', () => a1.client.request('POST', paymentsPath(a1), '{"idempotency_key": ', { raw: true }));
    await refused(400, 'CBDC_ERR_SCHEMA', () => a1.client.request('POST', paymentsPath(a1)));
  });

  it('a malformed account id in the path is CBDC_ERR_ACCOUNT_UNKNOWN; an unknown one likewise', async () => {
    await refused(404, 'CBDC_ERR_ACCOUNT_UNKNOWN', () => A.staff.get('/v1/accounts/not-an-account'));
    await refused(404, 'CBDC_ERR_ACCOUNT_UNKNOWN', () => A.staff.get('/v1/accounts/bank-a.000000000000'));
  });
});

describe('payees', () => {
  it('both alias and account, or neither, is CBDC_ERR_PAYEE_UNKNOWN', async () => {
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { alias: a2.phone, account: a2.id } })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: {} })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { bank: 'bank-b' } })));
  });

  it('an unknown payee (alias here or at any peer, account, bank) is CBDC_ERR_PAYEE_UNKNOWN', async () => {
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { alias: '+8699999999999' } })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { alias: '@nobody_here' } })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { account: 'bank-a.000000000000' } })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { account: 'bank-b.000000000000' } })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { account: 'bank-z.000000000000' } })));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => a1.client.post(paymentsPath(a1), body({ payee: { alias: b1.phone, bank: 'bank-c' } })));
  });

  it('a wallet cannot pay itself (CBDC_ERR_PAYEE_REFUSED)', async () => {
    await refused(409, 'CBDC_ERR_PAYEE_REFUSED', () => a1.client.post(paymentsPath(a1), body({ payee: { alias: a1.phone } })));
  });
});

describe('quotes between banks', () => {
  it('a quote is answered only once the fresh lock it hands out is on disk', async () => {
    const bank = A.node.bank;
    const original = bank.durable.bind(bank);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let flushesAsked = 0;
    bank.durable = async () => {
      flushesAsked++;
      await gate;
      return original();
    };
    try {
      const asBankB = new Client(A.url, B.self.network, 'bank-b', B.self.sk);
      let answered = false;
      const reply = asBankB.post('/v1/interbank/quote', { account: a2.id, amount_fen: '100' }).then((r) => { answered = true; return r; });
      await waitFor('the quote to ask for a flush', async () => flushesAsked > 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(answered).toBe(false);
      release();
      const r = await reply;
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.outputs).toHaveLength(1);
    } finally {
      bank.durable = original;
      release();
    }
  });
});

describe('request authentication', () => {
  it('a replayed signed request is CBDC_ERR_REQUEST_REPLAY (the first one took effect once)', async () => {
    const p = `/v1/accounts/${a1.id}/aliases`;
    const bytes = Buffer.from(JSON.stringify({ alias: `@replay_${randomBytes(4).toString('hex')}` }));
    const headers = a1.client.headersFor('POST', p, bytes);
    const first = await rawRequest(A.url, 'POST', p, { headers, body: bytes });
    expect(first.status, first.text).toBe(200);
    await refused(401, 'CBDC_ERR_REQUEST_REPLAY', () => rawRequest(A.url, 'POST', p, { headers, body: bytes }));
  });

  it('a request time outside the window is CBDC_ERR_REQUEST_STALE', async () => {
    await refused(401, 'CBDC_ERR_REQUEST_STALE', () => a1.client.request('POST', paymentsPath(a1), body(), { timeMs: Date.now() - 31_000 }));
    await refused(401, 'CBDC_ERR_REQUEST_STALE', () => a1.client.request('POST', paymentsPath(a1), body(), { timeMs: Date.now() + 31_000 }));
    await refused(401, 'CBDC_ERR_REQUEST_STALE', () => A.staff.request('POST', `/v1/accounts/${a1.id}/deposit`, { amount_fen: '100' }, { timeMs: 1_000 }));
  });

  it('a bad request signature is CBDC_ERR_REQUEST_SIGNATURE; unsigned or unknown signer is CBDC_ERR_UNAUTHENTICATED', async () => {
    await refused(401, 'CBDC_ERR_REQUEST_SIGNATURE', () => a1.client.request('POST', paymentsPath(a1), body(), { signWith: a2.key.sk }));
    // Signed over another body than the one sent.
    await refused(401, 'CBDC_ERR_REQUEST_SIGNATURE', () => a1.client.request('POST', paymentsPath(a1), body(), { signBody: Buffer.from('{}') }));
    await refused(401, 'CBDC_ERR_REQUEST_SIGNATURE', () => A.staff.request('POST', `/v1/accounts/${a1.id}/deposit`, { amount_fen: '100' }, { signWith: a1.key.sk }));
    await refused(401, 'CBDC_ERR_UNAUTHENTICATED', () => rawRequest(A.url, 'POST', paymentsPath(a1), { body: JSON.stringify(body()) }));
    // An account id that does not exist as signer.
    await refused(401, 'CBDC_ERR_UNAUTHENTICATED', () => new Client(A.url, NETWORK, 'bank-a.ffffffffffff', a1.key.sk).get(`/v1/accounts/${a1.id}`));
    // A malformed applicant key.
    await refused(401, 'CBDC_ERR_UNAUTHENTICATED', () => new Client(A.url, NETWORK, 'key:02zz', a1.key.sk).post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: nextPhone() } }));
  });

  it('a wallet acting on another account is CBDC_ERR_FORBIDDEN', async () => {
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.get(`/v1/accounts/${a2.id}`));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(paymentsPath(a2), body({ payee: { account: a1.id } })));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a2.id}/exchange`, { direction: 'to_deposit', amount_fen: '100', idempotency_key: idemKey() }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a2.id}/close`, undefined));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a2.id}/aliases`, { alias: '@stolen_alias' }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.get(`/v1/accounts/${a2.id}/history`));
    // A wallet of another bank is not a signer here at all.
    await refused(401, 'CBDC_ERR_UNAUTHENTICATED', () => new Client(A.url, NETWORK, b1.id, b1.key.sk).get(`/v1/accounts/${a1.id}`));
  });

  it("staff cannot prepare or sign a customer's payment: only the account's own wallet can", async () => {
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => A.staff.post(paymentsPath(a1), body()));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => A.staff.post(`${paymentsPath(a1)}/pay-0000000000000000/sign`, { sig: '00'.repeat(64) }));
  });

  it('staff-only routes called by a wallet are 403', async () => {
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.get('/v1/bank/totals'));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.get('/v1/bank/reconcile'));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post('/v1/bank/issuance', { amount_fen: '100' }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post('/v1/bank/redemption', { amount_fen: '100' }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a1.id}/deposit`, { amount_fen: '100' }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a1.id}/cash-out`, { amount_fen: '100' }));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a2.id}/freeze`, {}));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post(`/v1/accounts/${a1.id}/unfreeze`, {}));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.get('/v1/compliance/aml'));
    await refused(403, 'CBDC_ERR_FORBIDDEN', () => a1.client.post('/v1/interbank/quote', { account: a2.id, amount_fen: '100' }));
  });
});

describe('the sign step', () => {
  it('a wrong payment signature is CBDC_ERR_BAD_SIGNATURE and the payment still awaits its signature', async () => {
    const p = await preparePayment(a1, { account: a2.id }, 150n);
    expect(p.status, p.text).toBe(200);
    expect(p.body.status).toBe('awaiting_signature');
    await refused(403, 'CBDC_ERR_BAD_SIGNATURE', () => signPayment(a1, p.body, a2.key.sk));
    // A signature by the right key over another hash.
    await refused(403, 'CBDC_ERR_BAD_SIGNATURE', () => signPayment(a1, { id: p.body.id, txid: 'ab'.repeat(32) }));
    await refused(400, 'CBDC_ERR_HEX_FORMAT', () => a1.client.post(`${paymentsPath(a1)}/${p.body.id}/sign`, { sig: 'zz' }));
    const g = await a1.client.get(`${paymentsPath(a1)}/${p.body.id}`);
    expect(g.status).toBe(200);
    expect(g.body.status).toBe('awaiting_signature');
    // The right signature still settles it, once.
    const s = await signPayment(a1, p.body);
    expect(s.status, s.text).toBe(200);
    expect(s.body.status).toBe('settled');
    const again = await signPayment(a1, p.body);
    expect(again.body).toEqual(s.body);
  });

  it('signing an unknown payment is 404 CBDC_ERR_NOT_FOUND; so is another account\'s payment', async () => {
    await refused(404, 'CBDC_ERR_NOT_FOUND', () => signPayment(a1, { id: 'pay-0000000000000000', txid: '00'.repeat(32) }));
    await refused(404, 'CBDC_ERR_NOT_FOUND', () => a1.client.post(`${paymentsPath(a1)}/pay-xyz/sign`, { sig: '00'.repeat(64) }));
    const p = await preparePayment(a2, { account: a1.id }, 120n);
    expect(p.status, p.text).toBe(200);
    await refused(404, 'CBDC_ERR_NOT_FOUND', () => signPayment(a1, p.body));
    await refused(404, 'CBDC_ERR_NOT_FOUND', () => a1.client.get(`${paymentsPath(a1)}/${p.body.id}`));
    expect((await signPayment(a2, p.body)).body.status).toBe('settled');
  });

  it('the same idempotency key returns the same payment; reused for another request it is CBDC_ERR_IDEMPOTENCY_CONFLICT', async () => {
    const k = idemKey();
    const p1 = await preparePayment(a1, { account: a2.id }, 130n, k);
    expect(p1.status, p1.text).toBe(200);
    await quiesce(net);
    const before = await snapshot(net, wallets);
    const p2 = await preparePayment(a1, { account: a2.id }, 130n, k);
    expect(p2.body).toEqual(p1.body);
    expect(await snapshot(net, wallets)).toEqual(before);
    await refused(409, 'CBDC_ERR_IDEMPOTENCY_CONFLICT', () => preparePayment(a1, { account: a2.id }, 131n, k));
    expect((await signPayment(a1, p1.body)).body.status).toBe('settled');
  });
});

describe('accounts', () => {
  it('a second account for the same wallet key is CBDC_ERR_ACCOUNT_EXISTS', async () => {
    const phone = nextPhone();
    await refused(409, 'CBDC_ERR_ACCOUNT_EXISTS', () => applicantClient(A, a1.key).post('/v1/accounts', { kind: 'personal', tier: 3, evidence: evidenceFor(3, phone) }));
  });

  it('an alias that belongs to another account is CBDC_ERR_ALIAS_TAKEN (at opening and when added)', async () => {
    await refused(409, 'CBDC_ERR_ALIAS_TAKEN', () => applicantClient(A, keyPair(`alias-taken-${Date.now()}`)).post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: a1.phone } }));
    await refused(409, 'CBDC_ERR_ALIAS_TAKEN', () => a2.client.post(`/v1/accounts/${a2.id}/aliases`, { alias: a1.phone }));
  });

  it.each(['12345678', '+12345', '+1234567890123456', '@ab', '@Upper_case', '@has-dash', 'plain', '@' + 'a'.repeat(33)])('alias %j is CBDC_ERR_ALIAS_FORMAT', async (alias) => {
    await refused(400, 'CBDC_ERR_ALIAS_FORMAT', () => a1.client.post(`/v1/accounts/${a1.id}/aliases`, { alias }));
  });

  it('a merchant without a category code (or a personal account with one) is CBDC_ERR_MERCHANT_CATEGORY', async () => {
    const k = () => applicantClient(A, keyPair(`merchant-${Date.now()}-${Math.random()}`));
    await refused(400, 'CBDC_ERR_MERCHANT_CATEGORY', () => k().post('/v1/accounts', { kind: 'merchant', tier: 3, evidence: evidenceFor(3, nextPhone()) }));
    await refused(400, 'CBDC_ERR_MERCHANT_CATEGORY', () => k().post('/v1/accounts', { kind: 'merchant', mcc: '58a2', tier: 3, evidence: evidenceFor(3, nextPhone()) }));
    await refused(400, 'CBDC_ERR_MERCHANT_CATEGORY', () => k().post('/v1/accounts', { kind: 'personal', mcc: '5812', tier: 3, evidence: evidenceFor(3, nextPhone()) }));
    const m = await open(A, { kind: 'merchant', mcc: '5812' });
    expect((await account(m)).kind).toBe('merchant');
  });

  it('KYC: missing or malformed evidence is CBDC_ERR_KYC_EVIDENCE; class 1 by a wallet is CBDC_ERR_KYC_TIER', async () => {
    const k = () => applicantClient(A, keyPair(`kyc-${Date.now()}-${Math.random()}`));
    await refused(400, 'CBDC_ERR_KYC_EVIDENCE', () => k().post('/v1/accounts', { kind: 'personal', tier: 3, evidence: { phone: nextPhone() } }));
    await refused(400, 'CBDC_ERR_KYC_EVIDENCE', () => k().post('/v1/accounts', { kind: 'personal', tier: 4, evidence: { phone: '13800138000' } }));
    await refused(400, 'CBDC_ERR_KYC_TIER', () => k().post('/v1/accounts', { kind: 'personal', tier: 1, evidence: evidenceFor(2, nextPhone()) }));
    await refused(400, 'CBDC_ERR_KYC_TIER', () => k().post('/v1/accounts', { kind: 'personal', tier: 6, evidence: { phone: nextPhone() } }));
    await refused(400, 'CBDC_ERR_KYC_EVIDENCE', () => a1.client.post(`/v1/accounts/${a1.id}/kyc`, { tier: 2, evidence: {} }));
    await refused(400, 'CBDC_ERR_KYC_TIER', () => a1.client.post(`/v1/accounts/${a1.id}/kyc`, { tier: 1, evidence: { linked_account: 'ACCT-1234' } }));
  });

  it('a downgrade below the balance held is CBDC_ERR_BALANCE_CAP', async () => {
    const d = await open(A);
    await fundWallet(d, yuan(10_000) + 1n);
    await refused(409, 'CBDC_ERR_BALANCE_CAP', () => d.client.post(`/v1/accounts/${d.id}/kyc`, { tier: 4, evidence: {} }));
  });

  it('payment limits: over the single-payment limit is CBDC_ERR_LIMIT_SINGLE (before the balance is looked at)', async () => {
    const t4 = await open(A, { tier: 4 });
    await refused(409, 'CBDC_ERR_LIMIT_SINGLE', () => preparePayment(t4, { account: a1.id }, yuan(2_000) + 1n));
    await refused(409, 'CBDC_ERR_INSUFFICIENT_FUNDS', () => preparePayment(t4, { account: a1.id }, yuan(2_000)));
  });

  it('closing an account with money left is CBDC_ERR_ACCOUNT_NOT_EMPTY (wallet or deposit)', async () => {
    await refused(409, 'CBDC_ERR_ACCOUNT_NOT_EMPTY', () => a1.client.post(`/v1/accounts/${a1.id}/close`, undefined));
    const d = await open(A, { tier: 4 });
    expect((await A.staff.post(`/v1/accounts/${d.id}/deposit`, { amount_fen: '1' })).status).toBe(200);
    await refused(409, 'CBDC_ERR_ACCOUNT_NOT_EMPTY', () => A.staff.post(`/v1/accounts/${d.id}/close`, undefined));
    expect((await A.staff.post(`/v1/accounts/${d.id}/cash-out`, { amount_fen: '1' })).status).toBe(200);
    const closed = await d.client.post(`/v1/accounts/${d.id}/close`, undefined);
    expect(closed.status, closed.text).toBe(200);
    expect(closed.body.status).toBe('closed');
  });

  it('a frozen account cannot pay or exchange (CBDC_ERR_ACCOUNT_FROZEN), still receives, and pays again once unfrozen', async () => {
    const f = await open(A);
    await fundWallet(f, yuan(500));
    expect((await A.staff.post(`/v1/accounts/${f.id}/deposit`, { amount_fen: '1000' })).status).toBe(200);
    const fr = await A.staff.post(`/v1/accounts/${f.id}/freeze`, { reason: 'test' });
    expect(fr.status, fr.text).toBe(200);
    expect(fr.body.status).toBe('frozen');
    await refused(403, 'CBDC_ERR_ACCOUNT_FROZEN', () => preparePayment(f, { account: a1.id }, 100n));
    await refused(403, 'CBDC_ERR_ACCOUNT_FROZEN', () => f.client.post(`/v1/accounts/${f.id}/exchange`, { direction: 'to_deposit', amount_fen: '100', idempotency_key: idemKey() }));
    await refused(403, 'CBDC_ERR_ACCOUNT_FROZEN', () => f.client.post(`/v1/accounts/${f.id}/exchange`, { direction: 'to_wallet', amount_fen: '100', idempotency_key: idemKey() }));
    // Prepared before the freeze, signed after: refused too, and released.
    await A.staff.post(`/v1/accounts/${f.id}/unfreeze`, {});
    const p = await preparePayment(f, { account: a1.id }, 100n);
    expect(p.status, p.text).toBe(200);
    await A.staff.post(`/v1/accounts/${f.id}/freeze`, {});
    await refused(403, 'CBDC_ERR_ACCOUNT_FROZEN', () => signPayment(f, p.body));
    // Receiving is allowed by default.
    await pay(a2, { account: f.id }, 100n);
    expect((await account(f)).balance_fen).toBe((yuan(500) + 100n).toString());
    const un = await A.staff.post(`/v1/accounts/${f.id}/unfreeze`, {});
    expect(un.body.status).toBe('active');
    // The earlier prepared payment still waits (it is not lost); a new one works.
    expect((await signPayment(f, p.body)).body.status).toBe('settled');
    await pay(f, { account: a1.id }, 100n);
  });

  it('a closed account cannot pay, receive, add aliases, take deposits or close again', async () => {
    const c = await open(A, { tier: 4 });
    const r = await c.client.post(`/v1/accounts/${c.id}/close`, undefined);
    expect(r.status, r.text).toBe(200);
    await refused(403, 'CBDC_ERR_ACCOUNT_CLOSED', () => preparePayment(c, { account: a1.id }, 100n));
    await refused(403, 'CBDC_ERR_ACCOUNT_CLOSED', () => c.client.post(`/v1/accounts/${c.id}/aliases`, { alias: '@closed_acct' }));
    await refused(403, 'CBDC_ERR_ACCOUNT_CLOSED', () => c.client.post(`/v1/accounts/${c.id}/close`, undefined));
    await refused(403, 'CBDC_ERR_ACCOUNT_CLOSED', () => A.staff.post(`/v1/accounts/${c.id}/deposit`, { amount_fen: '100' }));
    await refused(403, 'CBDC_ERR_ACCOUNT_CLOSED', () => A.staff.post(`/v1/accounts/${c.id}/freeze`, {}));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => preparePayment(a1, { account: c.id }, 100n));
    await refused(404, 'CBDC_ERR_PAYEE_UNKNOWN', () => preparePayment(b1, { alias: c.phone }, 100n));
    // Its phone number is free again.
    const again = await open(A, { tier: 4, evidence: { phone: c.phone } });
    expect((await account(again)).aliases).toEqual([c.phone]);
  });
});

// ---------------------------------------------------------------------------------------

describe('payment expiry (bank-c: payments wait 300 ms for their signature)', () => {
  it('signing after the TTL is CBDC_ERR_PAYMENT_EXPIRED, and the reserved outputs and daily usage are released', async () => {
    const [c1, c2] = await Promise.all([open(C), open(C)]);
    await fundWallet(c1, yuan(1_000));
    const before = await account(c1);
    expect(before.used_today_fen).toBe('0');
    const p = await preparePayment(c1, { account: c2.id }, yuan(100));
    expect(p.status, p.text).toBe(200);
    expect(p.body.expires_at_ms - Date.now()).toBeLessThanOrEqual(300);
    expect((await account(c1)).used_today_fen).toBe(yuan(100).toString());
    // Its one output is reserved: a second payment has nothing to spend.
    expectError(await preparePayment(c1, { account: c2.id }, yuan(900)), 409, 'CBDC_ERR_INSUFFICIENT_FUNDS');
    await new Promise((r) => setTimeout(r, 400));
    const s = await signPayment(c1, p.body);
    expectError(s, 410, 'CBDC_ERR_PAYMENT_EXPIRED');
    // Released as the refusal is answered.
    const g = await c1.client.get(`/v1/accounts/${c1.id}/payments/${p.body.id}`);
    expect(g.body.status).toBe('expired');
    const after = await account(c1);
    expect(after.used_today_fen).toBe('0');
    expect(after.used_this_year_fen).toBe('0');
    expect(after.balance_fen).toBe(before.balance_fen);
    expectError(await signPayment(c1, p.body), 410, 'CBDC_ERR_PAYMENT_EXPIRED');
    // The whole balance can be spent again (the output is no longer reserved).
    const q = await preparePayment(c1, { account: c2.id }, yuan(1_000));
    expect(q.status, q.text).toBe(200);
    expect((await signPayment(c1, q.body)).body.status).toBe('settled');
    expect((await account(c2)).balance_fen).toBe(yuan(1_000).toString());
  });

  it('an unsigned payment lapses on its own: the bank releases it without any request', async () => {
    const c3 = await open(C);
    await fundWallet(c3, yuan(200));
    const p = await preparePayment(c3, { account: a1.id }, yuan(50));
    expect(p.status, p.text).toBe(200);
    await waitFor('the payment to lapse', async () => (await c3.client.get(`/v1/accounts/${c3.id}/payments/${p.body.id}`)).body.status === 'expired', 5_000);
    expect((await account(c3)).used_today_fen).toBe('0');
  });
});

describe('exchanges', () => {
  it('deposit -> wallet settles at once and is idempotent by key', async () => {
    const w = await open(A);
    expect((await A.staff.post(`/v1/accounts/${w.id}/deposit`, { amount_fen: yuan(300).toString() })).status).toBe(200);
    const k = idemKey();
    const x1 = await w.client.post(`/v1/accounts/${w.id}/exchange`, { direction: 'to_wallet', amount_fen: yuan(200).toString(), idempotency_key: k });
    expect(x1.status, x1.text).toBe(200);
    expect(x1.body).toMatchObject({ status: 'settled', amount_fen: yuan(200).toString(), balance_fen: yuan(200).toString(), deposit_fen: yuan(100).toString() });
    const x2 = await w.client.post(`/v1/accounts/${w.id}/exchange`, { direction: 'to_wallet', amount_fen: yuan(200).toString(), idempotency_key: k });
    expect(x2.body).toEqual(x1.body);
    const a = await account(w);
    expect([a.balance_fen, a.deposit_fen]).toEqual([yuan(200).toString(), yuan(100).toString()]);
  });

  it('wallet -> deposit is a payment to the bank: prepared, signed, settled; the bank holds the CBDC', async () => {
    const w = await open(A);
    await fundWallet(w, yuan(800));
    await quiesce(net);
    const holdings0 = BigInt((await totals(A)).holdings_fen);
    const x = await w.client.post(`/v1/accounts/${w.id}/exchange`, { direction: 'to_deposit', amount_fen: yuan(300).toString(), idempotency_key: idemKey() });
    expect(x.status, x.text).toBe(200);
    expect(x.body.status).toBe('awaiting_signature');
    expect(x.body.payee).toMatchObject({ kind: 'deposit', bank: 'bank-a', account: w.id });
    expect((await account(w)).deposit_fen).toBe('0');
    const s = await signPayment(w, x.body);
    expect(s.status, s.text).toBe(200);
    expect(s.body.status).toBe('settled');
    const a = await account(w);
    expect([a.balance_fen, a.deposit_fen]).toEqual([yuan(500).toString(), yuan(300).toString()]);
    await quiesce(net);
    expect(BigInt((await totals(A)).holdings_fen)).toBe(holdings0 + yuan(300));
    const h = await w.client.get(`/v1/accounts/${w.id}/history?direction=out`);
    expect(h.body.entries).toHaveLength(1);
    expect(h.body.entries[0]).toMatchObject({ kind: 'exchange', direction: 'out', amount_fen: yuan(300).toString(), counterparty: 'own deposit' });
  });
});

describe('history and statements', () => {
  let h: Wallet;
  beforeAll(async () => {
    h = await open(A);
    await fundWallet(h, yuan(3_000)); // seq 0: in
    for (const amt of [100, 110, 120]) await pay(h, { account: a2.id }, yuan(amt)); // seq 1..3: out
    await pay(b1, { alias: h.phone }, yuan(50)); // seq 4: in, from bank-b over the event stream
    await waitFor('the incoming payment', async () => BigInt((await account(h)).balance_fen) === yuan(3_000 - 330 + 50));
    const x = await h.client.post(`/v1/accounts/${h.id}/exchange`, { direction: 'to_deposit', amount_fen: yuan(200).toString(), idempotency_key: idemKey() });
    expect((await signPayment(h, x.body)).body.status).toBe('settled'); // seq 5: out
  });

  it('pages with limit / from_seq / next_seq cover every entry once, in order', async () => {
    const all = await h.client.get(`/v1/accounts/${h.id}/history`);
    expect(all.status, all.text).toBe(200);
    expect(all.body.entries.map((e: any) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(all.body.next_seq).toBeNull();
    expect(all.body.entries.map((e: any) => e.direction)).toEqual(['in', 'out', 'out', 'out', 'in', 'out']);
    expect(all.body.entries.map((e: any) => e.kind)).toEqual(['exchange', 'payment', 'payment', 'payment', 'payment', 'exchange']);
    expect(all.body.entries[4].counterparty.length).toBeGreaterThan(0);
    expect(all.body.entries[5].balance_after_fen).toBe((await account(h)).balance_fen);
    const pages: any[][] = [];
    let from: number | null = 0;
    while (from !== null) {
      const r: HttpResponse = await h.client.get(`/v1/accounts/${h.id}/history?limit=4&from_seq=${from}`);
      expect(r.status, r.text).toBe(200);
      pages.push(r.body.entries);
      from = r.body.next_seq;
      expect(pages.length).toBeLessThan(5);
    }
    expect(pages.map((p) => p.length)).toEqual([4, 2]);
    expect(pages.flat()).toEqual(all.body.entries);
    const two = await h.client.get(`/v1/accounts/${h.id}/history?limit=2`);
    expect(two.body.entries.map((e: any) => e.seq)).toEqual([0, 1]);
    expect(two.body.next_seq).toBe(2);
    const past = await h.client.get(`/v1/accounts/${h.id}/history?from_seq=6`);
    expect(past.body).toEqual({ entries: [], next_seq: null });
  });

  it('filters by direction', async () => {
    const out = await h.client.get(`/v1/accounts/${h.id}/history?direction=out`);
    expect(out.body.entries.map((e: any) => e.seq)).toEqual([1, 2, 3, 5]);
    const inn = await h.client.get(`/v1/accounts/${h.id}/history?direction=in`);
    expect(inn.body.entries.map((e: any) => e.seq)).toEqual([0, 4]);
    const page = await h.client.get(`/v1/accounts/${h.id}/history?direction=out&limit=2`);
    expect(page.body.entries.map((e: any) => e.seq)).toEqual([1, 2]);
    const next = await h.client.get(`/v1/accounts/${h.id}/history?direction=out&limit=2&from_seq=${page.body.next_seq}`);
    expect(next.body.entries.map((e: any) => e.seq)).toEqual([3, 5]);
    expectError(await h.client.get(`/v1/accounts/${h.id}/history?direction=sideways`), 400, 'CBDC_ERR_SCHEMA');
    expectError(await h.client.get(`/v1/accounts/${h.id}/history?limit=-1`), 400, 'CBDC_ERR_SCHEMA');
  });

  it("today's statement: opening, closing, in and out (Asia/Shanghai day)", async () => {
    const today = dayKey(Date.now());
    const s = await h.client.get(`/v1/accounts/${h.id}/statements/${today}`);
    expect(s.status, s.text).toBe(200);
    const bal = (await account(h)).balance_fen;
    expect(s.body).toMatchObject({
      day: today, time_zone: 'Asia/Shanghai', opening_fen: '0', closing_fen: bal,
      in_fen: yuan(3_050).toString(), out_fen: yuan(530).toString(),
    });
    expect(s.body.entries).toHaveLength(6);
    expect(BigInt(s.body.opening_fen) + BigInt(s.body.in_fen) - BigInt(s.body.out_fen)).toBe(BigInt(s.body.closing_fen));
    // The day before: nothing; the day after: opens and closes at today's closing balance.
    const yesterday = dayKey(Date.now() - 86_400_000);
    const tomorrow = dayKey(Date.now() + 86_400_000);
    expect((await h.client.get(`/v1/accounts/${h.id}/statements/${yesterday}`)).body).toMatchObject({ opening_fen: '0', closing_fen: '0', in_fen: '0', out_fen: '0', entries: [] });
    expect((await h.client.get(`/v1/accounts/${h.id}/statements/${tomorrow}`)).body).toMatchObject({ opening_fen: bal, closing_fen: bal, in_fen: '0', out_fen: '0', entries: [] });
    expectError(await h.client.get(`/v1/accounts/${h.id}/statements/2026-1-1`), 400, 'CBDC_ERR_SCHEMA');
    expectError(await a1.client.get(`/v1/accounts/${h.id}/statements/${today}`), 403, 'CBDC_ERR_FORBIDDEN');
  });
});

describe('AML reporting (bank-a threshold 1,000 yuan)', () => {
  type Report = { seq: number; reason: string; account: string; identity: Record<string, unknown>; amount_fen: string; payment_id: string; counterparty: string };
  const reportsOf = async (id: string): Promise<Report[]> => {
    const r = await A.compliance.get<{ reports: Report[] }>('/v1/compliance/aml');
    expect(r.status, r.text).toBe(200);
    return r.body.reports.filter((x) => x.account === id);
  };

  it('a payment at the threshold is reported with the payer\'s identity, to compliance and the regulator only', async () => {
    const x = await open(A);
    await fundWallet(x, yuan(3_000));
    const p = await pay(x, { account: b1.id }, AML_THRESHOLD);
    const mine = await reportsOf(x.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ reason: 'threshold', account: x.id, amount_fen: AML_THRESHOLD.toString(), payment_id: p.id });
    expect(mine[0]!.identity).toMatchObject({ phone: x.phone, tier: 3 });
    expect(typeof mine[0]!.identity.name).toBe('string');
    const reg = await A.regulator.get<{ reports: Report[] }>('/v1/compliance/aml');
    expect(reg.status).toBe(200);
    expect(reg.body.reports.filter((r) => r.account === x.id)).toEqual(mine);
    expectError(await x.client.get('/v1/compliance/aml'), 403, 'CBDC_ERR_FORBIDDEN');
    expectError(await A.staff.get('/v1/compliance/aml'), 403, 'CBDC_ERR_FORBIDDEN');
    // Another bank's officers see only their own bank's reports.
    const other = await B.compliance.get<{ reports: Report[] }>('/v1/compliance/aml');
    expect(other.body.reports.filter((r) => r.account === x.id)).toEqual([]);
  });

  it("structuring: the third payment of at least half the threshold within 24 h is reported as 'structuring'", async () => {
    const s = await open(A);
    await fundWallet(s, yuan(3_000));
    const half = AML_THRESHOLD / 2n;
    await pay(s, { account: a2.id }, half);
    await pay(s, { account: b1.id }, half + 1n);
    expect(await reportsOf(s.id)).toEqual([]);
    const third = await pay(s, { account: a2.id }, half);
    const mine = await reportsOf(s.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ reason: 'structuring', account: s.id, payment_id: third.id, amount_fen: half.toString() });
    expect(mine[0]!.identity).toMatchObject({ phone: s.phone });
  });

  it('payments below stay pseudonymous: no report', async () => {
    const q = await open(A);
    await fundWallet(q, yuan(3_000));
    for (const amt of [AML_THRESHOLD / 2n - 1n, AML_THRESHOLD / 2n - 1n, AML_THRESHOLD / 2n - 1n, yuan(100)]) await pay(q, { account: a2.id }, amt);
    expect(await reportsOf(q.id)).toEqual([]);
    const two = await open(A);
    await fundWallet(two, yuan(3_000));
    await pay(two, { account: a2.id }, AML_THRESHOLD - 1n);
    await pay(two, { account: a2.id }, AML_THRESHOLD - 1n);
    expect(await reportsOf(two.id)).toEqual([]);
  });
});

describe('distribution invariant', () => {
  it('after deposits, exchanges and payments within and across banks, every figure adds up at both tiers', async () => {
    const m1 = await open(A, { tier: 2 });
    const m2 = await open(B, { tier: 2 });
    const m3 = await open(B, { tier: 3 });
    await Promise.all([fundWallet(m1, yuan(20_000)), fundWallet(m2, yuan(9_000)).then(() => fundWallet(m3, yuan(3_000)))]);
    // m2 steps down to class 4 (cap 10,000 yuan), keeping its linked account: over-cap money is swept to its deposit.
    const down = await m2.client.post(`/v1/accounts/${m2.id}/kyc`, { tier: 4, evidence: {} });
    expect(down.status, down.text).toBe(200);
    expect(down.body.tier).toBe(4);
    const sweep = await pay(m1, { alias: m2.phone }, yuan(2_000));
    expect(sweep).toMatchObject({ wallet_fen: yuan(1_000).toString(), excess_fen: yuan(1_000).toString() });
    await waitFor('the swept payment at bank-b', async () => {
      const a = await account(m2);
      return a.balance_fen === yuan(10_000).toString() && a.deposit_fen === yuan(1_000).toString();
    });
    const hist = await m2.client.get(`/v1/accounts/${m2.id}/history`);
    expect(hist.body.entries.map((e: any) => e.kind)).toEqual(['exchange', 'payment', 'sweep']);
    // Full: more than its cap is refused when the payee has no linked account.
    const t4 = await open(B, { tier: 4 });
    await fundWallet(t4, yuan(9_900));
    await refused(409, 'CBDC_ERR_BALANCE_CAP', () => preparePayment(m1, { account: t4.id }, yuan(200)));

    await pay(m3, { account: m1.id }, yuan(500));
    await pay(b1, { account: m3.id }, yuan(70));
    const x = await m3.client.post(`/v1/accounts/${m3.id}/exchange`, { direction: 'to_deposit', amount_fen: yuan(100).toString(), idempotency_key: idemKey() });
    expect((await signPayment(m3, x.body)).body.status).toBe('settled');
    const y = await m1.client.post(`/v1/accounts/${m1.id}/exchange`, { direction: 'to_deposit', amount_fen: yuan(1_000).toString(), idempotency_key: idemKey() });
    expect((await signPayment(m1, y.body)).body.status).toBe('settled');
    expect((await A.staff.post(`/v1/accounts/${m1.id}/cash-out`, { amount_fen: yuan(500).toString() })).status).toBe(200);
    await waitFor('m1 to receive from bank-b', async () => (await account(m1)).balance_fen === yuan(20_000 - 2_000 + 500 - 1_000).toString());
    expect((await account(m3)).balance_fen).toBe(yuan(3_000 - 500 + 70 - 100).toString());

    await quiesce(net);
    const s = await supply(net);
    let distributed = 0n;
    for (const bank of net.banks.values()) {
      const t = await totals(bank);
      let sum = 0n;
      let deposits = 0n;
      for (const id of bank.accounts) {
        const r = await bank.staff.get(`/v1/accounts/${id}`);
        expect(r.status).toBe(200);
        sum += BigInt(r.body.balance_fen);
        deposits += BigInt(r.body.deposit_fen);
      }
      expect(t.customers_wallet_fen, bank.id).toBe(sum.toString());
      expect(t.customers_deposit_fen, bank.id).toBe(deposits.toString());
      expect(t.accounts, bank.id).toBe(bank.accounts.length);
      const rec = await bank.staff.get('/v1/bank/reconcile');
      expect(rec.status, rec.text).toBe(200);
      expect(rec.body.problems, bank.id).toEqual([]);
      expect(rec.body.ok).toBe(true);
      expect(rec.body.customers_wallet_fen).toBe(t.customers_wallet_fen);
      expect(rec.body.holdings_fen).toBe(t.holdings_fen);
      distributed += BigInt(t.holdings_fen) + BigInt(t.customers_wallet_fen);
    }
    expect(distributed).toBe(BigInt(s.unspent_fen));
    expect(BigInt(s.issued_fen) - BigInt(s.redeemed_fen)).toBe(BigInt(s.unspent_fen));
    const audit = await net.operator.get('/v1/audit');
    expect(audit.status, audit.text).toBe(200);
  });
});
