// The JSON report of a load test: every figure, the settings that produced it, the timeline,
// each process's CPU and memory, and the conservation check.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import type { Knobs } from './workload.js';
import type { AutocannonFigures, LatencyFigures, SecondFigures } from './runner.js';
import type { ProcSample } from './processes.js';
import type { ConservationReport } from './conservation.js';

export const REPORT_VERSION = 1;

export interface KindFigures {
  sent: number;
  settled: number;
  refused: number;
  settled_per_s: number;
  /** The seconds the rate is over (offline vouchers: from the first upload to the last answer). */
  seconds: number;
  /** Offline vouchers: pre-built in setup, uploads made, vouchers answered as already settled. */
  vouchers?: number;
  uploads?: number;
  duplicates?: number;
  /**
   * Contract payments per contract service: sent and settled (ended as planned: hash locks
   * claimed; escrows released to the seller or refunded to the buyer).
   */
  contract_kinds?: Record<string, { sent: number; settled: number; released?: number; refunded?: number }>;
}

export interface LoadReport {
  report: 'cbdc-loadtest';
  version: number;
  started_at: string;
  finished_at: string;
  command: string;
  settings: Knobs & { transactions_prebuilt: number; requests_prebuilt: number; unit: string; coin_value_fen?: string };
  machine: { cpus: number; cpu_model: string; node: string; load_avg_1m_start: number; load_avg_1m_end: number; other_processes_cores_mean: number };
  setup_s: Record<string, number>;
  results: {
    target: string;
    unit: string;
    seconds: number;
    /** Accepted (settled) per second over the timed phase. */
    accepted_per_s: number;
    /** Answered (accepted + rejected) per second. */
    answered_per_s: number;
    sent: number;
    accepted: number;
    rejected: number;
    errors: number;
    rejected_by_code: Record<string, number>;
    exhausted_at_s: number | null;
    latency: LatencyFigures;
    autocannon: AutocannonFigures;
    /**
     * The mix, per kind (central: key, multi, policy transfers; e2e: key payments, offline
     * vouchers): sent, settled and refused, and settled per second over its own window.
     */
    by_kind: Record<string, KindFigures>;
  };
  /** Second by second: the main kind (central: every transfer; e2e: key payments). */
  timeline: SecondFigures[];
  /**
   * Second by second, each kind run beside the main one, on the same clock (e2e: contract
   * payments, each counted when its end settles, with the whole flow's latency; offline
   * vouchers, counted when the upload that settled them is answered, with its latency).
   */
  timeline_by_kind?: Record<string, SecondFigures[]>;
  processes: Record<string, ProcSample[]>;
  process_summary: Record<string, { cpu_cores_mean: number; rss_mb_max: number; cpu_ms_per_item?: number | null }>;
  other_processes: { t: number; cores: number }[];
  conservation: ConservationReport;
  /** With --profile: each node's CPU profile and the functions with the most self time. */
  profiles?: Record<string, { file: string; total_ms: number; top: { fn: string; ms: number; share: number }[] }>;
}

export function machineInfo(loadStart: number, otherCores: number): LoadReport['machine'] {
  return {
    cpus: availableParallelism(), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version,
    load_avg_1m_start: Math.round(loadStart * 100) / 100, load_avg_1m_end: Math.round(loadavg()[0]! * 100) / 100,
    other_processes_cores_mean: otherCores,
  };
}

/** Writes the report as JSON (bigints as decimal strings) and returns its path. */
export function writeJsonReport(dir: string, base: string, r: LoadReport): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${base}.json`);
  writeFileSync(file, JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
  return file;
}

/** A few lines for the terminal. */
export function summaryText(r: LoadReport, files: string[]): string {
  const x = r.results;
  const l = x.latency;
  const lines = [
    `target ${x.target} (${r.settings.verification}), ${x.seconds.toFixed(1)} s${r.settings.warmupS > 0 ? ` after a ${r.settings.warmupS} s warm-up` : ''}: ${x.accepted_per_s} ${x.unit}/s accepted (${x.accepted} accepted, ${x.rejected} rejected, ${x.errors} errors)`,
    `latency per ${x.unit.replace(/s$/, '')}: p50 ${l.p50_ms} ms, p90 ${l.p90_ms} ms, p99 ${l.p99_ms} ms, p99.9 ${l.p999_ms} ms, max ${l.max_ms} ms`,
    ...(x.exhausted_at_s !== null ? [`the pre-built workload ran out at ${x.exhausted_at_s.toFixed(1)} s; raise --transactions for a longer run`] : []),
    ...Object.entries(r.process_summary).map(([name, s]) => `  ${name.padEnd(12)} CPU ${s.cpu_cores_mean} cores (${s.cpu_ms_per_item ?? 'n/a'} ms per ${x.unit.replace(/s$/, '')}), RSS max ${s.rss_mb_max} MB`),
    `other processes on the machine: ${r.machine.other_processes_cores_mean} cores on average`,
    ...Object.entries(x.by_kind).map(([kind, f]) => `  ${kind.padEnd(8)} ${String(f.settled).padStart(8)} settled, ${String(f.refused).padStart(6)} refused of ${f.sent} sent: ${f.settled_per_s}/s over ${f.seconds} s` +
      (f.vouchers !== undefined ? ` (${f.vouchers} vouchers pre-built, ${f.uploads} uploads; ${f.duplicates} uploaded twice, settled once)` : '') +
      (f.contract_kinds !== undefined ? ` (${Object.entries(f.contract_kinds).map(([ck, c]) => `${ck} ${c.settled} of ${c.sent}` + (c.released !== undefined ? `: ${c.released} released, ${c.refunded} refunded` : '')).join('; ')})` : '')),
    `conservation: ${r.conservation.ok ? 'PASSED' : 'FAILED'}`,
    ...r.conservation.checks.map((c) => `  [${c.ok ? 'ok' : 'FAIL'}] ${c.name}: ${c.detail}`),
    ...Object.entries(r.profiles ?? {}).flatMap(([name, p]) => [
      `profile of ${name} (${p.file}), ${p.total_ms} ms sampled; most self time:`,
      ...p.top.slice(0, 8).map((t) => `    ${String(t.ms).padStart(6)} ms ${(100 * t.share).toFixed(1).padStart(5)}%  ${t.fn}`),
    ]),
    ...files.map((f) => `report: ${f}`),
  ];
  return lines.join('\n') + '\n';
}
