// The command-line wallet as a person (or a script) uses it: `node dist/wallet/cli.js …` as a
// child process, one keystore file per person, the passphrase from a file or the environment.
// Long-running commands (watch) are spawned and read line by line; the rest run to completion.
// The network itself comes from ./network_process.ts (central and banks as real processes).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './central_process.js';
import { BANK_CLI, type BankProcess } from './network_process.js';

export const WALLET_CLI = path.join(REPO_ROOT, 'dist', 'wallet', 'cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as one JSON object per line (lines that are not JSON are skipped). */
  json: Record<string, any>[];
  ms: number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function parseLines(text: string): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, any>);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** Runs a CLI to completion (node <cli> …args) with a clean environment plus `env`. */
export function runNode(cli: string, args: string[], o: { env?: Record<string, string>; home: string; timeoutMs?: number }): Promise<CliResult> {
  return runProcess(process.execPath, [cli, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: o.home, ...(o.env ?? {}) }, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) });
}

/** Runs a program to its exit (killed after 30 s by default) in a given folder and environment. */
export function runProcess(file: string, args: string[], o: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: o.env });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(file)} ${args.join(' ')} did not finish in ${o.timeoutMs ?? 30_000} ms: ${stdout} ${stderr}`));
    }, o.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr, json: parseLines(stdout), ms: Date.now() - started });
    });
  });
}

/** A long-running command: its stdout lines as they come, and its exit. */
export class RunningCli {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    live.add(child);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.waiters = this.waiters.filter((w) => (w.test(l) ? (w.resolve(l), false) : true));
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }));
  }

  get json(): Record<string, any>[] {
    return parseLines(this.lines.join('\n'));
  }

  /** Resolves with the first stdout line (already seen or to come) that passes `test`. */
  waitForLine(test: (l: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such line within ${timeoutMs} ms; got ${JSON.stringify(this.lines)} ${this.stderr}`)), timeoutMs);
      this.waiters.push({ test, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void this.exited.then(() => setTimeout(() => reject(new Error(`exited first; stdout ${JSON.stringify(this.lines)} stderr ${this.stderr}`)), 50));
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** One person with a wallet file: runs `cbdc-wallet --wallet FILE …`. */
export class WalletUser {
  readonly file: string;
  readonly passphraseFile: string;

  constructor(readonly name: string, readonly dir: string, readonly passphrase: string, private readonly how: 'file' | 'env' = 'file') {
    this.file = path.join(dir, `${name}.wallet.json`);
    this.passphraseFile = path.join(dir, `${name}.passphrase`);
    writeFileSync(this.passphraseFile, passphrase + '\n', { mode: 0o600 });
  }

  private argsAndEnv(args: string[], o: { passphrase?: string | null } = {}): { args: string[]; env: Record<string, string> } {
    const pass = o.passphrase === undefined ? this.passphrase : o.passphrase;
    if (pass === null) return { args: ['--wallet', this.file, ...args], env: {} };
    if (this.how === 'file' && o.passphrase === undefined) return { args: ['--wallet', this.file, '--passphrase-file', this.passphraseFile, ...args], env: {} };
    return { args: ['--wallet', this.file, ...args], env: { CBDC_WALLET_PASSPHRASE: pass } };
  }

  /** Runs a wallet command; `passphrase: null` gives none at all, a string gives that one. */
  run(args: string[], o: { passphrase?: string | null; timeoutMs?: number } = {}): Promise<CliResult> {
    const a = this.argsAndEnv(args, o);
    return runNode(WALLET_CLI, a.args, { env: a.env, home: this.dir, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
  }

  /** Runs a command expected to succeed with --json; returns its JSON lines. */
  async ok(args: string[]): Promise<Record<string, any>[]> {
    const r = await this.run([...args, '--json']);
    if (r.code !== 0) throw new Error(`${this.name}: cbdc-wallet ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.json;
  }

  /** Spawns a long-running command (watch). */
  spawn(args: string[]): RunningCli {
    const a = this.argsAndEnv(args);
    const child = spawn(process.execPath, [WALLET_CLI, ...a.args], {
      cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: this.dir, ...a.env },
    });
    return new RunningCli(child);
  }

  /** balance --json: the account view (fen and yuan fields). */
  async account(): Promise<Record<string, any>> {
    const [j] = await this.ok(['balance']);
    return j!.account as Record<string, any>;
  }
}

/** The teller's step: `node dist/intermediary/cli.js teller deposit ACCOUNT AMOUNT …` (staff key from the bank's data dir). */
export function tellerDeposit(bank: BankProcess, account: string, yuan: string, home: string): Promise<CliResult> {
  return runNode(BANK_CLI, ['teller', 'deposit', account, yuan, '--url', bank.url, '--data-dir', bank.o.dataDir, '--network', bank.o.network], { home });
}

/** Waits until the bank holds CBDC to hand out (it requests issuance from central on a timer after it starts). */
export async function waitForHoldings(bank: BankProcess, minFen: bigint, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await bank.client('staff').get<{ holdings_fen?: string }>('/v1/bank/totals');
    if (r.status === 200 && BigInt(r.body.holdings_fen ?? '0') >= minFen) return;
    if (Date.now() > until) throw new Error(`${bank.id} holds no CBDC after ${timeoutMs} ms: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Polls until `f` returns a value that passes `ok` (for money arriving through central's event stream). */
export async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`still not there after ${timeoutMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
