import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{protocol,platform,central,intermediary,wallet,offline,loadtest,test}/**/*.test.ts'],
    // The fault campaign has its own configuration (vitest.faults.config.ts, npm run test:faults).
    exclude: ['dist/**', 'node_modules/**', 'test/faults/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites that spawn servers and LMDB environments share two cores; keep workers few.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
  },
});
