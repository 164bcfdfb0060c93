// Electronic receipts through the banks' real APIs (central + two banks, LMDB on disk, real
// ports): same-bank and cross-bank receipts, delivery while the merchant's bank is down and
// after the payer's bank restarts, idempotency, the tax authority's read-only role, and each
// refusal with its code, leaving every figure as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { URL } from 'node:url';
import { readOrCreateKeyFile } from '../platform/key_file.js';
import { RECEIPT_LINES_MAX, encodeDraft, draftDigest, makeDraft, signDraft, verifyReceipt, type ReceiptDraft, type ReceiptJson } from '../protocol/receipt.js';
import { signHashNative } from '../protocol/sig.js';
import { priceLine } from '../protocol/receipt.js';
import { dayKey } from '../platform/clock.js';
import { bankKeyFiles, startBank } from './node.js';
import { Client, keyPair } from '../test/helpers/http_fixture.js';
import {
  HOLDINGS_TARGET_FEN, NETWORK, type TestBank, type TestNetwork, type Wallet, applicantClient, evidenceFor, fundHoldings, fundWallet, idemKey, nextPhone, openWallet,
  preparePayment, quiesce, signPayment, snapshot, startNetwork, waitFor,
} from '../test/helpers/bank_fixture.js';

const TAX_ID_A = '91350100M000100Y43';
const TAX_ID_B = '91440300708461136T';

let net: TestNetwork;
let a: TestBank;
let b: TestBank;
let payer: Wallet;
let shopA: Wallet; // merchant at bank-a, tax id given at opening
let shopB: Wallet; // merchant at bank-b, tax id set by staff
let plainB: Wallet; // a personal account at bank-b
let noTaxA: Wallet; // a merchant at bank-a without a tax id
/** bank-a's own key, signing at another bank (the interbank routes). */
const asBankA = (at: TestBank) => new Client(at.url, NETWORK, 'bank-a', readOrCreateKeyFile(bankKeyFiles(a.dir).bank).secretKey);
const tax = (bank: TestBank) => new Client(bank.url, NETWORK, 'tax', readOrCreateKeyFile(bankKeyFiles(bank.dir).tax).secretKey);

const line = (description: string, quantity: number, unitPriceFen: bigint, taxRateBp: number) => ({ description, quantity, unitPriceFen, taxRateBp });

function draftFor(w: Wallet, lines = [line('Flat white', 2, 1000n, 600)], sk = w.key.sk): { compact: string; totalFen: bigint } {
  const d = makeDraft({ network: NETWORK, merchantAccount: w.id, merchantName: 'Harbour Coffee', lines });
  return { compact: signDraft(d, sk).compact, totalFen: d.totalFen };
}

/** A draft encoded as given (no checks), signed by `sk`: for drafts the library would not make. */
function rawDraft(d: ReceiptDraft, sk: Buffer): string {
  const bytes = encodeDraft(d);
  return Buffer.concat([bytes, signHashNative(sk, draftDigest(bytes))]).toString('base64url');
}

async function payWithReceipt(from: Wallet, to: Wallet, amountFen: bigint, receipt: string): Promise<{ txid: string }> {
  const p = await from.client.post(`/v1/accounts/${from.id}/payments`, { idempotency_key: idemKey(), payee: { account: to.id, bank: to.bank.id }, amount_fen: amountFen.toString(), receipt });
  expect(p.status, p.text).toBe(200);
  const s = await signPayment(from, p.body);
  expect(s.status, s.text).toBe(200);
  expect(s.body.status).toBe('settled');
  return s.body;
}

async function receiptsOf(w: Wallet, q = ''): Promise<{ role: string; receipt: ReceiptJson }[]> {
  const r = await w.client.get(`/v1/accounts/${w.id}/receipts${q}`);
  expect(r.status, r.text).toBe(200);
  return r.body.entries;
}

async function receiptFor(w: Wallet, txid: string, timeoutMs = 10_000): Promise<{ role: string; receipt: ReceiptJson }> {
  return waitFor(`a receipt for ${txid.slice(0, 8)} at ${w.id}`, async () => (await receiptsOf(w)).find((e) => e.receipt.txid === txid), timeoutMs, 100);
}

async function bankKey(via: TestBank, of: string): Promise<Buffer> {
  const r = await via.staff.get(`/v1/bank/key?bank=${of}`);
  expect(r.status, r.text).toBe(200);
  return Buffer.from(r.body.public_key, 'hex');
}

/** Every figure a refusal must leave alone: balances, histories, totals, supply, and each wallet's receipts. */
async function state(): Promise<unknown> {
  const ws = [payer, shopA, shopB, plainB, noTaxA];
  return { s: await snapshot(net, ws), r: await Promise.all(ws.map((w) => receiptsOf(w))) };
}

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }, { id: 'bank-b' }]);
  a = net.bank('bank-a');
  b = net.bank('bank-b');
  await fundHoldings(net, a);
  await fundHoldings(net, b);
  payer = await openWallet(a, { tier: 2 });
  await fundWallet(payer, 500_000n);
  // Opened with its tax id in the opening request.
  const key = keyPair(`shop-a-${process.pid}`);
  const phone = nextPhone();
  const r = await applicantClient(a, key).post('/v1/accounts', { kind: 'merchant', mcc: '5812', tier: 2, evidence: evidenceFor(2, phone), tax_id: TAX_ID_A });
  expect(r.status, r.text).toBe(201);
  expect(r.body.tax_id).toBe(TAX_ID_A);
  shopA = { bank: a, key, id: r.body.id, client: new Client(a.url, NETWORK, r.body.id, key.sk), phone };
  a.accounts.push(shopA.id);
  shopB = await openWallet(b, { tier: 2, kind: 'merchant', mcc: '5411' });
  const t = await b.staff.post(`/v1/accounts/${shopB.id}/tax-id`, { tax_id: TAX_ID_B });
  expect(t.status, t.text).toBe(200);
  plainB = await openWallet(b, { tier: 2 });
  noTaxA = await openWallet(a, { tier: 2, kind: 'merchant', mcc: '5812' });
}, 60_000);

afterAll(async () => {
  await net?.close();
});

describe('tax ids', () => {
  it('are refused on a personal account, with a bad check character, and by a wallet setting its own', async () => {
    for (const body of [
      { kind: 'personal', tier: 4, evidence: { phone: nextPhone() }, tax_id: TAX_ID_A },
      { kind: 'merchant', mcc: '5812', tier: 4, evidence: { phone: nextPhone() }, tax_id: '91350100M000100Y44' },
    ]) {
      const r = await applicantClient(a, keyPair(`tx-${Math.random()}`)).post('/v1/accounts', body);
      expect(r.status, r.text).toBe(400);
      expect(r.body.code).toBe('CBDC_ERR_TAX_ID');
    }
    const self = await noTaxA.client.post(`/v1/accounts/${noTaxA.id}/tax-id`, { tax_id: TAX_ID_A });
    expect(self.body.code).toBe('CBDC_ERR_FORBIDDEN');
    const personal = await a.staff.post(`/v1/accounts/${payer.id}/tax-id`, { tax_id: TAX_ID_A });
    expect(personal.body.code).toBe('CBDC_ERR_TAX_ID');
  });
});

describe('receipts', () => {
  let sameTxid = '';
  let crossTxid = '';

  it('same bank: the payer and the merchant both get the receipt the bank signed', async () => {
    const d = draftFor(shopA, [line('Flat white', 2, 1000n, 600), line('可颂 croissant', 1, 1250n, 600), line('Bottled water', 3, 199n, 1300)]);
    expect(d.totalFen).toBe(4120n);
    const p = await payWithReceipt(payer, shopA, d.totalFen, d.compact);
    sameTxid = p.txid;
    const mine = await receiptFor(payer, p.txid);
    const theirs = await receiptFor(shopA, p.txid);
    expect(mine.role).toBe('payer');
    expect(theirs.role).toBe('merchant');
    expect(mine.receipt).toEqual(theirs.receipt);
    const r = mine.receipt;
    expect(r).toMatchObject({ bank: 'bank-a', merchant_account: shopA.id, merchant_name: 'Harbour Coffee', tax_id: TAX_ID_A, mcc: '5812', subtotal_fen: '3847', tax_fen: '273', total_fen: '4120', txid: p.txid });
    // No payer personal data: neither its account, nor its phone.
    expect(JSON.stringify(r)).not.toContain(payer.id);
    expect(JSON.stringify(r)).not.toContain(payer.phone);
    expect(verifyReceipt(r, await bankKey(a, 'bank-a'))).toBe(true);
    expect(verifyReceipt(r, await bankKey(a, 'bank-b'))).toBe(false);
    // By id, by day, by role.
    const one = await payer.client.get(`/v1/accounts/${payer.id}/receipts/${r.receipt_id}`);
    expect(one.status, one.text).toBe(200);
    expect(one.body.receipt).toEqual(r);
    const day = dayKey(r.issued_at_ms);
    expect((await receiptsOf(shopA, `?day=${day}&role=merchant`)).map((e) => e.receipt.receipt_id)).toContain(r.receipt_id);
    expect(await receiptsOf(shopA, '?day=2001-01-01')).toEqual([]);
    expect(await receiptsOf(shopA, '?role=payer')).toEqual([]);
  });

  it('cross bank: the merchant bank issues it, the payer bank keeps it for the payer', async () => {
    const d = draftFor(shopB, [line('Rice 5kg', 1, 4500n, 900)]);
    const p = await payWithReceipt(payer, shopB, d.totalFen, d.compact);
    crossTxid = p.txid;
    const mine = await receiptFor(payer, p.txid);
    const theirs = await receiptFor(shopB, p.txid);
    expect(mine.receipt).toEqual(theirs.receipt);
    expect(mine.receipt).toMatchObject({ bank: 'bank-b', tax_id: TAX_ID_B, mcc: '5411', total_fen: '4905', tax_fen: '405' });
    expect(verifyReceipt(mine.receipt, await bankKey(a, 'bank-b'))).toBe(true);
    expect((await bankKey(a, 'bank-b')).equals(await bankKey(b, 'bank-b'))).toBe(true);
  });

  it('is idempotent per txid: the same draft again answers the same receipt, another draft is refused', async () => {
    const theirs = await receiptFor(shopB, crossTxid);
    const payment = (await payer.client.get(`/v1/accounts/${payer.id}/history?limit=500`)).body.entries.find((e: { txid: string }) => e.txid === crossTxid);
    const p = await payer.client.get(`/v1/accounts/${payer.id}/payments/${payment.payment_id}`);
    const draft = (await a.node.bank.store.payments.get(p.body.id))!.receiptDraft!;
    const again = await asBankA(b).post('/v1/interbank/receipts', { txid: crossTxid, draft });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(theirs.receipt);
    const before = await state();
    const other = draftFor(shopB, [line('Rice 5kg (brown)', 1, 4500n, 900)]);
    const r = await asBankA(b).post('/v1/interbank/receipts', { txid: crossTxid, draft: other.compact });
    expect(r.status, r.text).toBe(409);
    expect(r.body.code).toBe('CBDC_ERR_RECEIPT_CONFLICT');
    // The draft of one payment for another txid.
    const reuse = await asBankA(b).post('/v1/interbank/receipts', { txid: sameTxid, draft });
    expect(reuse.body.code).toBe('CBDC_ERR_RECEIPT_CONFLICT');
    expect(await state()).toEqual(before);
  });

  it('is refused on the interbank route for a txid that did not pay that merchant that total', async () => {
    // A payment of 10.00 to shopB without a receipt; a draft of 49.05 claimed for it.
    const plain = await preparePayment(payer, { account: shopB.id, bank: 'bank-b' }, 1000n);
    const s = await signPayment(payer, plain.body);
    expect(s.body.status).toBe('settled');
    await quiesce(net);
    const before = await state();
    const d = draftFor(shopB, [line('Rice 5kg', 1, 4500n, 900)]);
    const r = await asBankA(b).post('/v1/interbank/receipts', { txid: s.body.txid, draft: d.compact });
    expect(r.body.code).toBe('CBDC_ERR_RECEIPT_PAYMENT');
    const unseen = await asBankA(b).post('/v1/interbank/receipts', { txid: 'ee'.repeat(32), draft: draftFor(shopB, [line('x', 1, 1000n, 0)]).compact });
    expect(unseen.body.code).toBe('CBDC_ERR_RECEIPT_NOT_SETTLED');
    // Only a bank signs on this route.
    const byWallet = await payer.client.post('/v1/interbank/receipts', { txid: s.body.txid, draft: d.compact });
    expect(byWallet.body.code).toBe('CBDC_ERR_FORBIDDEN');
    expect(await state()).toEqual(before);
  });

  it('refuses each bad draft with its own code and changes nothing', async () => {
    await quiesce(net);
    const before = await state();
    const good = makeDraft({ network: NETWORK, merchantAccount: shopA.id, lines: [line('Tea', 1, 1000n, 600)] });
    const cases: [string, Wallet, bigint, string][] = [
      ['CBDC_ERR_RECEIPT_TOTAL', shopA, 1000n, draftFor(shopA, [line('Tea', 1, 1000n, 600)]).compact],
      ['CBDC_ERR_RECEIPT_SIGNATURE', shopA, 1060n, draftFor(shopA, [line('Tea', 1, 1000n, 600)], payer.key.sk).compact],
      ['CBDC_ERR_RECEIPT_MERCHANT', noTaxA, 1060n, draftFor(noTaxA, [line('Tea', 1, 1000n, 600)]).compact],
      ['CBDC_ERR_RECEIPT_MERCHANT', shopA, 1060n, draftFor(noTaxA, [line('Tea', 1, 1000n, 600)]).compact], // names another account
      ['CBDC_ERR_RECEIPT_LINES', shopA, 1000n * BigInt(RECEIPT_LINES_MAX + 1), rawDraft({ ...good, lines: Array(RECEIPT_LINES_MAX + 1).fill(priceLine(line('Tea', 1, 1000n, 0))), totalFen: 1000n * BigInt(RECEIPT_LINES_MAX + 1) }, shopA.key.sk)],
      ['CBDC_ERR_RECEIPT_LINE', shopA, 1000n, rawDraft({ ...good, lines: [priceLine(line('Tea', 0, 1000n, 0))], totalFen: 0n }, shopA.key.sk)],
      ['CBDC_ERR_RECEIPT_LINE', shopA, 1000n, rawDraft({ ...good, lines: [priceLine(line('Tea', 1, 1000n, 20_000))], totalFen: 3000n }, shopA.key.sk)],
      ['CBDC_ERR_RECEIPT_FORMAT', shopA, 1060n, 'not*base64url'],
      ['CBDC_ERR_RECEIPT_FORMAT', shopA, 1060n, draftFor(shopA, [line('Tea', 1, 1000n, 600)]).compact + 'A'],
    ];
    for (const [code, to, amountFen, receipt] of cases) {
      const r = await payer.client.post(`/v1/accounts/${payer.id}/payments`, { idempotency_key: idemKey(), payee: { account: to.id }, amount_fen: amountFen.toString(), receipt });
      expect(r.body.code, `${code}: ${r.text}`).toBe(code);
    }
    // A payee at another bank with a draft naming someone else.
    const r = await payer.client.post(`/v1/accounts/${payer.id}/payments`, { idempotency_key: idemKey(), payee: { account: plainB.id, bank: 'bank-b' }, amount_fen: '1060', receipt: draftFor(shopA, [line('Tea', 1, 1000n, 600)]).compact });
    expect(r.body.code).toBe('CBDC_ERR_RECEIPT_MERCHANT');
    // A JSON number where the draft goes.
    const n = await payer.client.post(`/v1/accounts/${payer.id}/payments`, { idempotency_key: idemKey(), payee: { account: shopA.id }, amount_fen: '1060', receipt: 12 });
    expect(n.body.code).toBe('CBDC_ERR_RECEIPT_FORMAT');
    const unknown = await payer.client.get(`/v1/accounts/${payer.id}/receipts/rct-0000000000000000`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('CBDC_ERR_RECEIPT_UNKNOWN');
    // Another account's receipt is unknown to this one.
    const theirs = (await receiptsOf(shopB))[0]!.receipt.receipt_id;
    const other = await plainB.client.get(`/v1/accounts/${plainB.id}/receipts/${theirs}`);
    expect(other.body.code).toBe('CBDC_ERR_RECEIPT_UNKNOWN');
    expect(await state()).toEqual(before);
  });

  it('a payee at another bank that issues no receipts: the payment stands, the delivery is refused for good', async () => {
    const d = draftFor(plainB, [line('Tea', 1, 1000n, 600)]);
    const p = await payWithReceipt(payer, plainB, d.totalFen, d.compact);
    const svc = a.node.receipts;
    const refused = await waitFor('the refusal', async () => svc.refusedFor(p.txid), 10_000, 50);
    expect(refused.code).toBe('CBDC_ERR_RECEIPT_MERCHANT');
    expect(svc.store.outgoing.get(p.txid)).toBeUndefined();
    expect(svc.pendingCount()).toBe(0);
    expect((await receiptsOf(payer)).some((e) => e.receipt.txid === p.txid)).toBe(false);
  });

  it('the tax authority reads receipts per merchant, and nothing else, and writes nothing', async () => {
    const t = tax(a);
    const byAccount = await t.get(`/v1/tax/receipts?merchant=${shopA.id}`);
    expect(byAccount.status, byAccount.text).toBe(200);
    expect(byAccount.body.entries.map((e: { receipt: ReceiptJson }) => e.receipt.txid)).toContain(sameTxid);
    const byTaxId = await t.get(`/v1/tax/receipts?merchant=${TAX_ID_A}&day=${dayKey(Date.now())}`);
    expect(byTaxId.status, byTaxId.text).toBe(200);
    expect(byTaxId.body.merchants).toEqual([shopA.id]);
    expect(byTaxId.body.entries.every((e: { role: string; receipt: ReceiptJson }) => e.role === 'merchant' && e.receipt.tax_id === TAX_ID_A)).toBe(true);
    expect((await t.get(`/v1/tax/receipts?merchant=${payer.id}`)).body.code).toBe('CBDC_ERR_RECEIPT_UNKNOWN');
    expect((await t.get(`/v1/tax/receipts?merchant=${TAX_ID_B}`)).body.code).toBe('CBDC_ERR_RECEIPT_UNKNOWN'); // another bank's merchant
    // Only the tax role reads that route.
    expect((await a.staff.get(`/v1/tax/receipts?merchant=${shopA.id}`)).body.code).toBe('CBDC_ERR_FORBIDDEN');
    expect((await payer.client.get(`/v1/tax/receipts?merchant=${shopA.id}`)).body.code).toBe('CBDC_ERR_FORBIDDEN');
    const before = await state();
    // Reads of accounts, history, receipts of an account: refused.
    for (const p of [`/v1/accounts/${shopA.id}`, `/v1/accounts/${shopA.id}/history`, `/v1/accounts/${shopA.id}/receipts`, '/v1/bank/totals', '/v1/compliance/aml']) {
      const r = await t.get(p);
      expect(r.body.code, p).toBe('CBDC_ERR_FORBIDDEN');
    }
    // Writes: refused whatever the route.
    for (const [p, body] of [
      [`/v1/accounts/${shopA.id}/deposit`, { amount_fen: '100' }], [`/v1/accounts/${shopA.id}/tax-id`, { tax_id: TAX_ID_B }],
      [`/v1/accounts/${shopA.id}/freeze`, {}], ['/v1/interbank/receipts', { txid: sameTxid, draft: draftFor(shopA).compact }],
      [`/v1/accounts/${payer.id}/pay`, { idempotency_key: idemKey(), payee: { account: shopA.id }, amount_fen: '1', tx: {} }],
    ] as const) {
      const r = await t.post(p, body);
      expect(r.status, p).toBe(403);
      expect(r.body.code, p).toBe('CBDC_ERR_FORBIDDEN');
    }
    expect(await state()).toEqual(before);
  });

  it('delivers from the LMDB queue once the merchant bank is back, across a restart of the payer bank', async () => {
    const d = draftFor(shopB, [line('Milk 1L', 2, 1500n, 900)]);
    // Hold deliveries at bank-a while the payment settles, then take bank-b down.
    await a.node.receipts.stop();
    const p = await payWithReceipt(payer, shopB, d.totalFen, d.compact);
    await quiesce(net);
    const bPort = Number(new URL(b.url).port);
    await b.node.close();
    a.node.receipts.start();
    await waitFor('delivery attempts against the stopped bank', async () => (a.node.receipts.store.outgoing.get(p.txid)?.attempts ?? 0) >= 2, 10_000, 50);
    expect(a.node.receipts.store.outgoing.get(p.txid)?.status).toBe('pending');
    expect(a.node.receipts.pendingCount()).toBe(1);
    // The payer's bank restarts: the queue is on disk.
    const aPort = Number(new URL(a.url).port);
    const aPeers = a.node.bank.peers;
    await a.node.close();
    a.node = await startBank({ id: 'bank-a', host: '127.0.0.1', port: aPort, dataDir: a.dir, centralUrl: net.centralUrl, network: NETWORK, peers: aPeers, bank: { holdingsLowFen: 1n, holdingsTargetFen: HOLDINGS_TARGET_FEN, holdingsHighFen: 10n ** 15n } });
    expect(a.node.receipts.pendingCount()).toBe(1);
    expect(await receiptsOf(payer)).not.toContainEqual(expect.objectContaining({ receipt: expect.objectContaining({ txid: p.txid }) }));
    // bank-b back on its port: the next attempt delivers.
    b.node = await startBank({ id: 'bank-b', host: '127.0.0.1', port: bPort, dataDir: b.dir, centralUrl: net.centralUrl, network: NETWORK, peers: new Map([['bank-a', a.url]]), bank: { holdingsLowFen: 1n, holdingsTargetFen: HOLDINGS_TARGET_FEN, holdingsHighFen: 10n ** 15n } });
    const mine = await receiptFor(payer, p.txid, 15_000);
    expect(mine.receipt).toMatchObject({ bank: 'bank-b', total_fen: d.totalFen.toString(), merchant_account: shopB.id });
    expect(verifyReceipt(mine.receipt, await bankKey(a, 'bank-b'))).toBe(true);
    expect((await receiptFor(shopB, p.txid)).receipt).toEqual(mine.receipt);
    expect(a.node.receipts.pendingCount()).toBe(0);
    expect(a.node.receipts.store.outgoing.get(p.txid)).toBeUndefined();
  }, 40_000);
});
