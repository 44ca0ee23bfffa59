import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { type Baseline, imageEntry, snapshot, subscribed } from '../subscriber/world.js'

describe('S14 extraneous fetches: redirects, file://, lists pointing at lists', () => {
  let b: Baseline
  let other: TestServer
  beforeAll(async () => {
    b = await subscribed()
    other = await startServer()
  })
  afterAll(async () => {
    await other.stop()
    await b.w.close()
  })

  it('follows at most 5 redirects: a loop fails after 6 requests (network failure) and keeps state', async () => {
    const { w } = b
    w.server.set('/list.smime', { redirect: '/loop' })
    w.server.set('/loop', { redirect: '/list.smime' })
    w.server.reset()
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[TOO_MANY_REDIRECTS]')
    expect(w.server.requests).toHaveLength(6)
    expect(snapshot(w)).toEqual(before)
  })

  it('accepts a chain of exactly 5 redirects', async () => {
    const { w } = b
    for (let i = 1; i <= 4; i++) w.server.set(`/r${i}`, { redirect: `/r${i + 1}` })
    w.server.set('/list.smime', { redirect: '/r1' })
    w.server.set('/r5', { body: await w.signed({ id: w.listId, version: '2.0', images: b.images }) })
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
  })

  it('never follows a redirect to file://', async () => {
    const { w } = b
    w.server.set('/list.smime', { redirect: 'file:///etc/passwd' })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[REDIRECT_SCHEME]')
    expect(snapshot(w)).toEqual(before)
  })

  it('never fetches an image hv:uri that is not http(s)', async () => {
    const { w } = b
    const x = w.image('x.qcow2', 1000)
    await w.publish({ id: w.listId, version: '3.0', images: [...b.images, imageEntry(x, { 'hv:uri': 'file:///etc/passwd' })] })
    expect((await w.sync()).code).toBe(0)
    expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[IMAGE_METADATA_INVALID]')
    expect(r.stderr).toContain('hv:uri is not an http(s) URL')
    expect(w.filesIn('cache').some((n) => n === x.id)).toBe(false)
  })

  it('never follows the hv:uri a list declares (a list pointing at another list)', async () => {
    const { w } = b
    other.set('/newer.smime', { body: await w.signed({ id: w.listId, version: '9.0', images: b.images }) })
    await w.publish({ id: w.listId, version: '4.0', images: b.images, uri: other.url('/newer.smime') })
    const r = await w.sync()
    expect(r.stderr).toContain('[URI_MISMATCH]')
    expect(r.code).toBe(0)
    expect(other.count('/newer.smime')).toBe(0)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '4.0' }])
  })
})
