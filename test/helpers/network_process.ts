// The whole local network as real child processes: one central node (node dist/central/cli.js
// serve) and intermediary bank nodes (node dist/intermediary/cli.js serve), each on its own
// data dir and a free port. Like scripts/network.ts: central starts first, then each bank's
// key is created in its data dir and registered at central by the operator, then the banks
// start, each told the others' URLs (--peer id=url).
//
// Ports: central listens on --port 0 and the helper reads the port from its {"event":
// "listening"} line. A bank must know its peers' URLs when it starts, and a restarted bank
// must come back where its peers expect it, so each bank's port is picked free once (the OS
// hands out a port for a throwaway listener) and the bank always listens there; readiness is
// still its listening line. A bank can be killed (SIGKILL) or stopped (SIGTERM) and
// restarted on the same data dir and port. killAll() (call it in afterAll) kills every child
// still alive; a process 'exit' hook does the same if a test run dies.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { freePort } from '../../platform/free_port.js';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { readKeyFile, readOrCreateKeyFile, type KeyPair } from '../../platform/key_file.js';
import { SignedClient } from '../../platform/signed_client.js';
import { bankKeyFiles } from '../../intermediary/node.js';
import { CentralProcess, REPO_ROOT, auditDataDir, killAllCentralProcesses, track, type AuditJson } from './central_process.js';

export const BANK_CLI = path.join(REPO_ROOT, 'dist', 'intermediary', 'cli.js');

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export { freePort };

export interface BankProcessOptions {
  id: string;
  dataDir: string;
  port: number;
  network: string;
  centralUrl: string;
  /** Other banks: id -> URL. */
  peers: Map<string, string>;
  extraArgs?: string[];
  startTimeoutMs?: number;
}

/** One bank node as a child process. */
export class BankProcess {
  child: ChildProcess | null = null;
  url = '';
  starts = 0;
  /** How the previous child ended (after kill/stop). */
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** The last chunks the node wrote to stderr, across restarts. */
  stderrTail: string[] = [];

  constructor(readonly o: BankProcessOptions) {}

  get id(): string {
    return this.o.id;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The bank's own key (created in its data dir before registration). */
  bankKey(): KeyPair {
    return readKeyFile(bankKeyFiles(this.o.dataDir).bank);
  }

  /** A client signing as the teller ('staff'), the compliance officer or the regulator. */
  client(role: 'staff' | 'compliance' | 'regulator' = 'staff'): SignedClient {
    const kp = readOrCreateKeyFile(bankKeyFiles(this.o.dataDir)[role]);
    return new SignedClient(this.url, this.o.network, role, kp.secretKey);
  }

  /** Spawns the node and resolves with its URL once it prints its listening line; `env`: added to this start's environment only. */
  start(env: Record<string, string> = {}): Promise<string> {
    if (this.running) throw new Error(`${this.id} already running`);
    const args = [
      BANK_CLI, 'serve', '--id', this.id, '--port', String(this.o.port), '--data-dir', this.o.dataDir,
      '--central', this.o.centralUrl, '--network', this.o.network,
      ...[...this.o.peers].flatMap(([id, url]) => ['--peer', `${id}=${url}`]),
      ...(this.o.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child = child;
    this.starts++;
    track(child);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderrTail.push(d);
      if (this.stderrTail.length > 50) this.stderrTail.shift();
    });
    const lines = createInterface({ input: child.stdout! });
    const timeoutMs = this.o.startTimeoutMs ?? 20_000;
    return new Promise<string>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => finish(new Error(`${this.id} did not start within ${timeoutMs} ms: ${this.stderrTail.join('')}`)), timeoutMs);
      const finish = (err: Error | null, url?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
      child.once('exit', (code, signal) => finish(new Error(`${this.id} exited before listening (code ${code}, signal ${signal}): ${this.stderrTail.join('')}`)));
      child.once('error', (e) => finish(e));
    });
  }

  /** Sends a signal (SIGKILL by default) and waits for the child to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const c = this.child;
    if (c === null) return { code: null, signal: null };
    const exited = waitExit(c);
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    this.lastExit = await exited;
    return this.lastExit;
  }

  /** Stops the node with `signal` and starts it again on the same data dir and port. */
  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<string> {
    await this.kill(signal);
    return this.start();
  }
}

export interface NetworkOptions {
  /** A fresh directory; central and each bank get a subdirectory. */
  root: string;
  network?: string;
  banks?: string[];
  /** Quota and initial reserve registered for each bank, fen. */
  quotaFen?: bigint;
  reserveFen?: bigint;
  bankArgs?: string[];
  centralArgs?: string[];
  /** How long a node may take to print its listening line (default 20 s). */
  startTimeoutMs?: number;
  /** The central URL the banks are given (for example a fault proxy in front of central). */
  bankCentralUrl?: (centralUrl: string) => string | Promise<string>;
}

/** Central + banks as child processes. */
export class NetworkProcess {
  readonly central: CentralProcess;
  readonly banks = new Map<string, BankProcess>();
  readonly network: string;

  constructor(readonly o: NetworkOptions) {
    this.network = o.network ?? 'cbdc-local';
    this.central = new CentralProcess({
      dataDir: path.join(o.root, 'central'), network: this.network,
      ...(o.centralArgs ? { extraArgs: o.centralArgs } : {}), ...(o.startTimeoutMs ? { startTimeoutMs: o.startTimeoutMs } : {}),
    });
  }

  get centralDataDir(): string {
    return this.central.o.dataDir;
  }

  bank(id: string): BankProcess {
    const b = this.banks.get(id);
    if (b === undefined) throw new Error(`no bank ${id}`);
    return b;
  }

  /** A client signing as central's operator. */
  operator(): SignedClient {
    const kp = readKeyFile(path.join(this.centralDataDir, 'operator.key'));
    return new SignedClient(this.central.url, this.network, 'operator', kp.secretKey);
  }

  /** Starts central, registers every bank's key, then starts the banks (in parallel). */
  async start(): Promise<void> {
    // Central keeps its port across restarts, so banks (and a proxy) find it again.
    this.central.o.port ??= await freePort();
    await this.central.start();
    const ids = this.o.banks ?? ['bank-a', 'bank-b'];
    const ports = new Map<string, number>();
    const centralUrl = this.o.bankCentralUrl ? await this.o.bankCentralUrl(this.central.url) : this.central.url;
    for (const id of ids) {
      let p = await freePort();
      while ([...ports.values()].includes(p) || p === this.central.o.port) p = await freePort();
      ports.set(id, p);
    }
    const op = this.operator();
    for (const id of ids) {
      const dataDir = path.join(this.o.root, id);
      mkdirSync(dataDir, { recursive: true });
      const kp = readOrCreateKeyFile(bankKeyFiles(dataDir).bank);
      const r = await op.post<{ code?: string }>('/v1/intermediaries', {
        id, public_key: kp.publicKey.toString('hex'),
        quota_fen: (this.o.quotaFen ?? 10_000_000_000_000n).toString(), reserve_fen: (this.o.reserveFen ?? 10_000_000_000_000n).toString(),
      });
      if (r.status !== 201 && r.body.code !== 'CBDC_ERR_INTERMEDIARY_EXISTS') throw new Error(`registering ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      const peers = new Map(ids.filter((x) => x !== id).map((x) => [x, `http://127.0.0.1:${ports.get(x)}`]));
      this.banks.set(id, new BankProcess({
        id, dataDir, port: ports.get(id)!, network: this.network, centralUrl, peers,
        ...(this.o.bankArgs ? { extraArgs: this.o.bankArgs } : {}), ...(this.o.startTimeoutMs ? { startTimeoutMs: this.o.startTimeoutMs } : {}),
      }));
    }
    await Promise.all([...this.banks.values()].map((b) => b.start()));
  }

  /** `cbdc-bank reconcile --url URL --data-dir D --json` for one bank. */
  reconcileCli(id: string): Promise<{ code: number | null; json: ReconcileJson }> {
    const b = this.bank(id);
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [BANK_CLI, 'reconcile', '--url', b.url, '--data-dir', b.o.dataDir, '--network', this.network, '--json'],
        { cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
          try {
            resolve({ code, json: JSON.parse(stdout.trim().split('\n').pop() ?? '') as ReconcileJson });
          } catch {
            reject(new Error(`reconcile printed no JSON (exit ${code}): ${stdout} ${stderr}`));
          }
        });
    });
  }

  /** `cbdc-central audit --data-dir D --json` on central's ledger (read from disk). */
  audit(): Promise<AuditJson> {
    return auditDataDir(this.centralDataDir);
  }

  /** SIGKILLs every child still running (central and banks). */
  async killAll(): Promise<void> {
    await Promise.all([...this.banks.values()].map((b) => b.kill('SIGKILL')));
    await killAllCentralProcesses();
  }
}

export interface ReconcileJson {
  ok: boolean;
  customers_wallet_fen: string;
  holdings_fen: string;
  coins_checked: number;
  problems: string[];
}

/** SIGKILLs every child this process started (banks and central alike: all are tracked). */
export async function killAllNetworkProcesses(): Promise<void> {
  await killAllCentralProcesses();
}
