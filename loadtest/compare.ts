#!/usr/bin/env node
// npm run bench:compare: the same 2-in/2-out workload, in one go, against
//   1. the ledger core alone (the in-process ledger benchmark, full and attested),
//   2. central over HTTP (batches in the binary form banks send, full and attested verification),
//   3. the full two-tier path (wallets -> bank -> central payments): as fast as it answers in
//      full mode, the same in attested mode (banks attest their batches, central checks one
//      signature a batch), and in full mode at an even 0.8 of the rate it reached (or
//      --e2e-rate), for the latency of a payment short of capacity,
//   4. fastify's empty route on this machine (the HTTP ceiling), and with it the floor of a
//      payment: what full mode's signatures and one HTTP request cost here (loadtest/floor.ts),
// then the ratios between them and against the targets (loadtest/targets.ts: shares of the
// floor measured in the same run, and of OpenCBDC's figures). --json prints one JSON object.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { REPO_ROOT } from './processes.js';
import { FLOOR_CONNECTIONS_DEFAULT, measureFloor } from './floor.js';
import { OPENCBDC, TARGETS } from './targets.js';
import { nonNegativeInt, positiveInt } from '../platform/cli_args.js';
import { runLoadTest } from './load_test.js';
import { type Knobs, defaultKnobs, validateKnobs } from './workload.js';
import type { LoadReport } from './report_json.js';
import { CENTRAL_NODE_FLAGS } from '../central/node.js';

/** The e2e runs' warm-up by default: the nodes start cold for each run (a fresh network). */
const E2E_WARMUP_S_DEFAULT = 10;

interface Options {
  duration: number;
  batch: number;
  connections: number;
  e2eConnections: number;
  wallets: number;
  ledgerOutputs: number;
  ledgerTransfers: number;
  centralTransactions: number;
  e2eTransactions: number;
  e2eRate: number | undefined;
  e2eWarmup: number;
  floorSignatures: number;
  floorConnections: number;
  seed: string;
  json: boolean;
  reportDir: string;
  progress: boolean;
  skip: string[];
}

function log(msg: string): void {
  process.stderr.write(`[compare] ${msg}\n`);
}

const round = (x: number | null | undefined, d = 0): number | null => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : round(a / b, 3));

/** The in-process ledger benchmark, as its own process (it measures its own phases). */
function ledgerBench(o: Options): Promise<Record<string, unknown>> {
  const args = [
    ...CENTRAL_NODE_FLAGS, path.join(REPO_ROOT, 'dist', 'central', 'bench', 'ledger_bench.js'), '--json', '--phases', 'full,attested',
    // Each phase spends two initial outputs per transfer.
    '--outputs', String(Math.max(o.ledgerOutputs, 4 * o.ledgerTransfers + 1000)), '--transfers', String(o.ledgerTransfers), '--attested-transfers', String(o.ledgerTransfers),
    '--seed', o.seed,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch (e) {
        reject(new Error(`ledger benchmark failed (${(e as Error).message}): ${err.split('\n').slice(-5).join('\n')}`));
      }
    });
  });
}

interface RunFigures {
  per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  conservation_ok: boolean;
  other_processes_cores: number;
  report: string | null;
  processes: Record<string, { cpu_cores_mean: number; rss_mb_max: number }>;
}

async function loadRun(k: Knobs, o: Options, name: string): Promise<RunFigures> {
  log(`${name}: ${k.target}, ${k.verification}, ${o.duration} s...`);
  const { report, files } = await runLoadTest(validateKnobs(k), {
    reportDir: o.reportDir, progress: o.progress, keepData: false, write: true, command: `npm run bench:compare (${name})`,
    log: (m) => log(`${name}: ${m}`),
  });
  const r: LoadReport['results'] = report.results;
  log(`${name}: ${r.accepted_per_s} ${r.unit}/s, p99 ${r.latency.p99_ms} ms, conservation ${report.conservation.ok ? 'passed' : 'FAILED'}`);
  return {
    per_s: r.accepted_per_s, p50_ms: r.latency.p50_ms, p99_ms: r.latency.p99_ms, conservation_ok: report.conservation.ok,
    other_processes_cores: report.machine.other_processes_cores_mean, report: files.find((f) => f.endsWith('.html')) ?? null, processes: report.process_summary,
  };
}

async function main(): Promise<void> {
  const d = defaultKnobs();
  const cmd = new Command('bench:compare')
    .description('The same 2-in/2-out workload against the ledger core, central over HTTP and the two-tier path, with fastify\'s empty route as the HTTP ceiling; prints the ratios.')
    .option('--duration <s>', 'seconds of each HTTP run', positiveInt, 20)
    .option('--batch <n>', 'transactions per request in the central runs', positiveInt, 1000)
    .option('--connections <n>', 'connections of the central runs', positiveInt, 4)
    .option('--e2e-connections <n>', 'connections of the e2e runs', positiveInt, d.connections)
    .option('--floor-connections <n>', "connections of fastify's empty route, for the floor of a payment (its best here: more make each request dearer)", positiveInt, FLOOR_CONNECTIONS_DEFAULT)
    .option('--wallets <n>', 'wallets of the e2e run', positiveInt, d.wallets)
    .option('--ledger-outputs <n>', 'unspent outputs the in-process ledger holds', positiveInt, 200_000)
    .option('--ledger-transfers <n>', 'transfers per in-process ledger phase', positiveInt, 50_000)
    .option('--central-transactions <n>', 'transfers pre-built for each central run (a run that uses them up stops early and says so)', positiveInt, 200_000)
    .option('--e2e-transactions <n>', 'payments pre-built for the e2e run', positiveInt, 40_000)
    .option('--e2e-rate <n>', `payments per second of the paced e2e run (even intervals, open loop): its latency, short of capacity (default: ${TARGETS.e2e_paced_share} of the rate the full-mode e2e run reached)`, positiveInt)
    .option('--e2e-warmup <s>', 'seconds of load before each e2e run\'s timed window (the nodes start cold: JIT, caches; the paced run rises evenly to its rate over them), counted in its conservation check, not in its rate or latency; 0 times from the first payment', nonNegativeInt, E2E_WARMUP_S_DEFAULT)
    .option('--floor-signatures <n>', 'signatures made and checked to time them, for the floor of a payment', positiveInt, 20_000)
    .option('--seed <text>', 'workload seed', d.seed)
    .option('--skip <list>', 'runs to leave out, comma-separated (ledger, central_full, central_attested, e2e, e2e_attested, e2e_paced, fastify: also the floor)', (v: string) => v.split(','), [] as string[])
    .option('--json', 'print exactly one JSON object on stdout', false)
    .option('--no-progress', 'no progress bars')
    .option('--report-dir <dir>', 'where reports go', path.join(REPO_ROOT, 'reports'))
    .showHelpAfterError();
  cmd.parse(process.argv);
  const o = cmd.opts<Options>();
  o.progress = o.progress && process.stderr.isTTY === true;
  const skip = new Set(o.skip);
  const loadStart = loadavg()[0]!;
  const t0 = performance.now();

  const ledger = skip.has('ledger') ? null : (log('ledger core: in-process benchmark...'), await ledgerBench(o));
  if (ledger) log(`ledger core: full ${ledger.tx_per_s} tx/s, attested ${ledger.attested_tx_per_s} tx/s`);
  const centralKnobs = (verification: Knobs['verification']): Knobs => ({
    ...d, target: 'central', verification, batch: o.batch, connections: o.connections, durationS: o.duration, wallets: 10_000, invalid: 0, seed: o.seed,
    transactions: o.centralTransactions,
  });
  const centralFull = skip.has('central_full') ? null : await loadRun(centralKnobs('full'), o, 'central HTTP, full');
  const centralAttested = skip.has('central_attested') ? null : await loadRun(centralKnobs('attested'), o, 'central HTTP, attested');
  const e2eKnobs = (verification: Knobs['verification']): Knobs => ({
    ...d, target: 'e2e', verification, durationS: o.duration, warmupS: o.e2eWarmup, connections: o.e2eConnections, wallets: o.wallets, invalid: 0, seed: o.seed, transactions: o.e2eTransactions,
  });
  const e2e = skip.has('e2e') ? null : await loadRun(e2eKnobs('full'), o, 'e2e, full');
  const e2eAttested = skip.has('e2e_attested') ? null : await loadRun(e2eKnobs('attested'), o, 'e2e, attested');
  // Paced at a share of what the same run reached, unless a rate is given.
  const pacedRate = o.e2eRate ?? (e2e === null ? null : Math.max(1, Math.floor(TARGETS.e2e_paced_share * e2e.per_s)));
  if (pacedRate === null && !skip.has('e2e_paced')) log('e2e paced: skipped (no full-mode e2e run to take its rate from, and no --e2e-rate)');
  const e2ePaced = skip.has('e2e_paced') || pacedRate === null ? null : await loadRun({
    ...d, target: 'e2e', durationS: o.duration, warmupS: o.e2eWarmup, connections: o.e2eConnections, wallets: o.wallets, invalid: 0, seed: o.seed, rate: pacedRate,
  }, o, `e2e, full, ${pacedRate} payments/s`);
  const floor = skip.has('fastify') ? null : (log('fastify empty route and the signature costs...'), await measureFloor({
    signatures: o.floorSignatures, durationS: o.duration, connections: o.floorConnections, crossBankShare: d.crossBank,
  }));
  const fastify = floor?.empty_route ?? null;
  if (floor) log(`fastify empty route: ${floor.empty_route.req_per_s} req/s, p99 ${floor.empty_route.p99_ms} ms; floor of a payment ${floor.min_cpu_us} us (${floor.min_payments_per_s} payments/s)`);

  const ledgerFull = (ledger?.tx_per_s as number | undefined) ?? null;
  const ledgerAttested = (ledger?.attested_tx_per_s as number | undefined) ?? null;
  const e2ePerS = e2e?.per_s ?? null;
  const e2eAttestedPerS = e2eAttested?.per_s ?? null;
  const floorFull = floor?.min_payments_per_s ?? null;
  const floorAttested = floor?.attested_payments_per_s ?? null;
  const ratios = {
    e2e_to_floor: ratio(e2ePerS, floorFull),
    e2e_attested_to_floor: ratio(e2eAttestedPerS, floorAttested),
    e2e_to_opencbdc_best: ratio(e2ePerS, OPENCBDC.two_phase_best_tx_per_s),
    e2e_attested_to_opencbdc_best: ratio(e2eAttestedPerS, OPENCBDC.two_phase_best_tx_per_s),
    e2e_to_protocol_floor: ratio(e2ePerS, floor?.protocol_payments_per_s ?? null),
    e2e_attested_to_e2e: ratio(e2eAttestedPerS, e2ePerS),
    central_http_full_to_ledger_full: ratio(centralFull?.per_s ?? null, ledgerFull),
    central_http_attested_to_ledger_attested: ratio(centralAttested?.per_s ?? null, ledgerAttested),
    e2e_to_central_http_full: ratio(e2ePerS, centralFull?.per_s ?? null),
    e2e_to_ledger_full: ratio(e2ePerS, ledgerFull),
    // Each payment is one HTTP request to its bank.
    e2e_requests_to_fastify_empty: ratio(e2ePerS, fastify?.req_per_s ?? null),
    e2e_to_opencbdc_sustained: ratio(e2ePerS, OPENCBDC.two_phase_sustained_tx_per_s),
    central_http_attested_to_opencbdc_best: ratio(centralAttested?.per_s ?? null, OPENCBDC.two_phase_best_tx_per_s),
  };
  const atLeast = (r: number | null, min: number): boolean | null => (r === null ? null : r >= min);
  const out = {
    e2e_payments_per_s: e2ePerS,
    e2e_p50_ms: e2e?.p50_ms ?? null,
    e2e_p99_ms: e2e?.p99_ms ?? null,
    e2e_attested_payments_per_s: e2eAttestedPerS,
    e2e_attested_p50_ms: e2eAttested?.p50_ms ?? null,
    e2e_attested_p99_ms: e2eAttested?.p99_ms ?? null,
    e2e_paced_rate: e2ePaced === null ? null : pacedRate,
    e2e_paced_rate_from: e2ePaced === null ? null : o.e2eRate !== undefined ? '--e2e-rate' : `${TARGETS.e2e_paced_share} x e2e_payments_per_s`,
    e2e_paced_payments_per_s: e2ePaced?.per_s ?? null,
    e2e_paced_p50_ms: e2ePaced?.p50_ms ?? null,
    e2e_paced_p99_ms: e2ePaced?.p99_ms ?? null,
    central_http_full_tx_per_s: centralFull?.per_s ?? null,
    central_http_full_p99_ms: centralFull?.p99_ms ?? null,
    central_http_attested_tx_per_s: centralAttested?.per_s ?? null,
    central_http_attested_p99_ms: centralAttested?.p99_ms ?? null,
    ledger_full_tx_per_s: ledgerFull,
    ledger_attested_tx_per_s: ledgerAttested,
    fastify_empty_req_per_s: fastify?.req_per_s ?? null,
    fastify_empty_p99_ms: fastify?.p99_ms ?? null,
    // The most payments/s this machine allows: full mode's signatures and one HTTP request, nothing else.
    e2e_floor_payments_per_s: floorFull,
    // The same for attested mode (2 signatures made, 1 checked, 1 request).
    e2e_attested_floor_payments_per_s: floorAttested,
    // The same for the operations the protocol as built spends (two wallet requests, a quote across banks).
    e2e_protocol_floor_payments_per_s: floor?.protocol_payments_per_s ?? null,
    ratios,
    targets: {
      ...TARGETS,
      e2e_met: atLeast(ratios.e2e_to_floor, TARGETS.e2e_to_floor_min),
      e2e_attested_met: atLeast(ratios.e2e_attested_to_floor, TARGETS.e2e_attested_to_floor_min),
      e2e_paced_p99_met: e2ePaced === null || e2ePaced.p99_ms === null ? null : e2ePaced.p99_ms <= TARGETS.e2e_paced_p99_ms_max,
      e2e_opencbdc_met: atLeast(ratios.e2e_to_opencbdc_best, TARGETS.e2e_to_opencbdc_best_min),
      e2e_attested_opencbdc_met: atLeast(ratios.e2e_attested_to_opencbdc_best, TARGETS.e2e_to_opencbdc_best_min),
      central_http_attested_met: centralAttested === null ? null : centralAttested.per_s >= TARGETS.central_http_attested_tx_per_s_min,
    },
    opencbdc: OPENCBDC,
    conservation_ok: [centralFull, centralAttested, e2e, e2eAttested, e2ePaced].every((r) => r === null || r.conservation_ok),
    runs: { central_http_full: centralFull, central_http_attested: centralAttested, e2e, e2e_attested: e2eAttested, e2e_paced: e2ePaced, fastify_empty: fastify, floor, ledger },
    settings: { central_transactions: o.centralTransactions, e2e_transactions: o.e2eTransactions, e2e_rate: o.e2eRate ?? null, e2e_warmup_s: o.e2eWarmup, duration_s: o.duration, batch: o.batch, connections: o.connections, e2e_connections: o.e2eConnections, floor_connections: o.floorConnections, wallets: o.wallets, ledger_outputs: o.ledgerOutputs, ledger_transfers: o.ledgerTransfers, floor_signatures: o.floorSignatures, seed: o.seed, inputs: 2, outputs: 2, central_batch_encoding: d.encoding },
    machine: { load_avg_1m_start: round(loadStart, 2), load_avg_1m_end: round(loadavg()[0]!, 2) },
    total_s: round((performance.now() - t0) / 1000, 1),
  };
  mkdirSync(o.reportDir, { recursive: true });
  const file = path.join(o.reportDir, `compare-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  if (o.json) {
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    const f = (x: number | null, unit = ''): string => (x === null ? 'n/a' : `${x.toLocaleString('en-US')}${unit}`);
    const met = (x: boolean | null): string => (x === null ? 'n/a' : x ? 'met' : 'MISSED');
    const other = (r: RunFigures | null) => (r === null ? '' : `  (other processes ${r.other_processes_cores} cores)`);
    process.stdout.write([
      `bench:compare, 2-in/2-out, ${o.duration} s per HTTP run (e2e after a ${o.e2eWarmup} s warm-up), load average ${out.machine.load_avg_1m_start} -> ${out.machine.load_avg_1m_end}`,
      `  ledger core, full          ${f(ledgerFull, ' tx/s')}`,
      `  ledger core, attested      ${f(ledgerAttested, ' tx/s')}`,
      `  central HTTP, full         ${f(out.central_http_full_tx_per_s, ' tx/s')}, p99 ${f(out.central_http_full_p99_ms, ' ms')}${other(centralFull)}`,
      `  central HTTP, attested     ${f(out.central_http_attested_tx_per_s, ' tx/s')}, p99 ${f(out.central_http_attested_p99_ms, ' ms')}${other(centralAttested)}  target >= ${TARGETS.central_http_attested_tx_per_s_min}: ${out.targets.central_http_attested_met === null ? 'n/a' : out.targets.central_http_attested_met ? 'met' : 'MISSED'}`,
      `  e2e wallet->bank->central  ${f(e2ePerS, ' payments/s')}, p99 ${f(out.e2e_p99_ms, ' ms')}${other(e2e)}  target >= ${TARGETS.e2e_to_floor_min} x floor: ${met(out.targets.e2e_met)}`,
      `  e2e, attested              ${f(e2eAttestedPerS, ' payments/s')}, p99 ${f(out.e2e_attested_p99_ms, ' ms')}${other(e2eAttested)}  target >= ${TARGETS.e2e_attested_to_floor_min} x attested floor: ${met(out.targets.e2e_attested_met)}`,
      `  e2e at ${f(out.e2e_paced_rate, ' payments/s')} (${out.e2e_paced_rate_from ?? 'n/a'}), even ${f(out.e2e_paced_payments_per_s, ' payments/s')} settled, p50 ${f(out.e2e_paced_p50_ms, ' ms')}, p99 ${f(out.e2e_paced_p99_ms, ' ms')}${other(e2ePaced)}  target p99 <= ${TARGETS.e2e_paced_p99_ms_max} ms: ${met(out.targets.e2e_paced_p99_met)}`,
      `  fastify empty route        ${f(out.fastify_empty_req_per_s, ' req/s')}, p99 ${f(out.fastify_empty_p99_ms, ' ms')}`,
      `  floor of a payment         ${floor === null ? 'n/a' : `${f(floor.min_payments_per_s, ' payments/s')} (${floor.min_cpu_us} us: sign ${floor.costs.sign_us}, verify ${floor.costs.verify_us}, request ${floor.costs.request_us} us; ${floor.cores} cores); attested ${f(floor.attested_payments_per_s, ' payments/s')} (${floor.attested_cpu_us} us); the protocol as built ${f(floor.protocol_payments_per_s, ' payments/s')}`}`,
      `  OpenCBDC two-phase best    ${f(OPENCBDC.two_phase_best_tx_per_s, ' tx/s')} on this kind of machine; both e2e modes >= it: ${met(out.targets.e2e_opencbdc_met)}, ${met(out.targets.e2e_attested_opencbdc_met)}`,
      'ratios:',
      ...Object.entries(out.ratios).map(([k, v]) => `  ${k.padEnd(42)} ${v === null ? 'n/a' : v}`),
      `conservation: ${out.conservation_ok ? 'passed in every run' : 'FAILED'}`,
      `report: ${file}`,
      '',
    ].join('\n'));
  }
  process.exitCode = out.conservation_ok ? 0 : 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:compare: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
