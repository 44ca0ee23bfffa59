import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/**
 * Issue 13, "fast and side-effect free": the action runs a committed bundle, so the bundle must
 * be exactly what the sources build to, and must not need what a user's job would have to
 * install (the subscriber's native SQLite binding).
 */

interface Builder {
  buildAction(outfile?: string): Promise<{ inputs: Record<string, unknown>; outputs: Record<string, { imports: { path: string; external?: boolean }[] }> }>
  isStale(bundle?: string): Promise<boolean>
  BUNDLE: string
  REBUILD: string
}
const SCRIPT = path.join(ROOT, 'scripts/build-action.mjs')
// a plain .mjs script, imported through a variable so tsc does not look for its types
const load = async () => (await import(SCRIPT)) as Builder

describe('the action bundle action/dist/index.mjs', () => {
  it('is byte for byte what scripts/build-action.mjs builds from the sources (not stale)', async () => {
    const { isStale, REBUILD } = await load()
    if (await isStale()) expect.fail(`action/dist/index.mjs is stale: ${REBUILD}`)
  }, 60_000)

  it('holds neither the subscriber nor better-sqlite3 (publish, plan and validate never load them)', async () => {
    const { buildAction } = await load()
    const os = await import('node:os')
    const { mkdtempSync, rmSync } = await import('node:fs')
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bundle-'))
    try {
      const meta = await buildAction(path.join(dir, 'index.mjs'))
      const inputs = Object.keys(meta.inputs)
      expect(inputs.filter((i) => /better-sqlite3|src\/subscriber\//.test(i))).toEqual([])
      const imports = Object.values(meta.outputs).flatMap((o) => o.imports.map((i) => i.path))
      expect(imports).not.toContain('better-sqlite3')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('reads only inputs that action.yml declares', async () => {
    const { parse } = await import('yaml')
    const declared = Object.keys((parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> }).inputs)
    const src = readFileSync(path.join(ROOT, 'src/action/main.ts'), 'utf8')
    const read = [...src.matchAll(/\bi\('([a-z-]+)'\)/g)].map((m) => m[1]!)
    expect(read.length).toBeGreaterThan(5)
    expect(read.filter((n) => !declared.includes(n))).toEqual([])
    expect(declared.filter((n) => !read.includes(n))).toEqual([])
  })
})
