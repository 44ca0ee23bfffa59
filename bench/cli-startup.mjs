#!/usr/bin/env node
// Cold start of the CLI: `vmgit --version` and `vmgit --help` against bare `node -e ''` (the
// physical limit: starting node itself). Each command runs N times, alternating with the others
// so drift on a shared machine hits all three alike; the median of each is compared.
// Target (issue 3): at most 3x bare node. Run after `npm run build` (the manifest must exist,
// otherwise oclif imports every command to learn its flags).
// BENCH_RUNS=N changes the number of runs (default 15).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(root, 'bin/run.js')
const N = Number(process.env.BENCH_RUNS ?? 15)
const TARGET = 3

const cases = [
  { name: "node -e ''", args: ['-e', ''] },
  { name: 'vmgit --version', args: [bin, '--version'] },
  { name: 'vmgit --help', args: [bin, '--help'] },
]

function once(args) {
  const t = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
  return ms
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

if (!existsSync(path.join(root, 'oclif.manifest.json'))) console.log('warning: oclif.manifest.json is missing (run npm run build); start-up will import every command')
for (const c of cases) once(c.args) // warm the file system cache, not the process
const times = cases.map(() => [])
for (let i = 0; i < N; i++) cases.forEach((c, j) => times[j].push(once(c.args)))

const bare = median(times[0])
console.log(`${cases[0].name}: ${bare.toFixed(0)} ms (median of ${N})`)
let over = false
for (let j = 1; j < cases.length; j++) {
  const m = median(times[j])
  const ratio = m / bare
  over ||= ratio > TARGET
  console.log(`${cases[j].name}: ${m.toFixed(0)} ms (median of ${N}), ${ratio.toFixed(2)}x bare node (target <= ${TARGET}x)${ratio > TARGET ? '  ABOVE TARGET' : ''}`)
}
if (over) process.exitCode = 1
