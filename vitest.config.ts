import { defineConfig } from 'vitest/config';

// FC_SEED / FC_NUM_RUNS pin fast-check runs (see docs/testing.md and test/setup.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000, // hang guards, not performance bounds: a loaded 2-core machine needs 6–7 s per interpreter start
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
