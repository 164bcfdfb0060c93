import { defineConfig } from 'vitest/config';
import LongestFirst from './test/setup/longest_first.js';

// One run, three projects: `unit` (every module's and tier's tests), `faults` (the fault
// campaign of test/faults/: kills, network faults, resource exhaustion, hostile input and
// access control against real node processes; see RELIABILITY.md), and `sql` (the ledger
// suite again, on the PostgreSQL store: the same files with CBDC_TEST_STORE=postgres, on one
// throw-away cluster for the run). `npm test` runs all three; `npm run test:faults` runs the
// campaign alone, `npm run test:sql` the ledger suite on PostgreSQL.
/** The ledger suite: every test of the central ledger through its store, run under each store. */
const SQL_LEDGER_SUITE = [
  'central/ledger.test.ts',
  'central/ledger.property.test.ts',
  'central/ledger_locks.test.ts',
  'central/store_sql.test.ts',
  'test/central_api.test.ts',
  'test/central_events.test.ts',
  'test/central_locks_api.test.ts',
  'test/central_crash.test.ts',
];

export default defineConfig({
  test: {
    // Suites that spawn servers and LMDB environments share two cores; keep workers few.
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{protocol,platform,central,intermediary,wallet,offline,loadtest,test}/**/*.test.ts'],
          // store_sql.test.ts needs the sql project's PostgreSQL cluster.
          exclude: ['dist/**', 'node_modules/**', 'test/faults/**', 'central/store_sql.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'sql',
          include: SQL_LEDGER_SUITE,
          env: { CBDC_TEST_STORE: 'postgres' },
          globalSetup: ['test/setup/pg_global_setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          exclude: ['dist/**', 'node_modules/**'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
