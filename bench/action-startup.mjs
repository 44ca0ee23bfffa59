#!/usr/bin/env node
// Issue 13: time from "the runner starts the action's step" to vmgit's result, for the action as
// it is (a JavaScript action: the runner's Node 24 starts the committed bundle) against the
// physical limit (`node -e ''`: starting Node at all). With --before REF it also measures the
// old composite action at REF: `npm ci` of every package (native builds included) and `tsc`,
// then the CLI, as that action did in every job (setup-node's download is not counted).
//
// Measured on the 2-core development machine, shared and loaded (2026-11-30): after 1.05 s from
// step start to `validate` done on examples/imagelists (node alone 0.20 s); before, at 45306af,
// 1501 s of `npm ci` + `npm run build` (run at nice 19; better-sqlite3 compiles from source here
// because its prebuilt download is unreachable) and then 2.6 s for the CLI.
//
//   node bench/action-startup.mjs                 after only (fast)
//   node bench/action-startup.mjs --before 45306af
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bench-action-'))
const exportRef = (ref, dir) => {
  mkdirSync(dir, { recursive: true })
  execFileSync('tar', ['-x', '-f', '-', '-C', dir], { input: execFileSync('git', ['archive', '--format=tar', ref], { cwd: ROOT, maxBuffer: 1 << 30 }) })
  return dir
}
const ms = (f) => {
  const t = process.hrtime.bigint()
  const r = f()
  return [Number(process.hrtime.bigint() - t) / 1e6, r]
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const workspace = path.join(tmp, 'ws')
cpSync(path.join(ROOT, 'examples/imagelists'), workspace, { recursive: true })

try {
  const action = exportRef('HEAD', path.join(tmp, 'action'))
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_WORKSPACE: workspace, RUNNER_TEMP: tmp, INPUT_COMMAND: 'validate', 'INPUT_WORKING-DIRECTORY': '.' }
  const node = median(Array.from({ length: 5 }, () => ms(() => spawnSync(process.execPath, ['-e', '']))[0]))
  const runs = Array.from({ length: 5 }, () => {
    const [t, r] = ms(() => spawnSync(process.execPath, [path.join(action, 'action/dist/index.mjs')], { cwd: workspace, env, encoding: 'utf8' }))
    if (r.status !== 0) throw new Error(`action failed: ${r.stdout}${r.stderr}`)
    return t
  })
  const after = median(runs)
  console.log(`after  (node24 JavaScript action, committed bundle): step start to validate done ${after.toFixed(0)} ms (median of 5); node alone ${node.toFixed(0)} ms; ratio ${(after / node).toFixed(1)}x node start`)
  const i = process.argv.indexOf('--before')
  if (i > 0) {
    const ref = process.argv[i + 1]
    const old = exportRef(ref, path.join(tmp, 'old'))
    const [install] = ms(() => execFileSync('bash', ['-c', 'npm ci --no-audit --no-fund && npm run build'], { cwd: old, stdio: 'ignore', env: { ...process.env, npm_config_loglevel: 'error' } }))
    const [cli] = ms(() => spawnSync(process.execPath, [path.join(old, 'bin/run.js'), 'validate', '--repo', workspace], { encoding: 'utf8' }))
    console.log(`before (composite action at ${ref}: npm ci + tsc, then the CLI): ${(install / 1000).toFixed(1)} s to install, ${(cli / 1000).toFixed(1)} s validate; ${((install + cli) / 1000).toFixed(1)} s in all`)
    console.log(`speed-up: ${((install + cli) / after).toFixed(0)}x`)
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
