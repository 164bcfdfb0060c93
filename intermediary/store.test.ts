// The bank's store reads what an earlier version wrote (records carrying their own field
// names) and keeps reading both kinds after it has written records with shared structures.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { BankStore, type AccountRec, type CoinRec } from './store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function account(id: string, balanceFen: string): AccountRec {
  return {
    id, kind: 'personal', mcc: null, tier: 3, status: 'active', walletKey: '02'.padEnd(66, 'a'), lockHex: 'ab', sweepLockHex: 'cd',
    aliases: ['+8613800000001'], evidence: { phone: '+8613800000001', name: 'Customer 0001', id_number: 'ID8613800000001' },
    balanceFen, depositFen: '0', historyNext: 2, createdAtMs: 1_700_000_000_000, kycHistory: [],
  };
}

describe('bank store format', () => {
  it('reads records written without shared structures, and both kinds after writing new ones', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-bank-store-'));
    dirs.push(dir);
    const file = path.join(dir, 'bank.mdb');
    const old = account('bank-a.000000000001', '500');
    const oldCoin: CoinRec = { pos: '7', id: 'ff'.repeat(32), value: '500', owner: old.id, lockHex: 'ab' };
    // As the store was opened before: msgpack records with their field names inline.
    const before = open({ path: file, maxDbs: 40, cache: false });
    await before.transaction(() => {
      before.openDB<AccountRec, string>({ name: 'accounts' }).putSync(old.id, old);
      before.openDB<CoinRec, string>({ name: 'coins' }).putSync('00000000000000000007', oldCoin);
      before.openDB<unknown, string>({ name: 'meta' }).putSync('pending-tx/aa', { kind: 'exchange', account: old.id, amountFen: '5', tx: { kind: 'transfer' }, coins: ['7'] });
    });
    await before.close();

    let store = new BankStore(file);
    expect(store.accounts.get(old.id)).toEqual(old);
    expect(store.coins.get('00000000000000000007')).toEqual(oldCoin);
    const fresh = account('bank-a.000000000002', '700');
    await store.root.transaction(() => {
      store.accounts.putSync(fresh.id, fresh);
      store.accounts.putSync(old.id, { ...old, balanceFen: '400' });
    });
    await store.close();

    store = new BankStore(file);
    expect(store.accounts.get(fresh.id)).toEqual(fresh);
    expect(store.accounts.get(old.id)).toEqual({ ...old, balanceFen: '400' });
    expect(store.meta.get('pending-tx/aa')).toEqual({ kind: 'exchange', account: old.id, amountFen: '5', tx: { kind: 'transfer' }, coins: ['7'] });
    // Ranges visit the records only, never the structures kept beside them.
    expect([...store.accounts.getRange({})].map((e) => e.key)).toEqual([old.id, fresh.id]);
    await store.close();
  });
});
