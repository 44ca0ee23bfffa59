import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O01 moving tag: a tag re-pointed to an older digest ${skip.reason}`, () => {
  let b: OciBaseline
  beforeAll(async () => {
    b = await ociSubscribed()
  }, 120_000)
  afterAll(async () => b.ow.close())

  describe('when the list tag is moved back to an older list artifact', () => {
    it('refuses the older list (ROLLBACK) and keeps state, cache and trust', async () => {
      const { w, ow, images, pushed, list } = b
      ow.pushList(await w.signed({ id: w.listId, version: '2.0', images: images.map((im, i) => ow.entry(im, pushed[i]!)) }), ['2.0', 'latest'])
      expect((await w.sync()).code).toBe(0)
      ow.retag('vm/prod-list', list.digest, 'latest')
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ROLLBACK]')
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe('when an image\'s moving tag is re-pointed to an older image', () => {
    it('still delivers exactly the digest the list pins: the tag is never asked for', async () => {
      const { w, ow, images, pushed } = b
      // the publisher's new image 2 is pinned; its moving tag `stable` is then moved back to image 1's old bytes
      const newer = w.image('img0-v2.qcow2', 61_000)
      const pNew = ow.pushImage({ ...newer, name: 'img0.qcow2' }, ['2', 'stable'])
      w.server.remove(newer.route)
      ow.pushList(await w.signed({ id: w.listId, version: '3.0', images: [ow.entry({ ...images[0]!, ...newer, id: images[0]!.id }, pNew)] }), ['3.0', 'latest'])
      ow.retag(pushed[0]!.repository, pushed[0]!.digest, 'stable')
      ow.proxied.length = 0
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(w.cacheFiles()[`cache/${images[0]!.id}`]).toBe(newer.sha512)
      expect(ow.proxied.map((p) => p.path).filter((p) => /\/manifests\/(stable|1|2)$/.test(p))).toEqual([])
    })
  })
})
