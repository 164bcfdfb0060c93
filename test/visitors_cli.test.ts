// The README's "A visitor's wallet" walkthrough, followed literally (./helpers/readme_walkthrough.ts):
// every command of that section, in order, by bash, against central and two banks started as
// real processes (./helpers/network_process.ts, the node processes `npm start` runs), each shown
// output line checked. Then the CLI's refusals and exit codes for visitors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, killAllNetworkProcesses } from './helpers/network_process.js';
import { type CliResult, waitForHoldings } from './helpers/wallet_fixture.js';
import { Walkthrough, readmeSteps } from './helpers/readme_walkthrough.js';

let root: string;
let net: NetworkProcess;
let walk: Walkthrough;
const run = (command: string) => walk.run(command);

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-visitors-cli-'));
  walk = new Walkthrough(root, 'visitor walkthrough passphrase', () => net);
  net = new NetworkProcess({ root: walk.networkRoot, banks: ['bank-a', 'bank-b'] });
  await net.start();
  await waitForHoldings(net.bank('bank-a'), 1_000_000n);
}, 60_000);

afterAll(async () => {
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe("the README's visitor walkthrough, literally", () => {
  it('runs every command and prints what the README shows', async () => {
    // Alice, from the walkthrough before it (the payee of the visitor's payment).
    expect((await run('cbdc-wallet --wallet alice.json init --scrypt-cost 10')).code).toBe(0);
    expect((await run('cbdc-wallet --wallet alice.json open-account --bank http://127.0.0.1:7101 --tier 4 --phone +8613800000001')).code).toBe(0);
    const steps = readmeSteps("### A visitor's wallet");
    expect(steps.length).toBeGreaterThanOrEqual(8);
    await walk.follow(steps);
  });

  it('--json: the balance shows tier 5 and its validity; the FX ledger is one JSON line each', async () => {
    const b = await run('cbdc-wallet --wallet marie.json balance --json');
    expect(b.code).toBe(0);
    expect(b.json[0]!.account).toMatchObject({ tier: 5, balance_fen: '62935', deposit_fen: '5', visitor: { expired: false } });
    const l = await run('cbdc-wallet --wallet marie.json visitor fx-ledger --json');
    expect(l.json.map((x) => [x.direction, x.kind, x.currency, x.amount_minor, x.amount_fen])).toEqual([['in', 'top-up', 'USD', '10000', '69935'], ['out', 'convert-back', 'USD', '693', '4995']]);
  });
});

describe('visitor commands: refusals and exit codes', () => {
  const wallet = (args: string) => run(`cbdc-wallet --wallet marie.json ${args}`);
  const oneLine = (r: CliResult, exit: number, code: string): void => {
    expect(r.code, r.stderr).toBe(exit);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]!.endsWith(`(${code})`), lines[0]).toBe(true);
    expect(r.stdout).toBe('');
  };

  it('bad input is exit 2 before the bank; refusals are exit 1 with their code; nothing moves', async () => {
    oneLine(await wallet('visitor top-up 100.00 --currency USD --card 4111111111111112 --expiry 12/28'), 1, 'CBDC_ERR_CARD_FORMAT');
    oneLine(await wallet('visitor top-up 100.00 --currency USD --card 4111111111111111 --expiry 01/20'), 1, 'CBDC_ERR_CARD_EXPIRED');
    oneLine(await wallet('visitor top-up 100.00 --currency USD --card 4111 --expiry 12/28'), 2, 'CBDC_ERR_CARD_FORMAT');
    oneLine(await wallet('visitor top-up 100.00 --currency USD --card 4111111111111111 --expiry 2028-12'), 2, 'CBDC_ERR_CARD_FORMAT');
    oneLine(await wallet('visitor top-up 100.001 --currency USD --card 4111111111111111 --expiry 12/28'), 2, 'CBDC_ERR_AMOUNT_FORMAT');
    oneLine(await wallet('visitor top-up 100 --currency XXX --card 4111111111111111 --expiry 12/28'), 2, 'CBDC_ERR_FX_CURRENCY');
    oneLine(await wallet('visitor top-up 100 --currency usd --card 4111111111111111 --expiry 12/28'), 2, 'CBDC_ERR_FX_CURRENCY');
    oneLine(await wallet('visitor top-up 1400.00 --currency USD --card 4111111111111111 --expiry 12/28'), 1, 'CBDC_ERR_BALANCE_CAP');
    oneLine(await wallet('visitor convert-back 5000.00 --currency USD'), 1, 'CBDC_ERR_INSUFFICIENT_FUNDS');
    oneLine(await wallet('upgrade-kyc --tier 4 --phone +33612345678'), 1, 'CBDC_ERR_VISITOR_TIER_CHANGE');
    oneLine(await run('cbdc-wallet --wallet alice.json visitor top-up 10.00 --currency USD --card 4111111111111111 --expiry 12/28'), 1, 'CBDC_ERR_VISITOR_ONLY');
    oneLine(await run('cbdc-wallet --wallet late.json open-account --bank http://127.0.0.1:7101 --tier 5 --phone +33612345679 --passport 12AB34567 --nationality FRA'), 2, 'CBDC_ERR_VISITOR_VALIDITY');
    const b = await wallet('balance --json');
    expect(b.json[0]!.account).toMatchObject({ balance_fen: '62935', deposit_fen: '5' });
  });

  it('the same passport cannot open a second visitor wallet at the bank (exit 1, CBDC_ERR_VISITOR_EXISTS)', async () => {
    expect((await run('cbdc-wallet --wallet second.json init --scrypt-cost 10')).code).toBe(0);
    oneLine(await run('cbdc-wallet --wallet second.json open-account --bank http://127.0.0.1:7101 --tier 5 --phone +33612345670 --passport 12ab34567 --nationality FRA --valid-until +10d'), 1, 'CBDC_ERR_VISITOR_EXISTS');
    oneLine(await run('cbdc-wallet --wallet second.json open-account --bank http://127.0.0.1:7101 --tier 5 --phone +33612345670 --passport 12ab34567 --nationality FRA --valid-until +200d'), 1, 'CBDC_ERR_VISITOR_VALIDITY');
  });
});
