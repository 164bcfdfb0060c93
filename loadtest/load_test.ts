// One load test from start to finish: start the network as child processes, build and fund
// the workload, run autocannon against the chosen path while sampling every process, check
// conservation, write the JSON and HTML reports, stop everything.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { publicKeyOfNative } from '../protocol/sig.js';
import { makeKeyPool } from '../central/bench/workload_gen.js';
import { Network, ProcSampler, topSelfTime } from './processes.js';
import { balances, customerLock, fund, openAccounts, settleAll, waitForCredit } from './setup.js';
import {
  COIN_VALUE_FEN, type Knobs, OFFLINE_LOAD_FEN, bankOf, burnTransfers, coinsPerWallet, contractCount, countKinds, countLocks, e2eRates, offlineVoucherCount, planCentral, planContracts, planOffline, planPayments,
  plannedCount, signCentral, validateKnobs,
} from './workload.js';
import { type OfflineRunResult, checkOffline, offlineUploads, prepareOffline, runOfflineUploads } from './offline.js';
import { type KindFigures } from './report_json.js';
import { type PaymentRequest, assignCoins, paymentRequests } from './payment_requests.js';
import { type ContractRecord, Recorder, centralRequests, runCentral, runContracts, runPayments, txIdOf, type RunResult, type SecondFigures } from './runner.js';
import { type ConservationReport, checkCentral, checkPayments, supply } from './conservation.js';
import { type LoadReport, machineInfo, writeJsonReport } from './report_json.js';
import { writeHtmlReport } from './report_html.js';

export const NETWORK = 'cbdc-loadtest';
/** Intermediaries whose issuance funds the workload: one lane of funding requests each. */
const FUNDER_IDS = ['lt-funder-0', 'lt-funder-1', 'lt-funder-2', 'lt-funder-3'];
/** Central's batches must stay still this long after the run before the checks read its state. */
const QUIET_MS = 1_000;
const QUIET_WAIT_MS_MAX = 60_000;

export interface LoadTestOptions {
  reportDir: string;
  progress: boolean;
  keepData: boolean;
  command: string;
  /** Write report files (false: only return the report). */
  write: boolean;
  /** Profile every node (node --cpu-prof) into this directory; the report lists where their time went. */
  profileDir?: string;
  log: (msg: string) => void;
}

export interface LoadTestResult {
  report: LoadReport;
  files: string[];
}

function bankIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `bank-${String.fromCharCode(97 + i)}`);
}

async function waitQuiet(c: { url: string }): Promise<void> {
  const deadline = Date.now() + QUIET_WAIT_MS_MAX;
  let last = '';
  let since = Date.now();
  while (Date.now() < deadline) {
    const s = await supply({ url: c.url, network: NETWORK, operatorSk: Buffer.alloc(32) });
    const now = `${s.batches}/${s.outputs}`;
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= QUIET_MS) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runLoadTest(k: Knobs, o: LoadTestOptions): Promise<LoadTestResult> {
  validateKnobs(k);
  const n = plannedCount(k);
  const startedAt = new Date();
  const loadStart = loadavg()[0]!;
  const root = mkdtempSync(path.join(tmpdir(), 'cbdc-loadtest-'));
  const banks = bankIds(k.banks);
  const funders = FUNDER_IDS.map((id) => ({ id, publicKey: publicKeyOfNative(createHash('sha256').update(k.seed).update('\0').update(id).digest()) }));
  const net = new Network({
    root, network: NETWORK, banks, verification: k.verification, extraIntermediaries: funders,
    startBanks: k.target === 'e2e', bankAttest: k.verification === 'attested',
    ...(k.bankBatchIntervalMs !== null ? { bankBatchIntervalMs: k.bankBatchIntervalMs } : {}),
    ...(o.profileDir !== undefined ? { profileDir: o.profileDir } : {}),
  });
  const setup: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const v = await f();
    setup[name] = Math.round((performance.now() - t) / 10) / 100;
    o.log(`${name}: ${setup[name]} s`);
    return v;
  };
  try {
    await timed('start_network', () => net.start());
    const central = { url: net.central.url, network: NETWORK, operatorSk: net.operatorKey.secretKey };
    const pids = (): Map<string, number> => new Map([['loadgen', process.pid], ...net.processes().map((p) => [p.name, p.pid] as [string, number])]);
    const sampler = new ProcSampler(pids);
    const runOpts = {
      url: '', connections: k.connections, pipelining: k.pipelining, durationS: k.durationS, warmupS: k.warmupS, progress: o.progress, network: NETWORK,
      itemRate: null as number | null, label: k.target === 'e2e' ? 'payments' : 'tx',
    };
    let run: RunResult;
    let conservation: ConservationReport;
    let requestsPrebuilt = 0;
    let byKind: Record<string, KindFigures> = {};
    let timelineByKind: Record<string, SecondFigures[]> | null = null;

    if (k.target === 'central') {
      const plan = await timed('plan', async () => planCentral(k, n));
      o.log(`workload: ${n} transfers, ${k.inputs} in / ${k.outputs} out, ${JSON.stringify(countKinds(plan.kinds))}, locks ${JSON.stringify(countLocks(plan.locks))}`);
      const funded = await timed('fund', () => fund(central.url, NETWORK, central.operatorSk, FUNDER_IDS, plan.funding.map((f) => ({ value: f.value, lock: f.lock }))));
      const bankSigners = banks.map((id) => ({ id, sk: net.bankKeys.get(id)!.secretKey }));
      await timed('spend_double_spend_inputs', () => settleAll(central.url, NETWORK, bankSigners[0]!.sk, bankSigners[0]!.id, burnTransfers(NETWORK, plan, k.inputs, funded), 500, 'setup transfers'));
      const txs = await timed('sign', () => signCentral(NETWORK, plan, k.inputs, funded));
      const reqs = await timed('serialize', async () => centralRequests(NETWORK, txs, plan.kinds, k.batch, k.verification === 'attested', bankSigners, k.encoding));
      requestsPrebuilt = reqs.length;
      const byTxid = new Map<string, number>();
      txs.forEach((tx, i) => byTxid.set(txIdOf(tx).toString('hex'), i));
      const before = await supply(central);
      sampler.start();
      o.log(`running ${warmupText(k)}${k.durationS} s against central (${k.batch === 1 ? 'POST /v1/transactions' : `POST /v1/batches of ${k.batch}, ${k.encoding}`}, ${k.verification})...`);
      run = await runCentral({ ...runOpts, url: central.url, itemRate: k.rate === null ? null : k.rate / k.batch, bankKeys: new Map(bankSigners.map((b) => [b.id, b.sk])) }, reqs, txs.length, byTxid);
      sampler.stop();
      await waitQuiet(central);
      conservation = await timed('conservation', () => checkCentral(central, txs, plan.kinds, plan.locks, run.outcome, run.codes ?? new Map(), before, k.seed));
      // Per kind, every settled transfer counts, also those answered while the run drained: over the time to the last answer.
      const span = answeredSpanS(run);
      byKind = Object.fromEntries(Object.entries(conservation.by_kind ?? {}).map(([kind, b]) => [kind, {
        sent: b.sent!, settled: b.settled!, refused: b.refused!, settled_per_s: Math.round(b.settled! / span), seconds: Math.round(span * 100) / 100,
      }]));
    } else {
      const nOffline = offlineVoucherCount(k);
      const nContract = contractCount(k);
      const plans = await timed('plan', async () => planPayments(k, n - nOffline - nContract));
      const offlinePlans = planOffline(k, nOffline);
      const contractPlans = planContracts(k, nContract);
      const coins = coinsPerWallet(plans, k.wallets, k.inputs);
      // Each contract payment is funded with one coin (its amount is below a coin, with change).
      for (const c of contractPlans) coins[c.payer]! += 1;
      // Each offline payer device is loaded from its wallet: coins for that too.
      const loadCoins = Number((OFFLINE_LOAD_FEN + COIN_VALUE_FEN - 1n) / COIN_VALUE_FEN);
      for (const p of offlinePlans) coins[p.payer]! += loadCoins;
      const keys = makeKeyPool(k.seed, k.wallets, '/e2e-wallet');
      const staffSk = new Map(banks.map((b) => [b, net.bankStaff.get(b)!.secretKey]));
      const wallets = keys.sks.map((sk, w) => {
        const bank = banks[bankOf(w, k.banks)]!;
        return { bank, bankUrl: net.banks.get(bank)!.url, sk, pub: keys.pubs[w]!, staffSk: staffSk.get(bank)! };
      });
      o.log(`workload: ${plans.length} payments over ${k.wallets} wallets at ${k.banks} banks, ${JSON.stringify(countKinds(Uint8Array.from(plans.map((p) => p.kind))))}` +
        (nContract > 0 ? `; ${nContract} contract payments (${contractPlans.filter((c) => c.kind === 'hashlock').length} hash locks, ${contractPlans.filter((c) => c.kind === 'escrow').length} escrows, ${contractPlans.filter((c) => c.kind === 'prepaid').length} prepaid)` : '') +
        (nOffline > 0 ? `; ${nOffline} offline vouchers from ${offlinePlans.length} pairs of devices` : ''));
      const accounts = await timed('open_accounts', () => openAccounts(NETWORK, wallets, k.seed));
      const outputs: { value: bigint; lock: ReturnType<typeof customerLock> }[] = [];
      const expected = new Map<string, bigint>(banks.map((b) => [b, 0n]));
      for (let w = 0; w < k.wallets; w++) {
        const bank = accounts[w]!.bank;
        const lock = customerLock(keys.pubs[w]!, net.bankKeys.get(bank)!.publicKey);
        for (let c = 0; c < coins[w]!; c++) outputs.push({ value: COIN_VALUE_FEN, lock });
        expected.set(bank, expected.get(bank)! + BigInt(coins[w]!) * COIN_VALUE_FEN);
      }
      const funding = await timed('fund', () => fund(central.url, NETWORK, central.operatorSk, FUNDER_IDS, outputs));
      // Each payment whole but for the wallet's signature: its coins, the payee's fresh lock, its change.
      const requests = await timed('build_payments', async () => paymentRequests({
        network: NETWORK, plans, accounts, coins: assignCoins(plans, coins, funding, k.inputs), coinValueFen: COIN_VALUE_FEN,
        bankKeys: new Map(banks.map((b) => [b, net.bankKeys.get(b)!.publicKey])), ownLock: (a) => customerLock(a.pub, net.bankKeys.get(a.bank)!.publicKey),
        idemPrefix: startedAt.getTime().toString(36),
      }));
      await timed('credit', () => waitForCredit(NETWORK, banks.map((b) => ({ id: b, url: net.banks.get(b)!.url, staffSk: staffSk.get(b)!, expectedFen: expected.get(b)! }))));
      await waitQuiet(central);
      // Offline devices: registered, loaded (wallet payments to the offline reserve) and paying card to card, before the baseline.
      const offlinePairs = nOffline === 0 ? [] : await timed('offline_devices_and_payments', () => prepareOffline(NETWORK, offlinePlans, (w) => accounts[w]!, `${k.seed.slice(0, 16)}-${startedAt.getTime().toString(36)}`));
      if (nOffline > 0) await waitQuiet(central);
      const balancesBefore = await balances(NETWORK, accounts, staffSk);
      const before = await supply(central);
      const bankUrls = [...new Set(accounts.map((a) => a.bankUrl))];
      if (bankUrls.length !== k.banks) throw new Error('every bank must hold wallets');
      requestsPrebuilt = plans.length;
      sampler.start();
      const rates = e2eRates(k);
      // The uploads' bodies are read from the cards before the clock; under --rate they are due at the vouchers' share of it.
      const uploads = nOffline === 0 ? [] : await offlineUploads(offlinePairs, rates === null ? null : rates.offline);
      o.log(`running ${warmupText(k)}${k.durationS} s of payments through ${k.banks} bank(s) (${k.verification})${rates !== null ? ` at ${JSON.stringify(rates)} per s` : ''}` +
        `${nOffline > 0 ? `, uploading ${nOffline} offline vouchers alongside` : ''}...`);
      // All banks share one autocannon run: the request's path names the account; the URL is
      // per bank, so with several banks the payments go to each through its own instance.
      // The contract payments and offline uploads run side by side with the payments, from the start of the window.
      const [pr, con, off] = await Promise.all([
        runPaymentsAcrossBanks(k, runOpts, plans, accounts, requests),
        nContract === 0 ? Promise.resolve(null) : runContractsAcrossBanks(k, runOpts, contractPlans, accounts, startedAt.getTime().toString(36)),
        nOffline === 0 ? Promise.resolve(null as OfflineRunResult | null) : runOfflineUploads(NETWORK, offlinePairs, uploads, rates === null ? null : k.durationS),
      ]);
      run = pr;
      sampler.stop();
      await waitQuiet(central);
      conservation = await timed('conservation', () => checkPayments({
        c: central, plans, outcome: pr.outcome, records: pr.records, accounts, staffSk, balancesBefore, before, inputs: k.inputs, coinValueFen: COIN_VALUE_FEN, seed: k.seed,
        balancesAfter: () => balances(NETWORK, accounts, staffSk),
        ...(con !== null ? { contracts: { plans: contractPlans, outcome: con.outcome, records: con.records, accounts } } : {}),
      }));
      const span = answeredSpanS(run);
      const cc = conservation.counts;
      byKind = { key: { sent: cc.sent!, settled: cc.valid_settled!, refused: cc.sent! - cc.valid_settled!, settled_per_s: Math.round(cc.valid_settled! / span), seconds: Math.round(span * 100) / 100 } };
      conservation.by_kind = { key: { sent: cc.sent!, settled: cc.valid_settled!, valid_sent: cc.valid_sent!, bad_signature_refused: cc.bad_signature_refused! } };
      if (con !== null) {
        const c = conservation.counts;
        const sentC = c.contracts_sent! + c.contracts_stopped_funded!;
        conservation.by_kind.contract = {
          sent: sentC, funded: c.contracts_funded!, ended: c.contracts_ended!, not_ended: c.contracts_not_ended!,
          hashlock_sent: c.hashlock_sent!, hashlock_claimed: c.hashlock_claimed!, escrow_sent: c.escrow_sent!, escrow_released: c.escrow_released!, escrow_refunded: c.escrow_refunded!,
          prepaid_sent: c.prepaid_sent!, prepaid_completed: c.prepaid_completed!, prepaid_units_released: c.prepaid_units_released!,
        };
        const spanC = Math.max(con.seconds, con.recorder.perSecond().length);
        byKind.contract = {
          sent: sentC, settled: c.contracts_ended!, refused: c.contracts_not_ended!, settled_per_s: Math.round(c.contracts_ended! / spanC), seconds: Math.round(spanC * 100) / 100,
          contract_kinds: {
            hashlock: { sent: c.hashlock_sent!, settled: c.hashlock_claimed! },
            escrow: { sent: c.escrow_sent!, settled: c.escrow_released! + c.escrow_refunded!, released: c.escrow_released!, refunded: c.escrow_refunded! },
            prepaid: { sent: c.prepaid_sent!, settled: c.prepaid_completed! },
          },
        };
        timelineByKind = { ...(timelineByKind ?? {}), contract: con.recorder.perSecond() };
      }
      if (off !== null) {
        const staff = new Map(banks.map((b) => [b, { url: net.banks.get(b)!.url, sk: staffSk.get(b)! }]));
        const oc = await timed('conservation_offline', () => checkOffline(NETWORK, offlinePairs, off, staff));
        conservation.checks.push(...oc.checks);
        conservation.counts = { ...conservation.counts, ...oc.counts };
        conservation.ok = conservation.checks.every((c) => c.ok);
        const settled = oc.counts.offline_settled_once!;
        const sentV = oc.counts.offline_vouchers!;
        conservation.by_kind.offline = { sent: sentV, settled, duplicates: off.duplicates, refused: off.refused, uploads: off.uploads, pairs_not_uploaded: oc.counts.offline_pairs_not_uploaded! };
        // Paced, the vouchers were offered over the whole window: the rate is over it at least.
        const spanO = rates !== null ? Math.max(off.seconds, k.durationS) : off.seconds;
        byKind.offline = {
          sent: sentV, settled, refused: off.refused, settled_per_s: spanO > 0 ? Math.round(settled / spanO) : 0, seconds: spanO,
          vouchers: nOffline, uploads: off.uploads, duplicates: off.duplicates,
        };
        // Vouchers settled per second, counted when the upload that settled them was answered.
        timelineByKind = { ...(timelineByKind ?? {}), offline: off.recorder.perSecond() };
      }
    }

    const rec = run.recorder;
    const inWindow = rec.inWindow(run.seconds);
    const unit = k.target === 'e2e' ? 'payments' : 'tx';
    const report: LoadReport = {
      report: 'cbdc-loadtest', version: 1, started_at: startedAt.toISOString(), finished_at: new Date().toISOString(), command: o.command,
      settings: { ...k, transactions_prebuilt: n, requests_prebuilt: requestsPrebuilt, unit, ...(k.target === 'e2e' ? { coin_value_fen: COIN_VALUE_FEN.toString() } : {}) },
      machine: machineInfo(loadStart, sampler.othersMean()),
      setup_s: setup,
      results: {
        target: k.target, unit, seconds: Math.round(run.seconds * 100) / 100,
        accepted_per_s: run.seconds > 0 ? Math.round(inWindow.accepted / run.seconds) : 0, answered_per_s: run.seconds > 0 ? Math.round((inWindow.accepted + inWindow.rejected) / run.seconds) : 0,
        sent: run.sent, accepted: rec.accepted, rejected: rec.rejected, errors: rec.errors, rejected_by_code: Object.fromEntries(rec.codes),
        exhausted_at_s: run.exhaustedAtS === null ? null : Math.round(run.exhaustedAtS * 100) / 100,
        latency: rec.all.figures(), autocannon: run.autocannon, by_kind: byKind,
      },
      timeline: rec.perSecond(),
      ...(timelineByKind !== null ? { timeline_by_kind: timelineByKind } : {}),
      processes: Object.fromEntries(sampler.series),
      // CPU time per settled item holds better than wall-clock rates on a busy machine.
      process_summary: Object.fromEntries(Object.entries(sampler.summary()).map(([name, v]) => [name, {
        ...v, cpu_ms_per_item: rec.accepted > 0 ? Math.round((sampler.cpuSeconds(name) * 1000 / rec.accepted) * 1000) / 1000 : null,
      }])),
      other_processes: sampler.others,
      conservation,
    };
    if (o.profileDir !== undefined) {
      // The nodes write their profiles as they exit.
      await net.stop();
      report.profiles = {};
      for (const p of net.processes()) {
        const file = path.join(o.profileDir, `${p.name}.cpuprofile`);
        if (existsSync(file)) report.profiles[p.name] = { file, ...topSelfTime(file) };
      }
    }
    const files: string[] = [];
    if (o.write) {
      const base = `loadtest-${k.target}-${k.verification}-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
      files.push(writeJsonReport(o.reportDir, base, report), writeHtmlReport(o.reportDir, base, report));
    }
    return { report, files };
  } catch (e) {
    // A node that died says why on its stderr.
    const dead = net.processes().filter((p) => p.child !== null && (p.child.exitCode !== null || p.child.signalCode !== null));
    if (dead.length > 0 && e instanceof Error) {
      e.message += dead.map((p) => `\n${p.name} exited (${p.child!.exitCode ?? p.child!.signalCode}): ${p.stderrTail.join('').slice(-2000)}`).join('');
    }
    throw e;
  } finally {
    await net.stop();
    if (!o.keepData) rmSync(root, { recursive: true, force: true });
    else o.log(`data kept in ${root}`);
  }
}

/** Plan positions grouped by the URL of the payer's bank, in plan order. */
function indexesByPayerBank(plans: readonly { payer: number }[], accounts: readonly { bankUrl: string }[]): Map<string, number[]> {
  const byBank = new Map<string, number[]>();
  plans.forEach((p, i) => {
    const b = accounts[p.payer]!.bankUrl;
    const list = byBank.get(b);
    if (list === undefined) byBank.set(b, [i]);
    else list.push(i);
  });
  return byBank;
}

/** Payments go to the payer's bank; one autocannon run per bank, side by side, merged after. */
async function runPaymentsAcrossBanks(
  k: Knobs, runOpts: Parameters<typeof runPayments>[0], plans: ReturnType<typeof planPayments>,
  accounts: Awaited<ReturnType<typeof openAccounts>>, requests: readonly PaymentRequest[],
): Promise<Awaited<ReturnType<typeof runPayments>>> {
  const byBank = indexesByPayerBank(plans, accounts);
  const urls = [...byBank.keys()];
  const conns = Math.max(1, Math.floor(k.connections / urls.length));
  const rates = e2eRates(k);
  const parts = await Promise.all(urls.map((url, b) => {
    const idx = byBank.get(url)!;
    return runPayments({
      ...runOpts, url, connections: conns, progress: runOpts.progress && b === 0,
      // Payments at the key share of --rate, split over the banks.
      itemRate: rates === null ? null : rates.key / urls.length,
    }, idx.map((i) => plans[i]!), accounts, idx.map((i) => requests[i]!)).then((r) => ({ r, idx }));
  }));
  if (parts.length === 1) {
    const { r, idx } = parts[0]!;
    if (idx.every((v, i) => v === i)) return r;
  }
  return mergeRuns(plans.length, parts);
}

function mergeRuns(n: number, parts: { r: Awaited<ReturnType<typeof runPayments>>; idx: number[] }[]): Awaited<ReturnType<typeof runPayments>> {
  const outcome = new Uint8Array(n);
  const records: Awaited<ReturnType<typeof runPayments>>['records'] = new Array(n);
  for (const { r, idx } of parts) {
    idx.forEach((g, i) => {
      outcome[g] = r.outcome[i]!;
      records[g] = r.records[i]!;
    });
  }
  const first = parts[0]!.r;
  const rec = first.recorder;
  for (const { r } of parts.slice(1)) rec.merge(r.recorder);
  const ac = { ...first.autocannon };
  for (const { r } of parts.slice(1)) {
    ac.requests_sent += r.autocannon.requests_sent;
    ac.responses += r.autocannon.responses;
    ac.non_2xx += r.autocannon.non_2xx;
    ac.errors += r.autocannon.errors;
    ac.timeouts += r.autocannon.timeouts;
    // Summed per bank: rounded again, as each part was (floating point adds its own digits).
    ac.req_per_s_mean = Math.round((ac.req_per_s_mean + r.autocannon.req_per_s_mean) * 100) / 100;
    for (const key of ['p50', 'p90', 'p99', 'p999', 'max'] as const) ac.request_latency_ms[key] = Math.max(ac.request_latency_ms[key], r.autocannon.request_latency_ms[key]);
  }
  const exhausted = parts.map((p) => p.r.exhaustedAtS).filter((x): x is number => x !== null);
  return {
    recorder: rec, seconds: Math.max(...parts.map((p) => p.r.seconds)), outcome, records, autocannon: ac,
    sent: parts.reduce((s, p) => s + p.r.sent, 0),
    exhaustedAtS: exhausted.length === parts.length ? Math.max(...exhausted) : null,
  };
}

/** Contract payments go to the payer's bank; one autocannon run per bank beside the payments', merged after; under --rate, at the contract share of it. */
async function runContractsAcrossBanks(
  k: Knobs, runOpts: Parameters<typeof runContracts>[0], plans: ReturnType<typeof planContracts>,
  accounts: Awaited<ReturnType<typeof openAccounts>>, idemPrefix: string,
): Promise<{ outcome: Uint8Array; records: ContractRecord[]; seconds: number; recorder: Recorder }> {
  const byBank = indexesByPayerBank(plans, accounts);
  const urls = [...byBank.keys()];
  const conns = Math.max(1, Math.round((k.connections * k.mix.contract) / urls.length));
  const rates = e2eRates(k);
  const parts = await Promise.all(urls.map((url, b) => {
    const idx = byBank.get(url)!;
    return runContracts({
      ...runOpts, url, connections: conns, progress: false,
      itemRate: rates === null ? null : rates.contract / urls.length,
    }, idx.map((i) => plans[i]!), accounts, `${idemPrefix}-${b}`).then((r) => ({ r, idx }));
  }));
  const outcome = new Uint8Array(plans.length);
  const records: ContractRecord[] = new Array(plans.length);
  const recorder = new Recorder();
  for (const { r, idx } of parts) {
    idx.forEach((g, i) => {
      outcome[g] = r.outcome[i]!;
      records[g] = r.records[i]!;
    });
    recorder.merge(r.recorder);
  }
  return { outcome, records, seconds: Math.max(...parts.map((p) => p.r.seconds)), recorder };
}

function warmupText(k: Knobs): string {
  return k.warmupS > 0 ? `a ${k.warmupS} s warm-up, then ` : '';
}

/** Seconds from the start of the run to its last answer (the window, or more when requests in flight finished after it). */
function answeredSpanS(run: RunResult): number {
  return Math.max(run.seconds, run.recorder.perSecond().length);
}
