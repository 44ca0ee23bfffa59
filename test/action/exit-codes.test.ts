import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT_TABLE, Exit } from '../../src/util/errors.js'
import { ROOT, runCli } from '../helpers/cli.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'

/**
 * Issue 13, "exit codes a script can trust": 0 ok, 1 verification/validation failed, 2 usage or
 * configuration error, 3 network, 4 plan has changes. No usage or configuration error may exit 4.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-exit-'))
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
const git = (cwd: string, ...a: string[]) => execFileSync('git', a, { cwd, env: GIT_ENV, stdio: 'pipe' }).toString()
let repo: FixtureRepo
const plan = (...args: string[]) => runCli(['plan', '--repo', repo.dir, ...args])

beforeAll(() => {
  repo = makeFixtureRepo(path.join(tmp, 'repo'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${tmp}/pub/` }])
  git(repo.dir, 'init', '-q', '-b', 'main')
  git(repo.dir, 'add', '-A')
  git(repo.dir, 'commit', '-qm', 'first')
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('the exit-code table', () => {
  it('keeps 0/1/2/3 and gives "plan has changes" its own code, 4', () => {
    expect(Exit).toEqual({ OK: 0, INVALID: 1, USAGE: 2, NETWORK: 3, CHANGES: 4 })
    expect(EXIT_TABLE.map((r) => r.code)).toEqual([0, 1, 2, 3, 4])
  })
  it('is in the README, row for row', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    for (const r of EXIT_TABLE) expect(readme).toContain(`| ${r.code} | ${r.meaning} |`)
  })
  it.each([['plan'], ['publish'], ['validate'], ['sync'], ['verify'], ['init']])('ends the --help of %s', async (cmd) => {
    const r = await runCli([cmd, '--help'])
    expect(r.code).toBe(0)
    const section = r.stdout.slice(r.stdout.indexOf('EXIT CODES'))
    expect(section).toMatch(/^EXIT CODES\n\s+0\s+success/)
    expect(section).toMatch(/\n\s+4\s+plan succeeded and there are changes/)
  })
})

describe('vmgit plan exit codes', () => {
  describe('when nothing changed against --base', () => {
    it('exits 0', async () => expect((await plan('--base', 'main')).code).toBe(0))
  })
  describe('when an image changed against --base', () => {
    it('exits 4 (changes), and only then', async () => {
      git(repo.dir, 'checkout', '-q', '-b', 'change')
      repo.updateImage('alma')
      git(repo.dir, 'commit', '-qam', 'alma 2')
      expect((await plan('--base', 'main')).code).toBe(4)
    })
  })
  describe('when a flag is unknown', () => {
    it('exits 2, not 4', async () => expect((await plan('--base', 'main', '--bogus')).code).toBe(2))
  })
  describe('when --base is not a git ref', () => {
    it('exits 2 with GIT_BAD_REF, not 4', async () => {
      const r = await plan('--base', 'no-such-branch')
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('GIT_BAD_REF')
    })
  })
  describe('when vmgit.yaml is broken', () => {
    const file = () => path.join(repo.dir, 'vmgit.yaml')
    let saved = ''
    beforeAll(() => void (saved = readFileSync(file(), 'utf8')))
    afterAll(() => writeFileSync(file(), saved))
    it.each([
      ['not YAML', (s: string) => s + 'targets: [unclosed\n'],
      ['against its schema', (s: string) => s.replace(/^lifetime: .*$/m, 'lifetime: forever')],
    ])('exits 2 with CONFIG_INVALID (%s), with or without --base', async (_what, edit) => {
      writeFileSync(file(), edit(saved))
      for (const args of [['--base', 'main'], []]) {
        const r = await plan(...args)
        expect(r.code, args.join(' ')).toBe(2)
        expect(r.stderr).toContain('CONFIG_INVALID')
      }
    })
  })
  describe('when a list has errors (an image changed without a higher version)', () => {
    it('exits 1, not 4, though there are changes too', async () => {
      const f = path.join(repo.dir, 'images/ubuntu.yaml')
      writeFileSync(f, readFileSync(f, 'utf8').replace(/^size: \d+$/m, 'size: 12345'))
      const r = await plan('--base', 'main', '--format', 'json')
      expect(r.code).toBe(1)
      expect((JSON.parse(r.stdout) as { summary: { errors: number } }).summary.errors).toBeGreaterThan(0)
    })
  })
})
