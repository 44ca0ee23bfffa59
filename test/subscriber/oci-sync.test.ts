import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { type OciBaseline, ociSubscribed, makeOciWorld, type OciWorld } from './oci-world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`issue 17: subscribing to a list kept in a registry ${skip.reason}`, () => {
  describe.each(['basic', 'token'] as const)('when the registry wants %s auth', (auth) => {
    let b: OciBaseline
    beforeAll(async () => {
      b = await ociSubscribed({ auth, images: [150_000] })
    }, 120_000)
    afterAll(async () => b.ow.close())

    it('subscribes, verifies the list artifact and caches the image fetched by its pinned digest, never by tag', async () => {
      const { w, ow, images, pushed } = b
      expect(w.filesIn('cache')).toContain(images[0]!.sha512)
      const img = pushed[0]!
      const paths = ow.proxied.map((r) => r.path)
      expect(paths).toContain(`/v2/${img.repository}/manifests/${img.digest}`)
      expect(paths).toContain(`/v2/${img.repository}/blobs/${img.layer}`)
      // the image's tags (1, stable) are never asked for; the list only by its subscribed tag
      expect(paths.filter((p) => p.startsWith(`/v2/${img.repository}/manifests/`) && !p.endsWith(img.digest))).toEqual([])
      expect(paths.filter((p) => p.startsWith('/v2/vm/prod-list/manifests/'))).toSatisfy((ps: string[]) => ps.every((p) => p === '/v2/vm/prod-list/manifests/latest'))
      // hv:uri (404) was never needed
      expect(w.server.count(images[0]!.route)).toBe(0)
    })

    it('refuses to subscribe without the registry\'s credentials (OCI_UNAUTHORIZED, exit 3) and stores nothing', async () => {
      const { w, ow } = b
      const before = w.dump()
      const r = await w.cli(['sub', 'add', ow.listLocation('prod-list', '1.0'), '--now', w.nowIso], { env: { VMGIT_REGISTRY_USERNAME: undefined, VMGIT_REGISTRY_PASSWORD: undefined } })
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('[OCI_UNAUTHORIZED]')
      expect(w.dump()).toEqual(before)
    })

    it('stores the canonical location (tag explicit) and never prints the registry password', async () => {
      const { w, ow } = b
      const r = await w.cli(['sub', 'show', w.listId, '--json'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`oci://${ow.host}/vm/prod-list:latest`)
      expect(r.stdout + r.stderr).not.toContain(ow.reg.password!)
      const l = await w.cli(['sub', 'show', ow.listLocation('prod-list')])
      expect(l.code).toBe(0)
      expect(l.stdout).toContain(w.listId)
    })

    it('treats a tag that still names the same manifest as unchanged: no list blob is fetched again', async () => {
      const { w, ow, list } = b
      ow.proxied.length = 0
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout).toBe('')
      expect(ow.proxied.filter((p) => p.path === `/v2/vm/prod-list/blobs/${list.layer}`)).toEqual([])
    })

    it('takes a newer signed list pushed under the tag, and its new image from the registry', async () => {
      const { w, ow, images, pushed } = b
      const x = w.image('x.qcow2', 90_000)
      const px = ow.pushImage(x, ['7'])
      w.server.remove(x.route)
      ow.pushList(await w.signed({ id: w.listId, version: '2.0', images: [ow.entry(images[0]!, pushed[0]!), ow.entry(x, px)] }), ['2.0', 'latest'])
      expect((await w.sync()).code).toBe(0)
      expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(w.filesIn('cache')).toContain(x.sha512)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
    })
  })

  describe('when the connection to the registry breaks in the middle of an image', () => {
    let ow: OciWorld
    beforeAll(async () => {
      ow = await makeOciWorld()
    }, 60_000)
    afterAll(async () => ow.close())

    it('keeps the verified prefix in partial/ and resumes it by Range from the registry on the next run, then caches it', async () => {
      const { w } = ow
      const img = w.image('big.qcow2', 3_000_000)
      const p = ow.pushImage(img)
      w.server.remove(img.route)
      ow.pushList(await w.signed({ id: w.listId, version: '1.0', images: [ow.entry(img, p)] }), ['latest'])
      expect((await w.trust()).code).toBe(0)
      expect((await w.add(ow.listLocation())).code).toBe(0)
      expect((await w.cli(['sub', 'select', img.id])).code).toBe(0)
      const blob = `/v2/${p.repository}/blobs/${p.layer}`
      ow.drops.set(blob, 1_000_000)
      const first = await w.sync()
      expect(first.code).toBe(3)
      expect(w.filesIn('partial')).toEqual([img.sha512])
      expect(w.filesIn('cache')).toEqual([])
      const second = await w.sync()
      expect(second.code).toBe(0)
      expect(w.filesIn('cache')).toContain(img.sha512)
      const resumed = ow.proxied.filter((r) => r.path === blob).at(-1)
      expect(resumed?.range).toMatch(/^bytes=[1-9]\d*-$/)
    })
  })

  describe('when the location is not a registry list', () => {
    let ow: OciWorld
    beforeAll(async () => {
      ow = await makeOciWorld()
    }, 60_000)
    afterAll(async () => ow.close())

    it.each(['oci://127.0.0.1:1/VM/List', 'oci://127.0.0.1:1/vm/list@sha256:' + 'a'.repeat(64), 'oci://127.0.0.1:1', 'oci://127.0.0.1:1/vm//list', 'oci://user:pw@127.0.0.1:1/vm/list'])('refuses %s with OCI_REFERENCE_INVALID (exit 2) and stores nothing', async (loc) => {
      const r = await ow.w.add(loc)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('[OCI_REFERENCE_INVALID]')
      expect(ow.w.dump().subscription ?? []).toEqual([])
    })

    it('refuses a tag whose artifact is an image, not a list (OCI_MANIFEST_INVALID)', async () => {
      const { w } = ow
      const img = w.image('lonely.qcow2', 5000)
      ow.pushImage(img, ['latest'])
      expect((await w.trust()).code).toBe(0)
      const r = await w.add(`oci://${ow.host}/vm/lonely`)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[OCI_MANIFEST_INVALID]')
      expect(w.dump().subscription).toEqual([])
    })
  })

  describe('--prefer-registry: a list fetched over http(s) that pins digests', () => {
    let ow: OciWorld
    beforeAll(async () => {
      ow = await makeOciWorld()
    }, 60_000)
    afterAll(async () => ow.close())

    it('takes the image from hv:uri without the flag, from the registry with it, and falls back to hv:uri when the registry fails', async () => {
      const { w } = ow
      const a = w.image('a.qcow2', 70_000)
      const b2 = w.image('b.qcow2', 80_000)
      const pa = ow.pushImage(a)
      const pb = ow.pushImage(b2)
      await w.publish({ id: w.listId, version: '1.0', images: [ow.entry(a, pa), ow.entry(b2, pb)] })
      expect((await w.trust()).code).toBe(0)
      expect((await w.add(w.listUrl)).code).toBe(0)
      expect((await w.cli(['sub', 'select', a.id])).code).toBe(0)
      expect((await w.sync()).code).toBe(0)
      expect(w.server.count(a.route)).toBe(1)
      expect(ow.proxied.filter((p) => p.path.includes('/blobs/'))).toEqual([])

      expect((await w.cli(['sub', 'select', b2.id])).code).toBe(0)
      const r = await w.sync(['--prefer-registry'])
      expect(r.code).toBe(0)
      expect(w.server.count(b2.route)).toBe(0)
      expect(ow.proxied.map((p) => p.path)).toContain(`/v2/${pb.repository}/blobs/${pb.layer}`)
      expect(w.filesIn('cache')).toContain(b2.sha512)

      // the registry lost the manifest: hv:uri delivers, the registry failure is a warning
      const c = w.image('c.qcow2', 50_000)
      const pc = ow.pushImage(c)
      ow.deleteManifest(pc.repository, pc.digest)
      await w.publish({ id: w.listId, version: '2.0', images: [ow.entry(a, pa), ow.entry(b2, pb), ow.entry(c, pc)] })
      expect((await w.sync()).code).toBe(0)
      expect((await w.cli(['sub', 'select', c.id])).code).toBe(0)
      const f = await w.sync(['--prefer-registry'])
      expect(f.code).toBe(0)
      expect(f.stderr).toContain('[OCI_FALLBACK]')
      expect(w.server.count(c.route)).toBe(1)
      expect(w.filesIn('cache')).toContain(c.sha512)
    })
  })
})
