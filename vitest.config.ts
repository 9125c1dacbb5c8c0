import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration and chaos tests start real processes; unit and sim tests are pure.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
