// Access control across the tiers, and TLS between them. Each attack is refused with its code
// and leaves central's ledger (digest) and the bank's figures unchanged:
//   - a bank spending another bank's customer's output, or signing for it;
//   - a bank registering itself or another, redeeming for another, or speaking as another bank;
//   - a wallet paying from another account, reusing another wallet's signature, replaying its own
//     signed request;
//   - anyone but the operator key issuing money.
// Then a network whose central and bank speak HTTPS only, with a CA made for the test by openssl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { multiLock, keyLock, makeTx } from '../../protocol/tx_builder.js';
import { signHashNative } from '../../protocol/sig.js';
import { txId } from '../../protocol/tx.js';
import { readOrCreateKeyFile } from '../../platform/key_file.js';
import { SignedClient } from '../../platform/signed_client.js';
import { startCentral } from '../../central/node.js';
import { bankKeyFiles, startBank } from '../../intermediary/node.js';
import type { PaymentPipeline } from '../../intermediary/payments.js';
import { WalletUser } from '../helpers/wallet_fixture.js';
import {
  Client, type KeyPair, expectError, issueTx, json, keyPair, operatorSignNative, rawRequest, signTxNative, startInProcess,
} from '../helpers/http_fixture.js';
import {
  type TestNetwork, type Wallet, account, fundHoldings, fundWallet, openWallet, preparePayment, quiesce, signPayment, startNetwork,
} from '../helpers/bank_fixture.js';

let net: TestNetwork;
let alice: Wallet; // bank-a
let bob: Wallet; // bank-b
let carol: Wallet; // bank-a
const dirs: string[] = [];
const attempts: Record<string, number> = {};
const tried = (what: string) => { attempts[what] = (attempts[what] ?? 0) + 1; };

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }, { id: 'bank-b' }]);
  for (const b of net.banks.values()) await fundHoldings(net, b);
  alice = await openWallet(net.bank('bank-a'));
  bob = await openWallet(net.bank('bank-b'));
  carol = await openWallet(net.bank('bank-a'));
  // Two coins for Alice, so two of her payments can wait for signatures at once.
  await fundWallet(alice, 50_000n);
  await fundWallet(alice, 50_000n);
  await fundWallet(bob, 50_000n);
  await quiesce(net);
}, 120_000);

afterAll(async () => {
  await net?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  process.stdout.write(`faults/access ${JSON.stringify(attempts)}\n`);
});

/** Runs `attack`, then checks central's ledger and both banks' figures did not move. */
async function unchanged(attack: () => Promise<void>): Promise<void> {
  await quiesce(net);
  const digest = net.central.store.digest();
  const figures = async () => JSON.stringify(await Promise.all([alice, bob, carol].map(account)));
  const before = await figures();
  await attack();
  await quiesce(net);
  expect(net.central.store.digest()).toBe(digest);
  expect(await figures()).toBe(before);
}

/** One of a customer's coins as its bank records it. */
function coinOf(w: Wallet): { pos: bigint; id: Buffer; value: bigint } {
  for (const { value } of w.bank.node.bank.store.coins.getRange({})) {
    if (value.owner === w.id) return { pos: BigInt(value.pos), id: Buffer.from(value.id, 'hex'), value: BigInt(value.value) };
  }
  throw new Error(`${w.id} has no coin`);
}

const bankClient = (id: 'bank-a' | 'bank-b', url = net.centralUrl): Client => new Client(url, 'cbdc-local', id, readOrCreateKeyFile(bankKeyFiles(net.bank(id).dir).bank).secretKey);

describe('access control', () => {
  it("a bank cannot spend another bank's customer's output, even signing with every key it has", async () => {
    const coin = coinOf(bob);
    const bankA = bankClient('bank-a');
    const aKey = readOrCreateKeyFile(bankKeyFiles(net.bank('bank-a').dir).bank);
    const thief: KeyPair = { sk: aKey.secretKey, pk: aKey.publicKey };
    await unchanged(async () => {
      const tx = makeTx({ network: 'cbdc-local', inputs: [{ pos: coin.pos, id: coin.id }], outputs: [{ value: coin.value, lock: keyLock(thief.pk) }] });
      expectError(await bankA.post('/v1/transactions', json(signTxNative(tx, [thief]))), 403, 'CBDC_ERR_LOCK_UNSATISFIED');
      tried('bank spends another bank customer output');
      // Claiming the lock's keys with signatures it cannot make.
      const lock = multiLock(2, [bob.key.pk, readOrCreateKeyFile(bankKeyFiles(net.bank('bank-b').dir).bank).publicKey]);
      const keys = lock.type === 'multi' ? lock.keys : [];
      const forged = { ...tx, sigs: keys.map((k) => ({ key: k, sig: signHashNative(thief.sk, txId(tx)) })) };
      expectError(await bankA.post('/v1/transactions', json(forged)), 403, 'CBDC_ERR_BAD_SIGNATURE');
      tried('bank forges the lock keys signatures');
      // Through a bank's API: staff cannot start a payment from any account, let alone another bank's.
      expectError(await net.bank('bank-a').staff.post(`/v1/accounts/${bob.id}/payments`, { idempotency_key: 'steal-0001', payee: { account: alice.id }, amount_fen: '100' }), 403, 'CBDC_ERR_FORBIDDEN');
      tried('bank staff pays from another bank account');
    });
  });

  it('a bank cannot register itself or another, redeem for another, or speak as another bank', async () => {
    const bankA = bankClient('bank-a');
    const evil = keyPair('faults-evil-bank');
    await unchanged(async () => {
      expectError(await bankA.post('/v1/intermediaries', { id: 'bank-evil', public_key: evil.pk.toString('hex'), quota_fen: '1', reserve_fen: '1' }), 403, 'CBDC_ERR_FORBIDDEN');
      tried('bank registers a bank');
      // Signing as bank-b with bank-a's key, at central and at bank-b.
      const asB = new Client(net.centralUrl, 'cbdc-local', 'bank-b', bankA.sk);
      expectError(await asB.get('/v1/intermediaries/bank-b'), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      expectError(await asB.post('/v1/issuance', { amount_fen: '1' }), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      const quoteAsB = new Client(net.bank('bank-a').url, 'cbdc-local', 'bank-b', bankA.sk);
      expectError(await quoteAsB.post('/v1/interbank/quote', { account: alice.id, amount_fen: '1' }), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      tried('bank signs as another bank');
      // Reading another bank's record, adjusting reserves.
      expectError(await bankA.get('/v1/intermediaries/bank-b'), 403, 'CBDC_ERR_FORBIDDEN');
      expectError(await bankA.post('/v1/intermediaries/bank-a/reserve', { deposit_fen: '1000' }), 403, 'CBDC_ERR_FORBIDDEN');
      tried('bank reads or moves reserves');
      // A redemption naming another bank.
      const coin = coinOf(bob);
      const aKey = readOrCreateKeyFile(bankKeyFiles(net.bank('bank-a').dir).bank);
      const red = signTxNative(makeTx({ kind: 'redeem', network: 'cbdc-local', intermediary: 'bank-b', inputs: [{ pos: coin.pos, id: coin.id }], outputs: [] }), [{ sk: aKey.secretKey, pk: aKey.publicKey }]);
      expectError(await bankA.post('/v1/redemptions', json(red)), 403, 'CBDC_ERR_FORBIDDEN');
      tried('bank redeems for another');
    });
  });

  it("a wallet cannot pay from another account, reuse another's signature, or replay its own request", async () => {
    await unchanged(async () => {
      // Alice's key, Carol's account.
      const asAlice = new Client(net.bank('bank-a').url, 'cbdc-local', alice.id, alice.key.sk);
      expectError(await asAlice.post(`/v1/accounts/${carol.id}/payments`, { idempotency_key: 'other-acct-01', payee: { account: alice.id }, amount_fen: '1' }), 403, 'CBDC_ERR_FORBIDDEN');
      expectError(await asAlice.get(`/v1/accounts/${carol.id}`), 403, 'CBDC_ERR_FORBIDDEN');
      // Signing as Carol with Alice's key.
      const asCarol = new Client(net.bank('bank-a').url, 'cbdc-local', carol.id, alice.key.sk);
      expectError(await asCarol.get(`/v1/accounts/${carol.id}`), 401, 'CBDC_ERR_REQUEST_SIGNATURE');
      tried('wallet acts on another account');
      // Alice prepares; a signature by another key (Bob's, over the right txid) is refused,
      // and so is Alice's own signature over another payment's txid.
      const p = await preparePayment(alice, { account: carol.id }, 100n);
      expect(p.status, p.text).toBe(200);
      expectError(await signPayment(alice, p.body, bob.key.sk), 403, 'CBDC_ERR_BAD_SIGNATURE');
      const other = await preparePayment(alice, { account: carol.id }, 200n);
      expect(other.status, other.text).toBe(200);
      const sigForOther = signHashNative(alice.key.sk, Buffer.from(other.body.txid, 'hex')).toString('hex');
      expectError(await alice.client.post(`/v1/accounts/${alice.id}/payments/${p.body.id}/sign`, { sig: sigForOther }), 403, 'CBDC_ERR_BAD_SIGNATURE');
      tried("wallet reuses another's signature");
      // Carol cannot sign Alice's payment with Alice's signature (wrong signer for the account).
      const aliceSig = signHashNative(alice.key.sk, Buffer.from(p.body.txid, 'hex')).toString('hex');
      expectError(await carol.client.post(`/v1/accounts/${alice.id}/payments/${p.body.id}/sign`, { sig: aliceSig }), 403, 'CBDC_ERR_FORBIDDEN');
      tried("wallet submits another's signature");
      // Let both prepared payments lapse: nothing settled, nothing moved.
      // (The bank keeps each awaiting payment's expiry in memory too; both are moved back.)
      const bankA = net.bank('bank-a').node.bank;
      const awaiting = (bankA as unknown as { payments: PaymentPipeline }).payments.awaitingSignature;
      for (const x of [p.body, other.body]) {
        await bankA.store.payments.put(x.id, { ...bankA.store.payments.get(x.id)!, expiresAtMs: 0 });
        const entry = awaiting.get(x.id);
        if (entry !== undefined) awaiting.set(x.id, { ...entry, expiresAtMs: 0 });
      }
      await bankA.expirePayments();
    });
    // Replay: the very same signed request twice. The payment settles once; the copy is refused.
    const before = BigInt((await account(alice)).balance_fen);
    const p = await preparePayment(alice, { account: carol.id }, 300n);
    const body = Buffer.from(JSON.stringify({ sig: signHashNative(alice.key.sk, Buffer.from(p.body.txid, 'hex')).toString('hex') }));
    const url = `/v1/accounts/${alice.id}/payments/${p.body.id}/sign`;
    const headers = alice.client.headersFor('POST', url, body);
    const first = await rawRequest(alice.bank.url, 'POST', url, { headers, body });
    expect(first.status, first.text).toBe(200);
    expect(first.body.status).toBe('settled');
    const replay = await rawRequest(alice.bank.url, 'POST', url, { headers, body });
    expectError(replay, 401, 'CBDC_ERR_REQUEST_REPLAY');
    // Signed afresh, the same signature is idempotent: the same settled payment, paid once.
    const again = await signPayment(alice, p.body);
    expect(again.body).toMatchObject({ status: 'settled', txid: p.body.txid });
    expect(BigInt((await account(alice)).balance_fen)).toBe(before - 300n);
    tried('wallet replays its own request');
  });

  it('only the operator key issues money', async () => {
    const bankA = bankClient('bank-a');
    const aKey = readOrCreateKeyFile(bankKeyFiles(net.bank('bank-a').dir).bank);
    await unchanged(async () => {
      const serial = BigInt((await bankA.get('/v1/intermediaries/bank-a')).body.next_serial);
      // An issuance "operator-signed" by a bank key, by a customer key, or with no operator signature.
      for (const signer of [{ sk: aKey.secretKey, pk: aKey.publicKey }, alice.key]) {
        expectError(await bankA.post('/v1/transactions', json(issueTx('cbdc-local', signer, 'bank-a', serial, [{ value: 1_000_000n, owner: alice.key }]))), 403, 'CBDC_ERR_OPERATOR_SIGNATURE');
        tried('issuance signed by a key that is not the operator');
      }
      const unsigned = makeTx({ kind: 'issue', network: 'cbdc-local', intermediary: 'bank-a', serial, inputs: [], outputs: [{ value: 5n, lock: keyLock(alice.key.pk) }] });
      expectError(await bankA.post('/v1/transactions', json(unsigned)), 403, 'CBDC_ERR_OPERATOR_SIGNATURE');
      tried('issuance with no operator signature');
    });
    // A central that does not hold the operator key issues nothing on an intermediary's request.
    const c = await startInProcess({ network: 'cbdc-faults-noop' });
    dirs.push(c.dir);
    const k = keyPair('faults-bank-x');
    expect((await c.op.post('/v1/intermediaries', { id: 'bank-x', public_key: k.pk.toString('hex'), quota_fen: '100', reserve_fen: '100' })).status).toBe(201);
    const x = new Client(c.url, c.network, 'bank-x', k.sk);
    const digest = c.node.store.digest();
    expectError(await x.post('/v1/issuance', { amount_fen: '10' }), 403, 'CBDC_ERR_FORBIDDEN');
    expect(c.node.store.digest()).toBe(digest);
    // The operator's own signature does issue (the control).
    const ok = await c.op.post('/v1/transactions', json(operatorSignNative(issueTx(c.network, c.operator, 'bank-x', 0n, [{ value: 10n, owner: k }]), c.operator)));
    expect(ok.body.status).toBe('settled');
    tried('issuance requested where no operator key is held');
    await c.dispose();
  });
});

describe('TLS between the tiers', () => {
  it('central and a bank serve HTTPS only, with certificates from a CA made for the test; the bank trusts it for central', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-tls-'));
    dirs.push(dir);
    const f = (n: string) => path.join(dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=cbdc test CA');
    writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('node.key'), '-out', f('node.csr'), '-subj', '/CN=127.0.0.1');
    ssl('x509', '-req', '-in', f('node.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('node.pem'), '-days', '2', '-extfile', f('san.ext'));
    const tls = { certFile: f('node.pem'), keyFile: f('node.key') };
    const ca = readFileSync(f('ca.pem'));

    const op = keyPair('faults-tls-operator');
    const central = await startCentral({
      host: '127.0.0.1', port: 0, dataDir: f('central'), network: 'cbdc-tls', operatorPublicKey: op.pk, operatorSecretKey: op.sk,
      durability: 'sync', verification: 'full', verifyBackend: 'native', verifyThreads: 0, tls,
    });
    try {
      expect(central.url.startsWith('https://')).toBe(true);
      // Without the CA, nothing talks to it.
      await expect(fetch(`${central.url}/v1/health`)).rejects.toThrow();
      // Plain HTTP on the TLS port gets no answer it could mistake for the API.
      await expect(rawRequest(central.url.replace('https:', 'http:'), 'GET', '/v1/health', { timeoutMs: 5_000 })).rejects.toThrow();
      const opClient = new SignedClient(central.url, 'cbdc-tls', 'operator', op.sk, 30_000, ca);
      const bankKey = readOrCreateKeyFile(bankKeyFiles(f('bank-t')).bank);
      const reg = await opClient.post('/v1/intermediaries', { id: 'bank-t', public_key: bankKey.publicKey.toString('hex'), quota_fen: '100000000', reserve_fen: '100000000' });
      expect(reg.status).toBe(201);
      const bank = await startBank({
        id: 'bank-t', host: '127.0.0.1', port: 0, dataDir: f('bank-t'), centralUrl: central.url, network: 'cbdc-tls', tls, tlsCa: ca,
        bank: { holdingsLowFen: 1n, holdingsTargetFen: 1_000_000n, holdingsHighFen: 10n ** 12n },
      });
      try {
        expect(bank.url.startsWith('https://')).toBe(true);
        const staff = new SignedClient(bank.url, 'cbdc-tls', 'staff', readOrCreateKeyFile(bankKeyFiles(f('bank-t')).staff).secretKey, 30_000, ca);
        // The bank asks central for issuance over HTTPS and learns of it from the event stream over WSS.
        const until = Date.now() + 60_000;
        let holdings = 0n;
        while (holdings === 0n && Date.now() < until) {
          const t = await staff.get<{ holdings_fen: string }>('/v1/bank/totals');
          expect(t.status).toBe(200);
          holdings = BigInt(t.body.holdings_fen);
          if (holdings === 0n) await new Promise((r) => setTimeout(r, 200));
        }
        expect(holdings).toBe(1_000_000n);
        const rec = await staff.get<{ ok: boolean; problems: string[] }>('/v1/bank/reconcile');
        expect(rec.body.problems).toEqual([]);
        expect(rec.body.ok).toBe(true);
        await expect(fetch(`${bank.url}/v1/health`)).rejects.toThrow();
        tried('TLS: clients without the CA refused (central, bank)');

        // The wallet CLI trusts the CA with --tls-ca: it opens an account over HTTPS, reads its
        // balance, and follows its notifications over WSS. Without the CA it cannot reach the bank.
        const wallet = new WalletUser('tls', dir, 'tls-passphrase-1');
        await wallet.ok(['init', '--scrypt-cost', '10']);
        const noCa = await wallet.run(['open-account', '--bank', bank.url, '--tier', '4', '--phone', '+8613500000042']);
        expect(noCa.code, noCa.stderr).toBe(4); // bank unreachable: its certificate is not trusted
        const badCa = await wallet.run(['--tls-ca', f('missing.pem'), 'balance']);
        expect(badCa.code, badCa.stderr).toBe(2);
        const withCa = ['--tls-ca', f('ca.pem')];
        const [opened] = await wallet.ok([...withCa, 'open-account', '--bank', bank.url, '--tier', '4', '--phone', '+8613500000042']);
        const accountId = (opened!.account as { id: string }).id;
        const dep = await staff.post(`/v1/accounts/${accountId}/deposit`, { amount_fen: '12345' });
        expect(dep.status, JSON.stringify(dep.body)).toBe(200);
        await wallet.ok([...withCa, 'exchange', 'to-wallet', '100.00']);
        const [bal] = await wallet.ok([...withCa, 'balance']);
        expect((bal!.account as { balance_fen: string; deposit_fen: string })).toMatchObject({ balance_fen: '10000', deposit_fen: '2345' });
        const watched = await wallet.ok([...withCa, 'watch', '--from', '0', '--count', '1']);
        expect(watched.filter((j) => j.event === 'entry').length).toBe(1);
        const noCaBalance = await wallet.run(['balance']);
        expect(noCaBalance.code, noCaBalance.stderr).toBe(4);
        tried('TLS: wallet CLI with --tls-ca (HTTPS and WSS), refused without it');
      } finally {
        await bank.close();
      }
    } finally {
      await central.close();
    }
  }, 120_000);
});
