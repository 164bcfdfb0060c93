// A central node as a real child process (node dist/central/cli.js serve): spawn it, wait
// for its one {"event":"listening"} line, SIGKILL it, restart it on the same data dir.
// Every child is tracked; killAllCentralProcesses() (call it in afterAll) kills those still
// alive, and a process 'exit' hook does the same if a test run dies.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { readKeyFile } from '../../platform/key_file.js';
import type { KeyPair } from './http_fixture.js';
import { freshDatabaseUrl, storeUnderTest } from './store_under_test.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'central', 'cli.js');

const live = new Set<ChildProcess>();
let exitHook = false;

/** Remembers a child process so that it is killed however the test run ends. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
}

/** Kills (SIGKILL) every central child this process started that is still running, and waits. */
export async function killAllCentralProcesses(): Promise<void> {
  await Promise.all([...live].map((c) => killChild(c, 'SIGKILL')));
}

function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface CentralProcessOptions {
  dataDir: string;
  network?: string;
  durability?: 'sync' | 'overlapping' | 'nosync';
  verification?: 'full' | 'attested';
  verifyThreads?: number;
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** Listen on this port, every start (default: a port the OS picks at each start). */
  port?: number;
  /** Keep the ledger in this SQL database (default: LMDB under dataDir; under the sql project, a fresh database). */
  store?: string;
}

export class CentralProcess {
  child: ChildProcess | null = null;
  url = '';
  starts = 0;
  /** The last lines the child wrote to stderr (for failure messages). */
  stderrTail: string[] = [];
  /** The SQL database the ledger lives in, when it is not LMDB. */
  sqlUrl: string | null = null;

  constructor(readonly o: CentralProcessOptions) {}

  get network(): string {
    return this.o.network ?? 'cbdc-local';
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the node and resolves with its URL once it prints its listening line. */
  async start(): Promise<string> {
    if (this.running) throw new Error('central child already running');
    this.sqlUrl ??= this.o.store ?? (storeUnderTest() === 'postgres' ? await freshDatabaseUrl() : null);
    const args = [
      CLI, 'serve', '--port', String(this.o.port ?? 0), '--data-dir', this.o.dataDir, '--network', this.network,
      '--durability', this.o.durability ?? 'sync', '--verification', this.o.verification ?? 'full',
      ...(this.o.verifyThreads !== undefined ? ['--verify-threads', String(this.o.verifyThreads)] : []),
      ...(this.sqlUrl !== null ? ['--store', this.sqlUrl] : []),
      ...(this.o.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    track(child);
    this.stderrTail = [];
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderrTail.push(d);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
    });
    const lines = createInterface({ input: child.stdout! });
    return new Promise<string>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => finish(new Error(`central did not start within ${this.o.startTimeoutMs ?? 20_000} ms`)), this.o.startTimeoutMs ?? 20_000);
      const finish = (err: Error | null, url?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          void killChild(child, 'SIGKILL');
          reject(err);
        } else {
          this.url = url!;
          resolve(url!);
        }
      };
      lines.on('line', (line) => {
        try {
          const j = JSON.parse(line) as { event?: string; url?: string };
          if (j.event === 'listening' && typeof j.url === 'string') finish(null, j.url);
        } catch {
          /* not our line */
        }
      });
      child.once('exit', (code, signal) => finish(new Error(`central exited before listening (code ${code}, signal ${signal}): ${this.stderrTail.join('')}`)));
      child.once('error', (e) => finish(e));
    });
  }

  /** Sends a signal (SIGKILL by default) and waits for the child to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (c === null) return;
    await killChild(c, signal);
  }

  async restart(): Promise<string> {
    await this.kill('SIGKILL');
    return this.start();
  }

  /** `cbdc-central audit --json` of this node's ledger (its data dir, or its SQL database). */
  audit(): Promise<AuditJson> {
    return this.sqlUrl !== null ? auditCli(['--store', this.sqlUrl]) : auditDataDir(this.o.dataDir);
  }

  /** The operator key the node created in its data dir on first start. */
  operatorKey(): KeyPair {
    const kp = readKeyFile(path.join(this.o.dataDir, 'operator.key'));
    return { sk: kp.secretKey, pk: kp.publicKey };
  }
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface AuditJson {
  ok: boolean;
  issued_fen: string;
  redeemed_fen: string;
  unspent_recomputed_fen: string;
  unspent_recorded_fen: string;
  unspent_count: string;
  output_count: string;
  problems: string[];
}

/** `cbdc-central audit --data-dir DIR --json`. */
export function auditDataDir(dataDir: string): Promise<AuditJson> {
  return auditCli(['--data-dir', dataDir]);
}

async function auditCli(where: string[]): Promise<AuditJson> {
  const r = await runCli(['audit', ...where, '--json']);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as AuditJson;
  } catch {
    throw new Error(`audit printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
}
