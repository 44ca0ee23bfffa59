/**
 * `vmgit publish` to a registry (docs/oci.md), end to end against docker-registry with basic and
 * token auth; skopeo, the independent client, checks media types, annotations, tags and the
 * referrer; openssl and vmgit verify the list that pins the digests.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { commitAll } from '../helpers/git.js'
import { makePki, opensslVerify, type Pki } from '../helpers/pki.js'
import { needsRegistry, type Registry, skopeo, SKOPEO, startRegistry } from '../helpers/registry.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'

const need = needsRegistry(SKOPEO)
const LIST_TYPE = 'application/vnd.hepix.imagelist.v1+smime'

let pki: Pki
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-oci-publish-'))
beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const git = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim()

for (const auth of ['basic', 'token'] as const) {
  describe.skipIf(need.skip)(`vmgit publish to a registry with ${auth} auth ${need.reason}`, () => {
    let reg: Registry
    let repo: FixtureRepo
    let pub: string
    let env: Record<string, string | undefined>
    const publish = (extra: Record<string, string | undefined> = {}) =>
      runCli(['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert, '--json'], { env: { ...env, ...extra } })
    const raw = (ref: string) => JSON.parse(skopeo(reg, ['inspect', '--raw', `docker://${reg.host}/${ref}`])) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- skopeo's JSON, asserted field by field
    // tags as a person sees them: the referrers tag schema's sha256-<hex> tags apart
    const allTags = (r: string) => (JSON.parse(skopeo(reg, ['list-tags', `docker://${reg.host}/${r}`])).Tags as string[]).sort()
    const tags = (r: string) => allTags(r).filter((t) => !/^sha256-[a-f0-9]{64}$/.test(t))
    // the digest of what skopeo reads: sha256 of the raw manifest bytes
    const digestOf = (ref: string) => {
      const bytes = execFileSync(SKOPEO, ['inspect', '--raw', '--tls-verify=false', ...reg.creds(), `docker://${reg.host}/${ref}`])
      return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    }

    beforeAll(async () => {
      reg = await startRegistry({ auth })
      const dir = mkdtempSync(path.join(tmp, `repo-${auth}-`))
      pub = mkdtempSync(path.join(tmp, `pub-${auth}-`))
      repo = makeFixtureRepo(dir, 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
      appendFileSync(path.join(dir, 'vmgit.yaml'), `registry:\n  url: oci://${reg.host}/egi/cloud\n  moving_tag: "{sl:osversion}"\n`)
      git(dir, 'init', '-q')
      git(dir, 'add', '.')
      git(dir, 'commit', '-qm', 'images')
      git(dir, 'remote', 'add', 'origin', 'https://ci-user:ghp_SECRETTOKEN@git.example.org/egi/images.git')
      env = { VMGIT_REGISTRY_USERNAME: reg.username, VMGIT_REGISTRY_PASSWORD: reg.password, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined, HOME: tmp }
    })
    afterAll(async () => {
      await reg?.stop()
    })

    describe('when publishing for the first time', () => {
      let out: { stdout: string; stderr: string; code: number }
      beforeAll(async () => {
        out = await publish()
      })

      it('succeeds and never prints the registry password or the remote token', () => {
        expect(out.stderr).toBe('')
        expect(out.code).toBe(0)
        expect(out.stdout + out.stderr).not.toContain(reg.password!)
        expect(out.stdout).not.toContain('ghp_SECRETTOKEN')
      })

      it('pushes each image as an OCI 1.1 artifact EGI reads unchanged (skopeo)', () => {
        const commit = git(repo.dir, 'log', '-1', '--format=%H', '--', 'images/alma.yaml')
        const m = raw('egi/cloud/alma:1.0')
        expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
        expect(m.artifactType).toBe('application/x-qemu-disk')
        expect(m.config.mediaType).toBe('application/vnd.oci.empty.v1+json')
        expect(m.layers).toHaveLength(1)
        expect(m.layers[0]).toMatchObject({ mediaType: 'application/x-qemu-disk', size: repo.images[0]!.size, annotations: { 'org.opencontainers.image.title': 'alma-1.0.qcow2' } })
        expect(m.annotations).toMatchObject({
          'eu.egi.cloud.tag': '1.0', 'eu.egi.cloud.image.title': 'Image alma', 'eu.egi.cloud.description': 'test image alma',
          'org.openstack.glance.disk_format': 'qcow2', 'org.openstack.glance.container_format': 'bare', 'org.openstack.glance.architecture': 'x86_64',
          'org.openstack.glance.os_version': '9', 'org.openstack.glance.os_type': 'linux',
          'org.opencontainers.image.revision': commit, 'org.opencontainers.image.source': 'https://git.example.org/egi/images.git',
        })
        expect(tags('egi/cloud/alma')).toEqual(['1.0', '9'])
      })

      it('signs a list whose image entries pin HOST/PREFIX/<name>@<manifest digest>, and openssl verifies it', async () => {
        const file = path.join(pub, 'lists/production.list')
        const text = readFileSync(file, 'utf8')
        for (const name of ['alma', 'ubuntu']) {
          const digest = digestOf(`egi/cloud/${name}:1.0`)
          expect(text).toContain(`"vmgit:oci:reference": "${reg.host}/egi/cloud/${name}@${digest}"`)
          expect(text).toContain(`"vmgit:oci:digest": "${digest}"`)
        }
        expect((await opensslVerify(file, pki.caDir, { crlCheck: true })).ok).toBe(true)
      })

      it('pushes the exact signed bytes as the list artifact, tagged with its version and latest', () => {
        const m = raw('egi/cloud/production:latest')
        expect(m.artifactType).toBe(LIST_TYPE)
        expect(m.layers).toHaveLength(1)
        expect(m.layers[0].mediaType).toBe(LIST_TYPE)
        const version = m.annotations['org.opencontainers.image.version'] as string
        expect(tags('egi/cloud/production')).toEqual([version, 'latest'].sort())
        const dir = path.join(tmp, `copy-${auth}`)
        execFileSync(SKOPEO, ['copy', '--quiet', '--src-tls-verify=false', ...(reg.creds().length ? ['--src-creds', `${reg.username}:${reg.password}`] : []), `docker://${reg.host}/egi/cloud/production:latest`, `dir:${dir}`])
        const blob = readFileSync(path.join(dir, (m.layers[0].digest as string).slice(7)))
        expect(blob.equals(readFileSync(path.join(pub, 'lists/production.list')))).toBe(true)
      })

      it('attaches the list to each image manifest as a referrer (tag schema on distribution 2.8)', () => {
        for (const name of ['alma', 'ubuntu']) {
          const digest = digestOf(`egi/cloud/${name}:1.0`)
          expect(allTags(`egi/cloud/${name}`)).toContain(digest.replace(':', '-'))
          const index = raw(`egi/cloud/${name}:${digest.replace(':', '-')}`)
          expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json')
          expect(index.manifests).toHaveLength(1)
          expect(index.manifests[0].artifactType).toBe(LIST_TYPE)
          const ref = raw(`egi/cloud/${name}@${index.manifests[0].digest}`)
          expect(ref.subject).toMatchObject({ digest })
        }
      })
    })

    describe('vmgit plan after the publish', () => {
      it('shows the registry destination and no change (the head pins the same digests)', async () => {
        const out = await runCli(['plan', '--repo', repo.dir, '--cert', pki.signer.cert], { env })
        expect(out.stdout).toContain(`Registry: oci://${reg.host}/egi/cloud`)
        expect(out.stdout).toContain('No changes.')
        expect(out.code).toBe(0)
      })
    })

    describe('when publishing again with nothing changed', () => {
      it('pushes and uploads nothing', async () => {
        const before = readdirSync(path.join(reg.dir, 'data/docker/registry/v2/blobs/sha256')).length
        const out = await publish()
        expect(out.code).toBe(0)
        expect(JSON.parse(out.stdout).lists[0].action).toBe('unchanged')
        expect(readdirSync(path.join(reg.dir, 'data/docker/registry/v2/blobs/sha256')).length).toBe(before)
      })
    })

    describe('when an image changes and the registry refuses the credentials', () => {
      it('fails with OCI_UNAUTHORIZED (exit 3) and the published list stays', async () => {
        const listFile = path.join(pub, 'lists/production.list')
        const before = readFileSync(listFile)
        repo.updateImage('ubuntu')
        commitAll(repo.dir, 'ubuntu 2.0') // issue 15: publish signs only what is committed
        // a dry run names the digests it would pin and pushes nothing
        const dry = await runCli(['publish', '--repo', repo.dir, '--dry-run', '--json'], { env })
        const report = JSON.parse(dry.stdout).lists[0]
        expect(report.action).toBe('would-publish')
        expect(report.registry).toBe(`${reg.host}/egi/cloud/production`)
        expect(report.images[1].oci).toMatch(new RegExp(`^${reg.host.replace(/\./g, '\\.')}/egi/cloud/ubuntu@sha256:[a-f0-9]{64}$`))
        expect(tags('egi/cloud/ubuntu')).toEqual(['1.0', '9'])
        const out = await publish({ VMGIT_REGISTRY_PASSWORD: 'wrong-password-42' })
        expect(out.code).toBe(3)
        expect(JSON.parse(out.stdout).lists[0].error.code).toBe('OCI_UNAUTHORIZED')
        expect(out.stdout + out.stderr).not.toContain('wrong-password-42')
        expect(readFileSync(listFile).equals(before)).toBe(true)
      })

      it('publishes the new version with the right credentials: new version tag, moving tag re-pointed', async () => {
        const out = await publish()
        expect(out.code).toBe(0)
        expect(tags('egi/cloud/ubuntu')).toEqual(['1.0', '2.0', '9'])
        const moving = digestOf('egi/cloud/ubuntu:9')
        const v2 = digestOf('egi/cloud/ubuntu:2.0')
        expect(moving).toBe(v2)
        expect(tags('egi/cloud/production')).toHaveLength(3)
      })
    })

    describe('when the registry is down', () => {
      it('fails with a network error (exit 3) before signing, and the published list stays', async () => {
        const listFile = path.join(pub, 'lists/production.list')
        const before = readFileSync(listFile)
        await reg.stop()
        repo.updateImage('alma')
        commitAll(repo.dir, 'alma 2.0') // committed, so the refusal can only be the registry's
        const out = await publish()
        expect(out.code).toBe(3)
        expect(JSON.parse(out.stdout).lists[0].action).toBe('failed')
        expect(readFileSync(listFile).equals(before)).toBe(true)
      })
    })
  })
}
