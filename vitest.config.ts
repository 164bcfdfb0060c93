import { defineConfig } from 'vitest/config';

// One run, two projects: `unit` (every module's and tier's tests) and `faults` (the fault
// campaign of test/faults/: kills, network faults, resource exhaustion, hostile input and
// access control against real node processes; see RELIABILITY.md). `npm test` runs both;
// `npm run test:faults` runs the campaign alone.
export default defineConfig({
  test: {
    // Suites that spawn servers and LMDB environments share two cores; keep workers few.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{protocol,platform,central,intermediary,wallet,offline,loadtest,test}/**/*.test.ts'],
          exclude: ['dist/**', 'node_modules/**', 'test/faults/**'],
          testTimeout: 60_000,
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
