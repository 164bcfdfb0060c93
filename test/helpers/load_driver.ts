// A steady load of issuance and 2-in/2-out transfers against a central node over HTTP,
// with several requests in flight, recording every acknowledged transaction, so that after a
// kill (of central, or of its database) a test can prove nothing acknowledged was lost:
// every acknowledged output is there with its id and value, every output an acknowledged
// transaction spent is spent, and a transaction that died in flight is all or nothing.
// Used by the crash test and the PostgreSQL failover test.
import { expect } from 'vitest';
import { txId, type Tx } from '../../protocol/tx.js';
import { Client, type Coin, type KeyPair, type SettledJson, issueTx, json, keyPair, transferTx } from './http_fixture.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `f` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

export interface AckedOutput {
  readonly pos: bigint;
  readonly id: string;
  readonly value: bigint;
}

export class LoadDriver {
  readonly owners: KeyPair[];
  readonly bankKey: KeyPair;
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
  /**
   * Refusals that leave a transaction's fate unknown, like a connection cut mid-request: the
   * store could not tell whether its commit landed (CBDC_ERR_STORAGE when the database is lost).
   * Empty by default: then every refusal is a failure of the test.
   */
  uncertainCodes = new Set<string>();

  private isUncertain(body: unknown): boolean {
    const code = (body as { code?: unknown } | null)?.code;
    return typeof code === 'string' && this.uncertainCodes.has(code);
  }
  issuing = false;
  running = false;
  op!: Client;
  bank!: Client;
  operator!: KeyPair;

  constructor(readonly rand: () => number, readonly network: string, readonly bankId: string) {
    this.owners = Array.from({ length: 8 }, (_, i) => keyPair(`${bankId}-owner-${i}`));
    this.bankKey = keyPair(bankId);
  }

  /** Registers the driver's bank at central (operator). */
  async register(): Promise<void> {
    const reg = await this.op.post('/v1/intermediaries', {
      id: this.bankId, public_key: this.bankKey.pk.toString('hex'), quota_fen: (10n ** 17n).toString(), reserve_fen: (10n ** 17n).toString(),
    });
    expect(reg.status, reg.text).toBe(201);
  }

  connect(url: string): void {
    this.op = new Client(url, this.network, 'operator', this.operator.sk, 15_000);
    this.bank = new Client(url, this.network, this.bankId, this.bankKey.sk, 15_000);
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
          info = await this.op.get(`/v1/intermediaries/${this.bankId}`);
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
      const tx = issueTx(this.network, this.operator, this.bankId, this.nextSerial, outs);
      let r;
      try {
        r = await this.op.post<SettledJson>('/v1/transactions', json(tx));
      } catch {
        this.failedRequests++;
        this.nextSerial = null; // it may or may not have committed
        return;
      }
      if (r.status !== 200) {
        if (this.isUncertain(r.body)) this.failedRequests++;
        else this.refusals.push(`issue: ${r.status} ${r.text}`);
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
    return { tx: transferTx(this.network, inputs, outs), inputs, outs };
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
      if (this.isUncertain(r.body)) {
        this.failedRequests++;
        this.uncertain.push({ tx: t.tx, inputs: t.inputs });
      } else {
        this.refusals.push(`transfer: ${r.status} ${r.text}`);
      }
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
      if (this.isUncertain(r.body)) {
        this.failedRequests++;
        for (const t of ts) this.uncertain.push({ tx: t.tx, inputs: t.inputs });
      } else {
        this.refusals.push(`batch: ${r.status} ${r.text}`);
      }
      return;
    }
    r.body.results.forEach((res, i) => {
      if (res.status === 'settled') this.ack(res, ts[i]!.tx, ts[i]!.inputs, ts[i]!.outs);
      else if (this.isUncertain(res)) this.uncertain.push({ tx: ts[i]!.tx, inputs: ts[i]!.inputs });
      else this.refusals.push(`batch tx: ${JSON.stringify(res)}`);
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
