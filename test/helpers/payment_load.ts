// A steady payment load over a real network (network_process.ts), driven as wallets drive it:
// the product's wallet client (wallet/client.ts, signed requests, retries with the same
// idempotency key) and its notification subscription (wallet/events.ts, resumes after any
// disconnect). Every payment's fate is recorded from the wallet's side (acknowledged settled,
// refused, or unknown because the answer was lost), then, once the network is quiet, checked
// against central's own record of every settled batch:
//   - every payment acknowledged to a wallet settled at central, exactly once;
//   - nothing spending a customer's funds settled unless that customer signed it;
//   - each payment's final state at its bank matches central (settled there iff settled here);
//   - each wallet's balance equals what central's settled payments say it must be;
//   - central's audit holds (sum(unspent) == issued - redeemed); each bank reconciles to central;
//   - each wallet's notifications are its history, gapless, in order, each payment once.
import WebSocket from 'ws';
import { expect } from 'vitest';
import { signHash } from '../../protocol/sig.js';
import { newKeyPair } from '../../platform/key_file.js';
import { BankClient, BankRefusal, type HistoryEntry, type PaymentJson } from '../../wallet/client.js';
import { AccountSubscription } from '../../wallet/events.js';
import type { BankProcess, NetworkProcess } from './network_process.js';
import { waitForHoldings } from './wallet_fixture.js';
import { prng } from './fault_proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LoadWallet {
  name: string;
  bank: BankProcess;
  sk: Buffer;
  pkHex: string;
  id: string;
  client: BankClient;
  sub: AccountSubscription | null;
  /** Entries the subscription delivered, in delivery order. */
  received: HistoryEntry[];
  fundedFen: bigint;
}

interface SignedPayment {
  txid: string;
  payer: LoadWallet;
  payee: LoadWallet;
  amountFen: bigint;
  paymentId: string;
  /** What the wallet was told: settled, rejected (with code), or nothing certain. */
  told: 'settled' | 'rejected' | 'unknown';
  code?: string;
  final?: string;
}

export interface CentralBatch {
  seq: string;
  txs: { txid: string; kind: string; spent: string[]; outputs: { pos: string; value: string; lock: { multi?: { k: number; keys: string[] }; key?: string } }[] }[];
}

export interface LoadReport {
  attempted: number;
  acknowledged: number;
  refusedBeforeSigning: number;
  rejectedAfterSigning: number;
  unknownThenResolved: number;
  settledAtCentral: number;
  refusalCodes: Record<string, number>;
  notifications: number;
  centralBatches: number;
}

export interface PaymentLoadOptions {
  seed: number;
  walletsPerBank: number;
  fundFen: bigint;
  /** Most fen one payment moves. */
  amountFenMax: number;
  /** Pause between one wallet's payments. */
  pauseMs: number;
}

export class PaymentLoad {
  readonly wallets: LoadWallet[] = [];
  readonly signed = new Map<string, SignedPayment>();
  readonly refusalCodes: Record<string, number> = {};
  attempted = 0;
  refusedBeforeSigning = 0;
  private readonly rand: () => number;
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(readonly net: NetworkProcess, readonly o: PaymentLoadOptions) {
    this.rand = prng(o.seed);
  }

  private clientFor(bank: BankProcess, signer: string, sk: Buffer): BankClient {
    // Patient retries: a bank killed and restarted is back within seconds.
    return new BankClient({ url: bank.url, network: this.net.network, signer, secretKey: sk, timeoutMs: 30_000, retry: { attempts: 12, baseDelayMs: 100, maxDelayMs: 1_000 } });
  }

  /** Opens walletsPerBank accounts at every bank, funds each wallet, subscribes to its notifications. */
  async setup(): Promise<void> {
    let n = 0;
    for (const bank of this.net.banks.values()) {
      await waitForHoldings(bank, this.o.fundFen * BigInt(this.o.walletsPerBank), 60_000);
      for (let i = 0; i < this.o.walletsPerBank; i++) {
        const kp = newKeyPair();
        const pkHex = kp.publicKey.toString('hex');
        const opener = this.clientFor(bank, `key:${pkHex}`, kp.secretKey);
        const phone = `+86137${String(this.o.seed % 1000).padStart(3, '0')}${String(n++).padStart(5, '0')}`;
        const acc = await opener.openAccount({ kind: 'personal', tier: 4, evidence: { phone } });
        const w: LoadWallet = {
          name: `${bank.id}/w${i}`, bank, sk: kp.secretKey, pkHex, id: acc.id, client: this.clientFor(bank, acc.id, kp.secretKey), sub: null, received: [], fundedFen: this.o.fundFen,
        };
        const dep = await bank.client('staff').post<{ code?: string }>(`/v1/accounts/${acc.id}/deposit`, { amount_fen: this.o.fundFen.toString() });
        expect(dep.status, JSON.stringify(dep.body)).toBe(200);
        const ex = await w.client.exchangeToWallet(w.id, this.o.fundFen, `fund-${acc.id.replace('.', '-')}`);
        expect(ex.status).toBe('settled');
        this.wallets.push(w);
      }
    }
    for (const w of this.wallets) this.subscribe(w);
  }

  private subscribe(w: LoadWallet): void {
    w.sub = new AccountSubscription({
      url: w.bank.url, accountId: w.id, from: 0, headersFor: (m, p) => w.client.headersFor(m, p),
      onEntry: (e) => w.received.push(e), reconnectBaseMs: 100, reconnectMaxMs: 1_000, pingIntervalMs: 5_000,
    }).start();
  }

  /** Starts one worker per wallet, each paying a random other wallet, until stop(). */
  start(): void {
    this.running = true;
    this.workers = this.wallets.map((w) => this.worker(w));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  private async worker(payer: LoadWallet): Promise<void> {
    let k = 0;
    while (this.running) {
      const others = this.wallets.filter((x) => x !== payer);
      const payee = others[Math.floor(this.rand() * others.length)]!;
      const amountFen = BigInt(1 + Math.floor(this.rand() * this.o.amountFenMax));
      const refused = !(await this.pay(payer, payee, amountFen, `ld-${this.o.seed}-${payer.id.slice(-12)}-${k++}`));
      // A refusal before signing (the payee's bank is down, say) backs off rather than spin.
      await sleep(refused ? this.o.pauseMs * 20 : this.o.pauseMs);
    }
  }

  private count(code: string): void {
    this.refusalCodes[code] = (this.refusalCodes[code] ?? 0) + 1;
  }

  /** One payment as a wallet makes it; false when it was refused before the wallet signed. */
  private async pay(payer: LoadWallet, payee: LoadWallet, amountFen: bigint, key: string): Promise<boolean> {
    this.attempted++;
    let p: PaymentJson;
    try {
      p = await payer.client.preparePayment(payer.id, { payee: { account: payee.id, bank: payee.bank.id }, amountFen, idempotencyKey: key });
    } catch (e) {
      this.refusedBeforeSigning++;
      this.count((e as { code?: string }).code ?? 'transport');
      return false;
    }
    // A prepared payment names its amount and payee: the wallet checks before it signs.
    expect(p.amount_fen).toBe(amountFen.toString());
    const s: SignedPayment = { txid: p.txid, payer, payee, amountFen, paymentId: p.id, told: 'unknown' };
    this.signed.set(p.txid, s);
    const sig = signHash(payer.sk, Buffer.from(p.txid, 'hex')).toString('hex');
    try {
      const r = await payer.client.signPayment(payer.id, p.id, sig);
      if (r.status === 'settled') s.told = 'settled';
      else if (r.status === 'rejected' || r.status === 'expired') s.told = 'rejected';
    } catch (e) {
      const body = e instanceof BankRefusal ? (e.body as { payment?: PaymentJson }) : {};
      if (body.payment?.status === 'rejected' || body.payment?.status === 'expired') {
        s.told = 'rejected';
        s.code = (e as BankRefusal).code;
        this.count((e as BankRefusal).code);
      } else {
        this.count((e as { code?: string }).code ?? 'transport');
      }
    }
    return true;
  }

  /** Waits until every signed payment has a final state at its bank and both banks reconcile. */
  async settle(timeoutMs = 90_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const s of this.signed.values()) {
      for (;;) {
        const p = await s.payer.client.payment(s.payer.id, s.paymentId).catch(() => null);
        if (p !== null && p.status !== 'submitted' && p.status !== 'awaiting_signature') {
          s.final = p.status;
          break;
        }
        // The signature's request never arrived (the bank died first): the wallet sends it again.
        if (p !== null && p.status === 'awaiting_signature') {
          await s.payer.client.signPayment(s.payer.id, s.paymentId, signHash(s.payer.sk, Buffer.from(s.txid, 'hex')).toString('hex')).catch(() => null);
          continue;
        }
        if (Date.now() > until) throw new Error(`payment ${s.paymentId} still ${p?.status ?? 'unreadable'} after ${timeoutMs} ms`);
        await sleep(250);
      }
    }
    for (const bank of this.net.banks.values()) {
      for (;;) {
        const r = await bank.client('staff').get<{ ok: boolean; problems: string[] }>('/v1/bank/reconcile').catch(() => null);
        if (r !== null && r.status === 200 && r.body.ok) break;
        if (Date.now() > until) throw new Error(`${bank.id} does not reconcile: ${JSON.stringify(r?.body)}`);
        await sleep(500);
      }
    }
    for (const w of this.wallets) {
      for (;;) {
        const h = await this.history(w);
        if (w.sub!.next >= h.length) break;
        if (Date.now() > until) throw new Error(`${w.name}: notifications stop at ${w.sub!.next} of ${h.length}`);
        await sleep(250);
      }
    }
  }

  async history(w: LoadWallet): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    for await (const e of w.client.historyAll(w.id)) out.push(e);
    return out;
  }

  close(): void {
    for (const w of this.wallets) w.sub?.close();
  }

  /** Every checks listed in the header; returns the figures. */
  async check(): Promise<LoadReport> {
    const batches = await readCentralBatches(this.net);
    const settledCount = new Map<string, number>();
    const lockOf = new Map<string, CentralBatch['txs'][number]['outputs'][number]['lock']>();
    for (const b of batches) {
      for (const t of b.txs) {
        settledCount.set(t.txid, (settledCount.get(t.txid) ?? 0) + 1);
        for (const o of t.outputs) lockOf.set(o.pos, o.lock);
      }
    }
    // A txid settles at most once (its inputs are spent once).
    for (const [txid, n] of settledCount) expect(n, `txid ${txid} settled ${n} times`).toBe(1);

    const ours = new Set(this.wallets.map((w) => w.pkHex));
    let settledOurs = 0;
    for (const b of batches) {
      for (const t of b.txs) {
        if (t.kind !== 'transfer') continue;
        const spendsCustomer = t.spent.some((pos) => {
          const l = lockOf.get(pos);
          return l?.multi !== undefined && l.multi.k >= 2 && l.multi.keys.some((k) => ours.has(k));
        });
        if (!spendsCustomer) continue;
        // Nothing moved a customer's funds that the customer did not sign.
        expect(this.signed.has(t.txid), `transfer ${t.txid} spends a customer's output but no wallet signed it`).toBe(true);
        settledOurs++;
      }
    }

    const expectedBalance = new Map(this.wallets.map((w) => [w.id, w.fundedFen]));
    let acknowledged = 0;
    let rejectedAfterSigning = 0;
    let unknownThenResolved = 0;
    for (const s of this.signed.values()) {
      const atCentral = settledCount.has(s.txid);
      if (s.told === 'settled') {
        acknowledged++;
        expect(atCentral, `acknowledged payment ${s.paymentId} (${s.txid}) is not settled at central`).toBe(true);
      }
      if (s.told === 'rejected') {
        rejectedAfterSigning++;
        expect(atCentral, `payment ${s.paymentId} was refused to the wallet but settled at central`).toBe(false);
      }
      if (s.told === 'unknown') unknownThenResolved++;
      expect(s.final === 'settled', `payment ${s.paymentId}: bank says ${s.final}, central ${atCentral ? 'settled' : 'has nothing'}`).toBe(atCentral);
      if (atCentral) {
        expectedBalance.set(s.payer.id, expectedBalance.get(s.payer.id)! - s.amountFen);
        expectedBalance.set(s.payee.id, expectedBalance.get(s.payee.id)! + s.amountFen);
      }
    }

    let notifications = 0;
    for (const w of this.wallets) {
      const acc = await w.client.account(w.id);
      expect(BigInt(acc.balance_fen), `${w.name} balance`).toBe(expectedBalance.get(w.id));
      const h = await this.history(w);
      // The wallet's notifications are its history: same entries, in order, none missing, none twice.
      expect(w.received.map((e) => e.seq)).toEqual(h.map((_, i) => i));
      expect(w.received.map((e) => [e.txid, e.direction, e.amount_fen])).toEqual(h.map((e) => [e.txid, e.direction, e.amount_fen]));
      notifications += w.received.length;
      const payments = h.filter((e) => e.kind === 'payment').map((e) => `${e.direction}:${e.txid}`);
      expect(new Set(payments).size, `${w.name}: a payment notified twice`).toBe(payments.length);
      const want: string[] = [];
      for (const s of this.signed.values()) {
        if (!settledCount.has(s.txid)) continue;
        if (s.payer === w) want.push(`out:${s.txid}`);
        if (s.payee === w) want.push(`in:${s.txid}`);
      }
      expect([...payments].sort()).toEqual(want.sort());
    }

    const audit = await this.net.audit();
    expect(audit.problems).toEqual([]);
    expect(audit.ok).toBe(true);
    for (const id of this.net.banks.keys()) {
      const r = await this.net.reconcileCli(id);
      expect(r.json.problems).toEqual([]);
      expect(r.code).toBe(0);
    }
    return {
      attempted: this.attempted, acknowledged, refusedBeforeSigning: this.refusedBeforeSigning, rejectedAfterSigning, unknownThenResolved,
      settledAtCentral: settledOurs, refusalCodes: this.refusalCodes, notifications, centralBatches: batches.length,
    };
  }
}

/** Every batch central has settled, read from its event stream as the operator (from 0 to its head). */
export async function readCentralBatches(net: NetworkProcess, timeoutMs = 60_000): Promise<CentralBatch[]> {
  const path = '/v1/events?from=0';
  const op = net.operator();
  const ws = new WebSocket(net.central.url.replace(/^http/, 'ws') + path, { headers: op.headersFor('GET', path) });
  const out: CentralBatch[] = [];
  try {
    return await new Promise<CentralBatch[]>((resolve, reject) => {
      let head = -1n;
      const timer = setTimeout(() => reject(new Error(`central's event stream stopped at ${out.length} of ${head} batches`)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(out);
      };
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { type: string; head?: string } & CentralBatch;
        if (m.type === 'hello') head = BigInt(m.head!);
        else {
          expect(BigInt(m.seq)).toBe(BigInt(out.length));
          out.push(m);
        }
        if (head >= 0n && BigInt(out.length) >= head) done();
      });
      ws.on('error', (e) => reject(e));
    });
  } finally {
    ws.terminate();
  }
}
