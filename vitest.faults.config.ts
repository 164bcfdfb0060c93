import { defineConfig } from 'vitest/config';

// The fault campaign (npm run test:faults): kills, network faults, resource exhaustion, hostile
// input and access control against real node processes. See RELIABILITY.md.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // Each suite spawns a network of its own; two at once on two cores.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
  },
});
