import { defineConfig } from 'vitest/config'

// The large differential corpus (bench/differential.mjs): one file, its own include pattern.
export default defineConfig({
  test: { include: ['test/differential/large.corpus.ts'], testTimeout: 7_200_000, pool: 'forks' },
})
