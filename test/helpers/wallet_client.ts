// A customer's wallet as the end-to-end suites use it: its own key, talking to its bank (a real
// process, ./network_process.ts) over signed HTTP and ws only, as a phone would. Onboarding,
// payments, history and notifications (test/bank_e2e.test.ts), and the contract services'
// create, fund, propose and sign (test/contracts_e2e.test.ts).
import { expect } from 'vitest';
import WebSocket from 'ws';
import { parseYuan } from '../../protocol/amount.js';
import { signHash } from '../../protocol/sig.js';
import { newKeyPair } from '../../platform/key_file.js';
import { SignedClient, type SignedResponse } from '../../platform/signed_client.js';
import { parseLock } from '../../protocol/lock.js';
import { txToJson } from '../../protocol/tx.js';
import type { AccountJson, CoinsJson, HistoryEntry as HistoryJson, PayeeJson, PaymentJson } from '../../wallet/client.js';
import { buildPayment, payeeOutputsOf, selectWalletCoins } from '../../wallet/payment_build.js';
import type { BankProcess } from './network_process.js';

// The bank's answers as the wallet library types them: one definition for the wallet and its tests.
export type { AccountJson, PaymentJson, HistoryJson };
export interface ErrorJson {
  code: string;
  message: string;
  payment?: PaymentJson;
}
export type Payee = { alias: string } | { account: string };
type Body = Record<string, any>;

let keySeq = 0;
/** A fresh idempotency key (at most 64 characters) starting with `label`. */
export const idemKey = (label: string): string => `${label}-${Date.now().toString(36)}-${(keySeq++).toString(36)}`.slice(0, 64);
/** A phone number no other account of this test process has. */
export const freshPhone = (): string => `+8613${String(process.pid % 1000).padStart(3, '0')}${String(keySeq++).padStart(6, '0')}`;

export class WalletClient {
  readonly sk: Buffer;
  readonly pk: Buffer;
  id = '';

  constructor(readonly name: string, readonly bank: BankProcess, readonly network: string) {
    const kp = newKeyPair();
    this.sk = kp.secretKey;
    this.pk = kp.publicKey;
  }

  get client(): SignedClient {
    return new SignedClient(this.bank.url, this.network, this.id, this.sk);
  }

  /** Opens the account with this body (signed by the wallet key); the bank's answer, whatever it is. */
  async open(body: Record<string, unknown>): Promise<SignedResponse<AccountJson & ErrorJson>> {
    const c = new SignedClient(this.bank.url, this.network, `key:${this.pk.toString('hex')}`, this.sk);
    const r = await c.post<AccountJson & ErrorJson>('/v1/accounts', body);
    if (r.status === 201) this.id = r.body.id;
    return r;
  }

  /** Opens an account at `tier` with a fresh phone number and the evidence that tier needs (a merchant with `mcc`); expects it opened. */
  async openAtTier(tier: number, mcc?: string): Promise<this> {
    const phone = freshPhone();
    const evidence: Record<string, string> = { phone };
    if (tier <= 3) Object.assign(evidence, { name: `Customer ${this.name}`, id_number: `ID${phone.slice(1)}` });
    if (tier <= 2) evidence.linked_account = `ACCT-${phone.slice(-8)}`;
    const r = await this.open({ kind: mcc ? 'merchant' : 'personal', ...(mcc ? { mcc } : {}), tier, evidence });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return this;
  }

  async get(): Promise<AccountJson> {
    const r = await this.client.get<AccountJson>(`/v1/accounts/${this.id}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }

  async balance(): Promise<bigint> {
    return BigInt((await this.get()).balance_fen);
  }

  async history(): Promise<HistoryJson[]> {
    const out: HistoryJson[] = [];
    let from: number | null = 0;
    while (from !== null) {
      const r: SignedResponse<{ entries: HistoryJson[]; next_seq: number | null }> = await this.client.get(`/v1/accounts/${this.id}/history?from_seq=${from}&limit=500`);
      expect(r.status).toBe(200);
      out.push(...r.body.entries);
      from = r.body.next_seq;
    }
    return out;
  }

  /** The wallet's signature over a txid. */
  sig(txid: string): string {
    return signHash(this.sk, Buffer.from(txid, 'hex')).toString('hex');
  }

  prepare(payee: Payee, amountFen: bigint, key = idemKey(this.name)): Promise<SignedResponse<PaymentJson & ErrorJson>> {
    return this.client.post(`/v1/accounts/${this.id}/payments`, { idempotency_key: key, payee, amount_fen: amountFen.toString() });
  }

  sign(p: { id: string; txid: string }): Promise<SignedResponse<PaymentJson & ErrorJson>> {
    return this.client.post(`/v1/accounts/${this.id}/payments/${p.id}/sign`, { sig: this.sig(p.txid) });
  }

  /** Both steps; the prepare response when it is refused, else the sign response. */
  async payTwoStep(payee: Payee, amountFen: bigint, key?: string): Promise<SignedResponse<PaymentJson & ErrorJson>> {
    const p = await this.prepare(payee, amountFen, key);
    if (p.status !== 200) return p;
    return this.sign(p.body);
  }

  /** Coins this wallet's payments in flight are spending: concurrent payments each take others. */
  private readonly coinsInFlight = new Set<string>();

  async coins(): Promise<CoinsJson> {
    const r = await this.client.get<CoinsJson>(`/v1/accounts/${this.id}/coins`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }

  async payee(payee: Payee, amountFen?: bigint): Promise<SignedResponse<PayeeJson & ErrorJson>> {
    const q = new URLSearchParams('alias' in payee ? { alias: payee.alias } : { account: payee.account });
    if (amountFen !== undefined) q.set('amount_fen', amountFen.toString());
    return this.client.get<PayeeJson & ErrorJson>(`/v1/accounts/${this.id}/payees?${q.toString()}`);
  }

  /** POSTs a one-request payment: the body with the wallet's signed transaction, no request signature. */
  payBody(body: Record<string, unknown>): Promise<SignedResponse<PaymentJson & ErrorJson & { outputs?: { value: string; lock: unknown }[] }>> {
    return this.client.requestUnsigned('POST', `/v1/accounts/${this.id}/pay`, body);
  }

  /**
   * Pays in one request, as the wallet library does: its coins, the payee's keys, the signed
   * transaction; once more with the outputs the bank names for a capped payee. Where its coins
   * do not cover the amount, the two-step path answers (the bank's own refusal).
   */
  async pay(payee: Payee, amountFen: bigint, key = idemKey(this.name)): Promise<SignedResponse<PaymentJson & ErrorJson>> {
    const [view, keys] = await Promise.all([this.coins(), this.payee(payee, amountFen)]);
    if (keys.status !== 200) return keys as unknown as SignedResponse<PaymentJson & ErrorJson>;
    const coins = selectWalletCoins(view.coins.filter((c) => !this.coinsInFlight.has(c.pos)), amountFen);
    if (coins === null) return this.payTwoStep(payee, amountFen, key);
    for (const c of coins) this.coinsInFlight.add(c.pos);
    try {
      let split: { value: string; lock: unknown }[] | undefined;
      for (;;) {
        const tx = buildPayment({
          network: this.network, coins, ownLock: parseLock(view.lock), amountFen, secretKey: this.sk,
          payeeOutputs: payeeOutputsOf(keys.body, amountFen, BigInt(coins[0]!.pos), split),
        });
        const r = await this.payBody({ idempotency_key: key, payee, amount_fen: amountFen.toString(), tx: txToJson(tx) });
        if (r.status === 409 && r.body.code === 'CBDC_ERR_PAYMENT_OUTPUTS' && split === undefined) {
          split = r.body.outputs;
          continue;
        }
        return r;
      }
    } finally {
      for (const c of coins) this.coinsInFlight.delete(c.pos);
    }
  }

  /** Pays and insists it settled. */
  async paid(payee: Payee, amountFen: bigint): Promise<PaymentJson> {
    const r = await this.pay(payee, amountFen);
    expect(r.status, `${this.name} paying ${JSON.stringify(payee)} ${amountFen}: ${JSON.stringify(r.body)}`).toBe(200);
    expect(r.body.status).toBe('settled');
    return r.body;
  }

  /** Signs a payment the bank prepared (a contract's or a schedule's funding) and expects it settled. */
  async signPayment(p: { id: string; txid: string }): Promise<void> {
    const r = await this.sign(p);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe('settled');
  }

  exchange(amountFen: bigint, key = idemKey(`${this.name}-ex`)): Promise<SignedResponse<{ status: string; balance_fen: string; deposit_fen: string; txid: string } & ErrorJson>> {
    return this.client.post(`/v1/accounts/${this.id}/exchange`, { direction: 'to_wallet', amount_fen: amountFen.toString(), idempotency_key: key });
  }

  /** Staff deposit `yuan` at the bank, and the wallet moves it from its deposit into the wallet. */
  async fund(yuan: string): Promise<void> {
    const d = await this.bank.client('staff').post<Body>(`/v1/accounts/${this.id}/deposit`, { amount_fen: parseYuan(yuan).toString() });
    expect(d.status, JSON.stringify(d.body)).toBe(200);
    const x = await this.exchange(parseYuan(yuan), idemKey('ex'));
    expect(x.status, JSON.stringify(x.body)).toBe(200);
  }

  /** Subscribes to the wallet's notifications from history entry `from`. */
  subscribe(from = 0): Promise<Subscription> {
    const p = `/v1/accounts/${this.id}/events?from=${from}`;
    const ws = new WebSocket(this.bank.url.replace(/^http/, 'ws') + p, { headers: this.client.headersFor('GET', p) });
    const sub = new Subscription(ws);
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.once('close', (code, reason) => reject(new Error(`notification ws closed: ${code} ${String(reason)}`)));
      sub.hello.then(() => resolve(sub), reject);
    });
  }

  // ------------------------------------------------------------------ contract services

  /** Creates a contract and funds it; returns the contract id. */
  async contract(kind: string, terms: Body): Promise<string> {
    const r = await this.client.post<Body>(`/v1/accounts/${this.id}/contracts/${kind}`, { idempotency_key: idemKey(kind), ...terms });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await this.signPayment(r.body.payment);
    const c = await this.view(r.body.contract.id);
    expect(c.contract.status).toBe('active');
    return r.body.contract.id;
  }

  view(cid: string): Promise<Body> {
    return this.client.get<Body>(`/v1/contracts/${cid}`).then((r) => {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    });
  }

  act(cid: string, action: string, body: Body = {}): Promise<SignedResponse<Body>> {
    return this.client.post<Body>(`/v1/contracts/${cid}/${action}`, body);
  }

  signSpend(cid: string, spend: { id: string; txid: string }): Promise<SignedResponse<Body>> {
    return this.client.post<Body>(`/v1/contracts/${cid}/spends/${spend.id}/sign`, { sig: this.sig(spend.txid) });
  }

  /** Proposes an action and signs it alone; expects it settled. */
  async settle(cid: string, action: string, body: Body = {}): Promise<Body> {
    const p = await this.act(cid, action, body);
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    const s = await this.signSpend(cid, p.body.spend);
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(s.body.spend.status).toBe('settled');
    return s.body;
  }
}

/** A wallet's notification stream (ws): every message after the hello, and a wait for one that matches. */
export class Subscription {
  readonly messages: (HistoryJson & { type: string; account: string })[] = [];
  readonly hello: Promise<void>;
  private wake: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    this.hello = new Promise((resolve) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as HistoryJson & { type: string; account: string };
        if (m.type === 'hello') resolve();
        else this.messages.push(m);
        for (const w of this.wake.splice(0)) w();
      });
    });
  }

  async waitFor(pred: (m: HistoryJson) => boolean, timeoutMs = 10_000): Promise<HistoryJson> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.find(pred);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no notification matched within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((r) => {
        this.wake.push(r);
        setTimeout(r, 200);
      });
    }
  }

  close(): void {
    this.ws.removeAllListeners('close');
    this.ws.close();
  }
}
