// A payment the wallet builds itself, for the one-request flow (POST /v1/accounts/:id/pay):
// its coins (oldest first, as its bank lists them), the payee's outputs derived from the
// payee's receive key (protocol/receive_key.ts), its change back to its own lock, and its one
// signature over the txid: its consent to exactly this transaction, and the request's
// authentication.
import { CbdcError } from '../protocol/errors.js';
import { type Lock, encodeLock, parseLock } from '../protocol/lock.js';
import { TX_INPUTS_MAX } from '../protocol/limits.js';
import { paymentLock } from '../protocol/receive_key.js';
import { parsePublicKey } from '../protocol/sig.js';
import { type Tx } from '../protocol/tx.js';
import { makeTx, multiLock, signTx } from '../protocol/tx_builder.js';

export interface WalletCoin {
  pos: string;
  id: string;
  value: string;
  reserved: boolean;
}

export interface PayeeKeys {
  wallet_key: string;
  receive_key: string;
  bank_key: string;
}

/** Oldest-first unreserved coins covering the amount, at most TX_INPUTS_MAX of them; null where they do not. */
export function selectWalletCoins(coins: readonly WalletCoin[], amountFen: bigint): WalletCoin[] | null {
  const out: WalletCoin[] = [];
  let sum = 0n;
  for (const c of coins) {
    if (c.reserved) continue;
    out.push(c);
    sum += BigInt(c.value);
    if (sum >= amountFen || out.length >= TX_INPUTS_MAX) break;
  }
  return sum < amountFen ? null : out;
}

/**
 * The payee's outputs for a payment whose first input is at `firstInputPos`: all of it to the
 * payee's fresh lock, or the split its bank answered (CBDC_ERR_PAYMENT_OUTPUTS), checked to pay
 * that payee (the fresh lock, then its sweep lock) and to add up to the amount.
 */
export function payeeOutputsOf(payee: PayeeKeys, amountFen: bigint, firstInputPos: bigint, split?: readonly { value: string; lock: unknown }[]): { value: bigint; lock: Lock }[] {
  const wallet = parsePublicKey(payee.wallet_key, "the payee's wallet key");
  const fresh = paymentLock(wallet, parsePublicKey(payee.receive_key, "the payee's receive key"), firstInputPos, 0);
  if (split === undefined) return [{ value: amountFen, lock: fresh }];
  const sweep = multiLock(1, [parsePublicKey(payee.bank_key, "the payee's bank key"), wallet]);
  const outputs = split.map((o) => ({ value: BigInt(o.value), lock: parseLock(o.lock) }));
  const allowed = [encodeLock(fresh).toString('hex'), encodeLock(sweep).toString('hex')];
  const hexes = outputs.map((o) => encodeLock(o.lock).toString('hex'));
  const ok = outputs.length >= 1 && outputs.length <= 2 && outputs.every((o) => o.value > 0n)
    && outputs.reduce((s, o) => s + o.value, 0n) === amountFen
    && (outputs.length === 1 ? allowed.includes(hexes[0]!) : hexes[0] === allowed[0] && hexes[1] === allowed[1]);
  if (!ok) throw new CbdcError('CBDC_ERR_BANK_RESPONSE', "the bank's outputs for this payment do not pay the payee the amount");
  return outputs;
}

/** The signed transaction: the coins in, the payee's outputs, the change to `ownLock`. */
export function buildPayment(o: { network: string; coins: readonly WalletCoin[]; ownLock: Lock; payeeOutputs: readonly { value: bigint; lock: Lock }[]; amountFen: bigint; secretKey: Uint8Array }): Tx {
  const sum = o.coins.reduce((s, c) => s + BigInt(c.value), 0n);
  if (sum < o.amountFen) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS');
  const outputs = [...o.payeeOutputs];
  if (sum > o.amountFen) outputs.push({ value: sum - o.amountFen, lock: o.ownLock });
  const tx = makeTx({ network: o.network, inputs: o.coins.map((c) => ({ pos: BigInt(c.pos), id: Buffer.from(c.id, 'hex') })), outputs });
  return signTx(tx, [o.secretKey]);
}
