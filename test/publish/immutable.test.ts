/**
 * Issue 15, immutable image URLs: `vmgit init` names each image version by its own URL; publish
 * never puts other bytes under a URL a published list names (IMAGE_URL_IN_USE, and the way out);
 * an old version stays until no published list names it, then `--prune` deletes it after the
 * grace period; stale temp files of killed runs are removed by the next publish, young ones kept.
 */
import { createHash, randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { checkInvariant, CHAOS_BACKENDS, type ChaosBackend } from './chaos-world.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-immutable-'))
let pki: Pki
let b: ChaosBackend
beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
  b = await CHAOS_BACKENDS.file!.start(tmp)
})
afterAll(async () => {
  await b?.stop()
  rmSync(tmp, { recursive: true, force: true })
})

// an endorser commits every change before publishing: publish signs only what is committed (issue 15)
const publish = (repo: FixtureRepo, ...args: string[]) => {
  repo.commit('endorser change')
  return runCli(['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert, '--json', ...args], { env: { VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined } })
}
const stored = (rel: string) => path.join(b.storage, rel)
const sha512 = (buf: Buffer) => createHash('sha512').update(buf).digest('hex')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('issue 15: vmgit init gives every image version its own URL', () => {
  it('writes image_uri "{base}/{name}-{version}.{ext}", so image update renames the uri of an uploaded image', async () => {
    const repo = path.join(tmp, 'init')
    expect((await runCli(['init', repo])).code).toBe(0)
    const config = readFileSync(path.join(repo, 'vmgit.yaml'), 'utf8')
    expect(parseYaml(config)).toMatchObject({ image_uri: '{base}/{name}-{version}.{ext}' })
    appendFileSync(path.join(repo, 'vmgit.yaml'), `targets:\n  - match: https://vm-images.example.org/\n    replace: file://${tmp}/init-pub/\n`)
    const file = path.join(tmp, 'new.qcow2')
    writeFileSync(file, randomBytes(4096))
    const r = await runCli(['image', 'update', 'example-image', '--file', file, '--repo', repo])
    expect(r.code, r.stderr).toBe(0)
    expect(parseYaml(readFileSync(path.join(repo, 'images/example-image.yaml'), 'utf8'))).toMatchObject({ version: '2', uri: 'https://vm-images.example.org/images/example-image-2.qcow2' })
    expect((await runCli(['validate', '--repo', repo])).code).toBe(0)
  })
})

describe('issue 15: publish never changes the bytes under a URL a published list names', () => {
  let repo: FixtureRepo
  beforeAll(async () => {
    repo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), b.publicBase, b.targets, { git: true })
    expect((await publish(repo)).code).toBe(0)
  })

  describe('when an image gets new bytes under the same uri (no image_uri rule)', () => {
    it('refuses with IMAGE_URL_IN_USE, says how to give the version its own URL, and leaves list and file as they were', async () => {
      const alma = repo.images[0]!
      const listBefore = readFileSync(stored('lists/production.list'))
      const fileBefore = readFileSync(stored(`images/alma-1.0.qcow2`))
      // the endorser replaces the file and its checksum, keeping the URL
      const yamlFile = path.join(repo.dir, 'images/alma.yaml')
      const bytes = randomBytes(5000)
      writeFileSync(alma.file, bytes)
      writeFileSync(yamlFile, readFileSync(yamlFile, 'utf8').replace(/^sha512: .*$/m, `sha512: "${sha512(bytes)}"`).replace(/^size: .*$/m, `size: ${bytes.length}`).replace(/^version: .*$/m, 'version: "1.1"'))
      const r = await publish(repo)
      expect(r.code).toBe(1)
      const list = JSON.parse(r.stdout).lists[0]
      expect(list).toMatchObject({ action: 'failed', error: { code: 'IMAGE_URL_IN_USE' } })
      expect(list.error.message).toContain('image_uri: "{base}/{name}-{version}.{ext}"')
      expect(list.error.message).toContain('production')
      expect(readFileSync(stored('lists/production.list')).equals(listBefore)).toBe(true)
      expect(readFileSync(stored('images/alma-1.0.qcow2')).equals(fileBefore)).toBe(true)
      expect((await checkInvariant(repo.listUri, pki.caDir)).ok).toBe(true)
      // the way out: a new URL for the new version
      writeFileSync(yamlFile, readFileSync(yamlFile, 'utf8').replace(/^uri: .*$/m, `uri: "${b.publicBase}images/alma-1.1.qcow2"`))
      const ok = await publish(repo)
      expect(ok.code, ok.stdout).toBe(0)
      expect((await checkInvariant(repo.listUri, pki.caDir)).ok).toBe(true)
    })
  })
})

describe('issue 15: old image versions stay until no list names them, then --prune removes them after the grace period', () => {
  let repo: FixtureRepo
  beforeAll(async () => {
    repo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), `${b.publicBase}p/`, b.targets.map((t) => ({ ...t, match: `${b.publicBase}p/`, replace: `${String(t.replace)}p/` })), { git: true })
    expect((await publish(repo)).code).toBe(0)
  })

  it('keeps the old file when a new version is published and marks it as no longer named', async () => {
    repo.updateImage('alma')
    const r = await publish(repo)
    expect(r.code, r.stdout).toBe(0)
    expect(existsSync(stored('p/images/alma-1.0.qcow2'))).toBe(true)
    const marker = JSON.parse(readFileSync(stored('p/images/.alma-1.0.qcow2.vmgit-unreferenced'), 'utf8'))
    expect(marker).toMatchObject({ uri: `${b.publicBase}p/images/alma-1.0.qcow2`, lastList: 'production' })
    // still-named files get no marker
    expect(readdirSync(stored('p/images')).filter((n) => n.endsWith('.vmgit-unreferenced'))).toEqual(['.alma-1.0.qcow2.vmgit-unreferenced'])
  })

  it('--prune inside the grace period (default: the list lifetime, 28d) deletes nothing and says until when', async () => {
    const r = await publish(repo, '--prune')
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.prune.removed).toEqual([])
    expect(report.prune.kept).toHaveLength(1)
    const after = Date.parse(report.prune.kept[0].after)
    expect(after - Date.now()).toBeGreaterThan(27 * 86_400_000)
    expect(existsSync(stored('p/images/alma-1.0.qcow2'))).toBe(true)
  })

  it('--prune after the grace period deletes the unnamed file and its marker, never a named one', async () => {
    await sleep(1100)
    const dry = await publish(repo, '--prune', '--prune-grace', '1s', '--dry-run')
    expect(JSON.parse(dry.stdout).prune.removed).toHaveLength(1)
    expect(existsSync(stored('p/images/alma-1.0.qcow2'))).toBe(true)
    const r = await publish(repo, '--prune', '--prune-grace', '1s')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).prune.removed).toEqual([expect.stringContaining('alma-1.0.qcow2')])
    expect(existsSync(stored('p/images/alma-1.0.qcow2'))).toBe(false)
    expect(existsSync(stored('p/images/.alma-1.0.qcow2.vmgit-unreferenced'))).toBe(false)
    for (const img of repo.images) expect(existsSync(stored(`p/images/${img.name}-${img.version}.qcow2`))).toBe(true)
    expect((await checkInvariant(repo.listUri, pki.caDir)).ok).toBe(true)
  })

  it('a file named again (a rollback to it) loses its marker and is kept', async () => {
    const v2 = { ...repo.images[0]! }
    repo.updateImage('alma')
    expect((await publish(repo)).code).toBe(0)
    expect(existsSync(stored(`p/images/.alma-${v2.version}.qcow2.vmgit-unreferenced`))).toBe(true)
    // roll back: the YAML names v2 again (its uri, bytes and a higher version string are the endorser's choice)
    const yamlFile = path.join(repo.dir, 'images/alma.yaml')
    writeFileSync(yamlFile, readFileSync(yamlFile, 'utf8').replace(/^uri: .*$/m, `uri: "${v2.uri}"`).replace(/^sha512: .*$/m, `sha512: "${v2.sha512}"`).replace(/^size: .*$/m, `size: ${v2.size}`).replace(/^source: .*$/m, `source: "${path.relative(repo.dir, v2.file)}"`))
    expect((await publish(repo)).code).toBe(0)
    await sleep(1100)
    const r = await publish(repo, '--prune', '--prune-grace', '1s')
    const report = JSON.parse(r.stdout).prune
    expect(report.named).toEqual([expect.stringContaining(`alma-${v2.version}.qcow2`)])
    expect(existsSync(stored(`p/images/alma-${v2.version}.qcow2`))).toBe(true)
    expect(existsSync(stored(`p/images/.alma-${v2.version}.qcow2.vmgit-unreferenced`))).toBe(false)
    expect((await checkInvariant(repo.listUri, pki.caDir)).ok).toBe(true)
  })
})

describe('issue 15: stale temp files of interrupted runs', () => {
  it('are removed by the next publish when untouched for over an hour; younger ones (a concurrent run) are kept', async () => {
    const repo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), `${b.publicBase}t/`, b.targets.map((t) => ({ ...t, match: `${b.publicBase}t/`, replace: `${String(t.replace)}t/` })), { git: true })
    mkdirSync(stored('t/images'), { recursive: true })
    const old = stored('t/images/.alma-0.9.qcow2.vmgit-0123456789ab.tmp')
    const young = stored('t/images/.ubuntu-0.9.qcow2.vmgit-abcdef012345.tmp')
    const notOurs = stored('t/images/.alma.vmgit-xyz.tmp')
    for (const f of [old, young, notOurs]) writeFileSync(f, 'partial')
    const aged = Date.now() / 1000 - 61 * 60
    utimesSync(old, aged, aged)
    utimesSync(notOurs, aged, aged)
    utimesSync(young, Date.now() / 1000 - 59 * 60, Date.now() / 1000 - 59 * 60)
    const r = await publish(repo)
    expect(r.code, r.stdout).toBe(0)
    expect(JSON.parse(r.stdout).removedTemps).toEqual([expect.stringContaining('.alma-0.9.qcow2.vmgit-0123456789ab.tmp')])
    expect(existsSync(old)).toBe(false)
    expect(existsSync(young)).toBe(true)
    expect(existsSync(notOurs)).toBe(true)
  })
})
