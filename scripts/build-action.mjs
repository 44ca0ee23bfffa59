#!/usr/bin/env node
// Bundles the GitHub Action (src/action/index.ts and the vmgit library it calls) into one
// committed file, action/dist/index.mjs, that the runner starts with its own Node 24: no npm
// install in the user's job. The build is deterministic (pinned esbuild, paths relative to the
// repository, no timestamps), so test/action/bundle.test.ts rebuilds it and compares bytes.
//
//   node scripts/build-action.mjs              rewrite action/dist/index.mjs
//   node scripts/build-action.mjs --out FILE   write elsewhere (the staleness test)
//   node scripts/build-action.mjs --check      exit 1 when the committed bundle is stale
import { build } from 'esbuild'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BUNDLE = path.join(ROOT, 'action/dist/index.mjs')
export const REBUILD = 'run `npm run build:action` and commit action/dist/index.mjs'

/** Never in the bundle: the subscriber's native SQLite binding (publish/plan/validate do not use
 *  it) and optional native add-ons that their packages load in a try/catch. */
export const EXTERNAL = ['better-sqlite3', 'cpu-features', '*.node']

export async function buildAction(outfile = BUNDLE) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/action/index.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    // GitHub runs it on node24; node20 syntax keeps it runnable by this repository's own Node too
    target: 'node20',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    metafile: true,
    logLevel: 'warning',
    external: EXTERNAL,
    // CommonJS dependencies call require(): give the ES module one
    banner: { js: "import{createRequire as __vmgitCreateRequire}from'node:module';const require=__vmgitCreateRequire(import.meta.url);" },
  })
  return result.metafile
}

/** Build into a temp dir and compare with the committed bytes. */
export async function isStale(bundle = BUNDLE) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-action-build-'))
  try {
    const out = path.join(dir, 'index.mjs')
    await buildAction(out)
    let committed
    try {
      committed = readFileSync(bundle)
    } catch {
      return true
    }
    return !readFileSync(out).equals(committed)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  if (args[0] === '--check') {
    if (await isStale()) {
      console.error(`action/dist/index.mjs is stale: ${REBUILD}`)
      process.exit(1)
    }
  } else {
    const out = args[0] === '--out' ? path.resolve(args[1]) : BUNDLE
    const meta = await buildAction(out)
    const size = Object.values(meta.outputs)[0]?.bytes ?? 0
    console.log(`wrote ${path.relative(process.cwd(), out)} (${(size / 1e6).toFixed(1)} MB)`)
  }
}
