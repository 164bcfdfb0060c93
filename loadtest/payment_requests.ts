// One-request payments for the e2e run (POST /v1/accounts/:id/pay), built before the clock as a
// wallet would: it knows its coins from the funding it received and each payee's receive key
// from the payee's bank key and account id (protocol/receive_key.ts), so it builds the whole
// transaction itself. Only the wallet's signature over the txid is left for the run: its body
// is the bytes around that signature, which the runner joins as the request leaves.
import type { Lock } from '../protocol/lock.js';
import { paymentLock, receivePublicKey } from '../protocol/receive_key.js';
import { txId, txToJson } from '../protocol/tx.js';
import { makeTx } from '../protocol/tx_builder.js';
import type { OutPointRef, PaymentPlan } from './workload.js';

export interface PayingAccount {
  accountId: string;
  bank: string;
  pub: Buffer;
}

/** A payment's request, whole but for the wallet's signature (128 hex characters between head and tail). */
export interface PaymentRequest {
  path: string;
  txid: Buffer;
  bodyHead: string;
  bodyTail: string;
}

const SIG_SLOT = '<sig>';

/**
 * The coins each payment spends: `inputs` per payment, taken from the newest of its payer's
 * funding coins, so the payments the bank itself funds from the same wallet (contracts,
 * offline loads: oldest first) never meet them. `funding` lists every wallet's coins in the
 * order `coinsPerWallet` counted them.
 */
export function assignCoins(plans: readonly PaymentPlan[], coinsPerWallet: Uint32Array, funding: readonly OutPointRef[], inputs: number): OutPointRef[][] {
  const perWallet: OutPointRef[][] = [];
  let at = 0;
  for (let w = 0; w < coinsPerWallet.length; w++) {
    const mine = funding.slice(at, at + coinsPerWallet[w]!);
    at += coinsPerWallet[w]!;
    perWallet.push(mine.sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0)));
  }
  if (at !== funding.length) throw new Error(`funding has ${funding.length} coins, the wallets ${at}`);
  const paying = new Uint32Array(coinsPerWallet.length);
  for (const p of plans) paying[p.payer]! += inputs;
  const next = Uint32Array.from(perWallet, (c, w) => c.length - paying[w]!);
  return plans.map((p) => {
    const from = next[p.payer]!;
    next[p.payer]! += inputs;
    return perWallet[p.payer]!.slice(from, from + inputs);
  });
}

/** Each plan's request: its coins in, all of the amount to the payee's fresh lock, the change to the payer's own lock. */
export function paymentRequests(o: {
  network: string; plans: readonly PaymentPlan[]; accounts: readonly PayingAccount[]; coins: readonly OutPointRef[][];
  coinValueFen: bigint; bankKeys: ReadonlyMap<string, Buffer>; ownLock: (a: PayingAccount) => Lock; idemPrefix: string;
}): PaymentRequest[] {
  const receiveKeys = o.accounts.map((a) => receivePublicKey(o.bankKeys.get(a.bank)!, a.accountId));
  const ownLocks = o.accounts.map((a) => o.ownLock(a));
  return o.plans.map((p, i) => {
    const coins = o.coins[i]!;
    const sumFen = BigInt(coins.length) * o.coinValueFen;
    if (sumFen < p.amountFen) throw new Error(`payment ${i}: ${coins.length} coins do not cover ${p.amountFen} fen`);
    const payee = o.accounts[p.payee]!;
    const payer = o.accounts[p.payer]!;
    const outputs: { value: bigint; lock: Lock }[] = [{ value: p.amountFen, lock: paymentLock(payee.pub, receiveKeys[p.payee]!, coins[0]!.pos, 0) }];
    if (sumFen > p.amountFen) outputs.push({ value: sumFen - p.amountFen, lock: ownLocks[p.payer]! });
    const tx = makeTx({ network: o.network, inputs: coins.map((c) => ({ pos: c.pos, id: c.id })), outputs });
    const json = { ...txToJson(tx), witness: { sigs: [{ key: payer.pub.toString('hex'), sig: SIG_SLOT }] } };
    const body = JSON.stringify({ idempotency_key: `${o.idemPrefix}-${i}`, payee: { account: payee.accountId }, amount_fen: p.amountFen.toString(), tx: json });
    const at = body.indexOf(SIG_SLOT);
    return { path: `/v1/accounts/${payer.accountId}/pay`, txid: txId(tx), bodyHead: body.slice(0, at), bodyTail: body.slice(at + SIG_SLOT.length) };
  });
}
