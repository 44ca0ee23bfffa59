import { Config } from '@oclif/core'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, runCli } from '../helpers/cli.js'

describe('the oclif manifest', () => {
  it('lists exactly the commands built into dist/ (rebuild with `npm run build` when this fails)', async () => {
    const file = path.join(ROOT, 'oclif.manifest.json')
    const written = JSON.parse(readFileSync(file, 'utf8')) as { commands: Record<string, unknown>; version: string }
    // Load without the manifest: oclif then scans dist/commands itself.
    const config = await Config.load({ root: ROOT })
    const plugin = config.getPluginsList().find((p) => p.root === ROOT)!
    const dir = path.join(ROOT, 'dist/commands')
    const live = existsSync(dir) ? readdirSync(dir, { recursive: true }) : []
    const liveIds = (live as string[])
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.replace(/\.js$/, '').replace(/\/index$/, '').split(path.sep).join(':'))
      .sort()
    expect(Object.keys(written.commands).sort()).toEqual(liveIds)
    expect(written.version).toBe(plugin.version)
  })
})

describe('vmgit --version and --help', () => {
  it('print the version and the command tour without errors', async () => {
    const v = await runCli(['--version'])
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/^vmgit\/\d+\.\d+\.\d+/)
    const h = await runCli(['--help'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('USAGE')
  })
})
