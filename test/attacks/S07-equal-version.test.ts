import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

describe('S07 mix: the same hv:version with different signed bytes', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('keeps the stored list and reports EQUAL_VERSION (TUF 5.4.3.1)', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '1.0', images: [...b.images, w.image('sneaked-in.qcow2', 1000)] })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[EQUAL_VERSION]')
    expect(snapshot(w)).toEqual(before)
  })

  it('accepts the same content signed again (a new signature over identical bytes changes nothing)', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '1.0', images: b.images, created: w.hours(-1) })
    const before = snapshot(w)
    const r = await w.sync()
    expect([r.code, r.stdout]).toEqual([0, ''])
    expect(snapshot(w).db.subscription).toEqual(before.db.subscription)
  })
})
