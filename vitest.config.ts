// Test runner settings: real engine tests are slow to start, so generous timeouts; one process per file.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    reporters: ['default'],
  },
});
