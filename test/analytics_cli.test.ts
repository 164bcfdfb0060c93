// The README's "Private analytics" walkthrough, run literally: every `cbdc-wallet` and
// `node dist/...` command of that section, in order, as real processes against central and two
// banks started as real processes (./helpers/network_process.ts, the node processes `npm start`
// runs), with each `#   …` line under a command checked against what it printed ("…" stands for
// anything; a run of spaces for any run). Only the URLs, the data directories and the wallet
// files' folder differ from what a person types. Then the analytics commands' refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetworkProcess, killAllNetworkProcesses, BANK_CLI } from './helpers/network_process.js';
import { REPO_ROOT } from './helpers/central_process.js';
import { type CliResult, WALLET_CLI, runNode } from './helpers/wallet_fixture.js';

const CENTRAL_CLI = path.join(REPO_ROOT, 'dist', 'central', 'cli.js');
const PASSPHRASE = 'analytics walkthrough passphrase';
let root: string;
let net: NetworkProcess;

interface Step { command: string; expected: string[] }

function walkthrough(): Step[] {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Private analytics');
  expect(start, 'the README has the section').toBeGreaterThan(0);
  const next = /\n(##+ |<!--)/.exec(readme.slice(start + 10));
  const section = readme.slice(start, next === null ? undefined : start + 10 + next.index);
  const steps: Step[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.split('\n');
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      if (line.startsWith('#   ')) {
        steps.at(-1)!.expected.push(line.slice(4));
        continue;
      }
      if (line.trim() === '') continue;
      while (line.endsWith('\\')) line = line.slice(0, -1) + lines[++i]!.trim();
      steps.push({ command: line.trim(), expected: [] });
    }
  }
  return steps;
}

function run(command: string): Promise<CliResult> {
  const c = command.replaceAll('http://127.0.0.1:7100', net.central.url)
    .replaceAll('http://127.0.0.1:7101', net.bank('bank-a').url).replaceAll('http://127.0.0.1:7102', net.bank('bank-b').url)
    .replaceAll('data/bank-a', net.bank('bank-a').o.dataDir).replaceAll('data/bank-b', net.bank('bank-b').o.dataDir)
    .replaceAll('data/central', net.centralDataDir)
    .replace(/--wallet (\S+\.json)/, (_m, f: string) => `--wallet ${path.join(root, f)}`);
  const words = c.split(/\s+/);
  const env = { CBDC_WALLET_PASSPHRASE: PASSPHRASE };
  if (words[0] === 'cbdc-wallet') return runNode(WALLET_CLI, ['--passphrase-file', path.join(root, 'pass'), ...words.slice(1)], { home: root, env });
  expect(words[0]).toBe('node');
  const cli = { 'dist/intermediary/cli.js': BANK_CLI, 'dist/central/cli.js': CENTRAL_CLI }[words[1]!];
  expect(cli, words[1]).toBeDefined();
  return runNode(cli!, words.slice(2), { home: root, env });
}

function lineRe(expected: string): RegExp {
  return new RegExp('^' + expected.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ {2,}/g, ' +')).join('.*') + '$');
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'cbdc-analytics-cli-'));
  writeFileSync(path.join(root, 'pass'), PASSPHRASE + '\n', { mode: 0o600 });
  net = new NetworkProcess({ root, banks: ['bank-a', 'bank-b'] });
  await net.start();
}, 60_000);

afterAll(async () => {
  await killAllNetworkProcesses();
  rmSync(root, { recursive: true, force: true });
});

describe("the README's analytics walkthrough, literally", () => {
  it('runs every command and prints what the README shows', async () => {
    const steps = walkthrough();
    expect(steps.length).toBeGreaterThanOrEqual(8);
    for (const step of steps) {
      const r = await run(step.command.endsWith(' init') ? `${step.command} --scrypt-cost 10` : step.command);
      const refused = step.expected.some((e) => /^cbdc-[a-z]+: /.test(e));
      expect(r.code, `${step.command}\n${r.stdout}${r.stderr}`).toBe(refused ? 1 : 0);
      const printed = (refused ? r.stderr : r.stdout).trimEnd().split('\n');
      for (const e of step.expected) expect(printed.some((l) => lineRe(e).test(l)), `${step.command}: "${e}" in\n${printed.join('\n')}`).toBe(true);
    }
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
