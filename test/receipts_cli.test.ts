// The README's "Electronic receipts" walkthrough, command by command, with the real CLIs as
// processes (node dist/wallet/cli.js, node dist/intermediary/cli.js) against central and two
// banks started as processes the way `npm start` starts them (./helpers/network_process.ts),
// on free ports: a café at bank-b with a tax id asks for a payment with a receipt draft,
// Alice at bank-a pays it, both see the receipt bank-b signed, the café exports its day and
// the file verifies offline (and a tampered copy does not), and the tax authority lists it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, BANK_CLI, killAllNetworkProcesses } from './helpers/network_process.js';
import { WalletUser, eventually, runNode, tellerDeposit, waitForHoldings } from './helpers/wallet_fixture.js';
import { dayKey } from '../intermediary/clock.js';
import { makeDraft, signDraft, verifyReceipt } from '../protocol/receipt.js';
import { generateSecretKey } from '../protocol/sig.js';

const TAX_ID = '91350100M000100Y43';

let root: string;
let net: NetworkProcess;
let alice: WalletUser;
let cafe: WalletUser;
let cafeId = '';

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-receipts-cli-'));
  net = new NetworkProcess({ root, banks: ['bank-a', 'bank-b'] });
  await net.start();
  alice = new WalletUser('alice', root, 'alice: correct horse battery staple');
  cafe = new WalletUser('cafe', root, 'cafe: flat white every day');
  await Promise.all([waitForHoldings(net.bank('bank-a'), 1n), waitForHoldings(net.bank('bank-b'), 1n)]);
}, 60_000);

afterAll(async () => {
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe('the electronic receipts walkthrough', () => {
  let request = '';
  let receiptId = '';

  it('Alice has money in her wallet (the walkthrough before)', async () => {
    await alice.ok(['init', '--scrypt-cost', '10']);
    const [opened] = await alice.ok(['open-account', '--bank', net.bank('bank-a').url, '--tier', '4', '--phone', '+8613800000001']);
    const d = await tellerDeposit(net.bank('bank-a'), opened!.account.id, '500.00', root);
    expect(d.code, d.stderr).toBe(0);
    await alice.ok(['exchange', 'to-wallet', '200']);
  });

  it('the café opens a merchant account with its tax id and asks for 33.92 with a receipt draft', async () => {
    await cafe.ok(['init', '--scrypt-cost', '10']);
    const o = await cafe.run(['open-account', '--bank', net.bank('bank-b').url, '--tier', '4', '--phone', '+8613700000003', '--merchant', '5812', '--tax-id', TAX_ID]);
    expect(o.code, o.stderr).toBe(0);
    expect(o.stdout).toMatch(/^opened account bank-b\.[0-9a-f]{12} at bank-b \(merchant, tier 4\)/);
    cafeId = /bank-b\.[0-9a-f]{12}/.exec(o.stdout)![0];
    // A total other than the lines' is refused before anything is signed.
    const wrong = await cafe.run(['request', '30.00', '--item', 'Flat white:2:1000:600']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toBe('cbdc-wallet: the lines come to 21.20 with tax, not 30.00: request 21.20 (CBDC_ERR_RECEIPT_TOTAL)');
    const r = await cafe.run(['request', '33.92', '--item', 'Flat white:2:1000:600', '--item', 'Croissant:1:1200:600', '--merchant-name', 'Harbour Coffee']);
    expect(r.code, r.stderr).toBe(0);
    request = r.stdout.trim();
    expect(request).toMatch(new RegExp(`^cbdc:pay\\?to=${cafeId.replace('.', '\\.')}&bank=bank-b&amount=33\\.92&receipt=[A-Za-z0-9_-]+$`));
  });

  it('a draft the café did not sign is refused (CBDC_ERR_RECEIPT_SIGNATURE) and nothing is paid', async () => {
    const before = await alice.account();
    const forged = signDraft(makeDraft({ network: 'cbdc-local', merchantAccount: cafeId, lines: [{ description: 'Flat white', quantity: 2, unitPriceFen: 1000n, taxRateBp: 600 }] }), generateSecretKey()).compact;
    const r = await alice.run(['pay', `cbdc:pay?to=${cafeId}&bank=bank-b&amount=21.20&receipt=${forged}`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim()).toMatch(/^cbdc-wallet: payment refused: .*\(CBDC_ERR_RECEIPT_SIGNATURE\)/);
    const after = await alice.account();
    expect([after.balance_fen, after.used_today_fen]).toEqual([before.balance_fen, before.used_today_fen]);
  });

  it('staff can record a tax id later (teller tax-id), refused for a malformed one', async () => {
    const b = net.bank('bank-b');
    const bad = await runNode(BANK_CLI, ['teller', 'tax-id', cafeId, '91350100M000100Y44', '--url', b.url, '--data-dir', b.o.dataDir], { home: root });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('(CBDC_ERR_TAX_ID)');
    const ok = await runNode(BANK_CLI, ['teller', 'tax-id', cafeId, TAX_ID, '--url', b.url, '--data-dir', b.o.dataDir], { home: root });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(`recorded tax id ${TAX_ID} for ${cafeId}`);
  });

  it('Alice pays the request; her receipts show the one bank-b signed, ok', async () => {
    const p = await alice.run(['pay', request]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout.split('\n')[0]).toBe(`paid 33.92 to ${cafeId}`);
    expect(p.stdout).toContain("receipt: the merchant's bank issues it; see it with: cbdc-wallet receipts");
    const r = await eventually(() => alice.run(['receipts']), (x) => x.code === 0 && x.stdout.includes('1 receipt(s)'));
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^rct-[0-9a-f]{16}  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}  payer  Harbour Coffee  33\.92 \(tax 1\.92\)  Flat white \+1  ok$/);
    expect(lines[1]).toBe('1 receipt(s), every signature ok');
    receiptId = lines[0]!.slice(0, 20);
  });

  it('the café exports its day; the file verifies offline with the bank key, a tampered copy does not', async () => {
    const day = dayKey(Date.now());
    const e = await eventually(() => cafe.run(['receipts', '--day', day, '--json']), (x) => x.code === 0 && x.stdout.includes(receiptId));
    const file = path.join(root, 'day.json');
    writeFileSync(file, e.stdout);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc).toMatchObject({ kind: 'cbdc-receipts', account: cafeId, day, verified: { ok: 1, bad: 0 } });
    expect(doc.receipts[0]).toMatchObject({ receipt_id: receiptId, tax_id: TAX_ID, mcc: '5812', subtotal_fen: '3200', tax_fen: '192', total_fen: '3392', merchant_name: 'Harbour Coffee' });
    const key = await fetch(`${net.bank('bank-b').url}/v1/bank/key`).then((r) => r.json() as Promise<{ bank: string; public_key: string }>);
    expect(key.bank).toBe('bank-b');
    expect(verifyReceipt(doc.receipts[0], Buffer.from(key.public_key, 'hex'))).toBe(true);
    // No wallet, no network: only the file and the key.
    const v = await runNode(path.join(path.dirname(BANK_CLI), '..', 'wallet', 'cli.js'), ['receipts', 'verify', file, '--bank-key', key.public_key], { home: root });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^${receiptId}  .*  Harbour Coffee  33\\.92 \\(tax 1\\.92\\)  Flat white \\+1  ok$`)), '1 receipt(s) in day.json: every signature ok'.replace('day.json', file)]);
    const bad = path.join(root, 'bad.json');
    writeFileSync(bad, readFileSync(file, 'utf8').replace('"total_fen":"3392"', '"total_fen":"3393"'));
    const t = await runNode(path.join(path.dirname(BANK_CLI), '..', 'wallet', 'cli.js'), ['receipts', 'verify', bad, '--bank-key', key.public_key], { home: root });
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(`${receiptId}  BAD`);
    expect(t.stderr.trim()).toBe("cbdc-wallet: receipt check refused: 1 of 1 receipt(s) do not verify with their bank's key (CBDC_ERR_RECEIPT_SIGNATURE)");
  });

  it('the tax authority lists the café\'s receipts by tax id, each checked', async () => {
    const b = net.bank('bank-b');
    const r = await runNode(BANK_CLI, ['tax', 'receipts', '--merchant', TAX_ID, '--url', b.url, '--data-dir', b.o.dataDir], { home: root });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`${receiptId}  ${cafeId}  33.92  tax 1.92  ok`, '1 receipt(s), total 33.92 yuan, tax 1.92 yuan, every signature ok']);
    // Its key may read nothing else.
    const other = await runNode(BANK_CLI, ['tax', 'receipts', '--merchant', TAX_ID, '--url', net.bank('bank-a').url, '--data-dir', net.bank('bank-a').o.dataDir], { home: root });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('CBDC_ERR_RECEIPT_UNKNOWN');
  });
});
