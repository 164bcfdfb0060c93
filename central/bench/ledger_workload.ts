// The ledger benchmarks' workload and clock: the generator's view of the initial outputs,
// operator-signed issuance and signed 2-in/2-out transfers built before any clock starts,
// chunked submission through a Ledger with its CPU and event-loop figures, and the
// machine-load readings that say how far a run on a shared machine can be trusted. Used by
// ledger_bench.ts (LMDB phases) and store_bench.ts (one workload on every ledger store).
import { createHash } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { TX_OUTPUTS_MAX } from '../../protocol/limits.js';
import { publicKeyOfNative, signHashNative } from '../../protocol/sig.js';
import { AMOUNT_FEN_MAX } from '../../protocol/amount.js';
import { type Tx, txId } from '../../protocol/tx.js';
import { keyLock, makeTx, operatorSignTx, signTx } from '../../protocol/tx_builder.js';
import { type Lock } from '../../protocol/lock.js';
import { Ledger, batchMessage, type TxResult } from '../ledger.js';
import type { LedgerStore } from '../store.js';
import type { VerifyPool } from '../verify_pool.js';
import { type KeyPool, below, signInWorkers } from './workload_gen.js';
import { type CpuProfile, topSelfTimeUs } from '../../platform/cpu_profile.js';

export const NETWORK = 'bench';
export const BANK_ID = 'bench-bank';
/** Issuance transactions per ledger batch while loading the initial outputs (64 outputs each). */
const SETUP_BATCH_TX = 250;

/** The operator's and the bank's keys, derived from the seed. */
export function benchIdentities(seed: string): { operatorSk: Buffer; operatorPub: Buffer; bankSk: Buffer; bankPub: Buffer } {
  const operatorSk = createHash('sha256').update(seed).update('\0operator').digest();
  const bankSk = createHash('sha256').update(seed).update('\0bank').digest();
  return { operatorSk, operatorPub: publicKeyOfNative(operatorSk), bankSk, bankPub: publicKeyOfNative(bankSk) };
}

/** The one intermediary every benchmark transaction comes from, with room for any issuance. */
export async function registerBenchBank(store: LedgerStore, bankPub: Buffer): Promise<void> {
  await store.registerIntermediary({
    id: BANK_ID, publicKey: bankPub.toString('hex'), quotaFen: AMOUNT_FEN_MAX, reserveFen: AMOUNT_FEN_MAX,
    issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n, registeredAtMs: Date.now(),
  });
}

/**
 * Commits the issuance through a Ledger on `store` and either records where each initial
 * output landed ('record') or checks that it landed where an earlier store put it ('same'),
 * so one signed workload runs on several stores.
 */
export async function loadInitialOutputs(
  store: LedgerStore, pool: VerifyPool, operatorPub: Buffer, issuance: readonly Tx[], outs: InitialOutputs, mode: 'record' | 'same',
): Promise<void> {
  const ledger = new Ledger(store, { network: NETWORK, operatorPublicKey: operatorPub, pool, batchTxMax: SETUP_BATCH_TX });
  const run = await runChunks(ledger, issuance, SETUP_BATCH_TX, 4);
  await ledger.drain();
  assertAllSettled('setup', run.results);
  for (let s = 0; s < run.results.length; s++) {
    const r = run.results[s]!;
    if (!r.ok) throw new Error('unreachable');
    const first = s * TX_OUTPUTS_MAX;
    r.outputIds.forEach((id, k) => {
      const j = first + k;
      if (mode === 'record') {
        outs.pos[j] = Number(r.firstPos) + k;
        id.copy(outs.ids, j * 32);
      } else if (outs.pos[j] !== Number(r.firstPos) + k || !outs.ids.subarray(j * 32, j * 32 + 32).equals(id)) {
        throw new Error(`setup: initial output ${j} landed at position ${Number(r.firstPos) + k}, not ${outs.pos[j]} as on the first store`);
      }
    });
  }
}

/** What a timed phase needs of the benchmark's options. */
export interface PhaseOptions {
  readonly batch: number;
  readonly chunk: number | undefined;
  readonly inflight: number;
  readonly ledgerInflight: number;
  readonly profile: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Progress goes to stderr so that stdout holds only the report (or the one JSON object). */
export function log(msg: string): void {
  process.stderr.write(`[ledger_bench] ${msg}\n`);
}

export function gc(): void {
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
export function mainThreadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

/** Busy CPU time of the whole machine (ms, all cores), from /proc/stat; null off Linux. */
export function machineBusyMs(): number | null {
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

export function round(v: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

// ---------------------------------------------------------------------------------------------
// Keys and the generator's view of the initial outputs (typed arrays: off the JS heap)

/** The initial outputs as the generator tracks them: position, id, value, key, used. */
export class InitialOutputs {
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

export function initialValue(rng: () => number): number {
  return 100 + below(rng, 100_000); // 1.00 to 1,000.99 yuan, in fen
}

/** Issuance transaction `serial`: initial outputs [64 serial, 64 serial + 64), each locked to its key. */
export function issueTx(serial: number, count: number, values: Float64Array, pubOfOutput: (j: number) => Buffer): Tx {
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
export async function buildIssuance(count: number, keys: KeyPool, outs: InitialOutputs, operatorSk: Buffer, rng: () => number, threads: number): Promise<{ txs: Tx[]; totalFen: bigint }> {
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
export function unsignedTransfer(a: number, b: number, keys: KeyPool, outs: InitialOutputs, rng: () => number): Tx {
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
export async function buildTransfers(pairs: [number, number][], keys: KeyPool, outs: InitialOutputs, rng: () => number, threads: number): Promise<Tx[]> {
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
export async function signTransfers(unsigned: Tx[], signers: Buffer[][], keys: KeyPool, threads: number): Promise<Tx[]> {
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
export class PolicyOutputs {
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
export function policyOutputs(total: number, keys: KeyPool, rng: () => number, lockOf: (k: number) => Lock): { value: bigint; lock: Lock; key: number }[] {
  const x = 1 + below(rng, total - 1);
  const k1 = below(rng, keys.pubs.length);
  let k2 = below(rng, keys.pubs.length);
  if (k2 === k1) k2 = (k1 + 1) % keys.pubs.length;
  return [{ value: BigInt(x), lock: lockOf(k1), key: k1 }, { value: BigInt(total - x), lock: lockOf(k2), key: k2 }];
}

/** Attestations by the bank for each chunk of txs, keyed by the chunk's first index. */
export function attestChunks(txs: readonly Tx[], chunk: number, bankSk: Buffer, bankPub: Buffer): Map<number, { key: Buffer; sig: Buffer }> {
  const out = new Map<number, { key: Buffer; sig: Buffer }>();
  for (let from = 0; from < txs.length; from += chunk) {
    const ids = txs.slice(from, Math.min(txs.length, from + chunk)).map(txId);
    out.set(from, { key: bankPub, sig: signHashNative(bankSk, batchMessage(NETWORK, ids)) });
  }
  return out;
}

export interface IssueJob {
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
export function runWorkers(jobs: WorkerJob[]): Promise<Uint8Array[]> {
  return Promise.all(jobs.map((job) => new Promise<Uint8Array>((resolve, reject) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: job });
    let result: Uint8Array | null = null;
    worker.once('message', (bytes: Uint8Array) => { result = bytes; });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 && result !== null ? resolve(result) : reject(new Error(`worker exited with ${code}`))));
  })));
}

export function runWorker(job: WorkerJob): void {
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

export async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return session;
}

export async function stopProfile(session: Session, dir: string, name: string): Promise<void> {
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

export interface RunResult {
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
export async function runChunks(
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

export function assertAllSettled(phase: string, results: readonly TxResult[]): void {
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

export interface PhaseFigures {
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

export async function timedPhase(
  name: string, store: LedgerStore, pool: VerifyPool, o: PhaseOptions, operatorPub: Buffer, txs: Tx[], buildSeconds: number,
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


// A signing worker of runWorkers: this module is its entry.
if (!isMainThread && (workerData as { kind?: string } | null)?.kind === 'ledger-bench-issue') runWorker(workerData as WorkerJob);
