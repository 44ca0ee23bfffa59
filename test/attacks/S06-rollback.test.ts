import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

describe('S06 rollback: an older list replayed', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed({ version: '1.10' })
  })
  afterAll(async () => b.w.close())

  it('refuses a lower hv:version by split_numeric_sort (1.9 < 1.10), keeping state', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '1.9', images: b.images })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ROLLBACK]')
    expect(snapshot(w)).toEqual(before)
  })

  it('refuses a higher hv:version with an older dc:date:created', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '1.11', images: b.images, created: w.hours(-48) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ROLLBACK]')
    expect(snapshot(w)).toEqual(before)
  })

  it('compares with the stored list even after that one expired', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '1.12', images: b.images, expires: w.hours(1) })
    expect((await w.sync()).code).toBe(0)
    // a replay of 1.11, still within its own validity, arrives after 1.12 expired
    await w.publish({ id: w.listId, version: '1.11', images: b.images, created: w.hours(-0.5), expires: w.hours(24 * 30) })
    const r = await w.sync([], { now: w.hours(2) })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ROLLBACK]')
    expect(w.query<{ version: string; status: string }>('SELECT version, status FROM subscription')).toEqual([{ version: '1.12', status: 'expired' }])
  })
})
