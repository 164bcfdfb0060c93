// The group-commit edges of the payment pipeline, each hit exactly: the payer's bank is started
// with a crash point armed (platform/fault_point.ts). Half the payments are acknowledged one by
// one; then the other half go at once, one payer wallet each, within the bank and to the other
// bank, and the bank SIGKILLs itself at the point with them in flight:
// - payment-reserving: inside the write transaction holding the group's reservations (lmdb-js
//   folds the concurrent ones into it), before it commits;
// - payment-reserved: the group committed, not yet sent to central;
// - payment-answered: central has settled the payment in its batch; the bank has not written it.
// After a restart each wallet asks again with the same idempotency key. No acknowledged
// payment is lost (each answer given before the kill is the payment settled after it), every
// payment settles exactly once (each payer down by its amount, each payee up by it), the banks
// reconcile and central's audit holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BankProcess, NetworkProcess } from '../helpers/network_process.js';
import { waitFor } from '../helpers/bank_fixture.js';
import { type PaymentJson, WalletClient, idemKey } from '../helpers/wallet_client.js';

const NETWORK = 'cbdc-group-kill';
/** Payments per case: half acknowledged one by one, half in flight at once when the kill comes. */
const GROUP = 8;
const FUND_FEN = 100_00n;

let root = '';
let net: NetworkProcess;
let bankA: BankProcess;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'cbdc-group-kill-'));
  net = new NetworkProcess({ root, network: NETWORK });
  await net.start();
  bankA = net.bank('bank-a');
  // Each bank tops up its CBDC holdings from central's issuance on its first ticks.
  for (const b of [bankA, net.bank('bank-b')]) {
    await until(`${b.id}'s holdings`, async () => {
      const t = await b.client('staff').get<{ holdings_fen: string }>('/v1/bank/totals');
      return t.status === 200 && BigInt(t.body.holdings_fen) >= 1_000_000_00n ? true : undefined;
    });
  }
}, 60_000);

afterAll(async () => {
  await net?.killAll();
  if (root) await rm(root, { recursive: true, force: true });
});

/** waitFor with a probe that may fail while a node is down (a failure counts as not yet). */
function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  return waitFor(what, () => f().catch(() => undefined), timeoutMs, 50);
}

/** Wallets opened at tier 3; payers funded with one coin of FUND_FEN each. */
async function wallets(label: string, bank: BankProcess, n: number, fund: boolean): Promise<WalletClient[]> {
  const out: WalletClient[] = [];
  // One at a time: each funding spends from the bank's holdings coins, which concurrent ones would contend for.
  for (let i = 0; i < n; i++) {
    const w = await new WalletClient(`${label}-${i}`, bank, NETWORK).openAtTier(3);
    if (fund) await w.fund('100');
    out.push(w);
  }
  return out;
}

/** Asks until the bank answers the payment under `key` settled (the same payment every time). */
function settledUnder(w: WalletClient, payee: { account: string }, amountFen: bigint, key: string): Promise<PaymentJson> {
  return until(`${w.name}'s payment ${key} settled`, async () => {
    const r = await w.pay(payee, amountFen, key);
    if (r.status !== 200) return undefined;
    if (r.body.status === 'settled') return r.body;
    return undefined;
  });
}

describe('SIGKILL at the group-commit edges of the payment pipeline', () => {
  for (const point of ['payment-reserving', 'payment-reserved', 'payment-answered'] as const) {
    it(`${point}: every payment of the group settles exactly once after the restart`, async () => {
      const payers = await wallets(`${point}-payer`, bankA, GROUP, true);
      const payees = [...await wallets(`${point}-here`, bankA, GROUP / 2, false), ...await wallets(`${point}-there`, net.bank('bank-b'), GROUP / 2, false)];
      const amounts = payers.map((_, i) => 10_00n + BigInt(i));
      const keys = payers.map((w) => idemKey(w.name));

      // The first half is paid one by one and acknowledged; the second half goes at once, and
      // the first of it to reach the point kills the bank with the rest in flight around it.
      await bankA.kill();
      await bankA.start({ CBDC_FAULT_POINT: `${point}:${GROUP / 2 + 1}` });
      const attempt = (i: number): Promise<PaymentJson | null> => payers[i]!.pay({ account: payees[i]!.id }, amounts[i]!, keys[i]).then(
        (r) => (r.status === 200 && r.body.status === 'settled' ? r.body : null),
        () => null,
      );
      const first: (PaymentJson | null)[] = [];
      for (let i = 0; i < GROUP / 2; i++) first.push(await attempt(i));
      expect(first.every((p) => p !== null)).toBe(true);
      first.push(...await Promise.all(payers.slice(GROUP / 2).map((_, j) => attempt(GROUP / 2 + j))));
      await until('bank-a to have killed itself', async () => (bankA.running ? undefined : true));
      expect(bankA.child!.signalCode).toBe('SIGKILL');
      expect(bankA.stderrTail.join('')).toContain(`fault point ${point} reached`);

      // What the kill left: answered before it, and reserved at the bank (written and committed).
      const answered = first.filter((p) => p !== null).length;
      expect(answered).toBeLessThan(GROUP);
      await bankA.start();
      const after = await Promise.all(payers.map((w, i) => settledUnder(w, { account: payees[i]!.id }, amounts[i]!, keys[i]!)));
      for (const [i, p] of after.entries()) {
        expect(p.amount_fen).toBe(amounts[i]!.toString());
        // What was acknowledged before the kill is the very payment there is now.
        if (first[i] !== null) expect(first[i]!.id).toBe(p.id);
      }
      // Each payer paid once, each payee got it once (the other bank hears of it from central).
      for (const [i, w] of payers.entries()) expect(await w.balance()).toBe(FUND_FEN - amounts[i]!);
      for (const [i, w] of payees.entries()) await until(`${w.name} credited`, async () => ((await w.balance()) === amounts[i]! ? true : undefined));
      for (const id of ['bank-a', 'bank-b']) {
        const r = await net.reconcileCli(id);
        expect(r.json.problems).toEqual([]);
        expect(r.json.ok).toBe(true);
      }
      process.stdout.write(`group-commit kill ${JSON.stringify({ point, group: GROUP, answered_before_kill: answered })}\n`);
      const audit = await net.audit();
      expect(audit.problems).toEqual([]);
      expect(audit.ok).toBe(true);
    }, 90_000);
  }
});
