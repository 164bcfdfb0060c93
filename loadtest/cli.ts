#!/usr/bin/env node
// npm run loadtest -- [knobs]: one load test against a fresh local network of real processes;
// prints a summary and writes reports/<name>.json and reports/<name>.html.
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  CONTRACT_KINDS, ENCODINGS, INVALID_KINDS, KnobError, MIX_KINDS, POLICY_INVALID_KINDS, TARGETS, VERIFICATIONS, type InvalidKind, type Knobs, CENTRAL_CONNECTIONS_MAX_DEFAULT, CENTRAL_INFLIGHT_TX_DEFAULT, connectionsDefault, defaultKnobs, parseContractKinds, parseMix, validateKnobs,
} from './workload.js';
import { REPO_ROOT } from './processes.js';
import { runLoadTest } from './load_test.js';
import { summaryText } from './report_json.js';

function num(v: string): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
}

function knobsCommand(name: string, description: string): Command {
  const d = defaultKnobs();
  return new Command(name)
    .description(description)
    .addOption(new Option('--target <path>', 'e2e: wallets -> bank -> central payments through the banks\' wallet API; central: signed transfers straight to central').choices([...TARGETS]).default(d.target))
    .option('--duration <s>', 'timed seconds', num, d.durationS)
    .option('--warmup <s>', 'seconds of load before the timed window (with --rate, the rate rises evenly from 0 to it over them; without, as fast as answered): their answers count in the totals, the timeline and the conservation check, not in the rate or the latency figures (key payments and central transfers)', num, d.warmupS)
    .option('--rate <n>', 'offered transactions (e2e: items) per second, started at even intervals (open loop; latency counts from when an item was due); default: as fast as the system answers (autocannon, closed loop). e2e: each kind of the mix is offered its share (key payments rate x key, contract payments rate x contract, offline vouchers rate x offline, their uploads paced to match)', num)
    .option('--connections <n>', `HTTP connections (split over the banks for e2e); default: ${d.connections} for e2e, central ${CENTRAL_INFLIGHT_TX_DEFAULT.toLocaleString('en')} transactions in flight over --batch each (at most ${CENTRAL_CONNECTIONS_MAX_DEFAULT} connections)`, num)
    .option('--pipelining <n>', 'requests in flight per connection (central only; e2e needs 1; a --rate run has one item per connection in flight)', num, d.pipelining)
    .option('--batch <n>', 'transactions per request to central: 1 posts /v1/transactions, more post /v1/batches (central only)', num, d.batch)
    .addOption(new Option('--verification <mode>', "central's verification mode: full verifies every witness; attested trusts the bank's batch signature").choices([...VERIFICATIONS]).default(d.verification))
    .addOption(new Option('--encoding <form>', 'central, --batch above 1: batches in the binary form (protocol/batch_wire.ts, answered compactly) or as JSON').choices([...ENCODINGS]).default(d.encoding))
    .option('--wallets <n>', 'wallet keys (central) or wallet accounts spread over the banks (e2e)', num, d.wallets)
    .option('--banks <n>', 'intermediary banks', num, d.banks)
    .option('--inputs <n>', 'inputs per transaction', num, d.inputs)
    .option('--outputs <n>', 'outputs per transaction (e2e: 1 = exact amount, 2 = with change)', num, d.outputs)
    .option('--invalid <share>', 'share of invalid transactions, 0 to 1 (exact count, seeded positions)', num, d.invalid)
    .option('--invalid-kinds <list>', `kinds of invalid transactions, comma-separated (${INVALID_KINDS.join(', ')}; timelock and wrong_preimage are policy transfers, central only; default: double_spend,bad_signature, plus those two when --mix has policy)`, (v: string) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0) as InvalidKind[], d.invalidKinds)
    .option('--cross-bank <share>', "e2e: share of payments to another bank's customer, 0 to 1", num, d.crossBank)
    .option('--mix <list>', `shares of the kinds of items (${MIX_KINDS.join(', ')}). central: the lock policy of each transfer's inputs, key, multi (multi(2, [a, b])) or policy (lock policies: or(and(multi2, before), and(after, key)), or and(key, hash) with the preimage), e.g. key=0.6,multi=0.2,policy=0.2. e2e: key (wallet payments), contract (contract payments through the banks' contract API, of the kinds --contract-kinds gives: hash locks created, funded and claimed with the preimage; escrows created, funded, resolved and signed by two of buyer, seller and arbiter; prepaid funds created for a merchant, funded and released unit by unit, each release signed by the payer) and offline (vouchers made card to card in setup and uploaded to the banks during the run), e.g. key=0.8,contract=0.1,offline=0.1`, 'key=1')
    .option('--contract-kinds <list>', `e2e: shares of the contract payments per contract service (${CONTRACT_KINDS.join(', ')}), exact counts at seeded positions; an escrow ends as buyer and seller agree to release, or as its arbiter decides, to release or refund; a prepaid contract holds 2 units, released one at a time`, 'hashlock=0.5,escrow=0.5')
    .option('--transactions <n>', 'transactions (e2e: payments) to pre-build; default: rate x duration, or a generous ceiling; a run that uses them up stops early', num)
    .option('--bank-batch-interval-ms <ms>', "e2e: the banks' least time between two batches to central (default: the bank's own, intermediary/central_link.ts)", num)
    .option('--seed <text>', 'seed of keys, amounts, payees and invalid positions: the same seed gives the same workload', d.seed)
    .option('--no-progress', 'no progress bar')
    .option('--keep-data', 'keep the nodes\' data directories')
    .option('--report-dir <dir>', 'where reports go', path.join(REPO_ROOT, 'reports'))
    .option('--quiet', 'no setup log on stderr')
    .option('--profile <dir>', 'profile every node (node --cpu-prof) into <dir>; the summary and the report list where their CPU time went')
    .showHelpAfterError();
}

function knobsFrom(o: Record<string, unknown>, invalidKindsGiven: boolean): Knobs {
  const mix = parseMix(o.mix as string);
  const k: Knobs = {
    target: o.target as Knobs['target'], durationS: o.duration as number, warmupS: o.warmup as number, rate: (o.rate as number | undefined) ?? null,
    connections: (o.connections as number | undefined) ?? connectionsDefault(o.target as Knobs['target'], o.batch as number), pipelining: o.pipelining as number, batch: o.batch as number,
    verification: o.verification as Knobs['verification'], encoding: o.encoding as Knobs['encoding'], wallets: o.wallets as number, banks: o.banks as number,
    inputs: o.inputs as number, outputs: o.outputs as number, invalid: o.invalid as number, invalidKinds: o.invalidKinds as InvalidKind[],
    crossBank: o.crossBank as number, mix, contractKinds: parseContractKinds(o.contractKinds as string), transactions: (o.transactions as number | undefined) ?? null, seed: o.seed as string,
    bankBatchIntervalMs: (o.bankBatchIntervalMs as number | undefined) ?? null,
  };
  if (!invalidKindsGiven && mix.policy > 0) k.invalidKinds = [...k.invalidKinds, ...POLICY_INVALID_KINDS];
  return validateKnobs(k);
}

async function main(): Promise<void> {
  const cmd = knobsCommand('loadtest', 'Load test of the CBDC network with autocannon: payments per second, latency, conservation; JSON and HTML reports.')
    .addHelpText('after', `
Examples:
  npm run loadtest -- --duration 30                                  # e2e payments, full verification
  npm run loadtest -- --target central --batch 1000 --verification attested
  npm run loadtest -- --target central --batch 1 --rate 2000 --invalid 0.05
  npm run loadtest -- --target central --batch 100 --mix key=0.5,multi=0.2,policy=0.3 --invalid 0.04
  npm run loadtest -- --mix key=0.8,contract=0.1,offline=0.1             # e2e payments, contract payments and offline vouchers
  npm run loadtest -- --mix key=0.6,contract=0.2,offline=0.2 --contract-kinds escrow=1 --rate 100   # every kind at its share of 100/s
Exit status: 0 when the conservation check passes, 1 when it fails, 2 for a bad knob.`);
  cmd.parse(process.argv);
  const o = cmd.opts();
  let k: Knobs;
  try {
    k = knobsFrom(o, cmd.getOptionValueSource('invalidKinds') === 'cli');
  } catch (e) {
    if (e instanceof KnobError) {
      process.stderr.write(`loadtest: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = o.quiet ? () => {} : (m: string) => process.stderr.write(`[loadtest] ${m}\n`);
  const { report, files } = await runLoadTest(k, {
    reportDir: o.reportDir as string, progress: o.progress as boolean && process.stderr.isTTY === true, keepData: o.keepData === true,
    command: `npm run loadtest -- ${process.argv.slice(2).join(' ')}`.trim(), write: true, log,
    ...(typeof o.profile === 'string' ? { profileDir: path.resolve(o.profile) } : {}),
  });
  process.stdout.write(summaryText(report, files));
  process.exitCode = report.conservation.ok ? 0 : 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`loadtest: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(e instanceof KnobError ? 2 : 1);
});
