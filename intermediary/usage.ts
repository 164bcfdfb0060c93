// What each account has paid under its tier limits, per day and per year in the bank's time
// zone (platform/clock.ts): store.usage keys [account, "d:YYYY-MM-DD"] and [account, "y:YYYY"].
// Written inside the LMDB transaction that reserves or gives back a payment.
import { assert } from '../protocol/errors.js';
import type { BankStore } from './store.js';

export interface Usage {
  dayFen: bigint;
  yearFen: bigint;
}

export function usageAt(store: BankStore, accountId: string, day: string, year: string): Usage {
  return {
    dayFen: BigInt(store.usage.get([accountId, `d:${day}`]) ?? '0'),
    yearFen: BigInt(store.usage.get([accountId, `y:${year}`]) ?? '0'),
  };
}

/** Inside a transaction: the usage of `day` and `year` as just read plus a payment. */
export function writeUsage(store: BankStore, accountId: string, day: string, year: string, dayFen: bigint, yearFen: bigint): void {
  assert(dayFen >= 0n && yearFen >= 0n, 'usage never goes negative');
  store.usage.putSync([accountId, `d:${day}`], dayFen.toString());
  store.usage.putSync([accountId, `y:${year}`], yearFen.toString());
}

/** Inside a transaction: moves the usage of `day` and `year` by `deltaFen`. */
export function addUsage(store: BankStore, accountId: string, day: string, year: string, deltaFen: bigint): void {
  const u = usageAt(store, accountId, day, year);
  writeUsage(store, accountId, day, year, u.dayFen + deltaFen, u.yearFen + deltaFen);
}
