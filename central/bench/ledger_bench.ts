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
//        (`npm run -s bench:ledger -- --json` keeps npm's banner off stdout.)
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveInt } from '../../platform/cli_args.js';
import { AMOUNT_FEN_MAX } from '../../protocol/amount.js';
import { TX_OUTPUTS_MAX } from '../../protocol/limits.js';
import { publicKeyOfNative, signHashNative } from '../../protocol/sig.js';
import { type Tx, outputId, txId } from '../../protocol/tx.js';
import { keyLock, makeTx, operatorSignTx, signTx } from '../../protocol/tx_builder.js';
import { type Lock, encodeLock } from '../../protocol/lock.js';
import { Ledger, batchMessage, type TxResult } from '../ledger.js';
import { LmdbStore } from '../store_lmdb.js';
import { DURABILITIES, type Durability, type TxEffect } from '../store.js';
import { TriplePacker } from '../verify_pack.js';
import { VerifyPool } from '../verify_pool.js';
import { type KeyPool, below, benchPolicy, makeKeyPool, makeRng, signInWorkers } from './workload_gen.js';
import { type CpuProfile, topSelfTimeUs } from '../../platform/cpu_profile.js';

const NETWORK = 'bench';
const BANK_ID = 'bench-bank';
/** Issuance transactions per ledger batch while loading the initial outputs (64 outputs each). */
const SETUP_BATCH_TX = 250;
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
}

function phaseList(value: string): Phase[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const p of list) if (!(PHASES as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown phase "${p}" (phases: ${PHASES.join(',')})`);
  return list as Phase[];
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
    .showHelpAfterError();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Options>();
  if (o.keys < 2) throw new Error('--keys must be at least 2 (the two inputs of a transfer use different keys)');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Progress goes to stderr so that stdout holds only the report (or the one JSON object). */
function log(msg: string): void {
  process.stderr.write(`[ledger_bench] ${msg}\n`);
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/**
 * CPU time (ms) of the main thread alone, from /proc (Linux; null elsewhere). Unlike wall time
 * it does not grow when other processes take the cores, so the per-transaction cost it gives
 * holds on a busy machine too. USER_HZ is 100 on Linux.
 */
function mainThreadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine (ms, all cores), from /proc/stat; null off Linux. */
function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return busy * 10;
  } catch {
    return null;
  }
}

function round(v: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

// ---------------------------------------------------------------------------------------------
// Keys and the generator's view of the initial outputs (typed arrays: off the JS heap)

/** The initial outputs as the generator tracks them: position, id, value, key, used. */
class InitialOutputs {
  readonly count: number;
  readonly pos: Float64Array;
  readonly ids: Buffer;
  readonly values: Float64Array;
  readonly used: Uint8Array;
  /** Outputs not yet chosen by any phase, for uniform draws (swap-remove). */
  private readonly free: Uint32Array;
  private freeCount: number;
  /** Next candidate in ledger order for oldest-first draws. */
  private oldestCursor = 0;
  private freeDirty = false;
  private readonly keyCount: number;

  constructor(count: number, keyCount: number) {
    this.count = count;
    this.keyCount = keyCount;
    this.pos = new Float64Array(count);
    this.ids = Buffer.alloc(count * 32);
    this.values = new Float64Array(count);
    this.used = new Uint8Array(count);
    this.free = new Uint32Array(count);
    for (let i = 0; i < count; i++) this.free[i] = i;
    this.freeCount = count;
  }

  /** Output j of the initial set is locked to key j mod keyCount. */
  keyOf(j: number): number {
    return j % this.keyCount;
  }

  /** Two distinct unused outputs, locked to different keys, uniformly at random. */
  drawRandomPair(rng: () => number): [number, number] {
    if (this.freeCount < 2) throw new Error('not enough initial outputs left for the workload; raise --outputs');
    const a = this.takeFree(below(rng, this.freeCount));
    for (let tries = 0; ; tries++) {
      if (tries > 1000) throw new Error('cannot find an input locked to another key; raise --keys');
      const i = below(rng, this.freeCount);
      if (this.keyOf(this.free[i]!) !== this.keyOf(a)) return [a, this.takeFree(i)];
    }
  }

  /** The two oldest unused outputs (ledger order) whose keys differ. */
  drawOldestPair(): [number, number] {
    const a = this.nextOldest(-1);
    const b = this.nextOldest(this.keyOf(a));
    return [a, b];
  }

  private nextOldest(avoidKey: number): number {
    let j = this.oldestCursor;
    while (j < this.count && this.used[j] === 1) j++;
    this.oldestCursor = j;
    // Skip (and leave for later) outputs locked to the key to avoid; rare with many keys.
    let k = j;
    while (k < this.count && (this.used[k] === 1 || this.keyOf(k) === avoidKey)) k++;
    if (k >= this.count) throw new Error('not enough initial outputs left for the workload; raise --outputs');
    this.markUsed(k);
    return k;
  }

  private takeFree(i: number): number {
    const j = this.free[i]!;
    this.free[i] = this.free[--this.freeCount]!;
    this.used[j] = 1;
    return j;
  }

  /** Oldest-first draws mark outputs used; compactFree() then drops them from the free list. */
  private markUsed(j: number): void {
    this.used[j] = 1;
    this.freeDirty = true;
  }

  /** Rebuilds the free list after oldest-first draws marked outputs used. */
  compactFree(): void {
    if (!this.freeDirty) return;
    let n = 0;
    for (let i = 0; i < this.freeCount; i++) {
      const j = this.free[i]!;
      if (this.used[j] === 0) this.free[n++] = j;
    }
    this.freeCount = n;
    this.freeDirty = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Building transactions

function initialValue(rng: () => number): number {
  return 100 + below(rng, 100_000); // 1.00 to 1,000.99 yuan, in fen
}

/** Issuance transaction `serial`: initial outputs [64 serial, 64 serial + 64), each locked to its key. */
function issueTx(serial: number, count: number, values: Float64Array, pubOfOutput: (j: number) => Buffer): Tx {
  const outputs: { value: bigint; lock: ReturnType<typeof keyLock> }[] = [];
  const first = serial * TX_OUTPUTS_MAX;
  for (let j = first; j < Math.min(count, first + TX_OUTPUTS_MAX); j++) outputs.push({ value: BigInt(values[j]!), lock: keyLock(pubOfOutput(j)) });
  return makeTx({ kind: 'issue', network: NETWORK, intermediary: BANK_ID, serial: BigInt(serial), inputs: [], outputs });
}

/**
 * The operator-signed issuance of the initial outputs. operatorSignTx (noble, ~1,700 signatures/s
 * per core) runs in one worker thread per core over the same deterministic transactions; each
 * signature is attached here, and the ledger checks every one of them.
 */
async function buildIssuance(count: number, keys: KeyPool, outs: InitialOutputs, operatorSk: Buffer, rng: () => number, threads: number): Promise<{ txs: Tx[]; totalFen: bigint }> {
  let totalFen = 0n;
  for (let j = 0; j < count; j++) {
    outs.values[j] = initialValue(rng);
    totalFen += BigInt(outs.values[j]!);
  }
  const txCount = Math.ceil(count / TX_OUTPUTS_MAX);
  const pubs = Buffer.concat(keys.pubs);
  const per = Math.ceil(txCount / Math.max(1, threads));
  const jobs: IssueJob[] = [];
  for (let from = 0; from < txCount; from += per) {
    jobs.push({ kind: 'ledger-bench-issue', operatorSk, pubs, keyCount: keys.pubs.length, values: outs.values, count, serialFrom: from, serialTo: Math.min(txCount, from + per) });
  }
  const sigs = Buffer.concat(await runWorkers(jobs));
  const txs: Tx[] = [];
  for (let serial = 0; serial < txCount; serial++) {
    const tx = issueTx(serial, count, outs.values, (j) => keys.pubs[outs.keyOf(j)]!);
    txs.push({ ...tx, operatorSig: sigs.subarray(serial * 64, serial * 64 + 64) });
  }
  return { txs, totalFen };
}

/** A 2-in/2-out transfer spending initial outputs a and b, split at a random point to two random keys. */
function unsignedTransfer(a: number, b: number, keys: KeyPool, outs: InitialOutputs, rng: () => number): Tx {
  const total = outs.values[a]! + outs.values[b]!;
  const x = 1 + below(rng, total - 1);
  return makeTx({
    network: NETWORK,
    inputs: [
      { pos: BigInt(outs.pos[a]!), id: outs.ids.subarray(a * 32, a * 32 + 32) },
      { pos: BigInt(outs.pos[b]!), id: outs.ids.subarray(b * 32, b * 32 + 32) },
    ],
    outputs: [
      { value: BigInt(x), lock: keyLock(keys.pubs[below(rng, keys.pubs.length)]!) },
      { value: BigInt(total - x), lock: keyLock(keys.pubs[below(rng, keys.pubs.length)]!) },
    ],
  });
}

/**
 * Signed 2-in/2-out transfers over the given input pairs; each input's key signs once.
 * The ECDSA work (signHashNative) runs in one worker thread per core; the transactions are
 * assembled by signTx on this thread, which takes those signatures in the order it asks for them.
 */
async function buildTransfers(pairs: [number, number][], keys: KeyPool, outs: InitialOutputs, rng: () => number, threads: number): Promise<Tx[]> {
  const unsigned: Tx[] = new Array(pairs.length);
  const signers: Buffer[][] = new Array(pairs.length);
  for (let t = 0; t < pairs.length; t++) {
    const [a, b] = pairs[t]!;
    unsigned[t] = unsignedTransfer(a, b, keys, outs, rng);
    signers[t] = [keys.sks[outs.keyOf(a)]!, keys.sks[outs.keyOf(b)]!];
  }
  return signTransfers(unsigned, signers, keys, threads);
}

/** Signs each transaction with its two signers' keys (ECDSA in worker threads, see buildTransfers). */
async function signTransfers(unsigned: Tx[], signers: Buffer[][], keys: KeyPool, threads: number): Promise<Tx[]> {
  const jobSks = Buffer.allocUnsafe(unsigned.length * 2 * 32);
  const jobHashes = Buffer.allocUnsafe(unsigned.length * 2 * 32);
  for (let t = 0; t < unsigned.length; t++) {
    const id = txId(unsigned[t]!);
    for (let k = 0; k < 2; k++) {
      signers[t]![k]!.copy(jobSks, (2 * t + k) * 32);
      id.copy(jobHashes, (2 * t + k) * 32);
    }
  }
  const sigs = await signInWorkers(jobSks, jobHashes, threads);
  const txs: Tx[] = new Array(unsigned.length);
  let next = 0;
  const presigned = (sk: Uint8Array, hash32: Uint8Array): Buffer => {
    const at = next++;
    if (!jobHashes.subarray(at * 32, at * 32 + 32).equals(hash32) || !jobSks.subarray(at * 32, at * 32 + 32).equals(sk)) {
      throw new Error('signature order mismatch');
    }
    return sigs.subarray(at * 64, at * 64 + 64);
  };
  for (let t = 0; t < unsigned.length; t++) {
    txs[t] = signTx(unsigned[t]!, signers[t]!, presigned, keys.pubOf);
    if (txs[t]!.sigs.length !== 2) throw new Error('a transfer must carry two signatures');
  }
  return txs;
}

// ---------------------------------------------------------------------------------------------
// Policy-locked outputs (the policy phases; the policy itself is benchPolicy in workload_gen.ts)

/** Policy-locked outputs as the generator tracks them (typed arrays), with uniform random pair draws. */
class PolicyOutputs {
  count = 0;
  readonly pos: Float64Array;
  readonly ids: Buffer;
  readonly values: Float64Array;
  readonly keyIdx: Uint32Array;
  private readonly free: Uint32Array;
  private freeCount = 0;
  constructor(capacity: number) {
    this.pos = new Float64Array(capacity);
    this.ids = Buffer.alloc(capacity * 32);
    this.values = new Float64Array(capacity);
    this.keyIdx = new Uint32Array(capacity);
    this.free = new Uint32Array(capacity);
  }
  add(pos: number, id: Buffer, value: number, key: number): void {
    const j = this.count++;
    this.pos[j] = pos;
    id.copy(this.ids, j * 32);
    this.values[j] = value;
    this.keyIdx[j] = key;
    this.free[this.freeCount++] = j;
  }
  drawPair(rng: () => number): [number, number] {
    if (this.freeCount < 2) throw new Error('policy: not enough policy-locked outputs');
    const take = (i: number): number => {
      const j = this.free[i]!;
      this.free[i] = this.free[--this.freeCount]!;
      return j;
    };
    const a = take(below(rng, this.freeCount));
    for (let tries = 0; ; tries++) {
      if (tries > 1000) throw new Error('policy: cannot find an input locked to another key; raise --keys');
      const i = below(rng, this.freeCount);
      if (this.keyIdx[this.free[i]!] !== this.keyIdx[a]) return [a, take(i)];
    }
  }
}

/** Two outputs of `total` fen, split at random, each policy-locked to a random (distinct) owner. */
function policyOutputs(total: number, keys: KeyPool, rng: () => number, lockOf: (k: number) => Lock): { value: bigint; lock: Lock; key: number }[] {
  const x = 1 + below(rng, total - 1);
  const k1 = below(rng, keys.pubs.length);
  let k2 = below(rng, keys.pubs.length);
  if (k2 === k1) k2 = (k1 + 1) % keys.pubs.length;
  return [{ value: BigInt(x), lock: lockOf(k1), key: k1 }, { value: BigInt(total - x), lock: lockOf(k2), key: k2 }];
}

/** Attestations by the bank for each chunk of txs, keyed by the chunk's first index. */
function attestChunks(txs: readonly Tx[], chunk: number, bankSk: Buffer, bankPub: Buffer): Map<number, { key: Buffer; sig: Buffer }> {
  const out = new Map<number, { key: Buffer; sig: Buffer }>();
  for (let from = 0; from < txs.length; from += chunk) {
    const ids = txs.slice(from, Math.min(txs.length, from + chunk)).map(txId);
    out.set(from, { key: bankPub, sig: signHashNative(bankSk, batchMessage(NETWORK, ids)) });
  }
  return out;
}

interface IssueJob {
  kind: 'ledger-bench-issue';
  operatorSk: Uint8Array;
  pubs: Uint8Array;
  keyCount: number;
  values: Float64Array;
  count: number;
  serialFrom: number;
  serialTo: number;
}

type WorkerJob = IssueJob;

/** Runs each job in its own worker thread (this file); resolves with each job's bytes, in order. */
function runWorkers(jobs: WorkerJob[]): Promise<Uint8Array[]> {
  return Promise.all(jobs.map((job) => new Promise<Uint8Array>((resolve, reject) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: job });
    let result: Uint8Array | null = null;
    worker.once('message', (bytes: Uint8Array) => { result = bytes; });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 && result !== null ? resolve(result) : reject(new Error(`worker exited with ${code}`))));
  })));
}

function runWorker(job: WorkerJob): void {
  const pubs = Buffer.from(job.pubs.buffer, job.pubs.byteOffset, job.pubs.byteLength);
  const sk = Buffer.from(job.operatorSk);
  const out = new Uint8Array((job.serialTo - job.serialFrom) * 64);
  for (let serial = job.serialFrom; serial < job.serialTo; serial++) {
    const tx = issueTx(serial, job.count, job.values, (j) => Buffer.from(pubs.subarray((j % job.keyCount) * 33, (j % job.keyCount) * 33 + 33)));
    out.set(operatorSignTx(tx, sk).operatorSig!, (serial - job.serialFrom) * 64);
  }
  parentPort!.postMessage(out, [out.buffer as ArrayBuffer]);
}

// ---------------------------------------------------------------------------------------------
// Optional profiling of one timed phase (main thread), through the inspector

async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return session;
}

async function stopProfile(session: Session, dir: string, name: string): Promise<void> {
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  session.disconnect();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `ledger_bench.${name}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  const { totalUs: total, top } = topSelfTimeUs(profile, 25);
  log(`${name}: profile written to ${file}; top self time of ${round(total / 1000)} ms on the main thread:`);
  for (const [k, us] of top) {
    log(`  ${String(round(us / 1000)).padStart(6)} ms ${round((100 * us) / total, 1).toFixed(1).padStart(5)}%  ${k}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Running transactions through the ledger

interface RunResult {
  seconds: number;
  results: TxResult[];
  /** Main-thread event-loop utilisation while running (1 = never idle). */
  elu: number;
  /** Process CPU time (all threads) per wall second. */
  cpuCores: number;
  /** CPU microseconds per transaction: the main thread, and the whole process (all threads). */
  mainCpuUsPerTx: number | null;
  processCpuUsPerTx: number;
  /** Cores other processes kept busy meanwhile: a run on a shared machine is only as good as this is small. */
  otherCores: number | null;
}

/** Submits txs in chunks, keeping `inflight` chunks outstanding; resolves with every result in order. */
async function runChunks(
  ledger: Ledger, txs: readonly Tx[], chunk: number, inflight: number,
  attest?: (from: number, to: number) => { key: Buffer; sig: Buffer },
): Promise<RunResult> {
  const results: TxResult[] = new Array(txs.length);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const busy0 = machineBusyMs();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let active = 0;
    const launch = (): void => {
      while (active < inflight && next < txs.length) {
        const from = next;
        const to = Math.min(txs.length, from + chunk);
        next = to;
        active++;
        const slice = txs.slice(from, to);
        const p = attest ? ledger.submit(slice, attest(from, to)) : ledger.submit(slice);
        p.then((rs) => {
          for (let i = 0; i < rs.length; i++) results[from + i] = rs[i]!;
          active--;
          if (next >= txs.length && active === 0) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  const seconds = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuMs();
  const busy1 = machineBusyMs();
  const cpuUs = cpu.user + cpu.system;
  return {
    seconds, results, elu, cpuCores: cpuUs / 1e6 / seconds,
    mainCpuUsPerTx: main0 === null || main1 === null ? null : ((main1 - main0) * 1000) / txs.length,
    processCpuUsPerTx: cpuUs / txs.length,
    otherCores: busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0) / 1000 - cpuUs / 1e6) / seconds,
  };
}

function assertAllSettled(phase: string, results: readonly TxResult[]): void {
  let ok = 0;
  let firstFailure: TxResult | undefined;
  for (const r of results) {
    if (r.ok) ok++;
    else firstFailure ??= r;
  }
  if (ok !== results.length) {
    const f = firstFailure as Extract<TxResult, { ok: false }> | undefined;
    throw new Error(`${phase}: only ${ok} of ${results.length} transactions settled; first failure ${f?.code}: ${f?.message}`);
  }
}

interface PhaseFigures {
  transfers: number;
  seconds: number;
  txPerS: number;
  buildSeconds: number;
  elu: number;
  cpuCores: number;
  mainCpuUsPerTx: number | null;
  processCpuUsPerTx: number;
  otherCores: number | null;
  durable: boolean;
}

async function timedPhase(
  name: string, store: LmdbStore, pool: VerifyPool, o: Options, operatorPub: Buffer, txs: Tx[], buildSeconds: number,
  attest?: (from: number, to: number) => { key: Buffer; sig: Buffer },
): Promise<PhaseFigures> {
  const ledger = new Ledger(store, {
    network: NETWORK, operatorPublicKey: operatorPub, pool, batchTxMax: o.batch, inflightBatchesMax: o.ledgerInflight,
  });
  gc();
  log(`${name}: submitting ${txs.length} transfers (chunks of ${o.chunk ?? o.batch}, ${o.inflight} in flight)...`);
  const session = o.profile !== undefined ? await startProfile() : null;
  const run = await runChunks(ledger, txs, o.chunk ?? o.batch, o.inflight, attest);
  if (session) await stopProfile(session, o.profile!, name);
  await ledger.drain();
  assertAllSettled(name, run.results);
  const durable = run.results.every((r) => r.ok && r.durable);
  const fig: PhaseFigures = {
    transfers: txs.length, seconds: run.seconds, txPerS: txs.length / run.seconds, buildSeconds,
    elu: run.elu, cpuCores: run.cpuCores, mainCpuUsPerTx: run.mainCpuUsPerTx, processCpuUsPerTx: run.processCpuUsPerTx, otherCores: run.otherCores, durable,
  };
  log(`${name}: ${round(fig.txPerS)} tx/s (${round(run.seconds, 2)} s; main-thread ELU ${round(run.elu, 2)}, CPU ${round(run.cpuCores, 2)} cores; ` +
    `CPU per tx: main thread ${fig.mainCpuUsPerTx === null ? 'n/a' : round(fig.mainCpuUsPerTx, 1)} us, process ${round(fig.processCpuUsPerTx, 1)} us; ` +
    `other processes ${fig.otherCores === null ? 'n/a' : round(fig.otherCores, 2)} cores)`);
  return fig;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
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
    const operatorSk = createHash('sha256').update(o.seed).update('\0operator').digest();
    const bankSk = createHash('sha256').update(o.seed).update('\0bank').digest();
    const operatorPub = publicKeyOfNative(operatorSk);
    const bankPub = publicKeyOfNative(bankSk);
    log(`${keys.sks.length} keys derived in ${round((performance.now() - t) / 1000, 2)} s`);

    await store.registerIntermediary({
      id: BANK_ID, publicKey: bankPub.toString('hex'), quotaFen: AMOUNT_FEN_MAX, reserveFen: AMOUNT_FEN_MAX,
      issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n, registeredAtMs: Date.now(),
    });
    const outs = new InitialOutputs(o.outputs, keys.sks.length);
    t = performance.now();
    const issuance = await buildIssuance(o.outputs, keys, outs, operatorSk, makeRng(o.seed, 'values'), availableParallelism());
    const issueSignSeconds = (performance.now() - t) / 1000;
    log(`${issuance.txs.length} issuance transactions operator-signed in ${round(issueSignSeconds, 2)} s`);
    t = performance.now();
    const setupLedger = new Ledger(store, { network: NETWORK, operatorPublicKey: operatorPub, pool, batchTxMax: SETUP_BATCH_TX });
    const setupRun = await runChunks(setupLedger, issuance.txs, SETUP_BATCH_TX, 4);
    await setupLedger.drain();
    assertAllSettled('setup', setupRun.results);
    for (let s = 0; s < setupRun.results.length; s++) {
      const r = setupRun.results[s]!;
      if (!r.ok) throw new Error('unreachable');
      const first = s * TX_OUTPUTS_MAX;
      r.outputIds.forEach((id, k) => {
        outs.pos[first + k] = Number(r.firstPos) + k;
        id.copy(outs.ids, (first + k) * 32);
      });
    }
    const setupCommitSeconds = (performance.now() - t) / 1000;
    const supply0 = store.supply();
    if (supply0.unspentFen !== issuance.totalFen || supply0.outputCount !== BigInt(o.outputs)) {
      throw new Error(`setup: the ledger holds ${supply0.outputCount} outputs worth ${supply0.unspentFen}, expected ${o.outputs} worth ${issuance.totalFen}`);
    }
    log(`${o.outputs} outputs committed through the ledger in ${round(setupCommitSeconds, 2)} s (${round(o.outputs / setupCommitSeconds)} outputs/s)`);
    issuance.txs.length = 0;
    setupRun.results.length = 0;

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
// Entry: a signing worker; or re-run under --expose-gc when gc() is not available, so the heap
// figure is after a gc; or the benchmark.

const hasGcNow = typeof (globalThis as { gc?: unknown }).gc === 'function';
if (!isMainThread) {
  runWorker(workerData as WorkerJob);
} else if (!hasGcNow && process.env.CBDC_LEDGER_BENCH_NO_RESPAWN !== '1') {
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
