// Lock-policy contracts under kills: central and a bank as real processes; while wallets run
// escrow releases, hash-lock claims and prepaid releases one after another (retrying every
// step the way a wallet does when its bank goes away), and a recurring schedule pays its
// slots, a seeded schedule SIGKILLs the bank and restarts it on the same data and port.
// Afterwards: every contract an acknowledged action finished is in its final state, every
// payee holds exactly what the acknowledged actions paid it (each settled once, none twice),
// every payer exactly its funding less its refunds, every schedule slot ran once, the bank
// reconciles to central and central's audit holds.
//
// FAULTS_CONTRACT_KILLS sets the number of kills (default 6); FAULTS_SEED the seed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signHash } from '../../protocol/sig.js';
import { newKeyPair } from '../../platform/key_file.js';
import { SignedClient } from '../../platform/signed_client.js';
import { type BankProcess, NetworkProcess, killAllNetworkProcesses } from '../helpers/network_process.js';
import { waitForHoldings } from '../helpers/wallet_fixture.js';
import { prng } from '../helpers/fault_proxy.js';

const SEED = Number(process.env.FAULTS_SEED ?? 7_250_001);
const KILLS = Number(process.env.FAULTS_CONTRACT_KILLS ?? 6);
const Y = (yuan: number): bigint => BigInt(yuan) * 100n;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

let root: string;
let net: NetworkProcess;
let bank: BankProcess;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Between one contract and the next: spreads each payer's funds over the kills. */
const PAUSE_MS = 200;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'cbdc-faults-contracts-'));
  net = new NetworkProcess({ root, banks: ['bank-a'], bankArgs: ['--scheduler-tick-ms', '200'], startTimeoutMs: 60_000 });
  await net.start();
  bank = net.bank('bank-a');
  await waitForHoldings(bank, Y(100_000), 90_000);
}, 180_000);

afterAll(async () => {
  await net?.killAll();
  await killAllNetworkProcesses();
  if (root) await rm(root, { recursive: true, force: true });
});

let keys = 0;
const idem = (what: string) => `${what}-${SEED % 10_000}-${keys++}`.slice(0, 40);

/** A wallet: its key, its account, a client that signs as it. */
class Party {
  id = '';
  readonly kp = newKeyPair();
  http!: SignedClient;

  /**
   * One request as a wallet makes it while its bank may be down: a transport error or a 5xx
   * answer is tried again (the bank restarts on the same port) until a 2xx or 4xx comes.
   */
  async call(method: 'GET' | 'POST', p: string, body?: unknown): Promise<{ status: number; body: Body }> {
    const until = Date.now() + 120_000;
    for (;;) {
      const r = await this.http.request<Body>(method, p, body).catch(() => null);
      if (r !== null && r.status < 500) return r;
      if (Date.now() > until) throw new Error(`${method} ${p}: no answer for 120 s (${r === null ? 'unreachable' : `${r.status} ${JSON.stringify(r.body)}`})`);
      await sleep(250);
    }
  }

  async open(phone: number, tier = 3): Promise<this> {
    const opener = new SignedClient(bank.url, net.network, `key:${this.kp.publicKey.toString('hex')}`, this.kp.secretKey, 10_000);
    const ph = `+8613700${String(phone).padStart(6, '0')}`;
    const r = await opener.post<Body>('/v1/accounts', { kind: 'personal', tier, evidence: { phone: ph, name: `Party ${phone}`, id_number: `ID${ph.slice(1)}` } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    this.id = r.body.id;
    this.http = new SignedClient(bank.url, net.network, this.id, this.kp.secretKey, 10_000);
    return this;
  }

  sig(txid: string): string {
    return signHash(this.kp.secretKey, Buffer.from(txid, 'hex')).toString('hex');
  }

  async balance(): Promise<bigint> {
    return BigInt((await this.call('GET', `/v1/accounts/${this.id}`)).body.balance_fen);
  }

  /** Signs a prepared payment until the bank says it settled. */
  async pay(p: { id: string; txid: string }): Promise<void> {
    for (;;) {
      const r = await this.call('POST', `/v1/accounts/${this.id}/payments/${p.id}/sign`, { sig: this.sig(p.txid) });
      if (r.status === 200 && r.body.status === 'settled') return;
      const v = await this.call('GET', `/v1/accounts/${this.id}/payments/${p.id}`);
      if (v.body.status === 'settled') return;
      expect(['submitted', 'awaiting_signature'], JSON.stringify([r.body, v.body])).toContain(v.body.status);
      await sleep(250);
    }
  }

  /** Creates and funds a contract (the same idempotency key on every try). */
  async contract(kind: string, terms: Body): Promise<string> {
    const key = idem(kind);
    const r = await this.call('POST', `/v1/accounts/${this.id}/contracts/${kind}`, { idempotency_key: key, ...terms });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await this.pay(r.body.payment);
    return r.body.contract.id;
  }
}

/**
 * One action on a contract, to its end: propose, then each signer signs. A proposal whose
 * answer was lost is proposed again; the contract settles one of them, the rest can no longer
 * settle (CBDC_ERR_CONTRACT_STATE). Returns once the contract's view shows `done`.
 */
async function act(cid: string, proposer: Party, action: string, body: Body, signers: Party[], done: (c: Body) => boolean): Promise<void> {
  for (;;) {
    const view = await proposer.call('GET', `/v1/contracts/${cid}`);
    if (done(view.body.contract)) return;
    const p = await proposer.call('POST', `/v1/contracts/${cid}/${action}`, body);
    if (p.status !== 200) {
      expect(p.body.code, JSON.stringify(p.body)).toBe('CBDC_ERR_CONTRACT_STATE');
      await sleep(250);
      continue;
    }
    for (const s of signers) {
      const r = await s.call('POST', `/v1/contracts/${cid}/spends/${p.body.spend.id}/sign`, { sig: s.sig(p.body.spend.txid) });
      if (r.status !== 200) expect(r.body.code, JSON.stringify(r.body)).toBe('CBDC_ERR_CONTRACT_STATE');
    }
    await sleep(100);
  }
}

describe('contracts under bank kills', () => {
  it('settles every acknowledged contract action exactly once; the bank reconciles and central audits', async () => {
    const n = (() => { let i = 0; return () => 500 + (SEED % 1000) * 10 + i++; })();
    const party = () => new Party().open(n());
    const [buyer, seller, arbiter, payer, payee, parent, school, tenant, landlord] = [await party(), await party(), await party(), await party(), await party(), await party(), await party(), await party(), await party()];
    const fundAll = async (p: Party, yuan: number) => {
      const d = await bank.client('staff').post<Body>(`/v1/accounts/${p.id}/deposit`, { amount_fen: Y(yuan).toString() });
      expect(d.status, JSON.stringify(d.body)).toBe(200);
      const x = await p.call('POST', `/v1/accounts/${p.id}/exchange`, { direction: 'to_wallet', amount_fen: Y(yuan).toString(), idempotency_key: idem('fund') });
      expect(x.status, JSON.stringify(x.body)).toBe(200);
    };
    for (const p of [buyer, payer, parent, tenant]) await fundAll(p, 2_000); // one at a time: each takes the bank's holdings coin

    // A recurring payment whose slots come due while the bank is killed and restarted.
    const t0 = Date.now();
    const sched = await tenant.call('POST', `/v1/accounts/${tenant.id}/schedules`, {
      idempotency_key: idem('sched'), payee: { account: landlord.id }, amount_fen: Y(3).toString(), first_at_ms: t0 + 1_000, interval_ms: 1_500, count: 8,
    });
    expect(sched.status, JSON.stringify(sched.body)).toBe(200);
    await tenant.pay(sched.body.payment);

    const rand = prng(SEED);
    let killing = true;
    const kills: number[] = [];
    const killer = (async () => {
      for (let k = 0; k < KILLS; k++) {
        await sleep(500 + Math.floor(rand() * 1_500));
        await bank.kill('SIGKILL');
        kills.push(Date.now());
        await sleep(Math.floor(rand() * 400));
        await bank.start();
      }
      killing = false;
    })();

    const done = { escrow: 0, hashlock: 0, prepaidUnits: 0 };
    // Each payer holds 2,000 yuan (its class's balance cap) and nothing refills it: a loop ends
    // when its payer could not fund one more, however fast the contracts go while the kills run.
    const affords = (contracts: number, yuan: number): boolean => Y(yuan) * BigInt(contracts + 1) <= Y(2_000);
    const escrows = (async () => {
      while ((killing || done.escrow < 2) && affords(done.escrow, 50)) {
        const cid = await buyer.contract('escrow', { seller: seller.id, arbiter: arbiter.id, amount_fen: Y(50).toString() });
        await act(cid, buyer, 'resolve', { outcome: 'release' }, [buyer, seller], (c) => c.status === 'released');
        done.escrow++;
        await sleep(PAUSE_MS);
      }
    })();
    const hashlocks = (async () => {
      while ((killing || done.hashlock < 2) && affords(done.hashlock, 40)) {
        const preimage = randomBytes(32);
        const cid = await payer.contract('hashlock', { payee: payee.id, amount_fen: Y(40).toString(), hash: createHash('sha256').update(preimage).digest('hex'), timeout_ms: Date.now() + 600_000 });
        await act(cid, payee, 'claim', { preimage: preimage.toString('hex') }, [payee], (c) => c.status === 'claimed');
        done.hashlock++;
        await sleep(PAUSE_MS);
      }
    })();
    const prepaid = (async () => {
      while ((killing || done.prepaidUnits < 2) && affords(done.prepaidUnits / 2, 20)) {
        const cid = await parent.contract('prepaid', { merchant: school.id, unit_fen: Y(10).toString(), units: 2, deadline_ms: Date.now() + 600_000 });
        for (let u = 1; u <= 2; u++) {
          await act(cid, parent, 'release', { units: 1 }, [parent], (c) => Number(c.state.released_units) >= u);
          done.prepaidUnits++;
        }
        await sleep(PAUSE_MS);
      }
    })();
    await Promise.all([killer, escrows, hashlocks, prepaid]);
    expect(kills).toHaveLength(KILLS);

    // Each acknowledged action paid its payee once: the balances are exactly the counts.
    expect(await seller.balance()).toBe(Y(50) * BigInt(done.escrow));
    expect(await payee.balance()).toBe(Y(40) * BigInt(done.hashlock));
    expect(await school.balance()).toBe(Y(10) * BigInt(done.prepaidUnits));
    expect(await buyer.balance()).toBe(Y(2_000) - Y(50) * BigInt(done.escrow));
    expect(await payer.balance()).toBe(Y(2_000) - Y(40) * BigInt(done.hashlock));
    expect(await parent.balance()).toBe(Y(2_000) - Y(20) * BigInt(done.prepaidUnits / 2));
    // Every contract of each party in its final state, none left half-spent.
    for (const [p, final] of [[buyer, 'released'], [payer, 'claimed']] as const) {
      const list = (await p.call('GET', `/v1/accounts/${p.id}/contracts`)).body.contracts as Body[];
      expect(list.map((c) => c.status)).toEqual(list.map(() => final));
    }

    // The schedule: every slot ran once, each its own transaction.
    const until = Date.now() + 60_000;
    let v: Body;
    for (;;) {
      v = (await tenant.call('GET', `/v1/accounts/${tenant.id}/schedules/${sched.body.schedule.id}`)).body;
      if (v.schedule.status === 'finished' && v.slots.every((s: Body) => s.status === 'settled')) break;
      if (Date.now() > until) throw new Error(`the schedule did not finish: ${JSON.stringify(v)}`);
      await sleep(300);
    }
    expect(v.slots.map((s: Body) => s.slot)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(v.slots.map((s: Body) => s.txid)).size).toBe(8);
    expect(await landlord.balance()).toBe(Y(3) * 8n);
    expect(await tenant.balance()).toBe(Y(2_000) - Y(3) * 8n);

    // Both tiers agree.
    const rec = await net.reconcileCli('bank-a');
    expect(rec.json.problems).toEqual([]);
    expect(rec.json.ok).toBe(true);
    const audit = await net.audit();
    expect(audit.ok).toBe(true);
    process.stdout.write(`faults/contracts ${JSON.stringify({ seed: SEED, kills: kills.length, escrow_releases: done.escrow, hashlock_claims: done.hashlock, prepaid_releases: done.prepaidUnits, schedule_slots: 8 })}\n`);
  }, 300_000);
});
