import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{protocol,platform,central,intermediary,wallet,offline,loadtest,test}/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites that spawn servers and LMDB environments share two cores; keep workers few.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
  },
});
