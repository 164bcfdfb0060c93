// Which ledger store the ledger suite runs on: LMDB (the `unit` and `faults` projects) or
// PostgreSQL (the `sql` project sets CBDC_TEST_STORE=postgres and starts one cluster for the
// run, test/setup/pg_global_setup.ts). The same test files run under both, as lmdb-js runs
// one suite under every configuration it supports.
import pg from 'pg';
import { inject } from 'vitest';
import { DURABILITIES, type Durability } from '../../central/store.js';

export type StoreKind = 'lmdb' | 'postgres';

export function storeUnderTest(): StoreKind {
  return process.env.CBDC_TEST_STORE === 'postgres' ? 'postgres' : 'lmdb';
}

/** The durability settings the store under test has (the SQL store has one: COMMIT returned). */
export function durabilitiesUnderTest(): readonly Durability[] {
  return storeUnderTest() === 'postgres' ? ['sync'] : DURABILITIES;
}

let databases = 0;

/** A new, empty database on the run's cluster; its URL. */
export async function freshDatabaseUrl(): Promise<string> {
  const admin = inject('pgAdminUrl');
  if (!admin) throw new Error('no PostgreSQL cluster: the sql project provides one (vitest --project sql)');
  const name = `ledger_${process.pid}_${++databases}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}
