import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O04 digests that do not match the bytes: manifest, layer and list blob ${skip.reason}`, () => {
  let b: OciBaseline
  beforeAll(async () => {
    b = await ociSubscribed()
  }, 120_000)
  afterAll(async () => b.ow.close())
  afterEach(() => b.ow.clearEvil())

  describe('when the pinned manifest names a layer digest that is not the sha256 of the bytes served for it', () => {
    it('refuses the image even though its sha512 and size are right (OCI_BLOB_DIGEST_MISMATCH), deletes the download and keeps state', async () => {
      const { w, ow, images, pushed } = b
      // the signed list pins a manifest whose layer is other bytes y of the same size; a proxy serves the real image bytes for y's digest
      const x = w.image('x.qcow2', 20_000)
      const y = w.image('y.qcow2', 20_000)
      const py = ow.pushImage({ ...y, name: 'x.qcow2' })
      w.server.remove(x.route)
      ow.pushList(await w.signed({ id: w.listId, version: '2.0', images: [ow.entry(images[0]!, pushed[0]!), ow.entry(x, py)] }), ['2.0', 'latest'])
      expect((await w.sync()).code).toBe(0)
      expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
      ow.serveEvil(`/v2/${py.repository}/blobs/${py.layer}`, { body: x.bytes })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[OCI_BLOB_DIGEST_MISMATCH]')
      expect(snapshot(w)).toEqual(before)
      expect(w.filesIn('partial')).toEqual([])
    })
  })

  describe('when another manifest is served under the pinned digest', () => {
    it('refuses it before any layer is asked for (OCI_DIGEST_MISMATCH)', async () => {
      const { w, ow, images, pushed } = b
      const z = w.image('z.qcow2', 10_000)
      const pz = ow.pushImage(z)
      w.server.remove(z.route)
      const other = ow.pushImage({ ...w.image('other.qcow2', 10_000), name: 'z.qcow2' }, ['other'])
      ow.pushList(await w.signed({ id: w.listId, version: '3.0', images: [ow.entry(images[0]!, pushed[0]!), ow.entry(z, pz)] }), ['3.0', 'latest'])
      expect((await w.sync()).code).toBe(0)
      expect((await w.cli(['sub', 'select', z.id])).code).toBe(0)
      ow.serveEvil(`/v2/${pz.repository}/manifests/${pz.digest}`, { body: other.manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': pz.digest } })
      ow.proxied.length = 0
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[OCI_DIGEST_MISMATCH]')
      expect(snapshot(w)).toEqual(before)
      expect(ow.proxied.filter((p) => p.path.startsWith(`/v2/${pz.repository}/blobs/`))).toEqual([])
    })
  })

  describe('when the list artifact\'s blob is other bytes of the same length', () => {
    it('refuses the list before verifying it (OCI_BLOB_DIGEST_MISMATCH) and keeps state', async () => {
      const { w, ow, images, pushed } = b
      // the image the previous attack withheld is delivered first: this attack is on the list alone
      expect((await w.sync()).code).toBe(0)
      const signed = await w.signed({ id: w.listId, version: '4.0', images: [ow.entry(images[0]!, pushed[0]!)] })
      const l = ow.pushList(signed, ['4.0', 'latest'])
      const forged = Buffer.from(signed)
      forged.writeUInt8(forged[forged.length - 10]! ^ 1, forged.length - 10)
      ow.serveEvil(`/v2/vm/prod-list/blobs/${l.layer}`, { body: forged })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[OCI_BLOB_DIGEST_MISMATCH]')
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe('when the registry announces a digest the manifest bytes do not have', () => {
    it('refuses the list (OCI_DIGEST_MISMATCH) and keeps state', async () => {
      const { w, ow, images, pushed } = b
      const signed = await w.signed({ id: w.listId, version: '5.0', images: [ow.entry(images[0]!, pushed[0]!)] })
      const l = ow.pushList(signed, ['5.0', 'latest'])
      const bent = Buffer.from(l.manifest.toString().replace('"schemaVersion":2', '"schemaVersion":2 '))
      ow.serveEvil('/v2/vm/prod-list/manifests/latest', { body: bent, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': l.digest } })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[OCI_DIGEST_MISMATCH]')
      expect(snapshot(w)).toEqual(before)
    })
  })
})
