import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

/** `vmgit plan` over a real git history: every format, every exit code, every error class. */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-plan-'))
const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
let pki: Pki
let repo: FixtureRepo
const pub = path.join(tmp, 'pub')

const git = (...args: string[]) => execFileSync('git', args, { cwd: repo.dir, env: { ...process.env, ...GIT_ENV }, stdio: 'pipe' }).toString()
const commit = (msg: string) => (git('add', '-A'), git('commit', '-qm', msg))
const plan = (...args: string[]) => runCli(['plan', '--repo', repo.dir, ...args])
const edit = (file: string, from: RegExp | string, to: string) => {
  const p = path.join(repo.dir, file)
  writeFileSync(p, readFileSync(p, 'utf8').replace(from, to))
}

beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
  repo = makeFixtureRepo(path.join(tmp, 'repo'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
  writeFileSync(path.join(repo.dir, '.gitignore'), 'files/\n')
  git('init', '-q', '-b', 'main')
  commit('first list')
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('vmgit plan', () => {
  describe('against what is published, before anything was', () => {
    it('plans to add the list and exits 4 (changes)', async () => {
      const r = await plan()
      expect(r.code).toBe(4)
      expect(r.stdout).toContain('+ list production "Production"')
      expect(r.stdout).toMatch(/^Plan: 1 list\(s\) to add, 0 to change, 0 to remove\.$/m)
    })
  })

  describe('against what is published, after publishing', () => {
    it('reports no changes and exits 0', async () => {
      const p = await runCli(['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert])
      expect(p.code).toBe(0)
      const r = await plan('--cert', pki.signer.cert)
      expect(r.stdout).toContain('No changes.')
      expect(r.code).toBe(0)
    })
  })

  describe('between two commits where an image was updated', () => {
    beforeAll(() => {
      repo.updateImage('alma')
      commit('alma 2.0')
    })
    it('shows the image change and version move in text, and exits 4 (changes)', async () => {
      const r = await plan('--base', 'HEAD~1', '--head', 'HEAD')
      expect(r.code).toBe(4)
      expect(r.stdout).toMatch(/^Legend: \+ add, ~ update in place, - remove$/m)
      expect(r.stdout).toContain('~ image "Image alma" (4f2ab0e4-1b39-4c4f-9a8e-3f1c2b7d9e01) will be updated (version 1.0 -> 2.0)')
      expect(r.stdout).toMatch(/hv:uri: "https:\/\/images.example.org\/images\/alma-1.0.qcow2" -> "https:\/\/images.example.org\/images\/alma-2.0.qcow2"/)
    })
    it('writes Markdown with the comment marker, to --out and to --summary', async () => {
      const out = path.join(tmp, 'plan.md')
      const sum = path.join(tmp, 'summary.md')
      writeFileSync(sum, '# earlier step\n')
      const r = await plan('--base', 'HEAD~1', '--format', 'markdown', '--out', out, '--summary', sum)
      expect(r.code).toBe(4)
      expect(readFileSync(out, 'utf8')).toMatch(/^<!-- vmgit-plan -->\n### vmgit plan/)
      expect(readFileSync(sum, 'utf8')).toMatch(/^# earlier step\n<!-- vmgit-plan -->/)
    })
    it('prints JSON version 1 with the image version move', async () => {
      const r = await plan('--base', 'HEAD~1', '--format', 'json')
      const j = JSON.parse(r.stdout)
      expect(j.version).toBe(1)
      expect(j.lists[0].images.find((i: { action: string }) => i.action === 'change').version).toEqual({ from: '1.0', to: '2.0' })
    })
  })

  describe('when something is wrong', () => {
    afterAll(() => git('checkout', '-q', '--', '.'))
    it('refuses a changed sha512 without a version increase (exit 1)', async () => {
      edit('images/ubuntu.yaml', /sha512: "[0-9a-f]+"/, `sha512: "${'e'.repeat(128)}"`)
      const r = await plan('--base', 'HEAD', '--format', 'json')
      expect(r.code).toBe(1)
      expect(JSON.parse(r.stdout).issues.map((i: { code: string }) => i.code)).toContain('IMAGE_VERSION_NOT_RAISED')
    })
    it('refuses a version going down', async () => {
      git('checkout', '-q', '--', '.')
      edit('images/alma.yaml', 'version: "2.0"', 'version: "1.5"')
      const r = await plan('--base', 'HEAD')
      expect(r.code).toBe(1)
      expect(r.stdout).toContain('error[IMAGE_VERSION_DECREASED]')
    })
    it('refuses an endorser dn that is not the signing certificate subject', async () => {
      git('checkout', '-q', '--', '.')
      edit('endorsers/team.yaml', 'email:', 'dn: "/CN=someone else"\nemail:')
      const r = await plan('--base', 'HEAD', '--cert', pki.signer.cert)
      expect(r.code).toBe(1)
      expect(r.stdout).toContain('error[ENDORSER_MISMATCH]')
    })
    it('reports keys consumers require that are missing, at their file and line', async () => {
      git('checkout', '-q', '--', '.')
      edit('images/ubuntu.yaml', /hypervisor: "KVM"\n/, '')
      const r = await plan('--base', 'HEAD')
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/images\/ubuntu\.yaml:\d+:\d+: .*hypervisor/)
    })
    it('warns when the certificate expires before the list would', async () => {
      git('checkout', '-q', '--', '.')
      edit('vmgit.yaml', 'lifetime: 28d', 'lifetime: 3650d')
      const r = await plan('--base', 'HEAD', '--cert', pki.signer.cert, '--format', 'json')
      expect(JSON.parse(r.stdout).issues).toContainEqual(expect.objectContaining({ code: 'CERT_EXPIRES_BEFORE_LIST', severity: 'warning' }))
    })
    it('refuses a fixed expiry already past, and publish then keeps the published list', async () => {
      git('checkout', '-q', '--', '.')
      const published = readFileSync(path.join(pub, 'lists/production.list'))
      edit('imagelists/production.yaml', 'endorser:', 'expires: "2020-01-01T00:00:00Z"\nendorser:')
      const r = await plan('--base', 'HEAD')
      expect(r.code).toBe(1)
      expect(r.stdout).toContain('error[LIST_EXPIRED]')
      // the edit is not committed (issue 15): --allow-dirty, so that the expiry check is what refuses
      const p = await runCli(['publish', '--repo', repo.dir, '--allow-dirty', '--key', pki.signer.key, '--cert', pki.signer.cert])
      expect(p.code).toBe(1)
      // issue 14: the failure and a summary counting it go to stderr, never "Nothing to publish"
      expect(p.stderr).toContain('error: production: FAILED [LIST_EXPIRED]')
      expect(p.stderr).toMatch(/publish failed for 1 of \d+ list\(s\) \(production\)/)
      expect(p.stdout).not.toContain('Nothing to publish')
      expect(p.stdout).not.toContain('FAILED')
      expect(readFileSync(path.join(pub, 'lists/production.list'))).toEqual(published)
    })
    it('names a bad ref and exits 2', async () => {
      const r = await plan('--base', 'no-such-branch')
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('GIT_BAD_REF')
    })
  })
})
