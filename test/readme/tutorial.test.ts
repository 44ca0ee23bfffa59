import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, ROOT } from '../helpers/cli.js'

/**
 * The README's tutorial is a contract with newcomers: its shell blocks, run in order in an
 * empty directory with only `vmgit` on the PATH, must take them to a published, synced list.
 */

export function tutorialBlocks(readme: string): string[] {
  const start = readme.indexOf('## Tutorial')
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-readme-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('the README tutorial', () => {
  it('takes a newcomer from an empty directory to a published, verified, synced list', async () => {
    const blocks = tutorialBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'))
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    const port = await freePort()
    const shim = path.join(tmp, 'bin')
    mkdirSync(shim)
    writeFileSync(path.join(shim, 'vmgit'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
    chmodSync(path.join(shim, 'vmgit'), 0o755)
    const work = path.join(tmp, 'work')
    mkdirSync(work)
    // wait for the web server the tutorial starts before the first command that needs it
    const script = ['set -euo pipefail', ...blocks.map((b) => b.replaceAll('8080', String(port)))].join('\n')
      .replace(/(--directory public[^\n]*&\n)/, `$1for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.1; done\n`)
    const env: Record<string, string | undefined> = { ...process.env, PATH: `${shim}:${process.env.PATH}`, HOME: tmp, NO_COLOR: '1' }
    for (const k of Object.keys(env)) if (k.startsWith('VMGIT_')) delete env[k]
    const r = spawnSync('bash', ['-c', script], { cwd: work, env: env as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 240_000 })
    const out = `${r.stdout}\n${r.stderr}`
    expect(r.status, out).toBe(0)
    expect(r.stdout).toContain('verified http://127.0.0.1')
    expect(r.stdout).toMatch(/verified and cached/)
  })
})
