import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { needsRegistry, type Registry, SKOPEO, startRegistry } from '../helpers/registry.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'

const need = needsRegistry(SKOPEO)
const git = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim()

/** Issue 17 end to end: what `vmgit publish` pushes to a registry is what `vmgit sync` takes from it (docs/oci.md's contract, both sides). */
describe.skipIf(need.skip)(`publish to a registry, then subscribe to it ${need.reason}`, () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-oci-e2e-'))
  let pki: Pki
  let reg: Registry
  let repo: FixtureRepo
  let site: Record<string, string | undefined>
  beforeAll(async () => {
    pki = await makePki(path.join(tmp, 'pki'))
    reg = await startRegistry({ auth: 'token' })
    const pub = mkdtempSync(path.join(tmp, 'pub-'))
    repo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
    appendFileSync(path.join(repo.dir, 'vmgit.yaml'), `registry:\n  url: oci://${reg.host}/egi/cloud\n  moving_tag: "{sl:osversion}"\n`)
    git(repo.dir, 'init', '-q')
    git(repo.dir, 'add', '.')
    git(repo.dir, 'commit', '-qm', 'images')
    const creds = { VMGIT_REGISTRY_USERNAME: reg.username, VMGIT_REGISTRY_PASSWORD: reg.password, HOME: tmp }
    const p = await runCli(['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert], { env: { ...creds, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined } })
    // (a warning may say the list could not be read back from its public hv:uri: this host cannot reach it)
    expect(p.code).toBe(0)
    site = { ...creds, VMGIT_DB: path.join(tmp, 'site/subscriber.db'), VMGIT_CACHE_DIR: path.join(tmp, 'site/cache'), VMGIT_CA_DIR: pki.caDir, VMGIT_EVENT: undefined, VMCATCHER_CACHE_EVENT: undefined, VMCATCHER_RDBMS: undefined }
  }, 180_000)
  afterAll(async () => {
    await reg?.stop()
    rmSync(tmp, { recursive: true, force: true })
  })

  it('subscribes to the published list artifact and caches every image from the registry by its pinned digest', async () => {
    const cli = (...args: string[]) => runCli(args, { env: site })
    expect((await cli('sub', 'trust', '--name', 'egi', '--subject', pki.signer.subject, '--issuer', pki.signer.issuer)).code).toBe(0)
    const add = await cli('sub', 'add', `oci://${reg.host}/egi/cloud/production`, '--new-images', 'subscribe')
    expect(add.stderr).toBe('')
    expect(add.code).toBe(0)
    for (const img of repo.images) expect((await cli('sub', 'select', img.identifier)).code).toBe(0)
    // hv:uri names images.example.org, which this host cannot reach: every byte comes from the registry
    const r = await cli('sync')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    for (const img of repo.images) expect(existsSync(path.join(tmp, 'site/cache/cache', img.sha512))).toBe(true)
    const again = await cli('sync')
    expect(again.code).toBe(0)
    expect(again.stdout).toBe('')
  }, 180_000)
})
