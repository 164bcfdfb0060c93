// The README's "Electronic receipts" walkthrough, followed literally (./helpers/readme_walkthrough.ts):
// every command of that section, in order, by bash (REQ=$(...), "$REQ", the export to day.json,
// curl for the bank key), against central and two banks started as real processes the way
// `npm start` starts them (./helpers/network_process.ts), each shown output line checked. Then
// what the walkthrough does not show: the export's fields, a tampered copy, a forged draft, a
// bank key of the wrong bank, the staff's tax-id command, the tax role's reach.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, killAllNetworkProcesses } from './helpers/network_process.js';
import { eventually, waitForHoldings } from './helpers/wallet_fixture.js';
import { Walkthrough, readmeSteps } from './helpers/readme_walkthrough.js';
import { dayKey } from '../platform/clock.js';
import { makeDraft, signDraft, verifyReceipt } from '../protocol/receipt.js';
import { generateSecretKey } from '../protocol/sig.js';

const TAX_ID = '91350100M000100Y43';

let root: string;
let net: NetworkProcess;
let walk: Walkthrough;
const run = (command: string) => walk.run(command);
const account = async (wallet: string): Promise<Record<string, any>> => {
  const r = await run(`cbdc-wallet --wallet ${wallet} balance --json`);
  expect(r.code, r.stderr).toBe(0);
  return r.json[0]!.account as Record<string, any>;
};

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-receipts-cli-'));
  walk = new Walkthrough(root, 'receipts walkthrough passphrase', () => net);
  net = new NetworkProcess({ root: walk.networkRoot, banks: ['bank-a', 'bank-b'] });
  await net.start();
  await Promise.all([waitForHoldings(net.bank('bank-a'), 1n), waitForHoldings(net.bank('bank-b'), 1n)]);
}, 60_000);

afterAll(async () => {
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe("the README's receipts walkthrough, literally", () => {
  it('Alice has money in her wallet (the walkthrough before, as the README types it)', async () => {
    for (const c of ['cbdc-wallet --wallet alice.json init', 'cbdc-wallet --wallet alice.json open-account --bank http://127.0.0.1:7101 --tier 4 --phone +8613800000001']) {
      const r = await run(c);
      expect(r.code, r.stderr).toBe(0);
    }
    const id = (await account('alice.json')).id as string;
    const d = await run(`node dist/intermediary/cli.js teller deposit ${id} 500.00 --url http://127.0.0.1:7101 --data-dir data/bank-a`);
    expect(d.code, d.stderr).toBe(0);
    expect((await run('cbdc-wallet --wallet alice.json exchange to-wallet 200')).code).toBe(0);
  });

  it('runs every command and prints what the README shows', async () => {
    const steps = readmeSteps('### Electronic receipts');
    expect(steps.length).toBeGreaterThanOrEqual(8);
    // The receipt reaches Alice's wallet once bank-b has signed it: the step that lists it waits for it.
    const listing = steps.findIndex((s) => s.command === 'cbdc-wallet --wallet alice.json receipts');
    expect(listing).toBeGreaterThan(0);
    await walk.follow(steps.slice(0, listing));
    await eventually(() => run(steps[listing]!.command), (x) => x.code === 0 && x.stdout.includes('1 receipt(s)'));
    await walk.follow(steps.slice(listing));
  });

  it("the export holds the receipt's fields; a tampered copy is BAD (exit 1)", async () => {
    const cafeId = (await account('cafe.json')).id as string;
    const doc = JSON.parse(readFileSync(path.join(root, 'day.json'), 'utf8'));
    expect(doc).toMatchObject({ kind: 'cbdc-receipts', account: cafeId, day: dayKey(Date.now()), verified: { ok: 1, bad: 0 } });
    expect(doc.receipts[0]).toMatchObject({ tax_id: TAX_ID, mcc: '5812', subtotal_fen: '3200', tax_fen: '192', total_fen: '3392', merchant_name: 'Harbour Coffee', merchant_account: cafeId });
    const key = JSON.parse(readFileSync(path.join(root, 'bank-b-key.json'), 'utf8')) as { bank: string; public_key: string };
    expect(key.bank).toBe('bank-b');
    expect(verifyReceipt(doc.receipts[0], Buffer.from(key.public_key, 'hex'))).toBe(true);
    const id = doc.receipts[0].receipt_id as string;
    // The key's hex does as well as the saved answer.
    const hex = await run(`cbdc-wallet receipts verify day.json --bank-key ${key.public_key}`);
    expect(hex.code, hex.stderr).toBe(0);
    expect(hex.stdout.trim().split('\n').at(-1)).toBe('1 receipt(s) in day.json: every signature ok');
    writeFileSync(path.join(root, 'bad.json'), readFileSync(path.join(root, 'day.json'), 'utf8').replace('"total_fen":"3392"', '"total_fen":"3393"'));
    const t = await run('cbdc-wallet receipts verify bad.json --bank-key bank-b-key.json');
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(`${id}  BAD`);
    expect(t.stderr.trim()).toBe("cbdc-wallet: receipt check refused: 1 of 1 receipt(s) do not verify with their bank's key (CBDC_ERR_RECEIPT_SIGNATURE)");
  });

  it("another bank's key does not verify bank-b's receipts; a key file that is no key is exit 2", async () => {
    expect((await run('curl -s http://127.0.0.1:7101/v1/bank/key > bank-a-key.json')).code).toBe(0);
    const other = await run('cbdc-wallet receipts verify day.json --bank-key bank-a-key.json');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('(CBDC_ERR_RECEIPT_SIGNATURE)');
    writeFileSync(path.join(root, 'nokey.json'), '{"bank":"bank-b","public_key":"04ab"}');
    for (const arg of ['nokey.json', '02abcd', 'missing.json']) {
      const r = await run(`cbdc-wallet receipts verify day.json --bank-key ${arg}`);
      expect(r.code, arg).toBe(2);
      expect(r.stderr.trim().endsWith('(CBDC_ERR_BAD_PUBLIC_KEY)'), r.stderr).toBe(true);
    }
  });

  it('a total other than the lines is refused before anything is signed; a draft the café did not sign is refused and nothing is paid', async () => {
    const wrong = await run('cbdc-wallet --wallet cafe.json request 30.00 --item "Flat white:2:1000:600"');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toBe('cbdc-wallet: the lines come to 21.20 with tax, not 30.00: request 21.20 (CBDC_ERR_RECEIPT_TOTAL)');
    const cafeId = (await account('cafe.json')).id as string;
    const before = await account('alice.json');
    const forged = signDraft(makeDraft({ network: 'cbdc-local', merchantAccount: cafeId, lines: [{ description: 'Flat white', quantity: 2, unitPriceFen: 1000n, taxRateBp: 600 }] }), generateSecretKey()).compact;
    const r = await run(`cbdc-wallet --wallet alice.json pay 'cbdc:pay?to=${cafeId}&bank=bank-b&amount=21.20&receipt=${forged}'`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim()).toMatch(/^cbdc-wallet: payment refused: .*\(CBDC_ERR_RECEIPT_SIGNATURE\)/);
    const after = await account('alice.json');
    expect([after.balance_fen, after.used_today_fen]).toEqual([before.balance_fen, before.used_today_fen]);
  });

  it('staff record a tax id (teller tax-id), refused for a malformed one; the tax key reads nothing at another bank', async () => {
    const cafeId = (await account('cafe.json')).id as string;
    const bad = await run(`node dist/intermediary/cli.js teller tax-id ${cafeId} 91350100M000100Y44 --url http://127.0.0.1:7102 --data-dir data/bank-b`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('(CBDC_ERR_TAX_ID)');
    const ok = await run(`node dist/intermediary/cli.js teller tax-id ${cafeId} ${TAX_ID} --url http://127.0.0.1:7102 --data-dir data/bank-b`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(`recorded tax id ${TAX_ID} for ${cafeId}`);
    const other = await run(`node dist/intermediary/cli.js tax receipts --merchant ${TAX_ID} --url http://127.0.0.1:7101 --data-dir data/bank-a`);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('CBDC_ERR_RECEIPT_UNKNOWN');
  });
});
