// The in-process ledger benchmark: how many signed, verified, durably committed transfers per
// second the central ledger settles on this machine, set against what the machine's cores can
// verify, measured in one run.
//
// Workload: 2-input/2-output transfers; each input is locked to one key (keyLock) and the two
// inputs of a transfer to DIFFERENT keys, so every transfer carries two signatures that must
// both be checked. The ledger first holds --outputs unspent outputs (1,000,000 by default),
// loaded through the real path (operator-signed issuance of up to 64 outputs each). A transfer
// spends two outputs and creates two, so the unspent set keeps its size through every phase.
//
// Phases, in this order, against the same store:
//   verify     the VerifyPool's raw rate (native libsecp256k1, all cores) on signatures taken
//              from the full-mode workload; the verify limit is that rate / 2 signatures.
//   full       central verifies every witness; inputs drawn uniformly at random from the unspent set.
//   oldest     the same, inputs taken in ledger order, oldest unspent first (OpenCBDC's pattern).
//   attested   Ledger.submit(txs, attestation): one bank signature over batchMessage(network, txids)
//              per submitted chunk; inputs random.
//   policy     full mode again, but every input and output is locked by a lock policy
//              (docs/LOCKS.md) instead of a key: or(and(multi(2, [x, y]), before(now + 1 year)),
//              and(after(now - 1 day), key(owner))), spent by its owner through the second
//              branch, so each input still carries exactly one signature and the difference to
//              `full` is what evaluating (and storing) the policy costs. Its outputs are made,
//              untimed, by converting random initial outputs into policy-locked ones first.
//   policy-attested  the same policy workload in attested mode (compare with `attested`: no
//              signature work hides the evaluation there).
// Each phase's transactions are built and signed before its clock starts (generation is not
// timed); submission computes txids inside the ledger, which is timed. Every transfer must
// settle and store.audit() must pass at the end, or the run fails (exit 1).
//
// Memory: JS heap (after a full gc) and RSS are taken once the initial outputs are loaded,
// before any workload exists. The generator keeps its own view of those outputs in typed
// arrays (off the JS heap; reported as external/arrayBuffers) so the heap figure is the
// ledger's. To make gc() available the script re-runs itself under `node --expose-gc`
// unless it already has it (so `node --expose-gc --cpu-prof dist/central/bench/ledger_bench.js`
// profiles the run itself, in one process).
//
// Usage: npm run bench:ledger [-- --json] [-- --durability sync|overlapping|nosync] ...
//        npm run bench:ledger -- --store postgres   (LMDB against PostgreSQL, store_bench.ts)
//        (`npm run -s bench:ledger -- --json` keeps npm's banner off stdout.)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveInt } from '../../platform/cli_args.js';
import { TX_OUTPUTS_MAX } from '../../protocol/limits.js';
import { signHashNative } from '../../protocol/sig.js';
import { type Tx, outputId, txId } from '../../protocol/tx.js';
import { keyLock, makeTx } from '../../protocol/tx_builder.js';
import { type Lock, encodeLock } from '../../protocol/lock.js';
import { Ledger, batchMessage } from '../ledger.js';
import { LmdbStore } from '../store_lmdb.js';
import { DURABILITIES, type Durability, type TxEffect } from '../store.js';
import { TriplePacker } from '../verify_pack.js';
import { VerifyPool } from '../verify_pool.js';
import { benchPolicy, makeKeyPool, makeRng } from './workload_gen.js';
import {
  NETWORK, log, gc, mainThreadCpuMs, machineBusyMs, round, InitialOutputs, buildIssuance, unsignedTransfer, buildTransfers, signTransfers, PolicyOutputs, policyOutputs, attestChunks, runChunks, assertAllSettled, type PhaseFigures, timedPhase, benchIdentities, registerBenchBank, loadInitialOutputs,
} from './ledger_workload.js';
import { storeBench } from './store_bench.js';

const MB = 1024 * 1024;
const PHASES = ['verify', 'full', 'oldest', 'attested', 'policy', 'policy-attested', 'store'] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  outputs: number;
  transfers: number;
  oldestTransfers: number | undefined;
  attestedTransfers: number;
  policyTransfers: number;
  storeTransfers: number;
  verifyChecks: number;
  batch: number;
  chunk: number | undefined;
  inflight: number;
  ledgerInflight: number;
  durability: Durability;
  threads: number;
  keys: number;
  seed: string;
  phases: Phase[];
  json: boolean;
  dataDir: string | undefined;
  profile: string | undefined;
  store: 'lmdb' | 'postgres';
  sqlSets: ('single' | 'standbys')[];
  storeBenchTransfers: number;
}

function phaseList(value: string): Phase[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const p of list) if (!(PHASES as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown phase "${p}" (phases: ${PHASES.join(',')})`);
  return list as Phase[];
}

function sqlSetList(value: string): ('single' | 'standbys')[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const s of list) if (s !== 'single' && s !== 'standbys') throw new InvalidArgumentError(`unknown PostgreSQL layout "${s}" (single, standbys)`);
  return list as ('single' | 'standbys')[];
}

function parseOptions(argv: string[]): Options {
  const cmd = new Command('ledger_bench')
    .description('In-process benchmark of the central ledger: verified, durably committed 2-in/2-out transfers per second.')
    .option('--outputs <n>', 'unspent outputs the ledger holds before the timed phases', positiveInt, 1_000_000)
    .option('--transfers <n>', 'transfers in the full-mode (random inputs) phase', positiveInt, 100_000)
    .option('--oldest-transfers <n>', 'transfers in the oldest-first phase (default: --transfers)', positiveInt)
    .option('--attested-transfers <n>', 'transfers in the attested-mode phase', positiveInt, 100_000)
    .option('--policy-transfers <n>', 'transfers in each policy-lock phase (policy, policy-attested)', positiveInt, 50_000)
    .option('--store-transfers <n>', 'transfers in the store-only phase (LmdbStore.apply of prebuilt effects)', positiveInt, 50_000)
    .option('--verify-checks <n>', 'signature checks timed to measure the verify rate', positiveInt, 200_000)
    .option('--batch <n>', 'ledger batchTxMax: transfers per LMDB write transaction', positiveInt, 2000)
    .option('--chunk <n>', 'transfers per Ledger.submit call (and per attestation) (default: --batch)', positiveInt)
    .option('--inflight <n>', 'submit chunks kept in flight', positiveInt, 4)
    .option('--ledger-inflight <n>', 'ledger inflightBatchesMax (committed batches awaiting their flush)', positiveInt, 2)
    .addOption(new Option('--durability <mode>', 'LmdbStore durability').choices(DURABILITIES).default('overlapping'))
    .option('--threads <n>', 'VerifyPool worker threads', nonNegativeInt, availableParallelism())
    .option('--keys <n>', 'deterministic secret keys in the workload key pool', positiveInt, 50_000)
    .option('--seed <text>', 'seed of keys, values and input choices', 'cbdc-ledger-bench')
    .option('--phases <list>', `phases to run, comma-separated (${PHASES.join(',')})`, phaseList, [...PHASES])
    .option('--json', 'print exactly one JSON object on stdout', false)
    .option('--data-dir <dir>', 'LMDB directory, empty or new (kept afterwards); default: a fresh temp dir, removed at the end')
    .option('--profile <dir>', 'write a main-thread .cpuprofile of each timed phase to <dir> and log its top self-time functions')
    .addOption(new Option('--store <engine>', 'lmdb: the phases above on LMDB; postgres: the store comparison (store_bench.ts): full and attested at batch 1/100/1000 on LMDB and PostgreSQL').choices(['lmdb', 'postgres']).default('lmdb'))
    .option('--sql-sets <list>', 'with --store postgres: PostgreSQL layouts beside LMDB (single = one node, standbys = primary + 2 synchronous standbys)', sqlSetList, ['single', 'standbys'])
    .option('--store-bench-transfers <n>', 'with --store postgres: transfers per phase at batch 1000 (at batch b: b/1000 of it, at least 1,000)', positiveInt, 20_000)
    .showHelpAfterError();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Options>();
  if (o.keys < 2) throw new Error('--keys must be at least 2 (the two inputs of a transfer use different keys)');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.store === 'postgres') {
    await storeBench({
      seed: o.seed, keys: o.keys, threads: o.threads, durability: o.durability, json: o.json, sqlSets: o.sqlSets,
      transfersPerBatch: o.storeBenchTransfers / 1000, transfersMin: 1_000, transfersMax: o.storeBenchTransfers,
    });
    return;
  }
  const tStart = performance.now();
  const loadStart = loadavg()[0]!;
  const hasGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
  const createdDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), 'cbdc-ledger-bench-'));
  // A crash (an error thrown inside the ledger's pipeline), a signal or a normal end: the temp
  // ledger goes in every case.
  if (createdDir) {
    const removeDir = (): void => rmSync(dataDir, { recursive: true, force: true });
    process.once('exit', removeDir);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  }
  if (!createdDir) {
    mkdirSync(dataDir, { recursive: true });
    if (readdirSync(dataDir).length > 0) throw new Error(`--data-dir ${dataDir} must be empty or new: the benchmark builds its own ledger`);
  }
  const run = (p: Phase): boolean => o.phases.includes(p);

  const pool = new VerifyPool({ backend: 'native', threads: o.threads });
  const store = new LmdbStore({ path: dataDir, durability: o.durability });
  try {
    // --- Setup: keys, one intermediary, the initial outputs through the real issuance path.
    let t = performance.now();
    const keys = makeKeyPool(o.seed, o.keys);
    const { operatorSk, operatorPub, bankSk, bankPub } = benchIdentities(o.seed);
    log(`${keys.sks.length} keys derived in ${round((performance.now() - t) / 1000, 2)} s`);

    await registerBenchBank(store, bankPub);
    const outs = new InitialOutputs(o.outputs, keys.sks.length);
    t = performance.now();
    const issuance = await buildIssuance(o.outputs, keys, outs, operatorSk, makeRng(o.seed, 'values'), availableParallelism());
    const issueSignSeconds = (performance.now() - t) / 1000;
    log(`${issuance.txs.length} issuance transactions operator-signed in ${round(issueSignSeconds, 2)} s`);
    t = performance.now();
    await loadInitialOutputs(store, pool, operatorPub, issuance.txs, outs, 'record');
    const setupCommitSeconds = (performance.now() - t) / 1000;
    const supply0 = store.supply();
    if (supply0.unspentFen !== issuance.totalFen || supply0.outputCount !== BigInt(o.outputs)) {
      throw new Error(`setup: the ledger holds ${supply0.outputCount} outputs worth ${supply0.unspentFen}, expected ${o.outputs} worth ${issuance.totalFen}`);
    }
    log(`${o.outputs} outputs committed through the ledger in ${round(setupCommitSeconds, 2)} s (${round(o.outputs / setupCommitSeconds)} outputs/s)`);
    issuance.txs.length = 0;

    // --- Memory with the initial outputs loaded, before any workload exists.
    gc();
    const mem = process.memoryUsage();
    log(`memory with ${o.outputs} unspent outputs: heap ${round(mem.heapUsed / MB, 1)} MB, RSS ${round(mem.rss / MB, 1)} MB` +
      (hasGc ? '' : ' (no gc available: run node with --expose-gc)'));

    // --- Full mode (random inputs) workload; its signatures also feed the verify measurement.
    let fullTxs: Tx[] = [];
    let fullBuild = 0;
    if (run('full') || run('verify')) {
      t = performance.now();
      const rng = makeRng(o.seed, 'full');
      const pairs: [number, number][] = [];
      for (let i = 0; i < o.transfers; i++) pairs.push(outs.drawRandomPair(rng));
      fullTxs = await buildTransfers(pairs, keys, outs, rng, availableParallelism());
      fullBuild = (performance.now() - t) / 1000;
      log(`full: ${o.transfers} transfers built and signed in ${round(fullBuild, 2)} s`);
    }

    // --- Verify rate of the machine: the same pool, packed checks, all cores.
    let verifyPerS = NaN;
    let verifyCpuUs = NaN;
    let verifyOtherCores = NaN;
    if (run('verify')) {
      const packer = new TriplePacker(o.verifyChecks);
      const txids = fullTxs.map(txId);
      for (let i = 0; packer.count < o.verifyChecks; i++) {
        const tx = fullTxs[i % fullTxs.length]!;
        for (const s of tx.sigs) if (packer.count < o.verifyChecks) packer.add(s.sig, txids[i % fullTxs.length]!, s.key);
      }
      const warm = new TriplePacker(4096);
      for (let i = 0; i < 4096; i++) {
        const tx = fullTxs[i % fullTxs.length]!;
        warm.add(tx.sigs[0]!.sig, txids[i % fullTxs.length]!, tx.sigs[0]!.key);
      }
      await pool.verify(warm);
      gc();
      const vcpu0 = process.cpuUsage();
      const vbusy0 = machineBusyMs();
      t = performance.now();
      const verdicts = await pool.verify(packer);
      const secs = (performance.now() - t) / 1000;
      const vcpu = process.cpuUsage(vcpu0);
      const vbusy1 = machineBusyMs();
      verifyCpuUs = (vcpu.user + vcpu.system) / o.verifyChecks;
      if (vbusy0 !== null && vbusy1 !== null) verifyOtherCores = Math.max(0, (vbusy1 - vbusy0) / 1000 - (vcpu.user + vcpu.system) / 1e6) / secs;
      if (!verdicts.every((v) => v === 1)) throw new Error('verify: a valid signature was refused');
      verifyPerS = o.verifyChecks / secs;
      log(`verify: ${o.verifyChecks} checks in ${round(secs, 2)} s = ${round(verifyPerS)} verify/s on ${pool.threads} threads ` +
        `(${round(verifyCpuUs, 1)} CPU us per check; other processes ${round(verifyOtherCores, 2)} cores)`);
    }

    let full: PhaseFigures | null = null;
    if (run('full')) full = await timedPhase('full', store, pool, o, operatorPub, fullTxs, fullBuild);
    fullTxs = [];

    // --- Oldest-first (ledger order) workload.
    let oldest: PhaseFigures | null = null;
    if (run('oldest')) {
      const n = o.oldestTransfers ?? o.transfers;
      t = performance.now();
      const pairs: [number, number][] = [];
      for (let i = 0; i < n; i++) pairs.push(outs.drawOldestPair());
      outs.compactFree();
      const txs = await buildTransfers(pairs, keys, outs, makeRng(o.seed, 'oldest'), availableParallelism());
      const build = (performance.now() - t) / 1000;
      log(`oldest: ${n} transfers built and signed in ${round(build, 2)} s`);
      oldest = await timedPhase('oldest', store, pool, o, operatorPub, txs, build);
    }

    // --- Attested mode: the bank vouches for each chunk with one signature over its txids.
    let attested: PhaseFigures | null = null;
    if (run('attested')) {
      const n = o.attestedTransfers;
      const chunk = o.chunk ?? o.batch;
      t = performance.now();
      const rng = makeRng(o.seed, 'attested');
      const pairs: [number, number][] = [];
      for (let i = 0; i < n; i++) pairs.push(outs.drawRandomPair(rng));
      const txs = await buildTransfers(pairs, keys, outs, rng, availableParallelism());
      const attestations = new Map<number, { key: Buffer; sig: Buffer }>();
      for (let from = 0; from < n; from += chunk) {
        const ids = txs.slice(from, Math.min(n, from + chunk)).map(txId);
        attestations.set(from, { key: bankPub, sig: signHashNative(bankSk, batchMessage(NETWORK, ids)) });
      }
      const build = (performance.now() - t) / 1000;
      log(`attested: ${n} transfers built, signed and attested in ${round(build, 2)} s`);
      attested = await timedPhase('attested', store, pool, o, operatorPub, txs, build, (from) => attestations.get(from)!);
    }

    // --- Policy locks: first convert random initial outputs into policy-locked ones (untimed,
    // attested), then time transfers between policy-locked outputs, in full and attested mode.
    let policy: PhaseFigures | null = null;
    let policyAttested: PhaseFigures | null = null;
    let conversions = 0;
    if (run('policy') || run('policy-attested')) {
      const perPhase = o.policyTransfers;
      const phasesRun = (run('policy') ? 1 : 0) + (run('policy-attested') ? 1 : 0);
      const chunk = o.chunk ?? o.batch;
      const nowMs = Date.now();
      const [x, y] = [keys.pubs[0]!, keys.pubs[1]!];
      const lockCache = new Map<number, Lock>();
      const lockOf = (k: number): Lock => {
        let l = lockCache.get(k);
        if (l === undefined) lockCache.set(k, (l = benchPolicy(keys.pubs[k]!, x, y, nowMs)));
        return l;
      };
      t = performance.now();
      const rng = makeRng(o.seed, 'policy');
      conversions = perPhase * phasesRun;
      const unsigned: Tx[] = [];
      const signers: Buffer[][] = [];
      const owners: number[][] = [];
      for (let i = 0; i < conversions; i++) {
        const [a, b] = outs.drawRandomPair(rng);
        const made = policyOutputs(outs.values[a]! + outs.values[b]!, keys, rng, lockOf);
        unsigned.push(makeTx({
          network: NETWORK,
          inputs: [a, b].map((j) => ({ pos: BigInt(outs.pos[j]!), id: outs.ids.subarray(j * 32, j * 32 + 32) })),
          outputs: made.map((m) => ({ value: m.value, lock: m.lock })),
        }));
        signers.push([keys.sks[outs.keyOf(a)]!, keys.sks[outs.keyOf(b)]!]);
        owners.push(made.map((m) => m.key));
      }
      const convTxs = await signTransfers(unsigned, signers, keys, availableParallelism());
      const convAttest = attestChunks(convTxs, chunk, bankSk, bankPub);
      const convLedger = new Ledger(store, { network: NETWORK, operatorPublicKey: operatorPub, pool, batchTxMax: o.batch, inflightBatchesMax: o.ledgerInflight });
      const convRun = await runChunks(convLedger, convTxs, chunk, o.inflight, (from) => convAttest.get(from)!);
      await convLedger.drain();
      assertAllSettled('policy setup', convRun.results);
      const pol = new PolicyOutputs(2 * conversions);
      convRun.results.forEach((r, i) => {
        if (!r.ok) throw new Error('unreachable');
        const tx = convTxs[i]!;
        for (let k = 0; k < 2; k++) pol.add(Number(r.firstPos) + k, r.outputIds[k]!, Number(tx.outputs[k]!.value), owners[i]![k]!);
      });
      log(`policy: ${2 * conversions} policy-locked outputs made in ${round((performance.now() - t) / 1000, 2)} s (untimed); ` +
        `lock ${encodeLock(lockOf(0)).length} bytes vs ${encodeLock(keyLock(keys.pubs[0]!)).length} for a key lock`);

      const buildPolicy = async (label: string): Promise<{ txs: Tx[]; build: number }> => {
        const t1 = performance.now();
        const prng = makeRng(o.seed, label);
        const txsU: Tx[] = [];
        const sg: Buffer[][] = [];
        for (let i = 0; i < perPhase; i++) {
          const [a, b] = pol.drawPair(prng);
          const made = policyOutputs(pol.values[a]! + pol.values[b]!, keys, prng, lockOf);
          txsU.push(makeTx({
            network: NETWORK,
            inputs: [a, b].map((j) => ({ pos: BigInt(pol.pos[j]!), id: pol.ids.subarray(j * 32, j * 32 + 32) })),
            outputs: made.map((m) => ({ value: m.value, lock: m.lock })),
          }));
          sg.push([keys.sks[pol.keyIdx[a]!]!, keys.sks[pol.keyIdx[b]!]!]);
        }
        const txs = await signTransfers(txsU, sg, keys, availableParallelism());
        const build = (performance.now() - t1) / 1000;
        log(`${label}: ${perPhase} policy transfers built and signed in ${round(build, 2)} s`);
        return { txs, build };
      };
      if (run('policy')) {
        const b = await buildPolicy('policy');
        policy = await timedPhase('policy', store, pool, o, operatorPub, b.txs, b.build);
      }
      if (run('policy-attested')) {
        const b = await buildPolicy('policy-attested');
        const att = attestChunks(b.txs, chunk, bankSk, bankPub);
        policyAttested = await timedPhase('policy-attested', store, pool, o, operatorPub, b.txs, b.build, (from) => att.get(from)!);
      }
    }

    // --- Store only: LmdbStore.apply of prebuilt effects (no txids, reads, locks or signatures),
    // the storage ceiling under the ledger; batches of --batch, --ledger-inflight in flight.
    let storeOnly: PhaseFigures | null = null;
    if (run('store')) {
      const n = o.storeTransfers;
      t = performance.now();
      const rng = makeRng(o.seed, 'store');
      const effects: TxEffect[] = [];
      for (let i = 0; i < n; i++) {
        const [a, b] = outs.drawRandomPair(rng);
        const tx = unsignedTransfer(a, b, keys, outs, rng);
        const txid = txId(tx);
        const total = tx.outputs[0]!.value + tx.outputs[1]!.value;
        effects.push({
          txid, kind: 'transfer', inputs: tx.inputs.map((inp) => inp.pos),
          outputs: tx.outputs.map((out, index) => ({ id: outputId(txid, index, out.value, out.lockBytes), value: out.value, lockBytes: out.lockBytes })),
          inputSumFen: total, outputSumFen: total, intermediary: '', serial: 0n,
        });
      }
      const build = (performance.now() - t) / 1000;
      gc();
      log(`store: applying ${n} prebuilt effects in batches of ${o.batch}, ${o.ledgerInflight} in flight...`);
      const cpu0 = process.cpuUsage();
      const main0 = mainThreadCpuMs();
      const busy0 = machineBusyMs();
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      let failed = 0;
      let durable = true;
      const inflight: Promise<void>[] = [];
      let timeMs = Date.now();
      for (let from = 0; from < n; from += o.batch) {
        if (inflight.length >= o.ledgerInflight) await inflight.shift();
        inflight.push(store.apply(effects.slice(from, Math.min(n, from + o.batch)), ++timeMs).then((applied) => {
          for (const r of applied.results) if (!r.ok) failed++;
          durable &&= applied.durable;
        }));
      }
      await Promise.all(inflight);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const main1 = mainThreadCpuMs();
      const busy1 = machineBusyMs();
      if (failed > 0) throw new Error(`store: ${failed} of ${n} effects were refused`);
      const cpuUs = cpu.user + cpu.system;
      storeOnly = {
        transfers: n, seconds, txPerS: n / seconds, buildSeconds: build, elu: performance.eventLoopUtilization(elu0).utilization,
        cpuCores: cpuUs / 1e6 / seconds, mainCpuUsPerTx: main0 === null || main1 === null ? null : ((main1 - main0) * 1000) / n,
        processCpuUsPerTx: cpuUs / n, otherCores: busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0) / 1000 - cpuUs / 1e6) / seconds,
        durable,
      };
      log(`store: ${round(storeOnly.txPerS)} tx/s (${round(seconds, 2)} s; CPU per tx: main thread ${storeOnly.mainCpuUsPerTx === null ? 'n/a' : round(storeOnly.mainCpuUsPerTx, 1)} us, ` +
        `process ${round(storeOnly.processCpuUsPerTx, 1)} us; other processes ${storeOnly.otherCores === null ? 'n/a' : round(storeOnly.otherCores, 2)} cores)`);
    }

    // --- Nothing lost: every committed state must pass the supply audit.
    t = performance.now();
    const audit = store.audit();
    const auditSeconds = (performance.now() - t) / 1000;
    if (!audit.ok) throw new Error(`audit failed: ${audit.problems.join('; ')}`);
    const settled = (full?.transfers ?? 0) + (oldest?.transfers ?? 0) + (attested?.transfers ?? 0) + (storeOnly?.transfers ?? 0) +
      conversions + (policy?.transfers ?? 0) + (policyAttested?.transfers ?? 0);
    if (audit.unspentCount !== BigInt(o.outputs) || audit.outputCount !== BigInt(o.outputs + 2 * settled)) {
      throw new Error(`audit: ${audit.unspentCount} unspent of ${audit.outputCount}, expected ${o.outputs} of ${o.outputs + 2 * settled}`);
    }
    if (audit.unspentRecomputedFen !== issuance.totalFen) throw new Error('audit: the unspent total moved');
    log(`audit ok in ${round(auditSeconds, 2)} s: ${audit.unspentCount} unspent of ${audit.outputCount} outputs, ${audit.unspentRecomputedFen} fen`);

    const limit = verifyPerS / 2;
    const report = {
      tx_per_s: full ? round(full.txPerS) : null,
      oldest_first_tx_per_s: oldest ? round(oldest.txPerS) : null,
      verify_per_s: Number.isNaN(verifyPerS) ? null : round(verifyPerS),
      verify_cpu_us_per_check: Number.isNaN(verifyCpuUs) ? null : round(verifyCpuUs, 1),
      verify_other_processes_cores: Number.isNaN(verifyOtherCores) ? null : round(verifyOtherCores, 2),
      verify_limit_tx_per_s: Number.isNaN(limit) ? null : round(limit),
      ratio_to_limit: full && !Number.isNaN(limit) ? round(full.txPerS / limit, 3) : null,
      oldest_first_ratio_to_limit: oldest && !Number.isNaN(limit) ? round(oldest.txPerS / limit, 3) : null,
      attested_tx_per_s: attested ? round(attested.txPerS) : null,
      policy_tx_per_s: policy ? round(policy.txPerS) : null,
      policy_attested_tx_per_s: policyAttested ? round(policyAttested.txPerS) : null,
      policy_to_full_ratio: policy && full ? round(policy.txPerS / full.txPerS, 3) : null,
      policy_attested_to_attested_ratio: policyAttested && attested ? round(policyAttested.txPerS / attested.txPerS, 3) : null,
      store_only_tx_per_s: storeOnly ? round(storeOnly.txPerS) : null,
      heap_mb_1m_outputs: round(mem.heapUsed / MB, 1),
      rss_mb_1m_outputs: round(mem.rss / MB, 1),
      external_mb_1m_outputs: round(mem.external / MB, 1),
      array_buffers_mb_1m_outputs: round(mem.arrayBuffers / MB, 1),
      heap_after_gc: hasGc,
      targets: {
        ratio_to_limit_min: 0.7, attested_tx_per_s_min: 40_000, heap_mb_max: 200,
        ratio_met: full && !Number.isNaN(limit) ? full.txPerS / limit >= 0.7 : null,
        attested_met: attested ? attested.txPerS >= 40_000 : null,
        heap_met: hasGc ? mem.heapUsed / MB < 200 : null,
      },
      outputs: o.outputs,
      transfers: full?.transfers ?? null,
      oldest_first_transfers: oldest?.transfers ?? null,
      attested_transfers: attested?.transfers ?? null,
      policy_transfers: policy || policyAttested ? o.policyTransfers : null,
      store_transfers: storeOnly?.transfers ?? null,
      verify_checks: run('verify') ? o.verifyChecks : null,
      batch: o.batch,
      chunk: o.chunk ?? o.batch,
      inflight_chunks: o.inflight,
      ledger_inflight_batches: o.ledgerInflight,
      durability: o.durability,
      durable: [full, oldest, attested, policy, policyAttested, storeOnly].every((f) => f === null || f.durable),
      threads: pool.threads,
      keys: keys.sks.length,
      seed: o.seed,
      phases: {
        full: full && phaseJson(full),
        oldest_first: oldest && phaseJson(oldest),
        attested: attested && phaseJson(attested),
        policy: policy && phaseJson(policy),
        policy_attested: policyAttested && phaseJson(policyAttested),
        store_only: storeOnly && phaseJson(storeOnly),
      },
      setup: {
        issuance_txs: Math.ceil(o.outputs / TX_OUTPUTS_MAX),
        operator_sign_s: round(issueSignSeconds, 2),
        commit_s: round(setupCommitSeconds, 2),
        audit_s: round(auditSeconds, 2),
      },
      machine: {
        cpus: availableParallelism(), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version,
        // Other processes on the machine take cores from this run: the 1-minute load average.
        load_avg_1m_start: round(loadStart, 2), load_avg_1m_end: round(loadavg()[0]!, 2),
      },
      total_s: round((performance.now() - tStart) / 1000, 1),
    };

    if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
    else process.stdout.write(table(report, full, oldest, attested, storeOnly, limit, verifyPerS, mem, hasGc, o, pool.threads, policy, policyAttested));
  } finally {
    await pool.close();
    await store.close();
    if (createdDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

function phaseJson(f: PhaseFigures): Record<string, number | boolean> {
  return {
    transfers: f.transfers, seconds: round(f.seconds, 3), tx_per_s: round(f.txPerS), build_s: round(f.buildSeconds, 2),
    main_thread_elu: round(f.elu, 3), process_cpu_cores: round(f.cpuCores, 2),
    main_thread_cpu_us_per_tx: f.mainCpuUsPerTx === null ? -1 : round(f.mainCpuUsPerTx, 1),
    process_cpu_us_per_tx: round(f.processCpuUsPerTx, 1),
    other_processes_cores: f.otherCores === null ? -1 : round(f.otherCores, 2), durable: f.durable,
  };
}

function table(
  report: { total_s: number; verify_other_processes_cores: number | null; machine: { load_avg_1m_start: number; load_avg_1m_end: number; cpus: number } }, full: PhaseFigures | null, oldest: PhaseFigures | null, attested: PhaseFigures | null,
  storeOnly: PhaseFigures | null, limit: number, verifyPerS: number, mem: NodeJS.MemoryUsage, hasGc: boolean, o: Options, threads: number,
  policy: PhaseFigures | null = null, policyAttested: PhaseFigures | null = null,
): string {
  const rows: [string, string, string][] = [];
  const fmt = (v: number | null | undefined, d = 0): string => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  const phaseNote = (f: PhaseFigures | null): string => (f
    ? `${f.transfers} tx in ${fmt(f.seconds, 2)} s; CPU/tx main ${fmt(f.mainCpuUsPerTx, 1)} us, process ${fmt(f.processCpuUsPerTx, 1)} us ` +
      `(${fmt(f.cpuCores, 2)} cores); other processes ${fmt(f.otherCores, 2)} cores`
    : 'not run');
  rows.push(['full mode, random inputs', `${fmt(full?.txPerS)} tx/s`, phaseNote(full)]);
  rows.push(['full mode, oldest-first', `${fmt(oldest?.txPerS)} tx/s`, phaseNote(oldest)]);
  rows.push(['verify, all cores (native)', `${fmt(verifyPerS)} verify/s`, `${threads} worker threads`]);
  rows.push(['verify limit (verify/s / 2)', `${fmt(limit)} tx/s`, '2 signatures per transfer']);
  const ratio = full ? full.txPerS / limit : NaN;
  rows.push(['ratio full / limit', fmt(ratio, 3), `target >= 0.7: ${Number.isNaN(ratio) ? 'n/a' : ratio >= 0.7 ? 'met' : 'MISSED'}`]);
  const oratio = oldest ? oldest.txPerS / limit : NaN;
  rows.push(['ratio oldest-first / limit', fmt(oratio, 3), '']);
  rows.push(['attested mode, random inputs', `${fmt(attested?.txPerS)} tx/s`, `${phaseNote(attested)}; target >= 40,000: ${attested ? (attested.txPerS >= 40_000 ? 'met' : 'MISSED') : 'n/a'}`]);
  rows.push(['policy locks, full mode', `${fmt(policy?.txPerS)} tx/s`, `${phaseNote(policy)}; vs full: ${policy && full ? fmt(policy.txPerS / full.txPerS, 3) : 'n/a'}`]);
  rows.push(['policy locks, attested', `${fmt(policyAttested?.txPerS)} tx/s`, `${phaseNote(policyAttested)}; vs attested: ${policyAttested && attested ? fmt(policyAttested.txPerS / attested.txPerS, 3) : 'n/a'}`]);
  rows.push(['store only (LmdbStore.apply)', `${fmt(storeOnly?.txPerS)} tx/s`, `${phaseNote(storeOnly)}; the ceiling under the ledger`]);
  rows.push([`JS heap, ${o.outputs} outputs`, `${fmt(mem.heapUsed / MB, 1)} MB`, hasGc ? `after gc; target < 200 MB: ${mem.heapUsed / MB < 200 ? 'met' : 'MISSED'}` : 'NO gc available (run with --expose-gc)']);
  rows.push([`RSS, ${o.outputs} outputs`, `${fmt(mem.rss / MB, 1)} MB`, `external ${fmt(mem.external / MB, 1)} MB (generator's typed arrays ${fmt(mem.arrayBuffers / MB, 1)} MB)`]);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
  const head = `ledger benchmark: ${o.outputs} unspent outputs, batch ${o.batch}, chunk ${o.chunk ?? o.batch} x ${o.inflight} in flight, ` +
    `durability ${o.durability}, ${threads} verify threads, ${report.total_s} s total; ` +
    `load average ${report.machine.load_avg_1m_start} -> ${report.machine.load_avg_1m_end} on ${report.machine.cpus} cpus`;
  const busiest = Math.max(
    ...[full, oldest, attested, policy, policyAttested, storeOnly].map((f) => f?.otherCores ?? 0),
    report.verify_other_processes_cores ?? 0,
  );
  if (busiest > 0.2) {
    lines.push(`WARNING: other processes kept up to ${fmt(busiest, 2)} of ${report.machine.cpus} cores busy during a timed phase; ` +
      'wall-clock figures (and the ratio, when verify and full saw different loads) understate this machine. CPU/tx figures hold better.');
  }
  return [head, '-'.repeat(Math.min(120, head.length)), ...lines, ''].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Entry: re-run under --expose-gc when gc() is not available, so the heap
// figure is after a gc; or the benchmark.

const hasGcNow = typeof (globalThis as { gc?: unknown }).gc === 'function';
if (!hasGcNow && process.env.CBDC_LEDGER_BENCH_NO_RESPAWN !== '1') {
  const child = spawn(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, CBDC_LEDGER_BENCH_NO_RESPAWN: '1' },
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`[ledger_bench] FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
