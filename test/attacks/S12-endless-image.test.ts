import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, imageEntry, type ImageFile, snapshot, subscribed } from '../subscriber/world.js'

describe('S12 endless data: an image larger than hv:size', () => {
  let b: Baseline
  let x: ImageFile
  beforeAll(async () => {
    b = await subscribed()
    const { w } = b
    x = w.image('x.qcow2', 20_000)
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, x] })
    expect((await w.sync()).code).toBe(0)
    expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
  })
  afterAll(async () => b.w.close())

  it('aborts an endless image body at hv:size + 1 bytes and deletes the partial file', async () => {
    const { w } = b
    w.server.set(x.route, { endless: true })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[IMAGE_TOO_LARGE]')
    expect(snapshot(w)).toEqual(before)
    expect(w.filesIn('partial')).toEqual([])
  })

  it('refuses before downloading when Content-Length exceeds hv:size', async () => {
    const { w } = b
    w.server.set(x.route, { body: Buffer.concat([x.bytes, Buffer.alloc(1)]) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[IMAGE_TOO_LARGE]')
    expect(snapshot(w)).toEqual(before)
  })

  it('checks free disk space first: an image the disk cannot hold is never requested', async () => {
    const { w } = b
    const huge = w.image('huge.qcow2', 100)
    await w.publish({ id: w.listId, version: '3.0', images: [...b.images, x, imageEntry(huge, { 'hv:size': 10 ** 15 })] })
    expect((await w.sync(['--no-download'])).code).toBe(0)
    expect((await w.cli(['sub', 'select', huge.id])).code).toBe(0)
    w.server.set(x.route, { file: x.path })
    w.server.reset()
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[DISK_FULL]')
    expect(w.server.count(huge.route)).toBe(0)
    expect(w.filesIn('cache')).toContain(x.sha512) // the rest still proceeds
  })
})
