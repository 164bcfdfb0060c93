// Payees get a fresh lock per incoming payment (multi(2, [wallet, derived bank key])), so central
// cannot link a payee's payments by lock; the bank maps each lock to the account and co-signs
// spending it with the matching derived key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestNetwork, account, fundHoldings, fundWallet, openWallet, pay, quiesce, startNetwork } from '../test/helpers/bank_fixture.js';

let net: TestNetwork;

beforeAll(async () => {
  net = await startNetwork([{ id: 'bank-a' }, { id: 'bank-b' }]);
  await fundHoldings(net, net.bank('bank-a'));
  await fundHoldings(net, net.bank('bank-b'));
}, 60_000);

afterAll(async () => {
  await net?.close();
});

describe('fresh payee locks', () => {
  it('two payments to one payee pay two different locks, and the payee can spend both', async () => {
    const payer = await openWallet(net.bank('bank-a'));
    const payee = await openWallet(net.bank('bank-b'));
    const onward = await openWallet(net.bank('bank-a'));
    await fundWallet(payer, 300_000n);
    const p1 = await pay(payer, { alias: payee.phone }, 10_000n);
    const p2 = await pay(payer, { alias: payee.phone }, 20_000n);
    await quiesce(net);

    // The payee's outputs at central: read them through the transactions' outputs.
    const locks: string[] = [];
    for (const p of [p1, p2]) {
      const out = (p.result as { outputs: { pos: string; id: string }[] }).outputs[0]!;
      const r = await net.operator.get(`/v1/outputs/${out.pos}?id=${out.id}`);
      expect(r.status, r.text).toBe(200);
      locks.push(JSON.stringify(r.body.lock));
    }
    expect(locks[0]).not.toBe(locks[1]);
    const standard = JSON.stringify((await account(payee)).lock);
    expect(locks).not.toContain(standard);
    expect(BigInt((await account(payee)).balance_fen)).toBe(30_000n);

    // Spending both (one payment that needs both coins) is co-signed with both derived keys.
    await pay(payee, { alias: onward.phone }, 25_000n);
    await quiesce(net);
    expect(BigInt((await account(payee)).balance_fen)).toBe(5_000n);
    expect(BigInt((await account(onward)).balance_fen)).toBe(25_000n);
    const rec = await net.bank('bank-b').staff.get('/v1/bank/reconcile');
    expect(rec.body.ok, JSON.stringify(rec.body.problems)).toBe(true);
  });
});
