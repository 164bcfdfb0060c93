// Picking the coins a transaction spends: an owner's unreserved coins, oldest first (coin keys
// sort in ledger order), at most TX_INPUTS_MAX of them. Reads inside the caller's LMDB
// transaction, so the pick and the reservation that follows it are one.
import { CbdcError } from '../protocol/errors.js';
import { TX_INPUTS_MAX } from '../protocol/limits.js';
import { type BankStore, type CoinRec, fen } from './store.js';

/** `owner`'s unreserved coins, oldest first, read one at a time as the caller takes them. */
function* unreservedOf(store: BankStore, owner: string): Generator<CoinRec> {
  for (const { key } of store.coinsByOwner.getRange({ start: [owner, ''], end: [owner, '~'] })) {
    if (store.reserved.holder(key[1]) !== undefined) continue;
    const c = store.coins.get(key[1]);
    if (c !== undefined) yield c;
  }
}

/** Up to `max` of `owner`'s unreserved coins, oldest first. */
export function unreservedCoins(store: BankStore, owner: string, max = TX_INPUTS_MAX): CoinRec[] {
  const out: CoinRec[] = [];
  if (max <= 0) return out;
  for (const c of unreservedOf(store, owner)) {
    out.push(c);
    if (out.length >= max) break;
  }
  return out;
}

/** Oldest-first unreserved coins of `owner` covering `amountFen`; CBDC_ERR_INSUFFICIENT_FUNDS with `short` when they do not. */
export function selectCoins(store: BankStore, owner: string, amountFen: bigint, short: string): { coins: CoinRec[]; sumFen: bigint } {
  const coins: CoinRec[] = [];
  let sumFen = 0n;
  if (amountFen > 0n) {
    for (const c of unreservedOf(store, owner)) {
      coins.push(c);
      sumFen += fen(c.value);
      if (sumFen >= amountFen || coins.length >= TX_INPUTS_MAX) break;
    }
  }
  if (sumFen < amountFen) throw new CbdcError('CBDC_ERR_INSUFFICIENT_FUNDS', short);
  return { coins, sumFen };
}
