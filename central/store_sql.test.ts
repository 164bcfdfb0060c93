// What only the SQL store can get wrong (the ledger suite itself runs on it too, under the
// `sql` project): two central processes' ledgers on one database, where exactly one of two
// conflicting spends may win and the batch sequence stays gap-free; a ledger equal, digest
// for digest, to the same history on LMDB; a connection lost between batches; a database that
// does not answer. Runs only in the `sql` project (it needs the run's PostgreSQL cluster).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from './ledger.js';
import { LmdbStore } from './store_lmdb.js';
import { SqlStore } from './store_sql.js';
import type { Intermediary, LedgerStore } from './store.js';
import { CbdcError } from '../protocol/errors.js';
import { NETWORK, OPERATOR, type Coin, coinsOf, issueTx, keyPair, redeemTx, toKey, transferTx } from '../test/helpers/ledger_fixture.js';
import { freshDatabaseUrl } from '../test/helpers/store_under_test.js';

const BANK = 'bank-a';
const ALICE = keyPair('alice');
const BOB = keyPair('bob');
const open: { close(): Promise<void> }[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function sqlStore(url: string): Promise<SqlStore> {
  const s = await SqlStore.open({ url });
  open.push(s);
  return s;
}

/** A ledger with a fixed clock: batch times, and so digests, do not depend on when it ran. */
function ledgerOn(store: LedgerStore): Ledger {
  return new Ledger(store, { network: NETWORK, operatorPublicKey: OPERATOR.pk, pool: null, clockMs: () => 1_750_000_000_000 });
}

const bankRecord: Intermediary = {
  id: BANK, publicKey: keyPair('bank-a').pk.toString('hex'), quotaFen: 10n ** 12n, reserveFen: 10n ** 12n,
  issuedFen: 0n, redeemedFen: 0n, nextSerial: 0n, registeredAtMs: 1_700_000_000_000,
};

async function issueCoins(ledger: Ledger, store: LedgerStore, values: bigint[]): Promise<Coin[]> {
  const tx = issueTx(BANK, store.getIntermediary(BANK)!.nextSerial, values.map((value) => ({ value, lock: toKey(ALICE) })));
  const [r] = await ledger.submit([tx]);
  return coinsOf(tx, r!);
}

describe('SqlStore', () => {
  it('two ledgers on one database: of two conflicting spends exactly one wins, and the batch sequence has no gaps', async () => {
    const url = await freshDatabaseUrl();
    const a = await sqlStore(url);
    const b = await sqlStore(url);
    await a.registerIntermediary(bankRecord);
    const la = ledgerOn(a);
    const coins = await issueCoins(la, a, Array.from({ length: 20 }, (_, i) => BigInt(100 + i)));
    // b learns of the issuance when its first write conflicts and it reads the ledger again;
    // here it opens again so that its ledger can check the inputs it is given.
    await b.close();
    const b2 = await sqlStore(url);
    const lb = ledgerOn(b2);
    // Every coin is spent by both ledgers at once, to different payees.
    const results = await Promise.all(coins.flatMap((c) => [
      la.submit([transferTx([c], [{ value: c.value, lock: toKey(BOB) }], [ALICE])]),
      lb.submit([transferTx([c], [{ value: c.value - 1n, lock: toKey(BOB) }, { value: 1n, lock: toKey(ALICE) }], [ALICE])]),
    ]));
    for (let i = 0; i < coins.length; i++) {
      const pair = [results[2 * i]![0]!, results[2 * i + 1]![0]!];
      expect(pair.filter((r) => r.ok), `coin ${i}`).toHaveLength(1);
      const lost = pair.find((r) => !r.ok)!;
      expect(lost.ok ? null : lost.code).toBe('CBDC_ERR_DOUBLE_SPEND');
    }
    // The database's own sums agree, and the batches of both writers are numbered 0, 1, 2, ...
    const audit = await a.auditDatabase();
    expect(audit).toMatchObject({ ok: true, problems: [], issuedFen: 2190n, unspentRecomputedFen: 2190n });
    const fresh = await sqlStore(url);
    const { spentCount, batchCount } = fresh.supply();
    expect(spentCount).toBe(20n);
    expect(fresh.readBatches(0n, 1000).map((x) => x.seq)).toEqual(Array.from({ length: Number(batchCount) }, (_, i) => BigInt(i)));
    expect(fresh.audit()).toMatchObject({ ok: true, problems: [] });
  });

  it('the same history gives the same ledger, digest for digest, on LMDB and on PostgreSQL', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbdc-sql-vs-lmdb-'));
    dirs.push(dir);
    const lmdb = new LmdbStore({ path: dir, durability: 'sync' });
    open.push(lmdb);
    const sql = await sqlStore(await freshDatabaseUrl());
    for (const store of [lmdb, sql]) {
      await store.registerIntermediary(bankRecord);
      await store.adjustIntermediary(BANK, { reserveDeltaFen: -5n, quotaFen: 10n ** 11n });
      const ledger = ledgerOn(store);
      const coins = await issueCoins(ledger, store, [1000n, 2000n, 3000n]);
      await ledger.submit([
        transferTx([coins[0]!], [{ value: 400n, lock: toKey(BOB) }, { value: 600n, lock: toKey(ALICE) }], [ALICE]),
        transferTx([coins[0]!], [{ value: 1000n, lock: toKey(BOB) }], [ALICE]), // a double spend, refused
        redeemTx(BANK, [coins[1]!], [{ value: 500n, lock: toKey(ALICE) }], [ALICE]),
      ]);
      await ledger.drain();
    }
    expect(sql.supply()).toEqual(lmdb.supply());
    expect(sql.audit()).toEqual(lmdb.audit());
    expect(sql.readBatches(0n, 10)).toEqual(lmdb.readBatches(0n, 10));
    expect(sql.digest()).toBe(lmdb.digest());
  });

  it('a connection lost between batches: the next write reconnects, reads the ledger again and goes on', async () => {
    const url = await freshDatabaseUrl();
    const s = await sqlStore(url);
    await s.registerIntermediary(bankRecord);
    const ledger = ledgerOn(s);
    const [c1, c2] = await issueCoins(ledger, s, [10n, 20n]);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    await admin.end();
    // The first write after the loss may fail (coded), never half-apply; the one after it works.
    const first = await ledger.submit([transferTx([c1!], [{ value: 10n, lock: toKey(BOB) }], [ALICE])]);
    const second = await ledger.submit([transferTx([c2!], [{ value: 20n, lock: toKey(BOB) }], [ALICE])]);
    expect(first[0]!.ok || first[0]!.code === 'CBDC_ERR_STORAGE').toBe(true);
    expect(second[0]!.ok).toBe(true);
    const audit = await s.auditDatabase();
    expect(audit).toMatchObject({ ok: true, problems: [] });
    expect(s.supply().spentCount).toBe(first[0]!.ok ? 2n : 1n);
  });

  it('a database that does not answer is refused at open with CBDC_ERR_STORAGE', async () => {
    const err = await SqlStore.open({ url: 'postgres://cbdc@127.0.0.1:1/none', connectTimeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CbdcError);
    expect((err as CbdcError).code).toBe('CBDC_ERR_STORAGE');
    expect((err as CbdcError).message).toMatch(/cannot open the SQL ledger store at postgres:\/\/cbdc@127\.0\.0\.1:1\/none/);
  });

  it('refuses to register a second intermediary with the same id or key, and keeps the first', async () => {
    const s = await sqlStore(await freshDatabaseUrl());
    await s.registerIntermediary(bankRecord);
    await expect(s.registerIntermediary({ ...bankRecord, publicKey: keyPair('other').pk.toString('hex') })).rejects.toMatchObject({ code: 'CBDC_ERR_INTERMEDIARY_EXISTS' });
    await expect(s.registerIntermediary({ ...bankRecord, id: 'bank-z' })).rejects.toMatchObject({ code: 'CBDC_ERR_INTERMEDIARY_EXISTS' });
    expect(s.listIntermediaries()).toEqual([bankRecord]);
  });
});
