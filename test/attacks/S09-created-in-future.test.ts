import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

describe('S09 freeze/time: a list created in the future', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('is refused beyond the 5 minutes of clock skew (vmcatcher 33), keeping state', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '2.0', images: b.images, created: new Date(w.now.getTime() + 6 * 60_000) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[CREATED_IN_FUTURE]')
    expect(snapshot(w)).toEqual(before)
  })

  it('is accepted within the skew allowance', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '2.0', images: b.images, created: new Date(w.now.getTime() + 4 * 60_000) })
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
  })
})
