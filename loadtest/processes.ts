// The system under test as real child processes (node dist/central/cli.js serve, node
// dist/intermediary/cli.js serve), each on its own data dir and a free port, and a sampler
// of every process's CPU and memory from /proc/<pid>/stat and /proc/<pid>/status.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../platform/free_port.js';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOrCreateKeyFile, type KeyPair } from '../platform/key_file.js';
import { SignedClient } from '../platform/signed_client.js';
import { readCpuProfile, topSelfTimeUs } from '../platform/cpu_profile.js';
import { bankKeyFiles } from '../intermediary/node.js';
import { CENTRAL_NODE_FLAGS } from '../central/node.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', fileURLToPath(import.meta.url).includes(`${path.sep}dist${path.sep}`) ? '..' : '.');
const CENTRAL_CLI = path.join(REPO_ROOT, 'dist', 'central', 'cli.js');
const BANK_CLI = path.join(REPO_ROOT, 'dist', 'intermediary', 'cli.js');
/** How long a node may take to print its listening line. */
const START_TIMEOUT_MS = 30_000;
/** Lines of a child's stderr kept for error messages. */
const STDERR_TAIL_MAX = 30;
/** USER_HZ on Linux: /proc times are in 1/100 s. */
const CLOCK_TICKS_PER_S = 100;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
// Interrupted: exit, so that the hook above takes the nodes down too.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));


/** One node process: started, its URL read from its {"event":"listening"} line. */
export class NodeProcess {
  child: ChildProcess | null = null;
  url = '';
  readonly stderrTail: string[] = [];

  constructor(readonly name: string, readonly args: string[], readonly execArgv: string[] = []) {}

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  start(): Promise<string> {
    const child = spawn(process.execPath, [...this.execArgv, ...this.args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderrTail.push(d);
      if (this.stderrTail.length > STDERR_TAIL_MAX) this.stderrTail.shift();
    });
    const lines = createInterface({ input: child.stdout! });
    return new Promise<string>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null, url?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          child.kill('SIGKILL');
          reject(err);
        } else {
          this.url = url!;
          resolve(url!);
        }
      };
      const timer = setTimeout(() => finish(new Error(`${this.name} did not start within ${START_TIMEOUT_MS} ms: ${this.stderrTail.join('')}`)), START_TIMEOUT_MS);
      lines.on('line', (line) => {
        try {
          const j = JSON.parse(line) as { event?: string; url?: string };
          if (j.event === 'listening' && typeof j.url === 'string') finish(null, j.url);
        } catch {
          /* not the listening line */
        }
      });
      child.once('exit', (code, signal) => finish(new Error(`${this.name} exited before listening (code ${code}, signal ${signal}): ${this.stderrTail.join('')}`)));
      child.once('error', (e) => finish(e));
    });
  }

  /** SIGTERM (a clean close), then SIGKILL if it lingers. */
  async stop(graceMs = 10_000): Promise<void> {
    const c = this.child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export interface NetworkConfig {
  root: string;
  network: string;
  banks: string[];
  verification: 'full' | 'attested';
  /** Transactions per LMDB write transaction at central (default: the node's). */
  centralBatch?: number;
  /** Extra intermediaries registered at central (no node), e.g. the load generator's funder. */
  extraIntermediaries: { id: string; publicKey: Buffer }[];
  /** Start bank nodes (e2e) or only register them (central target: the generator signs as them). */
  startBanks: boolean;
  /** Banks attest their batches (only meaningful when central runs in attested mode). */
  bankAttest?: boolean;
  /** The banks' least time between two batches to central (default: the bank's). */
  bankBatchIntervalMs?: number;
  /** Write a V8 CPU profile of each node to this directory (node --cpu-prof) when it stops. */
  profileDir?: string;
}

/** node flags that profile a node into `dir` under its own name. */
function profileArgs(dir: string | undefined, name: string): string[] {
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`];
}

export const QUOTA_FEN = 10_000_000_000_000_000n;

/** Central and its banks, started and registered like scripts/network.ts does. */
export class Network {
  central: NodeProcess;
  readonly banks = new Map<string, NodeProcess>();
  readonly bankKeys = new Map<string, KeyPair>();
  readonly bankStaff = new Map<string, KeyPair>();
  operatorKey: KeyPair;

  constructor(readonly c: NetworkConfig) {
    const dir = path.join(c.root, 'central');
    mkdirSync(dir, { recursive: true });
    this.operatorKey = readOrCreateKeyFile(path.join(dir, 'operator.key'));
    this.central = new NodeProcess('central', [
      CENTRAL_CLI, 'serve', '--port', '0', '--data-dir', dir, '--network', c.network, '--verification', c.verification,
      ...(c.centralBatch ? ['--batch', String(c.centralBatch)] : []),
    ], [...CENTRAL_NODE_FLAGS, ...profileArgs(c.profileDir, 'central')]);
  }

  operator(): SignedClient {
    return new SignedClient(this.central.url, this.c.network, 'operator', this.operatorKey.secretKey, 120_000);
  }

  staff(bank: string): SignedClient {
    return new SignedClient(this.banks.get(bank)!.url, this.c.network, 'staff', this.bankStaff.get(bank)!.secretKey, 120_000);
  }

  async start(): Promise<void> {
    await this.central.start();
    const op = this.operator();
    const register = async (id: string, pub: Buffer): Promise<void> => {
      const r = await op.post<{ code?: string }>('/v1/intermediaries', { id, public_key: pub.toString('hex'), quota_fen: QUOTA_FEN.toString(), reserve_fen: QUOTA_FEN.toString() });
      if (r.status !== 201) throw new Error(`registering ${id} at central: ${r.status} ${JSON.stringify(r.body)}`);
    };
    for (const x of this.c.extraIntermediaries) await register(x.id, x.publicKey);
    const ports = new Map<string, number>();
    for (const id of this.c.banks) {
      let p = await freePort();
      while ([...ports.values()].includes(p)) p = await freePort();
      ports.set(id, p);
    }
    for (const id of this.c.banks) {
      const dir = path.join(this.c.root, id);
      mkdirSync(dir, { recursive: true });
      const files = bankKeyFiles(dir);
      const kp = readOrCreateKeyFile(files.bank);
      this.bankKeys.set(id, kp);
      this.bankStaff.set(id, readOrCreateKeyFile(files.staff));
      await register(id, kp.publicKey);
      if (!this.c.startBanks) continue;
      const peers = this.c.banks.filter((x) => x !== id).flatMap((x) => ['--peer', `${x}=http://127.0.0.1:${ports.get(x)}`]);
      this.banks.set(id, new NodeProcess(id, [
        BANK_CLI, 'serve', '--id', id, '--port', String(ports.get(id)), '--data-dir', dir, '--central', this.central.url,
        '--network', this.c.network, ...peers, ...(this.c.bankAttest ? ['--attest'] : []),
        ...(this.c.bankBatchIntervalMs !== undefined ? ['--batch-interval-ms', String(this.c.bankBatchIntervalMs)] : []),
      ], profileArgs(this.c.profileDir, id)));
    }
    await Promise.all([...this.banks.values()].map((b) => b.start()));
  }

  processes(): NodeProcess[] {
    return [this.central, ...this.banks.values()];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.banks.values()].map((b) => b.stop()));
    await this.central.stop();
  }
}

// -------------------------------------------------------------------------------------------
// CPU and memory of each process over the run

export interface ProcSample {
  /** Seconds since the sampler started. */
  t: number;
  /** CPU cores used since the previous sample (1 = one core busy). */
  cpu: number;
  rssMb: number;
}

/** CPU time (s) and resident memory (MB) of one process; null when it is gone or not Linux. */
export function readProc(pid: number): { cpuS: number; rssMb: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuS = (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S;
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuS, rssMb: m ? Number(m[1]) / 1024 : 0 };
  } catch {
    return null;
  }
}

/** Busy and total CPU time of the whole machine (s), from /proc/stat; null off Linux. */
export function readMachine(): { busyS: number; totalS: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const busy = total - f[3]! - f[4]!;
    return { busyS: busy / CLOCK_TICKS_PER_S, totalS: total / CLOCK_TICKS_PER_S };
  } catch {
    return null;
  }
}

export interface SamplerIo {
  readProc: (pid: number) => { cpuS: number; rssMb: number } | null;
  readMachine: () => { busyS: number; totalS: number } | null;
  nowMs: () => number;
}

/**
 * Samples each named process (and the whole machine) every intervalMs. /proc counts CPU in
 * ticks of 10 ms, so a short interval reads as 0 or as a spike (one tick in 13 ms is 0.77
 * cores): a plotted point covers at least half an interval (a shorter one waits for the next
 * sample), and the means are CPU time over wall time between the first and the last reading,
 * not a mean of the points.
 */
export class ProcSampler {
  readonly series = new Map<string, ProcSample[]>();
  /** Cores busy in processes other than the sampled ones (other work on the machine). */
  readonly others: { t: number; cores: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** The reading each process's last plotted point ended at. */
  private plotted = new Map<string, { cpuS: number; at: number }>();
  private first = new Map<string, { cpuS: number; at: number }>();
  private latest = new Map<string, { cpuS: number; at: number }>();
  private plottedMachine: { busyS: number; ours: number; at: number } | null = null;
  private firstMachine: { busyS: number; at: number } | null = null;
  private latestMachine: { busyS: number; at: number } | null = null;
  private t0 = 0;

  constructor(
    private readonly pids: () => Map<string, number>,
    private readonly intervalMs = 500,
    /** Where readings come from: /proc and the monotonic clock, or a test's own. */
    private readonly io: SamplerIo = { readProc, readMachine, nowMs: () => performance.now() },
  ) {}

  start(): void {
    this.t0 = this.io.nowMs();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  private sample(): void {
    const now = this.io.nowMs();
    const t = (now - this.t0) / 1000;
    const minDtS = this.intervalMs / 2000;
    for (const [name, pid] of this.pids()) {
      const p = this.io.readProc(pid);
      if (p === null) continue;
      const reading = { cpuS: p.cpuS, at: now };
      this.latest.set(name, reading);
      if (!this.first.has(name)) this.first.set(name, reading);
      const prev = this.plotted.get(name);
      if (prev === undefined) {
        this.plotted.set(name, reading);
        continue;
      }
      const dt = (now - prev.at) / 1000;
      if (dt < minDtS) continue;
      this.plotted.set(name, reading);
      const list = this.series.get(name) ?? [];
      list.push({ t: Math.round(t * 100) / 100, cpu: Math.round(((p.cpuS - prev.cpuS) / dt) * 100) / 100, rssMb: Math.round(p.rssMb * 10) / 10 });
      this.series.set(name, list);
    }
    const m = this.io.readMachine();
    if (m === null) return;
    this.latestMachine = { busyS: m.busyS, at: now };
    this.firstMachine ??= this.latestMachine;
    const ours = this.oursCpuS();
    const prev = this.plottedMachine;
    if (prev !== null) {
      const dt = (now - prev.at) / 1000;
      if (dt < minDtS) return;
      this.others.push({ t: Math.round(t * 100) / 100, cores: Math.max(0, Math.round(((m.busyS - prev.busyS - (ours - prev.ours)) / dt) * 100) / 100) });
    }
    this.plottedMachine = { busyS: m.busyS, ours, at: now };
  }

  /** CPU seconds the sampled processes used, summed, as of their latest readings. */
  private oursCpuS(): number {
    let s = 0;
    for (const name of this.latest.keys()) s += this.cpuSeconds(name);
    return s;
  }

  /** Mean CPU cores (CPU time over wall time) and peak RSS of each process. */
  summary(): Record<string, { cpu_cores_mean: number; rss_mb_max: number }> {
    const out: Record<string, { cpu_cores_mean: number; rss_mb_max: number }> = {};
    for (const [name, last] of this.latest) {
      const first = this.first.get(name)!;
      const wallS = (last.at - first.at) / 1000;
      const list = this.series.get(name) ?? [];
      out[name] = { cpu_cores_mean: wallS <= 0 ? 0 : Math.round(((last.cpuS - first.cpuS) / wallS) * 100) / 100, rss_mb_max: Math.max(0, ...list.map((x) => x.rssMb)) };
    }
    return out;
  }

  /** CPU seconds a process used between its first and its latest reading. */
  cpuSeconds(name: string): number {
    const first = this.first.get(name);
    const last = this.latest.get(name);
    return first === undefined || last === undefined ? 0 : last.cpuS - first.cpuS;
  }

  /** Mean cores busy outside the sampled processes, between the first and the latest reading. */
  othersMean(): number {
    const first = this.firstMachine;
    const last = this.latestMachine;
    if (first === null || last === null || last.at <= first.at) return 0;
    return Math.max(0, Math.round(((last.busyS - first.busyS - this.oursCpuS()) / ((last.at - first.at) / 1000)) * 100) / 100);
  }
}

// -------------------------------------------------------------------------------------------
// Where the time went: self time per function in a node's CPU profile

/** The functions with the most self time (ms and share) in a .cpuprofile, and the total sampled. */
export function topSelfTime(file: string, top = 15): { total_ms: number; top: { fn: string; ms: number; share: number }[] } {
  const { totalUs: total, top: list } = topSelfTimeUs(readCpuProfile(file), top);
  return {
    total_ms: Math.round(total / 1000),
    top: list.map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), share: Math.round((1000 * us) / Math.max(1, total)) / 1000 })),
  };
}
