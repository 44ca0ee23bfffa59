import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { addPinnedImage, type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O07 an image deleted in the registry ${skip.reason}`, () => {
  let b: OciBaseline
  beforeAll(async () => {
    b = await ociSubscribed()
  }, 120_000)
  afterAll(async () => b.ow.close())

  it.each(['manifest', 'blob'] as const)('fails that image when its %s is gone (hv:uri gone too), keeps state and the cached images', async (what) => {
    const { w, ow, images } = b
    const { px } = await addPinnedImage(b, { name: `x-${what}.qcow2`, size: 25_000, version: what === 'manifest' ? '2.0' : '3.0' })
    if (what === 'manifest') ow.deleteManifest(px.repository, px.digest)
    else {
      const res = await fetch(`http://${ow.reg.host}/v2/${px.repository}/blobs/${px.layer}`, { method: 'DELETE' })
      expect(res.status).toBe(202)
    }
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('[OCI_NOT_FOUND]')
    expect(r.stderr).toContain(px.repository)
    expect(snapshot(w)).toEqual(before)
    expect(w.filesIn('partial')).toEqual([])
    expect(w.cacheFiles()[`cache/${images[0]!.id}`]).toBe(images[0]!.sha512)
  })
})
