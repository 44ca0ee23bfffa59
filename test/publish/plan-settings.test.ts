import { execFileSync } from 'node:child_process'
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

/**
 * Issue 15: `vmgit plan` shows every change that alters what is published, where, or by whom, not
 * only list and image content: each setting changed in a commit (a pull request) is a plan of its
 * own (exit 4) and names the setting with its old and new value.
 */

let pki: Pki
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-plan-settings-'))
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
const git = (cwd: string, ...a: string[]) => execFileSync('git', a, { cwd, env: GIT_ENV, stdio: 'pipe' }).toString().trim()
const NO_CI = { GITHUB_ACTIONS: undefined, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined }

beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function repoWithCert(): { repo: FixtureRepo; pub: string } {
  const dir = mkdtempSync(path.join(tmp, 'repo-'))
  const pub = mkdtempSync(path.join(tmp, 'pub-'))
  const repo = makeFixtureRepo(dir, 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
  mkdirSync(path.join(dir, 'certs'))
  copyFileSync(pki.signer.cert, path.join(dir, 'certs/endorser.pem'))
  appendFileSync(path.join(dir, 'vmgit.yaml'), 'signing:\n  cert: certs/endorser.pem\n')
  writeFileSync(path.join(dir, 'endorsers/other.yaml'), 'email: "other@example.org"\ncreator: "Other team"\n')
  writeFileSync(path.join(dir, '.gitignore'), 'files/\n')
  git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-qm', 'first')
  return { repo, pub }
}

const edit = (dir: string, file: string, from: string | RegExp, to: string) => {
  const p = path.join(dir, file)
  const t = readFileSync(p, 'utf8')
  const n = t.replace(from, to)
  if (n === t) throw new Error(`${file}: ${String(from)} not found`)
  writeFileSync(p, n)
}

describe('issue 15: plan shows settings that change what is published, where or by whom', () => {
  describe.each([
    ['a target moved to another server', 'target https://images.example.org/', (d: string) => edit(d, 'vmgit.yaml', /replace: "file:\/\/[^"]*"/, 'replace: "sftp://deploy@evil.example.net/srv/"')],
    ['a target added', 'target https://other.example.org/', (d: string) => edit(d, 'vmgit.yaml', 'targets:\n', 'targets:\n  - match: "https://other.example.org/"\n    replace: "file:///tmp/other/"\n')],
    ['another signing certificate (same path)', 'signing certificate', (d: string) => copyFileSync(pki.signer2.cert, path.join(d, 'certs/endorser.pem'))],
    ['the lifetime', 'lifetime', (d: string) => edit(d, 'vmgit.yaml', 'lifetime: 28d', 'lifetime: 3650d')],
    ['the layout', 'layout', (d: string) => edit(d, 'vmgit.yaml', 'layout: vmcaster', 'layout: appdb')],
    ['the digest', 'digest', (d: string) => edit(d, 'vmgit.yaml', 'digest: sha256', 'digest: sha1')],
    ['provenance turned off', 'provenance', (d: string) => appendFileSync(path.join(d, 'vmgit.yaml'), 'provenance: false\n')],
    ['a list signed for another endorser', 'list production: endorser', (d: string) => edit(d, 'imagelists/production.yaml', 'endorser: "team"', 'endorser: "other"')],
    ['the layout of one list', 'list production: layout', (d: string) => appendFileSync(path.join(d, 'imagelists/production.yaml'), 'layout: appdb\n')],
  ])('when a commit changes %s', (_what, setting, change) => {
    it(`plan --base names "${setting}" with its old and new value and exits 4`, async () => {
      const { repo } = repoWithCert()
      change(repo.dir)
      git(repo.dir, 'add', '-A')
      git(repo.dir, 'commit', '-qm', 'pull request')
      const r = await runCli(['plan', '--repo', repo.dir, '--base', 'HEAD~1', '--head', 'HEAD', '--format', 'json'], { env: NO_CI })
      expect(r.code, r.stderr).toBe(4)
      const plan = JSON.parse(r.stdout)
      const hit = plan.settings.find((s: { setting: string }) => s.setting === setting)
      expect(hit, JSON.stringify(plan.settings)).toBeDefined()
      expect(hit.from).not.toEqual(hit.to)
      expect(plan.summary.settings).toBeGreaterThan(0)
      const text = await runCli(['plan', '--repo', repo.dir, '--base', 'HEAD~1', '--head', 'HEAD'], { env: NO_CI })
      expect(text.stdout).toContain(`setting ${setting}`)
      const mdr = await runCli(['plan', '--repo', repo.dir, '--base', 'HEAD~1', '--head', 'HEAD', '--format', 'markdown'], { env: NO_CI })
      expect(mdr.stdout).toContain('Settings that change what is published')
    })
  })

  describe('when nothing but a README changes', () => {
    it('plan --base shows no setting and exits 0', async () => {
      const { repo } = repoWithCert()
      writeFileSync(path.join(repo.dir, 'README.md'), 'x\n')
      git(repo.dir, 'add', '-A')
      git(repo.dir, 'commit', '-qm', 'docs')
      const r = await runCli(['plan', '--repo', repo.dir, '--base', 'HEAD~1', '--head', 'HEAD', '--format', 'json'], { env: NO_CI })
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).settings).toEqual([])
    })
  })

  describe('against what is published', () => {
    it.each([
      ['lifetime', 'list production: lifetime', 'lifetime: 28d', 'lifetime: 14d', '4w', '2w'],
      ['digest', 'list production: digest', 'digest: sha256', 'digest: sha1', 'sha256', 'sha1'],
      ['layout', 'list production: layout', 'layout: vmcaster', 'layout: appdb', 'vmcaster', 'appdb'],
    ])('shows a changed %s of the published copy', async (_what, setting, from, to, was, will) => {
      const { repo } = repoWithCert()
      const p = await runCli(['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert], { env: NO_CI })
      expect(p.code, p.stderr).toBe(0)
      expect((await runCli(['plan', '--repo', repo.dir, '--format', 'json'], { env: NO_CI })).code).toBe(0)
      edit(repo.dir, 'vmgit.yaml', from, to)
      const r = await runCli(['plan', '--repo', repo.dir, '--format', 'json'], { env: NO_CI })
      expect(r.code, r.stdout).toBe(4)
      expect(JSON.parse(r.stdout).settings).toContainEqual({ setting, from: was, to: will })
    })
  })
})
