// What is being spent lives in memory and is rebuilt from the records when the store opens
// (intermediary/in_flight.ts): a payment central refuses leaves nothing pending behind; a
// payment left submitted by a stop is reserved and pending again after reopening, and is sent
// once more; rows an earlier version wrote for payments are removed at open, the others kept.
import { mkdtemp, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { publicKeyOfNative, signHashNative } from '../protocol/sig.js';
import { type Tx, txId } from '../protocol/tx.js';
import { Bank } from './bank.js';
import type { CentralLink, CentralResult } from './central_link.js';
import { BankStore, posKey } from './store.js';

const dirs: string[] = [];
const banks: Bank[] = [];
afterEach(async () => {
  for (const b of banks.splice(0)) await b.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const key = (label: string) => {
  const sk = createHash('sha256').update(`in-flight-test/${label}`).digest();
  return { sk, pk: publicKeyOfNative(sk) };
};
const bankKey = key('bank');

/** Central as the bank's link sees it, answering each submission as `answer` says. */
function scriptedCentral(answer: (tx: Tx) => CentralResult | 'never') {
  let nextPos = 1n;
  const outputs = (n: number) => Array.from({ length: n }, () => ({ pos: String(nextPos++), id: randomBytes(32).toString('hex') }));
  const submitted: string[] = [];
  const link = {
    ca: undefined,
    submit: (tx: Tx): Promise<CentralResult> => {
      submitted.push(txId(tx).toString('hex'));
      const a = answer(tx);
      return a === 'never' ? new Promise(() => undefined) : Promise.resolve(a);
    },
    follow: () => undefined,
    stop: () => undefined,
    call: async (_method: string, route: string) => {
      if (route === '/v1/issuance') return { txid: randomBytes(32).toString('hex'), outputs: outputs(1) };
      throw new Error(`the test's central does not answer ${route}`);
    },
  };
  return { link: link as unknown as CentralLink, submitted, outputs };
}

async function bankOn(file: string, link: CentralLink): Promise<{ bank: Bank; store: BankStore }> {
  const store = new BankStore(file);
  const bank = new Bank(store, link, { id: 'bank-a', network: 'cbdc-test', secretKey: bankKey.sk, publicKey: bankKey.pk });
  await bank.start();
  banks.push(bank);
  return { bank, store };
}

/** A bank with a funded payer and a payee, the payer's coins from exchanges that settle at once. */
async function setUp(answer: (tx: Tx) => CentralResult | 'never') {
  const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-in-flight-'));
  dirs.push(dir);
  const file = path.join(dir, 'bank.mdb');
  let payments = false;
  const central = scriptedCentral((tx) => (payments ? answer(tx) : { status: 'settled', txid: txId(tx).toString('hex'), outputs: central.outputs(tx.outputs.length) } as CentralResult));
  const { bank, store } = await bankOn(file, central.link);
  await bank.requestIssuance(10_000_000n);
  const open1 = async (i: number) => {
    const k = key(`wallet-${i}`);
    const phone = `+861380000000${i}`;
    const a = await bank.openAccount({ walletKey: k.pk, kind: 'personal', tier: 3, evidence: { phone, name: `Customer ${i}`, id_number: `ID${phone.slice(1)}` }, staff: null });
    return { id: a.id, sk: k.sk };
  };
  const payer = await open1(1);
  const payee = await open1(2);
  await bank.creditDeposit(payer.id, 100_000n);
  await bank.exchangeToWallet(payer.id, 50_000n, 'fund');
  payments = true;
  return { file, bank, store, central, payer, payee };
}

/** The two-step flow: the bank builds the payment, the payer signs its txid. */
async function payTwoStep(bank: Bank, payer: { id: string; sk: Buffer }, payeeId: string, amountFen: bigint) {
  const p = await bank.preparePayment(payer.id, { idempotencyKey: randomBytes(8).toString('hex'), payee: { account: payeeId }, amountFen });
  return { prepared: p, signing: bank.signPayment(payer.id, p.id, signHashNative(payer.sk, Buffer.from(p.txid, 'hex')).toString('hex')) };
}

const pendingRows = (store: BankStore) => [...store.meta.getRange({ start: 'pending-tx/', end: 'pending-tx/~' })].map((e) => e.key);

describe('what is being spent, in memory', () => {
  it('a payment central refuses for good frees its inputs and leaves nothing pending to send again', async () => {
    const { bank, store, central, payer, payee } = await setUp(() => ({ status: 'rejected', code: 'CBDC_ERR_BAD_SIGNATURE', message: 'refused' }) as CentralResult);
    const { prepared, signing } = await payTwoStep(bank, payer, payee.id, 1_000n);
    expect(store.reserved.holder(posKey(prepared.inputs[0]!))).toBe(prepared.id);
    const done = await signing;
    expect(done.status).toBe('rejected');
    expect(store.reserved.holder(posKey(prepared.inputs[0]!))).toBeUndefined();
    expect(store.pending.size).toBe(0);
    expect(pendingRows(store)).toEqual([]);
    const sent = central.submitted.length;
    await bank.resubmitPending();
    expect(central.submitted.length).toBe(sent);
    // The inputs pay again.
    const again = await payTwoStep(bank, payer, payee.id, 1_000n);
    expect(again.prepared.inputs).toEqual(prepared.inputs);
    expect((await again.signing).status).toBe('rejected');
    await store.close();
  });

  it('a payment left submitted is reserved and pending again after reopening, and is sent once more', async () => {
    let settle = false;
    const { file, bank, store, central, payer, payee } = await setUp((tx) => (settle ? { status: 'settled', txid: txId(tx).toString('hex'), outputs: central.outputs(tx.outputs.length) } as CentralResult : 'never'));
    const { prepared } = await payTwoStep(bank, payer, payee.id, 1_000n);
    // Submitted: on file once its write transaction commits (central never answers this one).
    await expect.poll(() => store.payments.get(prepared.id)?.status).toBe('submitted');
    await store.flushed();
    const balanceBefore = store.accounts.get(payer.id)!.balanceFen;
    await store.close();

    settle = true;
    const { bank: bank2, store: store2 } = await bankOn(file, central.link);
    for (const pos of prepared.inputs) expect(store2.reserved.holder(posKey(pos))).toBe(prepared.id);
    expect(store2.pending.entries()).toEqual([[prepared.txid, { kind: 'payment', account: payer.id, amountFen: '1000', coins: prepared.inputs, paymentId: prepared.id }]]);
    expect(pendingRows(store2)).toEqual([]);
    const sent = central.submitted.length;
    await bank2.resubmitPending();
    expect(central.submitted.slice(sent)).toEqual([prepared.txid]);
    expect(store2.payments.get(prepared.id)!.status).toBe('settled');
    expect(store2.pending.size).toBe(0);
    for (const pos of prepared.inputs) expect(store2.reserved.holder(posKey(pos))).toBeUndefined();
    expect(BigInt(store2.accounts.get(payer.id)!.balanceFen)).toBe(BigInt(balanceBefore) - 1_000n);
    expect(BigInt(store2.accounts.get(payee.id)!.balanceFen)).toBe(1_000n);
    await store2.close();
  });

  it("at open, an earlier version's rows for payments are removed; an exchange's stay", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-in-flight-'));
    dirs.push(dir);
    const file = path.join(dir, 'bank.mdb');
    const payment = {
      id: 'pay-0000000000000001', account: 'bank-a.000000000001', idempotencyKey: 'k', requestDigest: 'd',
      payee: { bank: 'bank-a', account: 'bank-a.000000000002', alias: null, kind: 'customer' }, amountFen: '5', walletFen: '5', excessFen: '0',
      inputs: ['7'], inputSumFen: '9', changeFen: '4', tx: {}, txid: 'aa'.repeat(32), status: 'submitted', createdAtMs: 1, expiresAtMs: 2,
      dayKey: '1970-01-01', yearKey: '1970', result: null,
    };
    const settled = { ...payment, id: 'pay-0000000000000002', inputs: ['8'], txid: 'bb'.repeat(32), status: 'settled' };
    const exchange = { kind: 'exchange', account: 'bank-a.000000000001', amountFen: '5', tx: { kind: 'transfer' }, coins: ['9'] };
    // As an earlier version left them: every reservation and pending entry written.
    const before = open({ path: file, maxDbs: 64, cache: false });
    await before.transaction(() => {
      const reserved = before.openDB<string, string>({ name: 'reserved' });
      reserved.putSync(posKey('7'), payment.id);
      reserved.putSync(posKey('9'), `exchange:${'cc'.repeat(32)}`);
      const meta = before.openDB<unknown, string>({ name: 'meta' });
      meta.putSync(`pending-tx/${payment.txid}`, { kind: 'payment', account: payment.account, amountFen: '5', coins: ['7'], paymentId: payment.id });
      // A refused payment's entry an earlier version never removed.
      meta.putSync(`pending-tx/${settled.txid}`, { kind: 'payment', account: payment.account, amountFen: '5', coins: ['8'], paymentId: settled.id });
      meta.putSync(`pending-tx/${'cc'.repeat(32)}`, exchange);
      const payments = before.openDB<unknown, string>({ name: 'payments' });
      payments.putSync(payment.id, payment);
      payments.putSync(settled.id, settled);
    });
    await before.close();

    const store = new BankStore(file);
    expect(store.reserved.holder(posKey('7'))).toBe(payment.id);
    expect(store.reserved.holder(posKey('8'))).toBeUndefined();
    expect(store.reserved.holder(posKey('9'))).toBe(`exchange:${'cc'.repeat(32)}`);
    expect(new Map(store.pending.entries())).toEqual(new Map<string, unknown>([
      [payment.txid, { kind: 'payment', account: payment.account, amountFen: '5', coins: ['7'], paymentId: payment.id }],
      ['cc'.repeat(32), exchange],
    ]));
    const raw = open({ path: file, maxDbs: 64, cache: false, readOnly: true });
    expect([...raw.openDB<string, string>({ name: 'reserved' }).getRange({})].map((e) => [e.key, e.value])).toEqual([[posKey('9'), `exchange:${'cc'.repeat(32)}`]]);
    await raw.close();
    expect(pendingRows(store)).toEqual([`pending-tx/${'cc'.repeat(32)}`]);
    await store.close();
  });
});
