// The bank's place in central's event stream: batches with nothing of this bank's in them
// (another bank's payments) are handled without a write, so its stored cursor lags the batches
// it handled; a batch that pays it, and a polite stop, write the cursor; and a bank that
// restarts from a cursor left behind (as after a crash) reads those batches again and changes
// nothing (one it had applied included).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { BankStore } from './store.js';
import { bankKeyFiles, startBank } from './node.js';
import { readOrCreateKeyFile } from '../platform/key_file.js';
import { Client } from '../test/helpers/http_fixture.js';
import {
  HOLDINGS_TARGET_FEN, NETWORK, type TestBank, type TestNetwork, type Wallet, account, fundHoldings, fundWallet, openWallet, pay, quiesce, startNetwork, supply, totals,
} from '../test/helpers/bank_fixture.js';

let net: TestNetwork;
let a1: Wallet;
let a2: Wallet;
let b1: Wallet;

const storedCursor = (bankId: string): bigint => BigInt((net.bank(bankId).node.bank.store.meta.get('cursor') as string | undefined) ?? '0');
const head = async (): Promise<bigint> => BigInt((await supply(net)).batches);

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }, { id: 'bank-b' }]);
  await fundHoldings(net, net.bank('bank-a'));
  await fundHoldings(net, net.bank('bank-b'));
  a1 = await openWallet(net.bank('bank-a'));
  a2 = await openWallet(net.bank('bank-a'));
  b1 = await openWallet(net.bank('bank-b'));
  await fundWallet(a1, 100_000n);
  await quiesce(net);
}, 60_000);

afterAll(async () => {
  await net?.close();
});

describe("the bank's cursor in central's event stream", () => {
  it("another bank's payments move it without a write; a payment to this bank writes it", async () => {
    const before = storedCursor('bank-b');
    const headBefore = await head();
    for (let i = 0; i < 3; i++) await pay(a1, { account: a2.id }, 1_000n);
    await quiesce(net);
    expect(await head()).toBeGreaterThanOrEqual(headBefore + 3n);
    // bank-a's own payments: nothing of bank-b's in those batches.
    expect(storedCursor('bank-b')).toBe(before);
    await pay(a1, { account: b1.id }, 2_500n);
    await quiesce(net);
    expect(storedCursor('bank-b')).toBe(await head());
    expect(BigInt((await account(b1)).balance_fen)).toBe(2_500n);
  }, 60_000);

  it('a bank restarted from a cursor left behind reads the batches again and changes nothing; a polite stop writes the cursor', async () => {
    const b = net.bank('bank-b');
    const cursorBefore = storedCursor('bank-b');
    // More of bank-a's business, which bank-b handles without writing.
    for (let i = 0; i < 2; i++) await pay(a1, { account: a2.id }, 700n);
    await quiesce(net);
    const headNow = await head();
    expect(storedCursor('bank-b')).toBe(cursorBefore);
    const totalsBefore = await totals(b);
    const accountBefore = await account(b1);
    await b.node.close();
    // The polite stop wrote what it had handled.
    let store = new BankStore(path.join(b.dir, 'bank.mdb'));
    expect(BigInt(store.meta.get('cursor') as string)).toBe(headNow);
    // As after a crash: the cursor back where it stood before the payment to bank-b.
    await store.root.transaction(() => store.meta.putSync('cursor', (cursorBefore - 2n).toString()));
    await store.close();
    const node = await startBank({
      id: 'bank-b', host: '127.0.0.1', port: 0, dataDir: b.dir, centralUrl: net.centralUrl, network: NETWORK, peers: new Map([['bank-a', net.bank('bank-a').url]]),
      bank: { holdingsLowFen: 1n, holdingsTargetFen: HOLDINGS_TARGET_FEN, holdingsHighFen: 10n ** 15n },
    });
    const files = bankKeyFiles(b.dir);
    const signer = (name: string, file: string) => new Client(node.url, NETWORK, name, readOrCreateKeyFile(file).secretKey);
    const restarted: TestBank = {
      ...b, node, url: node.url, staff: signer('staff', files.staff), compliance: signer('compliance', files.compliance), regulator: signer('regulator', files.regulator), self: signer('bank-b', files.bank),
    };
    net.banks.set('bank-b', restarted);
    const b1Again: Wallet = { ...b1, bank: restarted, client: new Client(node.url, NETWORK, b1.id, b1.key.sk) };
    await quiesce(net);
    expect(await totals(restarted)).toEqual(totalsBefore);
    expect((await account(b1Again)).balance_fen).toBe(accountBefore.balance_fen);
    const r = await restarted.staff.get<{ ok: boolean; problems: string[] }>('/v1/bank/reconcile');
    expect(r.body).toMatchObject({ ok: true, problems: [] });
    store = node.bank.store;
    // The payment to bank-b was read again, found applied, and nothing was written for it.
    expect(BigInt(store.meta.get('cursor') as string)).toBe(cursorBefore - 2n);
    const history = await b1Again.client.get<{ entries: unknown[] }>(`/v1/accounts/${b1.id}/history`);
    expect(history.body.entries).toHaveLength(1);
  }, 60_000);
});
