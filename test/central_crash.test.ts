// The crash test: central runs as a child process (durability 'sync', then 'overlapping');
// the test drives a steady load of issuance and 2-in/2-out transfers over HTTP with several
// requests in flight, recording every acknowledged transaction, and SIGKILLs the child at
// random moments (seeded PRNG). After every kill the ledger is audited from disk by the CLI;
// after every restart each acknowledged output must be there (same id and value), each
// output the driver spent must be spent, and sum(unspent) == issued - redeemed.
// Requests in flight when the process died may fail; those are simply not acknowledged,
// but a transaction is atomic: its inputs are either all spent or all unspent.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { txId, type Tx } from '../protocol/tx.js';
import { CentralProcess, killAllCentralProcesses } from './helpers/central_process.js';
import { storeUnderTest } from './helpers/store_under_test.js';
import { Client, type Coin, type KeyPair, type SettledJson, issueTx, json, keyPair, transferTx } from './helpers/http_fixture.js';
// A seeded PRNG, so a failing schedule can be named by its seed.
import { prng } from './helpers/fault_proxy.js';

const NETWORK = 'cbdc-crash';
const KILLS = 10;
const WORKERS = 6;
const SEED = Number(process.env.CBDC_CRASH_SEED ?? 20240611);

const dirs: string[] = [];
afterAll(async () => {
  await killAllCentralProcesses();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `f` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

interface AckedOutput {
  readonly pos: bigint;
  readonly id: string;
  readonly value: bigint;
}

class Driver {
  readonly owners: KeyPair[] = Array.from({ length: 8 }, (_, i) => keyPair(`crash-owner-${i}`));
  readonly bankKey = keyPair('crash-bank');
  /** Every output of every acknowledged transaction, by position. */
  readonly acked = new Map<bigint, AckedOutput>();
  /** Positions spent by acknowledged transactions. */
  readonly spentByDriver = new Set<bigint>();
  /** Acknowledged, unspent, not in use. */
  coins: Coin[] = [];
  /** Transactions sent whose fate is unknown (the process died under them). */
  uncertain: { tx: Tx; inputs: Coin[] }[] = [];
  issuedAckedFen = 0n;
  ackedTxs = 0;
  failedRequests = 0;
  /** Refusals (not connection errors): there must be none. */
  readonly refusals: string[] = [];
  nextSerial: bigint | null = null;
  issuing = false;
  running = false;
  op!: Client;
  bank!: Client;
  operator!: KeyPair;

  constructor(readonly rand: () => number) {}

  connect(url: string): void {
    this.op = new Client(url, NETWORK, 'operator', this.operator.sk, 15_000);
    this.bank = new Client(url, NETWORK, 'crash-bank', this.bankKey.sk, 15_000);
  }

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  private ack(res: SettledJson, tx: Tx, inputs: Coin[], outs: { value: bigint; owner: KeyPair }[]): void {
    expect(res.status).toBe('settled');
    expect(res.durable).toBe(true);
    expect(res.txid).toBe(txId(tx).toString('hex'));
    this.ackedTxs++;
    for (const c of inputs) this.spentByDriver.add(c.pos);
    res.outputs.forEach((o, i) => {
      const pos = BigInt(o.pos);
      expect(this.acked.has(pos), `position ${pos} acknowledged twice`).toBe(false);
      this.acked.set(pos, { pos, id: o.id, value: outs[i]!.value });
      this.coins.push({ pos, id: Buffer.from(o.id, 'hex'), value: outs[i]!.value, owner: outs[i]!.owner });
    });
  }

  private async issue(): Promise<void> {
    this.issuing = true;
    try {
      if (this.nextSerial === null) {
        let info;
        try {
          info = await this.op.get('/v1/intermediaries/crash-bank');
        } catch {
          this.failedRequests++;
          return;
        }
        if (info.status !== 200) {
          this.refusals.push(`intermediary lookup: ${info.status} ${info.text}`);
          return;
        }
        this.nextSerial = BigInt(info.body.next_serial);
      }
      const outs = Array.from({ length: 2 + Math.floor(this.rand() * 3) }, () => ({ value: BigInt(1 + Math.floor(this.rand() * 100_000)), owner: this.pick(this.owners) }));
      const tx = issueTx(NETWORK, this.operator, 'crash-bank', this.nextSerial, outs);
      let r;
      try {
        r = await this.op.post<SettledJson>('/v1/transactions', json(tx));
      } catch {
        this.failedRequests++;
        this.nextSerial = null; // it may or may not have committed
        return;
      }
      if (r.status !== 200) {
        this.refusals.push(`issue: ${r.status} ${r.text}`);
        this.nextSerial = null;
        return;
      }
      this.nextSerial++;
      this.issuedAckedFen += outs.reduce((s, o) => s + o.value, 0n);
      this.ack(r.body, tx, [], outs);
    } finally {
      this.issuing = false;
    }
  }

  private takeTwo(): Coin[] {
    const out: Coin[] = [];
    for (let k = 0; k < 2; k++) {
      const i = Math.floor(this.rand() * this.coins.length);
      out.push(this.coins[i]!);
      this.coins[i] = this.coins[this.coins.length - 1]!;
      this.coins.pop();
    }
    return out;
  }

  private buildTransfer(): { tx: Tx; inputs: Coin[]; outs: { value: bigint; owner: KeyPair }[] } {
    const inputs = this.takeTwo();
    const sum = inputs[0]!.value + inputs[1]!.value;
    const first = 1n + BigInt(Math.floor(this.rand() * Number(sum - 1n)));
    const outs = [{ value: first, owner: this.pick(this.owners) }, { value: sum - first, owner: this.pick(this.owners) }];
    return { tx: transferTx(NETWORK, inputs, outs), inputs, outs };
  }

  /** One 2-in/2-out transfer, alone. */
  private async transfer(): Promise<void> {
    const t = this.buildTransfer();
    let r;
    try {
      r = await this.bank.post<SettledJson>('/v1/transactions', json(t.tx));
    } catch {
      this.failedRequests++;
      this.uncertain.push({ tx: t.tx, inputs: t.inputs });
      return;
    }
    if (r.status !== 200) {
      this.refusals.push(`transfer: ${r.status} ${r.text}`);
      return;
    }
    this.ack(r.body, t.tx, t.inputs, t.outs);
  }

  /** Several 2-in/2-out transfers in one POST /v1/batches. */
  private async batch(): Promise<void> {
    const n = Math.min(2 + Math.floor(this.rand() * 4), Math.floor(this.coins.length / 2));
    const ts = Array.from({ length: n }, () => this.buildTransfer());
    let r;
    try {
      r = await this.bank.post<{ results: SettledJson[] }>('/v1/batches', { transactions: ts.map((t) => json(t.tx)) });
    } catch {
      this.failedRequests++;
      for (const t of ts) this.uncertain.push({ tx: t.tx, inputs: t.inputs });
      return;
    }
    if (r.status !== 200) {
      this.refusals.push(`batch: ${r.status} ${r.text}`);
      return;
    }
    r.body.results.forEach((res, i) => {
      if (res.status !== 'settled') this.refusals.push(`batch tx: ${JSON.stringify(res)}`);
      else this.ack(res, ts[i]!.tx, ts[i]!.inputs, ts[i]!.outs);
    });
  }

  async worker(): Promise<void> {
    while (this.running) {
      const r = this.rand();
      if (!this.issuing && (this.coins.length < 8 || r < 0.12)) await this.issue();
      else if (this.coins.length >= 4 && r < 0.3) await this.batch();
      else if (this.coins.length >= 2) await this.transfer();
      else await sleep(2);
    }
  }

  /** After a restart: settle what happened to the transactions that died in flight. */
  async resolveUncertain(): Promise<void> {
    const pending = this.uncertain;
    this.uncertain = [];
    await pool(pending, 16, async (u) => {
      const spent: boolean[] = [];
      for (const c of u.inputs) {
        const r = await this.bank.get(`/v1/outputs/${c.pos}?id=${c.id.toString('hex')}`);
        expect(r.status, `input ${c.pos} of an unacknowledged tx still exists`).toBe(200);
        spent.push(r.body.spent as boolean);
      }
      // All or nothing: a transaction never half-applies.
      expect(new Set(spent).size, `tx ${txId(u.tx).toString('hex')} inputs are all spent or all unspent`).toBe(1);
      if (!spent[0]) this.coins.push(...u.inputs);
    });
  }

  /** Every acknowledged output is there with its id and value; every spent one is spent. */
  async verifyAcked(): Promise<void> {
    const unspentPool = new Set(this.coins.map((c) => c.pos));
    const problems: string[] = [];
    await pool([...this.acked.values()], 24, async (o) => {
      const r = await this.bank.get(`/v1/outputs/${o.pos}?id=${o.id}`);
      if (r.status !== 200) {
        problems.push(`acknowledged output ${o.pos} missing: ${r.status} ${r.text}`);
        return;
      }
      if (r.body.id !== o.id || r.body.value !== o.value.toString()) problems.push(`output ${o.pos} changed: ${r.text}`);
      if (this.spentByDriver.has(o.pos) && r.body.spent !== true) problems.push(`output ${o.pos} was spent by an acknowledged tx but is unspent`);
      if (unspentPool.has(o.pos) && r.body.spent !== false) problems.push(`output ${o.pos} was never spent but is spent`);
    });
    expect(problems.slice(0, 10)).toEqual([]);
  }

  async verifySupply(): Promise<void> {
    const r = await this.bank.get('/v1/supply');
    expect(r.status).toBe(200);
    const issued = BigInt(r.body.issued_fen);
    expect(BigInt(r.body.unspent_fen)).toBe(issued - BigInt(r.body.redeemed_fen));
    expect(issued).toBeGreaterThanOrEqual(this.issuedAckedFen);
    expect(BigInt(r.body.outputs)).toBeGreaterThanOrEqual(BigInt(this.acked.size));
    // What the driver holds unspent is part of what the ledger holds unspent.
    expect(BigInt(r.body.unspent_fen)).toBeGreaterThanOrEqual(this.coins.reduce((sum, c) => sum + c.value, 0n));
  }
}

async function crashRun(durability: 'sync' | 'overlapping', seed: number): Promise<{ acked: number; failed: number; outputs: number; phaseMs: Record<string, number> }> {
  const rand = prng(seed);
  const dir = await mkdtemp(path.join(tmpdir(), `cbdc-crash-${durability}-`));
  dirs.push(dir);
  const proc = new CentralProcess({ dataDir: dir, network: NETWORK, durability, verifyThreads: 1 });
  const d = new Driver(rand);
  await proc.start();
  d.operator = proc.operatorKey();
  d.connect(proc.url);
  const reg = await d.op.post('/v1/intermediaries', {
    id: 'crash-bank', public_key: d.bankKey.pk.toString('hex'), quota_fen: (10n ** 17n).toString(), reserve_fen: (10n ** 17n).toString(),
  });
  expect(reg.status, reg.text).toBe(201);

  const phaseMs = { load: 0, restart: 0, verify: 0 };
  let mark = Date.now();
  const lap = (phase: keyof typeof phaseMs): void => {
    const now = Date.now();
    phaseMs[phase] += now - mark;
    mark = now;
  };
  for (let k = 0; k < KILLS; k++) {
    d.running = true;
    const workers = Array.from({ length: WORKERS }, () => d.worker());
    await sleep(50 + Math.floor(rand() * 350));
    // Kill with requests in flight: no new ones start, those on the wire die with the process.
    d.running = false;
    await proc.kill('SIGKILL');
    await Promise.all(workers);
    lap('load');

    // The state the crash left on disk proves its own supply invariant. The audit reads it
    // while the node starts again on the same data dir (it writes nothing until asked to).
    const [audit] = await Promise.all([proc.audit(), proc.start()]);
    expect(audit, `audit after kill ${k + 1} (seed ${seed})`).toMatchObject({ ok: true, problems: [] });
    expect(BigInt(audit.output_count)).toBeGreaterThanOrEqual(BigInt(d.acked.size));
    lap('restart');

    d.connect(proc.url);
    await d.resolveUncertain();
    await d.verifyAcked();
    await d.verifySupply();
    lap('verify');
  }
  expect(d.refusals.slice(0, 5), `seed ${seed}`).toEqual([]);
  expect(d.ackedTxs).toBeGreaterThan(KILLS * 5);
  // The kills landed under load: requests were on the wire when the process died.
  expect(d.failedRequests).toBeGreaterThan(0);
  // The ledger's own audit over HTTP agrees.
  const a = await d.op.get('/v1/audit');
  expect(a.body).toMatchObject({ ok: true, problems: [] });
  await proc.kill('SIGTERM');
  const last = await proc.audit();
  expect(last).toMatchObject({ ok: true, problems: [], issued_fen: a.body.issued_fen, output_count: a.body.output_count });
  return { acked: d.ackedTxs, failed: d.failedRequests, outputs: d.acked.size, phaseMs };
}

describe(`crash test (${storeUnderTest()}): SIGKILL under load loses nothing acknowledged`, () => {
  // The SQL store has one durability (COMMIT returned): one run of the schedule there.
  const runs: ['sync' | 'overlapping', number][] = [['sync', SEED], ['overlapping', SEED + 1]];
  it.each(runs.filter(([d]) => storeUnderTest() === 'lmdb' || d === 'sync'))('durability %s (seed %i), %#', async (durability, seed) => {
    const t0 = Date.now();
    const r = await crashRun(durability, seed);
    // One line for the record: how much load each run saw.
    console.log(`crash ${durability}: ${KILLS} kills, ${r.acked} txs acknowledged, ${r.outputs} outputs checked, ${r.failed} requests died in flight, ${Date.now() - t0} ms (${JSON.stringify(r.phaseMs)})`);
  }, 180_000);
});
