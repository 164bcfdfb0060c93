// The command-line wallet end to end: `node dist/wallet/cli.js` as a child process, against a
// central node and two bank nodes that are real processes (./helpers/network_process.ts).
// Alice banks at bank-a, Bob at bank-b. Alice's teller credits her deposit, she moves some to
// her wallet and pays Bob across banks while Bob's `watch` (started first) shows it arrive;
// both histories show it; a payment request round-trips; a retried payment with the same
// idempotency key pays once; and the errors people and scripts meet come with the documented
// exit codes. The tests run in order and share the network; figures are cumulative.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, freePort, killAllNetworkProcesses } from './helpers/network_process.js';
import { type CliResult, WalletUser, eventually, tellerDeposit, waitForHoldings } from './helpers/wallet_fixture.js';

const NETWORK = 'cbdc-wallet-e2e';
const ALICE_PHONE = '+8613800000001';
const BOB_PHONE = '+8613900000002';

let root: string;
let net: NetworkProcess;
let alice: WalletUser;
let bob: WalletUser;
let aliceId = '';
let bobId = '';

/** One line on stderr, ending with the code in parentheses. */
function expectOneLineError(r: CliResult, exit: number, code: string): void {
  expect(r.code, r.stderr).toBe(exit);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^cbdc-wallet: /);
  expect(lines[0]!.endsWith(`(${code})`), lines[0]).toBe(true);
  expect(r.stdout).toBe('');
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-wallet-cli-'));
  net = new NetworkProcess({ root, network: NETWORK, banks: ['bank-a', 'bank-b'] });
  await net.start();
  alice = new WalletUser('alice', root, 'alice: correct horse battery staple', 'file');
  bob = new WalletUser('bob', root, 'bob: tr0ub4dor & 3', 'env');
}, 60_000);

afterAll(async () => {
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe('cbdc-wallet against a running network', () => {
  it('init creates an encrypted keystore (0600) and never overwrites one', async () => {
    const [a] = await alice.ok(['init', '--scrypt-cost', '10']);
    expect(a!.public_key).toMatch(/^0[23][0-9a-f]{64}$/);
    expect(a!.wallet).toBe(alice.file);
    expect(statSync(alice.file).mode & 0o777).toBe(0o600);
    await bob.ok(['init', '--scrypt-cost', '10']);
    const again = await alice.run(['init', '--scrypt-cost', '10']);
    expectOneLineError(again, 3, 'CBDC_ERR_KEYSTORE_EXISTS');
  });

  it('two people open accounts at two banks; the keystore records bank, network and account', async () => {
    const [a] = await alice.ok(['open-account', '--bank', net.bank('bank-a').url, '--tier', '4', '--phone', ALICE_PHONE]);
    const [b] = await bob.ok(['open-account', '--bank', net.bank('bank-b').url, '--tier', '4', '--phone', BOB_PHONE]);
    aliceId = a!.account.id;
    bobId = b!.account.id;
    expect(aliceId).toMatch(/^bank-a\.[0-9a-f]{12}$/);
    expect(bobId).toMatch(/^bank-b\.[0-9a-f]{12}$/);
    expect(a).toMatchObject({ bank: 'bank-a', network: NETWORK, bank_url: net.bank('bank-a').url });
    expect(b!.account.aliases).toEqual([BOB_PHONE]);
    // A human-readable balance right away.
    const r = await bob.run(['balance']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`account   ${bobId} at bank-b (personal, tier 4, active)`);
    expect(r.stdout).toMatch(/wallet\s+0\.00/);
    expect(r.stdout).toMatch(/daily 5000\.00 \(used today 0\.00\)/);
  });

  it('a teller deposit and an exchange fund the first wallet', async () => {
    const t = await tellerDeposit(net.bank('bank-a'), aliceId, '500.00', root);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(`deposited 500.00 into ${aliceId}`);
    await waitForHoldings(net.bank('bank-a'), 20_000n);
    const r = await alice.run(['exchange', 'to-wallet', '200']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('moved 200.00 from your deposit to your wallet: wallet 200.00, deposit 300.00');
    const acc = await alice.account();
    expect(acc).toMatchObject({ balance_fen: '20000', balance: '200.00', deposit_fen: '30000', deposit: '300.00' });
    expect(acc.limits).toMatchObject({ single_payment: '2000.00', daily: '5000.00' });
  });

  it('pays across banks; watch (started first, --count 1) shows it arrive; both histories show it', async () => {
    const watch = bob.spawn(['watch', '--count', '1', '--json']);
    const ready = JSON.parse(await watch.waitForLine((l) => l.includes('"watching"'))) as Record<string, unknown>;
    expect(ready).toMatchObject({ event: 'watching', account: bobId, bank: 'bank-b', from: 0 });

    const r = await alice.run(['pay', BOB_PHONE, '12.34', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const paid = r.json[0]!;
    expect(paid).toMatchObject({ status: 'settled', replayed: false });
    expect(paid.payment).toMatchObject({ amount_fen: '1234', amount: '12.34', payee: { bank: 'bank-b', account: bobId, alias: BOB_PHONE } });

    const exit = await watch.exited;
    expect(exit.code, watch.stderr).toBe(0);
    const entries = watch.json.filter((j) => j.event === 'entry');
    expect(entries).toHaveLength(1);
    expect(entries[0]!.entry).toMatchObject({ seq: 0, direction: 'in', kind: 'payment', amount_fen: '1234', amount: '12.34', txid: paid.payment.txid, balance_after: '12.34' });

    const aliceOut = await alice.ok(['history', '--direction', 'out']);
    expect(aliceOut).toHaveLength(1);
    expect(aliceOut[0]).toMatchObject({ direction: 'out', kind: 'payment', amount: '12.34', txid: paid.payment.txid, counterparty: `${BOB_PHONE}@bank-b` });
    const bobHistory = await bob.run(['history']);
    expect(bobHistory.code).toBe(0);
    expect(bobHistory.stdout).toMatch(/^#0 .* in +\+12\.34 +payment from .* \(wallet 12\.34\)$/m);
    expect((await alice.account()).balance).toBe('187.66');
  });

  it('a payment request pasted into pay; retried with the same idempotency key, it pays once', async () => {
    const [req] = await bob.ok(['request', '5.50', '--memo', 'two coffees & a cake']);
    expect(req!.request).toBe(`cbdc:pay?to=${bobId}&bank=bank-b&amount=5.50&memo=two%20coffees%20%26%20a%20cake`);
    // `request` needs no passphrase.
    const plain = await bob.run(['request', '5.50'], { passphrase: null });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toBe(`cbdc:pay?to=${bobId}&bank=bank-b&amount=5.50`);

    const key = 'coffee-retry-0001';
    const first = await alice.run(['pay', req!.request, '--idempotency-key', key, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json[0]).toMatchObject({ status: 'settled', replayed: false, memo: 'two coffees & a cake', payment: { amount: '5.50', idempotency_key: key } });
    // The same command again (as after a lost answer): the same payment, nothing paid again.
    const again = await alice.run(['pay', req!.request, '--idempotency-key', key]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already paid (same idempotency key; nothing paid again) 5.50');
    expect(again.stdout).toContain(first.json[0]!.payment.id);
    // The same key for another amount is refused, not paid.
    const other = await alice.run(['pay', req!.request, '6.00', '--idempotency-key', key]);
    expect(other.code).toBe(2); // the request says 5.50: caught before the bank
    const conflict = await alice.run(['pay', bobId, '6.00', '--idempotency-key', key]);
    expectOneLineError(conflict, 1, 'CBDC_ERR_IDEMPOTENCY_CONFLICT');

    // Balances prove it: 5.50 left Alice once and reached Bob once.
    expect((await alice.account()).balance).toBe('182.16');
    await eventually(() => bob.account(), (a) => a.balance === '17.84');
    const bobIn = await bob.ok(['history', '--direction', 'in']);
    expect(bobIn.map((e) => e.amount)).toEqual(['12.34', '5.50']);
    const aliceAll = await alice.ok(['history', '--limit', '2']);
    expect(aliceAll.map((e) => `${e.direction} ${e.amount}`)).toEqual(['out 12.34', 'out 5.50']);
    expect((await bob.account()).balance).toBe('17.84');
  });

  it('a wrong passphrase is exit 3 with CBDC_ERR_KEYSTORE_PASSPHRASE, on one line', async () => {
    expectOneLineError(await alice.run(['balance'], { passphrase: 'not the passphrase' }), 3, 'CBDC_ERR_KEYSTORE_PASSPHRASE');
    const none = await alice.run(['balance'], { passphrase: null });
    expectOneLineError(none, 3, 'CBDC_ERR_KEYSTORE_PASSPHRASE');
    const j = await bob.run(['pay', ALICE_PHONE, '1.00', '--json'], { passphrase: 'wrong!' });
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stderr)).toEqual({ error: { code: 'CBDC_ERR_KEYSTORE_PASSPHRASE', message: expect.stringContaining('wrong passphrase'), exit_code: 3 } });
  });

  it('malformed amounts are exit 2 with CBDC_ERR_AMOUNT_FORMAT and pay nothing', async () => {
    for (const amount of ['12.345', '-1', 'abc', '1,5', '1e3']) {
      const r = await alice.run(['pay', BOB_PHONE, amount]);
      expectOneLineError(r, 2, 'CBDC_ERR_AMOUNT_FORMAT');
      expect(r.stderr).toContain(`"${amount}" is not an amount in yuan like 12.34`);
    }
    expectOneLineError(await alice.run(['exchange', 'to-deposit', '0']), 2, 'CBDC_ERR_AMOUNT_RANGE');
    expectOneLineError(await alice.run(['pay', 'somebody', '1.00']), 2, 'CBDC_ERR_ALIAS_FORMAT');
    const usage = await alice.run(['pay']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect((await alice.account()).balance).toBe('182.16');
  });

  it("a refusal is exit 1 with the bank's code in plain words", async () => {
    const r = await alice.run(['pay', BOB_PHONE, '2000.01']);
    expectOneLineError(r, 1, 'CBDC_ERR_LIMIT_SINGLE');
    expect(r.stderr.trim()).toBe('cbdc-wallet: payment refused: over your single-payment limit (CBDC_ERR_LIMIT_SINGLE)');
    const poor = await bob.run(['pay', ALICE_PHONE, '100.00']);
    expectOneLineError(poor, 1, 'CBDC_ERR_INSUFFICIENT_FUNDS');
    expectOneLineError(await alice.run(['pay', '+8613700000000', '1.00']), 1, 'CBDC_ERR_PAYEE_UNKNOWN');
  });

  it('a bank that cannot be reached is exit 4', async () => {
    const carol = new WalletUser('carol', root, 'carol: a long enough passphrase');
    await carol.ok(['init', '--scrypt-cost', '10']);
    const dead = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const r = await carol.run(['open-account', '--bank', dead, '--tier', '4', '--phone', '+8613600000003']);
    expectOneLineError(r, 4, 'CBDC_ERR_BANK_UNREACHABLE');
    expectOneLineError(await carol.run(['balance']), 2, 'CBDC_ERR_WALLET_NO_ACCOUNT');
  });

  it('exchange to-deposit, alias set and upgrade-kyc work from the command line', async () => {
    const x = await alice.run(['exchange', 'to-deposit', '2.16']);
    expect(x.code, x.stderr).toBe(0);
    expect(x.stdout.trim()).toBe('moved 2.16 from your wallet to your deposit: wallet 180.00, deposit 302.16');
    const al = await alice.run(['alias', 'set', '@alice_w']);
    expect(al.code, al.stderr).toBe(0);
    // Bob pays Alice's new handle at bank-a (his bank asks the other banks who @alice_w is).
    const p = await bob.run(['pay', '@alice_w', '1.00']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^paid 1\.00 to @alice_w \(bank-a\.[0-9a-f]{12}\)/);
    const k = await alice.ok(['upgrade-kyc', '--tier', '3', '--name', 'Alice Wang', '--id-number', '110101199001011234']);
    expect(k[0]!.account).toMatchObject({ tier: 3, limits: { single_payment: '5000.00' } });
    await eventually(() => alice.account(), (a) => a.balance === '181.00');
  });

  it('watch survives its bank restarting: it reconnects and resumes, no entry lost or repeated', async () => {
    const watch = bob.spawn(['watch', '--count', '2', '--json']);
    const ready = JSON.parse(await watch.waitForLine((l) => l.includes('"watching"'))) as { from: number };
    expect(ready.from).toBe(3); // two payments in, one out so far
    expect((await alice.run(['pay', BOB_PHONE, '1.00'])).code).toBe(0);
    await watch.waitForLine((l) => l.includes('"entry"'));
    await net.bank('bank-b').restart('SIGKILL');
    expect((await alice.run(['pay', BOB_PHONE, '2.00'])).code).toBe(0);
    const exit = await watch.exited;
    expect(exit.code, watch.stderr).toBe(0);
    const got = watch.json.filter((j) => j.event === 'entry').map((j) => `${j.entry.seq} ${j.entry.amount}`);
    expect(got).toEqual(['3 1.00', '4 2.00']);
    // The connection dropped with the bank and came back, resuming after the last entry seen.
    expect(watch.json.find((j) => j.event === 'disconnected')).toMatchObject({ resume_from: 4 });
    expect(watch.json.find((j) => j.event === 'reconnected')).toMatchObject({ from: 4 });
  });
});
