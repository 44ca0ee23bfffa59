/**
 * The OCI client (src/oci/) against a real registry: Debian's docker-registry (distribution 2.8,
 * no referrers API) with basic auth and with token auth, skopeo as the independent client.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MEDIA, RegistryClient, sha256 } from '../../src/oci/client.js'
import { downloadBlob } from '../../src/oci/download.js'
import { addReferrerByTag, putManifest, uploadBlob } from '../../src/oci/push.js'
import type { OciRepo } from '../../src/oci/reference.js'
import { needsRegistry, ociLayout, type Registry, skopeo, SKOPEO, skopeoCopy, startRegistry } from '../helpers/registry.js'

const need = needsRegistry(SKOPEO)
const EMPTY = Buffer.from('{}')

function imageManifest(layer: { digest: string; size: number }, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: 'application/x-qemu-disk',
    config: { mediaType: MEDIA.empty, digest: sha256(EMPTY), size: 2, data: 'e30=' },
    layers: [{ mediaType: 'application/x-qemu-disk', ...layer, annotations: { 'org.opencontainers.image.title': 'disk.qcow2' } }],
    ...extra,
  }))
}

for (const auth of ['basic', 'token'] as const) {
  describe.skipIf(need.skip)(`the OCI client against docker-registry with ${auth} auth ${need.reason}`, () => {
    let reg: Registry
    let tmp: string
    let client: RegistryClient
    let env: Record<string, string | undefined>
    let repo: OciRepo
    const disk = randomBytes(5 * 1024 * 1024 + 123)
    const diskDigest = sha256(disk)
    beforeAll(async () => {
      reg = await startRegistry({ auth })
      tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-oci-client-'))
      writeFileSync(path.join(tmp, 'disk.qcow2'), disk)
      env = { HOME: tmp, VMGIT_REGISTRY_USERNAME: reg.username, VMGIT_REGISTRY_PASSWORD: reg.password }
      client = new RegistryClient(reg.host, { env })
      repo = { registry: reg.host, repository: 'egi/images/ubuntu' }
    })
    afterAll(async () => {
      client?.close()
      await reg?.stop()
      rmSync(tmp, { recursive: true, force: true })
    })

    describe('when pushing an image artifact', () => {
      it('streams the blob in chunks, skips it the second time, and skopeo reads the manifest and tag', async () => {
        const progress: number[] = []
        expect(await uploadBlob(client, repo, { file: path.join(tmp, 'disk.qcow2') }, diskDigest, disk.length, { chunkSize: 2 * 1024 * 1024, onProgress: (n) => progress.push(n) })).toBe(true)
        expect(progress).toEqual([2 * 1024 * 1024, 4 * 1024 * 1024, disk.length])
        expect(await uploadBlob(client, repo, { file: path.join(tmp, 'disk.qcow2') }, diskDigest, disk.length)).toBe(false)
        expect(await uploadBlob(client, repo, { bytes: EMPTY }, sha256(EMPTY), 2)).toBe(true)
        const m = imageManifest({ digest: diskDigest, size: disk.length })
        const { digest } = await putManifest(client, repo, '1.0', m, MEDIA.manifest)
        expect(digest).toBe(sha256(m))
        const raw = JSON.parse(skopeo(reg, ['inspect', '--raw', `docker://${reg.host}/egi/images/ubuntu:1.0`]))
        expect(raw.layers[0]).toMatchObject({ mediaType: 'application/x-qemu-disk', digest: diskDigest, size: disk.length })
        expect(JSON.parse(skopeo(reg, ['list-tags', `docker://${reg.host}/egi/images/ubuntu`])).Tags).toEqual(['1.0'])
      })
    })

    describe('when pulling', () => {
      it('gets the manifest by tag and by digest, verified, and lists tags', async () => {
        const byTag = await client.getManifest(repo, '1.0')
        expect(byTag.mediaType).toBe(MEDIA.manifest)
        const byDigest = await client.getManifest(repo, byTag.digest)
        expect(byDigest.bytes.equals(byTag.bytes)).toBe(true)
        expect(await client.listTags(repo)).toEqual(['1.0'])
        expect(await client.resolveTag(repo, 'nope')).toBeUndefined()
      })

      it('asks for the media types given (Accept): a manifest of another type is not found', async () => {
        await expect(client.getManifest(repo, '1.0', [MEDIA.index])).rejects.toMatchObject({ code: 'OCI_NOT_FOUND', exit: 3 })
      })

      it('downloads the blob verified, and resumes a partial file with Range', async () => {
        const out = path.join(tmp, 'out.img')
        writeFileSync(out, disk.subarray(0, 1_000_000))
        const seen = createHash('sha512')
        await downloadBlob(client, repo, { digest: diskDigest, size: disk.length }, out, { onData: (c) => seen.update(c) })
        expect(readFileSync(out).equals(disk)).toBe(true)
        expect(seen.digest('hex')).toBe(createHash('sha512').update(disk).digest('hex'))
      })

      it('refuses and removes a blob whose bytes are not the digest asked for (a partial file of other bytes)', async () => {
        const out = path.join(tmp, 'bad.img')
        writeFileSync(out, randomBytes(1000))
        await expect(downloadBlob(client, repo, { digest: diskDigest, size: disk.length }, out)).rejects.toMatchObject({ code: 'OCI_BLOB_DIGEST_MISMATCH' })
        expect(() => readFileSync(out)).toThrow()
      })

      it('refuses a blob longer than the size it was asked for', async () => {
        const out = path.join(tmp, 'long.img')
        await expect(downloadBlob(client, repo, { digest: diskDigest, size: disk.length - 1 }, out)).rejects.toMatchObject({ code: 'OCI_BLOB_TOO_LARGE' })
      })
    })

    describe('when a referrer is attached (no referrers API: the tag schema)', () => {
      it('lists it under sha256-<hex>, filtered by artifactType', async () => {
        const subject = await client.getManifest(repo, '1.0')
        const signed = Buffer.from('signed list bytes')
        await uploadBlob(client, repo, { bytes: signed }, sha256(signed), signed.length)
        const ref = Buffer.from(JSON.stringify({
          schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: 'application/vnd.hepix.imagelist.v1+smime',
          config: { mediaType: MEDIA.empty, digest: sha256(EMPTY), size: 2, data: 'e30=' },
          layers: [{ mediaType: 'application/vnd.hepix.imagelist.v1+smime', digest: sha256(signed), size: signed.length }],
          subject: { mediaType: MEDIA.manifest, digest: subject.digest, size: subject.bytes.length },
        }))
        const put = await putManifest(client, repo, sha256(ref), ref, MEDIA.manifest)
        expect(put.subjectTaken).toBe(false)
        const desc = { mediaType: MEDIA.manifest, digest: put.digest, size: ref.length, artifactType: 'application/vnd.hepix.imagelist.v1+smime' }
        await addReferrerByTag(client, repo, subject.digest, desc)
        await addReferrerByTag(client, repo, subject.digest, desc)
        const got = await client.referrers(repo, subject.digest, 'application/vnd.hepix.imagelist.v1+smime')
        expect(got).toEqual({ via: 'tag', descriptors: [desc] })
        expect((await client.referrers(repo, subject.digest, 'application/other')).descriptors).toEqual([])
        const tagged = JSON.parse(skopeo(reg, ['inspect', '--raw', `docker://${reg.host}/egi/images/ubuntu:${subject.digest.replace(':', '-')}`]))
        expect(tagged.manifests).toEqual([desc])
      })
    })

    describe('auth', () => {
      it('reads credentials from a docker-style auth.json (REGISTRY_AUTH_FILE)', async () => {
        const file = path.join(tmp, 'auth.json')
        writeFileSync(file, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } }))
        const c = new RegistryClient(reg.host, { env: { REGISTRY_AUTH_FILE: file } })
        try {
          expect(await c.listTags(repo)).toContain('1.0')
        } finally {
          c.close()
        }
      })

      it('refuses anonymous and wrong credentials with OCI_UNAUTHORIZED, never printing the password', async () => {
        for (const e of [{ HOME: tmp }, { VMGIT_REGISTRY_USERNAME: reg.username, VMGIT_REGISTRY_PASSWORD: 'wrong-secret-123' }]) {
          const c = new RegistryClient(reg.host, { env: e })
          try {
            const err = await c.listTags(repo).then(() => undefined, (x: unknown) => x as Error & { code: string; exit: number })
            expect(err).toMatchObject({ code: 'OCI_UNAUTHORIZED', exit: 3 })
            expect(err!.message).not.toContain('wrong-secret-123')
            expect(err!.message).not.toContain(reg.password!)
          } finally {
            c.close()
          }
        }
      })

      if (auth === 'token') {
        it('asks the realm for a token scoped to the repository and actions (the challenge flow)', () => {
          const scopes = reg.tokenRequests.filter((t) => t.authorized).flatMap((t) => t.scope)
          expect(scopes).toContain('repository:egi/images/ubuntu:pull,push')
          expect(scopes).toContain('repository:egi/images/ubuntu:pull')
          expect(reg.tokenRequests.every((t) => t.service === 'vmgit-test-registry')).toBe(true)
        })
      }
    })

    it('pushes what skopeo copies identically (same manifest digest from the same bytes)', async () => {
      const layout = ociLayout(path.join(tmp, 'layout'), Buffer.from('x'))
      skopeoCopy(reg, `oci:${layout}`, `docker://${reg.host}/egi/images/other:1`)
      expect(await client.listTags({ registry: reg.host, repository: 'egi/images/other' })).toEqual(['1'])
    })
  })
}
