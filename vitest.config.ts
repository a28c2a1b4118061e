import { defineConfig } from 'vitest/config';

// FC_SEED / FC_NUM_RUNS pin fast-check runs (see docs/testing.md and test/setup.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
