// The regulator's analytics commands, for the bank's CLI (intermediary/cli.ts) and central's
// (central/cli.ts): each request is signed with regulator.key from the node's data directory.
import path from 'node:path';
import type { Command } from 'commander';
import { formatYuan } from '../protocol/amount.js';
import { readKeyFile } from './key_file.js';
import { SignedClient } from './signed_client.js';

interface Cell { group: string; bucket?: string; suppressed: boolean; value: string | null }
interface Answer {
  code?: string; message?: string; metric: string; group_by: string; from_day: string; to_day: string; time_zone: string;
  epsilon: string; remaining_epsilon: string; groups: Cell[]; parties?: string[]; budgets?: { signer: string; total_epsilon: string; spent_epsilon: string; remaining_epsilon: string; queries: number }[];
}

function regulatorClient(o: { url: string; network: string; dataDir: string }): SignedClient {
  const key = readKeyFile(path.join(o.dataDir, 'regulator.key'));
  return new SignedClient(o.url, o.network, 'regulator', key.secretKey);
}

/** Prints an answer (or the refusal, on stderr) and sets the exit code: 0 answered, 1 refused. */
function show(prog: string, r: { status: number; body: Answer }, json: boolean): void {
  if (r.status !== 200) {
    if (json) process.stdout.write(JSON.stringify(r.body) + '\n');
    else process.stderr.write(`${prog}: refused: ${r.body?.message ?? r.status} (${r.body?.code ?? `HTTP ${r.status}`})\n`);
    process.exitCode = 1;
    return;
  }
  process.exitCode = 0;
  if (json) {
    process.stdout.write(JSON.stringify(r.body) + '\n');
    return;
  }
  const b = r.body;
  if (b.budgets) {
    process.stdout.write(b.budgets.map((x) => `${x.signer}: ${x.remaining_epsilon} of ${x.total_epsilon} epsilon left (${x.queries} ${x.queries === 1 ? 'query' : 'queries'})`).join('\n') + '\n');
    return;
  }
  const fmt = (v: string) => (b.metric === 'payments_value_fen' ? `${formatYuan(BigInt(v))} yuan` : v);
  const lines = [
    `${b.metric} by ${b.group_by}, ${b.from_day} to ${b.to_day} (${b.time_zone})${b.parties ? ` across ${b.parties.filter((p) => p !== 'central').join(', ')}` : ''}: epsilon ${b.epsilon} spent, ${b.remaining_epsilon} left`,
    ...b.groups.map((g) => `  ${(g.bucket ? `${g.group} ${g.bucket}` : g.group).padEnd(24)} ${g.suppressed ? 'suppressed' : fmt(g.value!)}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function common(c: Command, url: string, dataDir: string): Command {
  return c
    .option('--url <url>', 'the node URL', url)
    .option('--data-dir <dir>', "the node's data directory (for regulator.key)", dataDir)
    .option('--network <id>', 'network id', 'cbdc-local')
    .option('--json', 'print JSON');
}

function queryOptions(c: Command, metrics: string, groupings: string): Command {
  return c
    .requiredOption('--metric <metric>', metrics)
    .requiredOption('--group-by <grouping>', groupings)
    .requiredOption('--from <day>', 'first day, YYYY-MM-DD (bank time zone)')
    .requiredOption('--to <day>', 'last day, YYYY-MM-DD')
    .requiredOption('--epsilon <e>', 'privacy loss this query spends, e.g. 0.5 (0.1 to 2)');
}

type Opts = { url: string; network: string; dataDir: string; json?: boolean; metric: string; groupBy: string; from: string; to: string; epsilon: string; bank?: Map<string, string> };
const body = (o: Opts) => ({ metric: o.metric, group_by: o.groupBy, from_day: o.from, to_day: o.to, epsilon: o.epsilon });

export function registerBankAnalyticsCommands(program: Command): void {
  const a = program.command('analytics').description("the regulator's private analytics at this bank (signed with regulator.key)");
  queryOptions(common(a.command('query'), 'http://127.0.0.1:7101', 'data/bank-a'), 'payments_count | payments_value_fen | value_histogram', 'day | mcc | tier | region | none')
    .description("a differentially private aggregate of the bank's settled payments (spends epsilon)")
    .action(async (o: Opts) => show('cbdc-bank', await regulatorClient(o).post<Answer>('/v1/analytics/query', body(o)), o.json === true));
  common(a.command('budget'), 'http://127.0.0.1:7101', 'data/bank-a')
    .description("the regulator's privacy budget at this bank, and central's")
    .action(async (o: Opts) => show('cbdc-bank', await regulatorClient(o).get<Answer>('/v1/analytics/budget'), o.json === true));
}

export function registerCentralAnalyticsCommands(program: Command): void {
  const a = program.command('analytics').description("the regulator's private analytics at central (signed with regulator.key)");
  queryOptions(common(a.command('query'), 'http://127.0.0.1:7100', 'data/central'), 'transactions_count | value_histogram', 'day | none')
    .description("differentially private figures of central's ledger (spends epsilon)")
    .action(async (o: Opts) => show('cbdc-central', await regulatorClient(o).post<Answer>('/v1/analytics/query', body(o)), o.json === true));
  const collect = (v: string, acc: Map<string, string>) => {
    const i = v.indexOf('=');
    if (i < 1) throw new Error(`--bank wants id=url, got "${v}"`);
    acc.set(v.slice(0, i), v.slice(i + 1));
    return acc;
  };
  queryOptions(common(a.command('combined'), 'http://127.0.0.1:7100', 'data/central'), 'payments_count | payments_value_fen', 'day | tier | region | none')
    .description('one statistic across banks without any bank revealing its figure (additive shares; spends epsilon at central and at each bank)')
    .option('--bank <id=url>', 'a bank of the statistic (repeat: two at least)', collect, new Map<string, string>())
    .action(async (o: Opts) => show('cbdc-central', await regulatorClient(o).post<Answer>('/v1/analytics/combined', {
      ...body(o), banks: [...(o.bank ?? new Map()).entries()].map(([id, url]) => ({ id, url })),
    }), o.json === true));
  common(a.command('budget'), 'http://127.0.0.1:7100', 'data/central')
    .description("the regulator's privacy budget at central")
    .action(async (o: Opts) => show('cbdc-central', await regulatorClient(o).get<Answer>('/v1/analytics/budget'), o.json === true));
}
