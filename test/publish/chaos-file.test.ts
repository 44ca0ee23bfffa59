/**
 * Issue 15, the invariant under kill -9 (file backend): at every instant every published list
 * verifies and every image it names is at its URI with its size and sha512. `vmgit publish` is
 * killed at random points, many times (chaos-world.ts); after each kill a subscriber's check;
 * then a normal publish completes, removes the temp files the kills left, and the invariant holds,
 * also after `publish --prune` removed the old versions no list names.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CHAOS_BACKENDS, describeChaos, runChaos } from './chaos-world.js'

const NAME = 'file'
const backend = CHAOS_BACKENDS[NAME]!
const tmp = mkdtempSync(path.join(os.tmpdir(), `vmgit-chaos-${NAME}-`))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe(`issue 15 invariant: vmgit publish to ${NAME} killed with SIGKILL at random points`, () => {
  it.skipIf(backend.skip.skip)(`leaves every published list verifiable with every image whole, after each kill and after the next full publish${backend.skip.reason ? ` (skipped: ${backend.skip.reason})` : ''}`, async () => {
    const b = await backend.start(tmp)
    try {
      const r = await runChaos(b, tmp, { budgetMs: 40_000, minKills: 12, maxKills: 40, imageBytes: 2 << 20 })
      process.stdout.write(describeChaos(NAME, r) + '\n')
      expect(r.violations).toEqual([])
      expect(r.concurrentChecks).toBeGreaterThan(0)
      expect(r.finalExit).toBe(0)
      expect(r.finalInvariant?.ok, r.finalInvariant?.problems.join('; ')).toBe(true)
      expect(r.tempsLeft).toEqual([])
      // --prune afterwards removes old versions no list names, and the list still holds
      expect(r.pruned).toBeGreaterThan(0)
      expect(r.prunedInvariant?.ok, r.prunedInvariant?.problems.join('; ')).toBe(true)
      // bounded, but enough to mean something
      expect(r.kills).toBeGreaterThanOrEqual(12)
      expect(r.points.size).toBeGreaterThanOrEqual(3)
    } finally {
      await b.stop()
    }
  }, 300_000)
})
