import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // the tests mostly wait on the CLI in child processes and on real servers, not on the CPU:
    // two files at a time even on a 2-core CI machine (vitest's default there is one) cut the run by ~40%
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
})
