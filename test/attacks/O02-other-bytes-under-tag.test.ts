import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O02 other bytes pushed under the pinned tag ${skip.reason}`, () => {
  let b: OciBaseline
  beforeAll(async () => {
    b = await ociSubscribed({ images: [50_000, 40_000] })
  }, 120_000)
  afterAll(async () => b.ow.close())

  describe('when an attacker with the registry password pushes other image bytes under the image\'s tags', () => {
    it('downloads the pinned digest\'s bytes, never the tag\'s', async () => {
      const { w, ow, images, pushed } = b
      // a fresh site: the cache loses image 1, which is then fetched again after the tag was overwritten
      const evil = w.image('evil.qcow2', images[1]!.size)
      ow.pushImage({ ...evil, name: 'img1.qcow2' }, ['1', 'stable'])
      expect((await w.cli(['sub', 'deselect', images[1]!.id])).code).toBe(0)
      expect((await w.sync()).code).toBe(0)
      expect((await w.cli(['sub', 'select', images[1]!.id])).code).toBe(0)
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(w.cacheFiles()[`cache/${images[1]!.id}`]).toBe(images[1]!.sha512)
      expect(w.filesIn('cache')).not.toContain(evil.sha512)
      expect(pushed[1]!.digest).toMatch(/^sha256:/)
    })
  })

  describe('when other bytes that are not a list artifact are pushed under the list\'s tag', () => {
    it.each([
      ['an image artifact', 'image'],
      ['a list artifact whose layer is not a signed list', 'junk'],
    ])('refuses %s and keeps state, cache and trust', async (_what, kind) => {
      const { w, ow } = b
      if (kind === 'image') ow.pushImage({ ...w.image('junk.qcow2', 3000), name: 'prod-list.qcow2' }, ['latest'])
      else ow.pushList(Buffer.from('{"hv:imagelist": {}}'), ['latest'])
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(kind === 'image' ? /\[OCI_MANIFEST_INVALID\]/ : /\[[A-Z_]+\]/)
      expect(snapshot(w)).toEqual(before)
    })
  })
})
