import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O05 a list artifact signed by an untrusted endorser ${skip.reason}`, () => {
  let b: OciBaseline
  beforeAll(async () => {
    b = await ociSubscribed()
  }, 120_000)
  afterAll(async () => b.ow.close())

  describe('when the registry serves a list signed by a validly chained certificate that is not this list\'s endorser', () => {
    it('refuses it (ENDORSER_NOT_AUTHORISED) and keeps state, cache and trust', async () => {
      const { w, ow, images, pushed } = b
      ow.pushList(await w.signed({ id: w.listId, version: '2.0', images: [ow.entry(images[0]!, pushed[0]!)] }, w.pki.subSigner), ['2.0', 'latest'])
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ENDORSER_NOT_AUTHORISED]')
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe('when it is signed by a certificate of a CA outside the trust directory', () => {
    it('refuses it and keeps state, cache and trust', async () => {
      const { w, ow, images, pushed } = b
      ow.pushList(await w.signed({ id: w.listId, version: '3.0', images: [ow.entry(images[0]!, pushed[0]!)] }, w.pki.signer2), ['3.0', 'latest'])
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/\[[A-Z_]+\]/)
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe('when a site subscribes to a registry list whose signer it does not trust', () => {
    it('refuses the subscription (ENDORSER_NOT_TRUSTED) and stores nothing', async () => {
      const { w, ow } = b
      ow.pushList(await w.signed({ id: 'b1d5a0d8-8a3e-4c39-9a51-2f7f3c0e0c55', version: '1.0', images: [] }, w.pki.subSigner), ['latest'], 'other-list')
      const before = snapshot(w)
      const r = await w.add(ow.listLocation('other-list'))
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ENDORSER_NOT_TRUSTED]')
      expect(snapshot(w)).toEqual(before)
    })
  })
})
