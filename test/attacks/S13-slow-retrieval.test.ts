import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, type ImageFile, snapshot, subscribed } from '../subscriber/world.js'

describe('S13 slow retrieval: trickle and stall', () => {
  let b: Baseline
  let slow: ImageFile
  let fine: ImageFile
  beforeAll(async () => {
    b = await subscribed()
    const { w } = b
    slow = w.image('slow.qcow2', 50_000)
    fine = w.image('fine.qcow2', 10_000)
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, slow, fine] })
    expect((await w.sync()).code).toBe(0)
    for (const i of [slow, fine]) expect((await w.cli(['sub', 'select', i.id])).code).toBe(0)
  })
  afterAll(async () => b.w.close())

  it('gives up on a trickling image at its deadline while the other image is downloaded', async () => {
    const { w } = b
    w.server.set(slow.route, { file: slow.path, trickle: { bytes: 64, everyMs: 100 } })
    const r = await w.sync(['--deadline', '2', '--min-rate', '1000000'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[FETCH_DEADLINE]')
    expect(w.filesIn('cache')).toContain(fine.sha512)
    expect(w.filesIn('cache')).not.toContain(slow.sha512)
  })

  it('gives up on a stalled image after the idle timeout, keeping what arrived for a resume', async () => {
    const { w } = b
    w.server.set(slow.route, { file: slow.path, stallAfter: 10_000 })
    const before = snapshot(w)
    const r = await w.sync(['--idle-timeout', '1'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[FETCH_IDLE_TIMEOUT]')
    expect(snapshot(w)).toEqual(before)
    // partial/ holds an unverified prefix, never in cache/
    expect(w.filesIn('partial')).toEqual([slow.sha512])
  })

  it('resumes the partial file with a Range request once the server behaves', async () => {
    const { w } = b
    w.server.set(slow.route, { file: slow.path })
    w.server.reset()
    const r = await w.sync()
    expect(r.code).toBe(0)
    const req = w.server.requests.find((q) => q.path === slow.route)!
    expect(req.headers.range).toMatch(/^bytes=\d+-$/)
    expect(req.status).toBe(206)
    expect(w.cacheFiles()[`cache/${slow.sha512}`]).toBe(slow.sha512)
  })

  it('abandons a stalled list (network failure, exit 3) and keeps state', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '3.0', images: [...b.images, slow, fine] })
    const body = await w.signed({ id: w.listId, version: '3.0', images: [...b.images, slow, fine] })
    w.server.set('/list.smime', { body, stallAfter: 100 })
    const before = snapshot(w)
    const r = await w.sync(['--idle-timeout', '1'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[FETCH_IDLE_TIMEOUT]')
    expect(snapshot(w)).toEqual(before)
  })
})
