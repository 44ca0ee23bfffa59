import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, readEvents, recordingHandler, snapshot, subscribed } from '../subscriber/world.js'
import path from 'node:path'

describe('S08 freeze: expired lists', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('refuses a new list that has already expired, keeping state', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '2.0', images: b.images, created: w.hours(-48), expires: w.hours(-1) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[LIST_EXPIRED]')
    expect(snapshot(w)).toEqual(before)
  })

  it('marks an unchanged list that outlived its dc:date:expires expired, and expires its images', async () => {
    const { w } = b
    // restore the stored list (1.0, expires in 7 days) at the server: it answers 304
    await w.publish({ id: w.listId, version: '1.0', images: b.images })
    expect((await w.sync()).code).toBe(0)
    const log = path.join(w.dir, 'ev.log')
    const r = await w.sync(['--event', recordingHandler(w.dir, log)], { now: w.hours(24 * 8) })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[LIST_EXPIRED]')
    expect(r.stdout).toContain(`image ${b.images[0]!.id} (list ${w.listId}) expired: its list expired`)
    expect(w.query<{ status: string }>('SELECT status FROM subscription')).toEqual([{ status: 'expired' }])
    expect(w.filesIn('cache')).toEqual([])
    expect(readEvents(log).map((e) => e.VMCATCHER_EVENT_TYPE)).toEqual(['ProcessPrefix', 'ExpirePrefix', 'ExpirePostfix', 'ProcessPostfix'])
    const images = JSON.parse((await w.cli(['sub', 'images', '--json', '--now', w.hours(24 * 8).toISOString()])).stdout) as { images: { state: number }[] }
    expect(images.images.map((i) => i.state)).toEqual([1]) // selected, no longer available
  })

  it('recovers when a fresh version is published', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '1.1', images: b.images, created: w.hours(24 * 8 - 1), expires: w.hours(24 * 20) })
    const r = await w.sync([], { now: w.hours(24 * 8) })
    expect(r.code).toBe(0)
    expect(w.query<{ status: string }>('SELECT status FROM subscription')).toEqual([{ status: 'ok' }])
    expect(w.filesIn('cache')).toHaveLength(2)
  })
})
