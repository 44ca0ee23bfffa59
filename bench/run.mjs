#!/usr/bin/env node
// `npm run bench`: run every benchmark in bench/ (or those whose names contain an argument),
// one after another, each in its own process so peak RSS figures are its own. Each prints its
// figures and the ratio against the physical limit it compares with (openssl, curl, scp, node).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = path.dirname(fileURLToPath(import.meta.url))
const filters = process.argv.slice(2)
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
let failed = 0
for (const b of benches) {
  process.stdout.write(`\n== ${b}\n`)
  const r = spawnSync(process.execPath, [path.join(dir, b)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    process.stdout.write(`!! ${b} exited ${r.status ?? r.signal}\n`)
  }
}
process.stdout.write(`\n${benches.length - failed} benchmark(s) ran, ${failed} failed\n`)
process.exitCode = failed ? 1 : 0
