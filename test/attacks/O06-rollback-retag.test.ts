import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { type OciBaseline, ociSubscribed, type Pushed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

describe.skipIf(skip.skip)(`O06 rollback: an old, validly signed list artifact re-tagged as latest ${skip.reason}`, () => {
  let b: OciBaseline
  let v2: Pushed
  beforeAll(async () => {
    b = await ociSubscribed()
    const { w, ow, images, pushed } = b
    const x = w.image('x.qcow2', 20_000)
    const px = ow.pushImage(x)
    w.server.remove(x.route)
    // 2.0 withdraws nothing but adds x; 3.0 (accepted) withdraws image 0
    v2 = ow.pushList(await w.signed({ id: w.listId, version: '2.0', images: [ow.entry(images[0]!, pushed[0]!), ow.entry(x, px)] }), ['2.0', 'latest'])
    expect((await w.sync()).code).toBe(0)
    ow.pushList(await w.signed({ id: w.listId, version: '3.0', images: [ow.entry(x, px)] }), ['3.0', 'latest'])
    expect((await w.sync()).code).toBe(0)
  }, 120_000)
  afterAll(async () => b.ow.close())

  it.each([
    ['1.0', () => b.list],
    ['2.0', () => v2],
  ])('refuses hv:version %s re-tagged as latest (ROLLBACK) and keeps state, cache and trust', async (_v, which) => {
    const { w, ow } = b
    ow.retag('vm/prod-list', which().digest, 'latest')
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ROLLBACK]')
    expect(snapshot(w)).toEqual(before)
  })

  it('refuses an equal hv:version with other signed bytes under latest (EQUAL_VERSION) and keeps state', async () => {
    const { w, ow, images, pushed } = b
    ow.pushList(await w.signed({ id: w.listId, version: '3.0', images: [ow.entry(images[0]!, pushed[0]!)] }), ['latest'])
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[EQUAL_VERSION]')
    expect(snapshot(w)).toEqual(before)
  })
})
