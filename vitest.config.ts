import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['he-core/**/*.test.ts', 'renderer/**/*.test.ts', 'mock-service/**/*.test.ts', 'main/**/*.test.ts', 'scripts/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
