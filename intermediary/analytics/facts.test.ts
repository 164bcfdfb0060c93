// The facts under their bounds, on a real LMDB store with hand-written records: which legs
// count, at most L payments and C fen per account, fixed group domains.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BankStore, type AccountRec, type HistoryRec } from '../store.js';
import { dayStartMs } from '../../platform/clock.js';
import { TIERS } from '../tiers.js';
import { bankCells } from './facts.js';
import { REGIONS } from '../../protocol/regions.js';

let dir: string;
let store: BankStore;
const day = '2026-12-05';
const t0 = dayStartMs(day) + 3_600_000;

function account(id: string, o: Partial<AccountRec>): AccountRec {
  return {
    id, kind: 'personal', mcc: null, tier: 3, status: 'active', walletKey: '02'.padEnd(66, '1'), lockHex: '', sweepLockHex: '', aliases: [],
    evidence: {}, balanceFen: '0', depositFen: '0', historyNext: 0, createdAtMs: 0, kycHistory: [], ...o,
  };
}

function entry(seq: number, o: Partial<HistoryRec>): HistoryRec {
  return { seq, atMs: t0 + seq, direction: 'out', kind: 'payment', amountFen: '100', counterparty: 'x', txid: `${seq}`.padStart(64, '0'), balanceAfterFen: '0', depositAfterFen: '0', paymentId: null, ...o };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'cbdc-facts-'));
  store = new BankStore(path.join(dir, 'bank.mdb'));
  await store.accounts.put('b.heavy', account('b.heavy', { region: 'CN-GD', tier: 2 }));
  await store.accounts.put('b.light', account('b.light', { tier: 4 }));
  await store.accounts.put('b.shop', account('b.shop', { kind: 'merchant', mcc: '5411' }));
  // heavy: 30 payments of 600 fen, one exchange, one on the next day.
  for (let i = 0; i < 30; i++) await store.history.put(['b.heavy', i], entry(i, { amountFen: '600' }));
  await store.history.put(['b.heavy', 30], entry(30, { kind: 'exchange', amountFen: '99999' }));
  await store.history.put(['b.heavy', 31], entry(31, { atMs: t0 + 86_400_000, amountFen: '7' }));
  // light: one payment, and one received (an incoming leg of a personal account never counts).
  await store.history.put(['b.light', 0], entry(0, { amountFen: '50' }));
  await store.history.put(['b.light', 1], entry(1, { direction: 'in', amountFen: '50' }));
  // shop: 3 payments received, one of them with an over-cap sweep of the same txid.
  await store.history.put(['b.shop', 0], entry(0, { direction: 'in', amountFen: '1000' }));
  await store.history.put(['b.shop', 1], entry(1, { direction: 'in', amountFen: '2000' }));
  await store.history.put(['b.shop', 2], entry(1, { direction: 'in', kind: 'sweep', amountFen: '500' }));
  await store.history.put(['b.shop', 3], entry(3, { direction: 'in', amountFen: '3000' }));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const q = (groupBy: 'tier' | 'region' | 'mcc' | 'none' | 'day', metric: 'payments_count' | 'payments_value_fen' | 'value_histogram' = 'payments_count') =>
  ({ metric, groupBy, days: [day], fromMs: dayStartMs(day), toMs: dayStartMs(day) + 86_400_000 });

describe('bank facts', () => {
  it('count the outgoing payment legs in the range, at most L per account, in fixed domains', () => {
    const byTier = bankCells(store, q('tier'), { paymentsMax: 10, valueFenMax: 10n ** 9n });
    expect(byTier.map((c) => c.group)).toEqual(TIERS.map(String));
    expect(Object.fromEntries(byTier.map((c) => [c.group, Number(c.count)]))).toMatchObject({ 2: 10, 4: 1, 3: 0 });
    const byRegion = bankCells(store, q('region'), { paymentsMax: 10, valueFenMax: 10n ** 9n });
    expect(byRegion.map((c) => c.group)).toEqual([...REGIONS]);
    expect(byRegion.find((c) => c.group === 'CN-GD')!.count).toBe(10n);
    expect(byRegion.find((c) => c.group === 'unknown')!.count).toBe(1n);
  });

  it('clip each account at C fen in all, in time order', () => {
    const v = bankCells(store, q('none', 'payments_value_fen'), { paymentsMax: 10, valueFenMax: 2_000n });
    // heavy: 600 + 600 + 600 + 200 (C reached), light: 50.
    expect(v).toEqual([{ group: 'all', count: 11n, valueFen: 2_050n }]);
  });

  it('count merchants\' incoming legs by mcc, the sweep of the same txid added, bounded per merchant', () => {
    expect(bankCells(store, q('mcc', 'payments_value_fen'), { paymentsMax: 10, valueFenMax: 10n ** 9n })).toEqual([{ group: '5411', count: 3n, valueFen: 6_500n }]);
    expect(bankCells(store, q('mcc', 'payments_value_fen'), { paymentsMax: 2, valueFenMax: 10n ** 9n })).toEqual([{ group: '5411', count: 2n, valueFen: 3_500n }]);
  });

  it('bucket each payment by its value', () => {
    const h = bankCells(store, q('none', 'value_histogram'), { paymentsMax: 100, valueFenMax: 10n ** 9n });
    expect(h.map((c) => [c.bucket, Number(c.count)])).toEqual([['lt_10_yuan', 31], ['lt_100_yuan', 0], ['lt_1000_yuan', 0], ['lt_10000_yuan', 0], ['ge_10000_yuan', 0]]);
  });
});
