import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliResult, ROOT, type RunOptions, runProcess } from '../helpers/cli.js'
import { makeWorld, sharedPki, type World } from '../subscriber/world.js'

/**
 * Issue 16, install: `npm pack` from a checkout makes a package with a fresh build, the LICENSE,
 * schemas, templates and the systemd/cron examples; installed into a temporary global prefix
 * with the README's own command, it runs `--version`, the subscriber commands and a sync.
 * One pack and one install are shared by every case (installing builds better-sqlite3 from source).
 */
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-pack-'))
const prefix = path.join(tmp, 'prefix')
const installed = path.join(prefix, 'bin/vmgit')
let tarball = ''
let listing: string[] = []
let w: World

const run = (cmd: string, args: string[], opts: RunOptions = {}): Promise<CliResult> => runProcess(cmd, args, { cwd: tmp, ...opts })

/** The README's install command (site operators), as words. */
function readmeInstallCommand(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const site = readme.slice(readme.indexOf('## For site operators'))
  const line = site.split('\n').find((l) => l.startsWith('npm install -g '))
  if (!line) throw new Error('the README\'s site section has no `npm install -g` line')
  return line.replace(/#.*$/, '').trim().split(/\s+/)
}

beforeAll(async () => {
  // a checkout as git sees it (tracked and new files, nothing ignored: no dist/), with a stale file
  // planted in dist/ that a fresh build must not ship
  const src = path.join(tmp, 'src')
  const files = execFileSync('git', ['ls-files', '-z', '-c', '-o', '--exclude-standard'], { cwd: ROOT }).toString().split('\0').filter((f) => f && existsSync(path.join(ROOT, f)))
  for (const f of files) {
    mkdirSync(path.dirname(path.join(src, f)), { recursive: true })
    copyFileSync(path.join(ROOT, f), path.join(src, f))
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'))
  mkdirSync(path.join(src, 'dist'))
  writeFileSync(path.join(src, 'dist/stale-left-over.js'), 'export {}\n')
  const pack = await run('npm', ['pack', '--pack-destination', tmp], { cwd: src, timeoutMs: 600_000 })
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr}`)
  tarball = path.join(tmp, readdirSync(tmp).find((n) => n.endsWith('.tgz')) as string)
  listing = execFileSync('tar', ['-tzf', tarball]).toString().split('\n').filter(Boolean)
  // the README's command, with the tarball for the registry name and a temporary global prefix
  const words = readmeInstallCommand()
  expect(words.at(-1)).toBe('vmgit')
  const install = await run(words[0] as string, [...words.slice(1, -1), '--prefix', prefix, tarball], { timeoutMs: 1_200_000 })
  if (install.code !== 0) throw new Error(`installing the packed tarball failed: ${install.stderr}`)
  w = await makeWorld({ pki: await sharedPki() })
}, 1_500_000)

afterAll(async () => {
  await w?.close()
  rmSync(tmp, { recursive: true, force: true })
})

describe('issue 16 npm pack and install', () => {
  describe('the packed tarball', () => {
    it('holds a fresh build, the LICENSE, schemas, templates and the systemd and cron examples', () => {
      for (const f of ['package/LICENSE', 'package/README.md', 'package/bin/run.js', 'package/dist/commands/sync.js', 'package/oclif.manifest.json',
        'package/schemas/imagelist.schema.json', 'package/templates/repo/vmgit.yaml',
        'package/examples/systemd/vmgit-sync.service', 'package/examples/systemd/vmgit-sync.timer', 'package/examples/systemd/vmgit-sync.cron']) {
        expect(listing).toContain(f)
      }
      // prepack cleans dist/ and builds: nothing stale, no tests or sources
      expect(listing).not.toContain('package/dist/stale-left-over.js')
      expect(listing.some((f) => f.startsWith('package/test/') || f.startsWith('package/src/'))).toBe(false)
    })

    it('carries the Apache-2.0 text its package.json names', () => {
      const license = execFileSync('tar', ['-xzOf', tarball, 'package/LICENSE']).toString()
      expect(license).toContain('Apache License')
      expect(license).toContain('Version 2.0, January 2004')
      expect(license).toContain('END OF TERMS AND CONDITIONS')
      expect(JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json']).toString()).license).toBe('Apache-2.0')
    })
  })

  describe('installed with the README\'s command', () => {
    const vmgit = (args: string[], env: Record<string, string | undefined> = {}): ReturnType<typeof run> => run(installed, args, { env: { ...w.env, ...env } })

    it('runs --version', async () => {
      const r = await vmgit(['--version'])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^vmgit\/\d+\.\d+\.\d+ /)
    })

    it('subscribes, lists and syncs with its own native SQLite module', async () => {
      const img = w.image('pack.qcow2', 20_000)
      await w.publish({ id: w.listId, version: '1.0', images: [img] })
      const steps = [
        await vmgit(['sub', 'trust', '--subject', w.pki.signer.subject, '--issuer', w.pki.signer.issuer, '--name', 'pack']),
        await vmgit(['sub', 'add', w.listUrl, '--now', w.nowIso]),
        await vmgit(['sub', 'select', img.id]),
      ]
      for (const s of steps) expect(s.code, s.stderr).toBe(0)
      const list = await vmgit(['sub', 'list'])
      expect(list.code).toBe(0)
      expect(list.stdout).toContain(w.listId)
      const sync = await vmgit(['sync', '--now', w.nowIso])
      expect(sync.code, sync.stderr).toBe(0)
      expect(w.filesIn('cache')).toContain(img.sha512)
    })

    it('ships the units where the README says to copy them from', () => {
      const dir = path.join(prefix, 'lib/node_modules/vmgit/examples/systemd')
      expect(readdirSync(dir).sort()).toEqual(['README.md', 'vmgit-sync.cron', 'vmgit-sync.service', 'vmgit-sync.timer'])
    })
  })
})
