// Signature verification off the event loop: a piscina pool of worker threads over all
// cores. Small jobs run inline, where a thread hop would cost more than the checks. The same
// threads run the ledger's intake step (intake.ts: txids, output ids, spent outputs' reads).
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { verifierByName } from '../protocol/sig.js';
import { TRIPLE_BYTES, TriplePacker } from './verify_pack.js';
import verifyTriples, { type VerifyTask } from './verify_worker.js';
import { type IntakeTask, runIntake } from './intake.js';
import { type BatchParseTask, runBatchParse } from './batch_parse.js';

export type VerifierBackend = 'noble' | 'native';

/** Checks per message to a worker: large enough to amortise the hop, small enough to spread. */
const CHUNK_CHECKS = 256;
/** Below this many checks, verify on the calling thread. */
const INLINE_CHECKS_MAX = 8;

function workerFile(name: string): string {
  const here = fileURLToPath(import.meta.url);
  // From TypeScript sources (tests), workers run the built JavaScript (npm test builds first).
  if (here.endsWith('.ts')) return path.resolve(path.dirname(here), '..', 'dist', 'central', name);
  return path.join(path.dirname(here), name);
}

const INTAKE_FILE = workerFile('intake.js');
const BATCH_PARSE_FILE = workerFile('batch_parse.js');

export class VerifyPool {
  readonly backend: VerifierBackend;
  readonly threads: number;
  private readonly pool: Piscina | null;

  constructor(opts: { backend?: VerifierBackend; threads?: number } = {}) {
    this.backend = opts.backend ?? 'native';
    verifierByName(this.backend); // fail fast when the backend cannot load
    this.threads = opts.threads ?? availableParallelism();
    this.pool = this.threads > 0
      ? new Piscina({ filename: workerFile('verify_worker.js'), minThreads: this.threads, maxThreads: this.threads, idleTimeout: 60_000 })
      : null;
  }

  /** Verifies every packed check; result[i] is 1 when check i holds. */
  async verify(p: TriplePacker): Promise<Uint8Array> {
    if (p.count === 0) return new Uint8Array(0);
    if (this.pool === null || p.count <= INLINE_CHECKS_MAX) {
      return verifyTriples({ packed: p.slice(0, p.count), count: p.count, backend: this.backend });
    }
    const jobs: Promise<Uint8Array>[] = [];
    const per = Math.min(CHUNK_CHECKS, Math.ceil(p.count / this.threads));
    for (let from = 0; from < p.count; from += per) {
      const to = Math.min(p.count, from + per);
      const packed = p.slice(from, to);
      const task: VerifyTask = { packed, count: to - from, backend: this.backend };
      jobs.push(this.pool.run(task, { transferList: [packed.buffer as ArrayBuffer] }) as Promise<Uint8Array>);
    }
    const parts = await Promise.all(jobs);
    const out = new Uint8Array(p.count);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Runs one intake task (intake.ts) on a worker thread, or here when the pool has no threads. */
  intake(task: IntakeTask): Promise<Uint8Array> {
    if (this.pool === null) return Promise.resolve().then(() => runIntake(task));
    return this.pool.run(task, {
      filename: INTAKE_FILE, name: 'runIntakeTask', transferList: [task.bodies.buffer as ArrayBuffer, task.ends.buffer as ArrayBuffer],
    }) as Promise<Uint8Array>;
  }

  /** Parses a submitted batch on a worker thread (batch_parse.ts), or here when the pool has no threads. */
  parseBatch(task: BatchParseTask): Promise<Uint8Array> {
    if (this.pool === null) return Promise.resolve().then(() => runBatchParse(task));
    return this.pool.run(task, { filename: BATCH_PARSE_FILE, name: 'runBatchParseTask', transferList: [task.body.buffer as ArrayBuffer] }) as Promise<Uint8Array>;
  }

  async close(): Promise<void> {
    if (this.pool) await this.pool.destroy();
  }
}

export { TRIPLE_BYTES };
