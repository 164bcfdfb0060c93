// The store comparison (`npm run bench:ledger -- --store postgres`): one signed workload of
// 2-in/2-out transfers run through the ledger on LMDB, on a single PostgreSQL node and on a
// 3-node PostgreSQL set (primary + 2 synchronous standbys, ANY 1), in full and attested mode
// at ledger batches of 1, 100 and 1000 transactions, in one run, so each SQL figure is read
// as a ratio to LMDB's (and the set's to the single node's) on the same machine at the same
// moment. Every store starts empty, loads the same initial outputs at the same positions
// (checked), runs the same transactions, and must pass its supply audit at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startPgCluster, type PgCluster } from '../../platform/pg_cluster.js';
import type { Tx } from '../../protocol/tx.js';
import type { Durability, LedgerStore } from '../store.js';
import { LmdbStore } from '../store_lmdb.js';
import { SqlStore } from '../store_sql.js';
import { VerifyPool } from '../verify_pool.js';
import {
  type PhaseFigures, InitialOutputs, attestChunks, benchIdentities, buildIssuance, buildTransfers, gc, loadInitialOutputs, log,
  registerBenchBank, round, timedPhase,
} from './ledger_workload.js';
import { makeKeyPool, makeRng } from './workload_gen.js';

export const STORE_BENCH_BATCHES = [1, 100, 1000] as const;
const MODES = ['full', 'attested'] as const;
type Mode = (typeof MODES)[number];
/** Single-node PostgreSQL, attested mode, at its best batch (issue target). */
export const SQL_ATTESTED_TX_PER_S_MIN = 10_000;
/** The 3-node set's attested rate against the single node's. */
export const SQL_STANDBYS_RATIO_MIN = 0.6;

export interface StoreBenchOptions {
  readonly seed: string;
  readonly keys: number;
  readonly threads: number;
  readonly durability: Durability;
  readonly json: boolean;
  /** Which PostgreSQL layouts to run beside LMDB: 'single', 'standbys' or both. */
  readonly sqlSets: readonly ('single' | 'standbys')[];
  /** Transfers per phase at batch b: clamp(b * perBatch, min, max). */
  readonly transfersPerBatch: number;
  readonly transfersMin: number;
  readonly transfersMax: number;
}

type StoreName = 'lmdb' | 'postgres' | 'postgres_3';
interface Phase {
  readonly mode: Mode;
  readonly batch: number;
  readonly txs: Tx[];
  readonly attest?: Map<number, { key: Buffer; sig: Buffer }>;
  readonly build: number;
}

function transfersAt(batch: number, o: StoreBenchOptions): number {
  return Math.max(o.transfersMin, Math.min(o.transfersMax, batch * o.transfersPerBatch));
}

export async function storeBench(o: StoreBenchOptions): Promise<void> {
  const tStart = performance.now();
  const loadStart = loadavg()[0]!;
  const tmp = mkdtempSync(path.join(tmpdir(), 'cbdc-store-bench-'));
  const clusters: PgCluster[] = [];
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const pool = new VerifyPool({ backend: 'native', threads: o.threads });
  try {
    const keys = makeKeyPool(o.seed, o.keys);
    const { operatorSk, operatorPub, bankSk, bankPub } = benchIdentities(o.seed);
    const perPhase = STORE_BENCH_BATCHES.map((b) => transfersAt(b, o));
    const outputs = 2 * MODES.length * perPhase.reduce((a, b) => a + b, 0);
    const outs = new InitialOutputs(outputs, keys.sks.length);
    const issuance = await buildIssuance(outputs, keys, outs, operatorSk, makeRng(o.seed, 'values'), availableParallelism());
    log(`store bench: ${outputs} initial outputs in ${issuance.txs.length} issuance transactions`);

    const stores: { name: StoreName; open: () => Promise<LedgerStore> }[] = [
      { name: 'lmdb', open: async () => new LmdbStore({ path: path.join(tmp, 'lmdb'), durability: o.durability }) },
    ];
    const sql = (standbys: 0 | 2) => async (): Promise<LedgerStore> => {
      const c = await startPgCluster({ dir: path.join(tmp, `pg-${standbys}`), standbys });
      clusters.push(c);
      return SqlStore.open({ url: await c.createDatabase('ledger') });
    };
    if (o.sqlSets.includes('single')) stores.push({ name: 'postgres', open: sql(0) });
    if (o.sqlSets.includes('standbys')) stores.push({ name: 'postgres_3', open: sql(2) });

    const figures = new Map<StoreName, Map<string, PhaseFigures>>();
    let phases: Phase[] | null = null;
    for (const s of stores) {
      log(`${s.name}: opening and loading the initial outputs...`);
      const store = await s.open();
      try {
        await registerBenchBank(store, bankPub);
        const t = performance.now();
        await loadInitialOutputs(store, pool, operatorPub, issuance.txs, outs, phases === null ? 'record' : 'same');
        log(`${s.name}: ${outputs} outputs loaded in ${round((performance.now() - t) / 1000, 2)} s`);
        // The workload needs the positions the first store gave; every later store must match.
        phases ??= await buildPhases(o, keys, outs, bankSk, bankPub);
        const byPhase = new Map<string, PhaseFigures>();
        for (const p of phases) {
          const name = `${s.name} ${p.mode} batch ${p.batch}`;
          const opts = { batch: p.batch, chunk: p.batch, inflight: 4, ledgerInflight: 2, profile: undefined };
          const attest = p.attest;
          byPhase.set(`${p.mode}:${p.batch}`, await timedPhase(name, store, pool, opts, operatorPub, p.txs, p.build, attest ? (from) => attest.get(from)! : undefined));
        }
        const audit = store.audit();
        const settled = phases.reduce((a, p) => a + p.txs.length, 0);
        if (!audit.ok) throw new Error(`${s.name}: audit failed: ${audit.problems.join('; ')}`);
        if (audit.unspentCount !== BigInt(outputs) || audit.outputCount !== BigInt(outputs + 2 * settled) || audit.unspentRecomputedFen !== issuance.totalFen) {
          throw new Error(`${s.name}: audit: ${audit.unspentCount} unspent of ${audit.outputCount} (${audit.unspentRecomputedFen} fen), expected ${outputs} of ${outputs + 2 * settled} (${issuance.totalFen} fen)`);
        }
        log(`${s.name}: audit ok`);
        figures.set(s.name, byPhase);
      } finally {
        await store.close();
      }
      gc();
    }

    const rate = (s: StoreName, m: Mode, b: number): number | null => figures.get(s)?.get(`${m}:${b}`)?.txPerS ?? null;
    const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : round(a / b, 3));
    const table = (s: StoreName) => Object.fromEntries(MODES.map((m) => [m, Object.fromEntries(STORE_BENCH_BATCHES.map((b) => [b, rate(s, m, b) === null ? null : round(rate(s, m, b)!)]))]));
    const ratios = (a: StoreName, b: StoreName) => Object.fromEntries(MODES.map((m) => [m, Object.fromEntries(STORE_BENCH_BATCHES.map((n) => [n, ratio(rate(a, m, n), rate(b, m, n))]))]));
    const best = (s: StoreName, m: Mode): number | null => {
      const rs = STORE_BENCH_BATCHES.map((b) => rate(s, m, b)).filter((r): r is number => r !== null);
      return rs.length > 0 ? Math.max(...rs) : null;
    };
    const sqlBest = best('postgres', 'attested');
    const setBest = best('postgres_3', 'attested');
    const report = {
      tx_per_s: Object.fromEntries(stores.map((s) => [s.name, table(s.name)])),
      ratios: {
        postgres_to_lmdb: figures.has('postgres') ? ratios('postgres', 'lmdb') : null,
        postgres_3_to_lmdb: figures.has('postgres_3') ? ratios('postgres_3', 'lmdb') : null,
        postgres_3_to_postgres: figures.has('postgres') && figures.has('postgres_3') ? ratios('postgres_3', 'postgres') : null,
      },
      targets: {
        postgres_attested_tx_per_s_min: SQL_ATTESTED_TX_PER_S_MIN,
        postgres_attested_best_tx_per_s: sqlBest === null ? null : round(sqlBest),
        postgres_attested_met: sqlBest === null ? null : sqlBest >= SQL_ATTESTED_TX_PER_S_MIN,
        postgres_3_to_postgres_attested_min: SQL_STANDBYS_RATIO_MIN,
        postgres_3_to_postgres_attested_best: ratio(setBest, sqlBest),
        postgres_3_met: setBest === null || sqlBest === null ? null : setBest >= SQL_STANDBYS_RATIO_MIN * sqlBest,
      },
      transfers_per_phase: Object.fromEntries(STORE_BENCH_BATCHES.map((b, i) => [b, perPhase[i]])),
      initial_outputs: outputs,
      lmdb_durability: o.durability,
      postgres: { synchronous_commit: 'on', fsync: 'on', standbys_sync: "ANY 1 (s1, s2)" },
      durable: [...figures.values()].every((m) => [...m.values()].every((f) => f.durable)),
      // LMDB phases only: in the PostgreSQL phases the database servers are the other processes.
      other_processes_cores_max: round(Math.max(0, ...[...(figures.get('lmdb')?.values() ?? [])].map((f) => f.otherCores ?? 0)), 2),
      machine: {
        cpus: availableParallelism(), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version,
        load_avg_1m_start: round(loadStart, 2), load_avg_1m_end: round(loadavg()[0]!, 2),
      },
      total_s: round((performance.now() - tStart) / 1000, 1),
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(report) + '\n');
    } else {
      const lines = [`store comparison: ${outputs} initial outputs, LMDB durability ${o.durability}, PostgreSQL synchronous_commit on; ${report.total_s} s`];
      for (const m of MODES) {
        for (const b of STORE_BENCH_BATCHES) {
          const cells = stores.map((s) => `${s.name} ${rate(s.name, m, b) === null ? 'n/a' : round(rate(s.name, m, b)!).toLocaleString('en-US')} tx/s`);
          const r = stores.filter((s) => s.name !== 'lmdb').map((s) => `${s.name}/lmdb ${ratio(rate(s.name, m, b), rate('lmdb', m, b)) ?? 'n/a'}`);
          lines.push(`  ${m.padEnd(8)} batch ${String(b).padStart(4)}: ${cells.join(', ')}; ${r.join(', ')}`);
        }
      }
      const t = report.targets;
      lines.push(`target: postgres attested >= ${SQL_ATTESTED_TX_PER_S_MIN.toLocaleString('en-US')} tx/s: ${t.postgres_attested_best_tx_per_s ?? 'n/a'} (${t.postgres_attested_met === null ? 'n/a' : t.postgres_attested_met ? 'met' : 'MISSED'})`);
      lines.push(`target: 3-node set >= ${SQL_STANDBYS_RATIO_MIN} of single node, attested: ${t.postgres_3_to_postgres_attested_best ?? 'n/a'} (${t.postgres_3_met === null ? 'n/a' : t.postgres_3_met ? 'met' : 'MISSED'})`);
      if (report.other_processes_cores_max > 0.2) lines.push(`WARNING: other processes kept up to ${report.other_processes_cores_max} cores busy during an LMDB phase: a shared machine`);
      process.stdout.write(lines.join('\n') + '\n');
    }
  } finally {
    await pool.close();
    for (const c of clusters) await c.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Every phase's transactions, signed (and attested per chunk) before any clock starts. */
async function buildPhases(
  o: StoreBenchOptions, keys: ReturnType<typeof makeKeyPool>, outs: InitialOutputs, bankSk: Buffer, bankPub: Buffer,
): Promise<Phase[]> {
  const phases: Phase[] = [];
  for (const mode of MODES) {
    for (const batch of STORE_BENCH_BATCHES) {
      const t = performance.now();
      const rng = makeRng(o.seed, `store-${mode}-${batch}`);
      const pairs: [number, number][] = [];
      for (let i = 0; i < transfersAt(batch, o); i++) pairs.push(outs.drawRandomPair(rng));
      const txs = await buildTransfers(pairs, keys, outs, rng, availableParallelism());
      const attest = mode === 'attested' ? attestChunks(txs, batch, bankSk, bankPub) : undefined;
      phases.push({ mode, batch, txs, build: (performance.now() - t) / 1000, ...(attest ? { attest } : {}) });
    }
  }
  return phases;
}
