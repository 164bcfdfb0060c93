// The README's "Private analytics" walkthrough, followed literally (./helpers/readme_walkthrough.ts):
// every command of that section, in order, by bash, against central and two banks started as
// real processes (./helpers/network_process.ts, the node processes `npm start` runs), each shown
// output line checked. Then the analytics commands' refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, killAllNetworkProcesses } from './helpers/network_process.js';
import { Walkthrough, readmeSteps } from './helpers/readme_walkthrough.js';

let root: string;
let net: NetworkProcess;
let walk: Walkthrough;
const run = (command: string) => walk.run(command);

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-analytics-cli-'));
  walk = new Walkthrough(root, 'analytics walkthrough passphrase', () => net);
  net = new NetworkProcess({ root: walk.networkRoot, banks: ['bank-a', 'bank-b'] });
  await net.start();
}, 60_000);

afterAll(async () => {
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe("the README's analytics walkthrough, literally", () => {
  it('runs every command and prints what the README shows', async () => {
    const steps = readmeSteps('### Private analytics');
    expect(steps.length).toBeGreaterThanOrEqual(8);
    await walk.follow(steps);
  }, 60_000);

  it('--json answers hold aggregates only: no account id, phone or key; every tier and region is a group', async () => {
    const acct = JSON.parse(readFileSync(path.join(root, 'li.json'), 'utf8')) as { account?: { account_id: string } };
    const q = await run('node dist/intermediary/cli.js analytics query --metric payments_count --group-by tier --from 2026-12-01 --to 2026-12-31 --epsilon 0.1 --json --url http://127.0.0.1:7101 --data-dir data/bank-a');
    expect(q.code, q.stderr).toBe(0);
    expect(q.json[0]!.groups.map((g: { group: string }) => g.group)).toContain('5');
    const text = q.stdout;
    expect(text).not.toContain('+8613900000101');
    if (acct.account) expect(text).not.toContain(acct.account.account_id);
    const c = await run('node dist/central/cli.js analytics budget --json --url http://127.0.0.1:7100 --data-dir data/central');
    expect(c.json[0]!.budgets[0]).toMatchObject({ signer: 'regulator', spent_epsilon: '1', queries: 2 });
  }, 30_000);

  it('refusals: unknown bank, one bank, a bank key that is not the regulator; exit 1 with the code, nothing spent', async () => {
    const combined = 'node dist/central/cli.js analytics combined --metric payments_count --group-by none --from 2026-12-01 --to 2026-12-31 --epsilon 0.5 --url http://127.0.0.1:7100 --data-dir data/central';
    for (const [extra, code] of [
      ['--bank bank-a=http://127.0.0.1:7101 --bank bank-z=http://127.0.0.1:7102', 'CBDC_ERR_INTERMEDIARY_UNKNOWN'],
      ['--bank bank-a=http://127.0.0.1:7101', 'CBDC_ERR_ANALYTICS_QUERY'],
    ] as const) {
      const r = await run(`${combined} ${extra}`);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().endsWith(`(${code})`), r.stderr).toBe(true);
    }
    // The bank's data dir holds a regulator.key too, but central does not know that key.
    const wrong = await run('node dist/central/cli.js analytics budget --url http://127.0.0.1:7100 --data-dir data/bank-a');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('CBDC_ERR_REQUEST_SIGNATURE');
    const c = await run('node dist/central/cli.js analytics budget --json --url http://127.0.0.1:7100 --data-dir data/central');
    expect(c.json[0]!.budgets[0]).toMatchObject({ spent_epsilon: '1', queries: 2 });
  }, 30_000);
});
