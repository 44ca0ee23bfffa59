import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { addPinnedImage, type OciBaseline, ociSubscribed, type Pushed } from '../subscriber/oci-world.js'
import { type ImageFile, snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O03 endless blob: a registry (or proxy) serves more bytes than the descriptor names ${skip.reason}`, () => {
  let b: OciBaseline
  let x: ImageFile
  let px: Pushed
  beforeAll(async () => {
    b = await ociSubscribed()
    ;({ x, px } = await addPinnedImage(b, { name: 'x.qcow2', size: 30_000, version: '2.0' }))
  }, 120_000)
  afterAll(async () => b.ow.close())
  afterEach(() => b.ow.clearEvil())

  describe('when the image blob is the right bytes followed by more', () => {
    it('stops at hv:size + 1 (IMAGE_TOO_LARGE), deletes the partial file and keeps state', async () => {
      const { w, ow } = b
      ow.serveEvil(`/v2/${px.repository}/blobs/${px.layer}`, { body: Buffer.concat([x.bytes, randomBytes(50_000)]) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[IMAGE_TOO_LARGE]')
      expect(snapshot(w)).toEqual(before)
      expect(w.filesIn('partial')).toEqual([])
    })
  })

  describe('when the list blob is longer than its layer descriptor', () => {
    it('refuses the list (OCI_BLOB_TOO_LARGE) and keeps state', async () => {
      const { w, ow, images, pushed } = b
      // the image the previous attack withheld is delivered first: this attack is on the list alone
      expect((await w.sync()).code).toBe(0)
      const signed = await w.signed({ id: w.listId, version: '3.0', images: [ow.entry(images[0]!, pushed[0]!)] })
      const l = ow.pushList(signed, ['3.0', 'latest'])
      ow.serveEvil(`/v2/vm/prod-list/blobs/${l.layer}`, { body: Buffer.concat([signed, Buffer.alloc(20 << 20, 0x41)]) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[OCI_BLOB_TOO_LARGE]')
      expect(snapshot(w)).toEqual(before)
    })
  })
})
