import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // bench/ holds the tests of the benchmark's own code, since test/ never imports bench/ (eslint.config.js).
    include: ['test/**/*.test.ts', 'bench/**/*.test.ts'],
    // Integration and chaos tests start real processes; unit and sim tests are pure.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
